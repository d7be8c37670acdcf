/* A worker doubles the bytes of a segment it is given and hands it back.
 * The segment is moved both ways (sent and released in one sync), so each
 * side may write it while it holds it, and no byte is copied. */
#include <stdio.h>
#include <trindle.h>
#include <trindle/util.h>

static void doubler(trindle_pipe_t input)
{
	trindle_message_t got;
	if (trindle_util_receive(input, &got, -1) != 1 ||
	    trindle_util_kind(&got) != TRINDLE_UTIL_MESSAGE)
		return;                          /* nothing came: just end */
	unsigned char *bytes = got.content;
	for (size_t i = 0; i < trindle_measure(bytes); i++)
		bytes[i] *= 2;                   /* we hold it alone: writable */
	trindle_exit(bytes);                     /* moved to our out pipe */
}

int main(void)
{
	trindle_pipe_t results = trindle_pipe(4);
	trindle_pipe_t worker = trindle_launch(doubler, 4, results, NULL);
	unsigned char *data = trindle_util_allocate(3, "\1\2\3");
	if (!worker || !data || trindle_util_move(worker, data) != 0)
		return 1;                        /* else data is the worker's */
	/* Two things arrive, in either order: the result, and the notice
	 * { worker, NULL } that the worker ended.  0: nothing more can come. */
	trindle_message_t got;
	while (trindle_util_receive(results, &got, -1) == 1) {
		unsigned char *r = got.content;
		if (trindle_util_kind(&got) == TRINDLE_UTIL_MESSAGE)
			printf("%d %d %d\n", r[0], r[1], r[2]);  /* 2 4 6 */
		trindle_util_release(r);         /* NULL (a notice): no-op */
	}
	trindle_util_release(results);
	return 0;
}
