/* A program built only from the installed headers and pkg-config file:
 * proves that an installed libtrindle is usable as a package, including
 * <trindle/util.h>, whose helpers compile into the program itself. */
#include <stdio.h>
#include <string.h>
#include <trindle.h>
#include <trindle/util.h>

int main(void)
{
	char *s = trindle_util_allocate(6, "hello");
	trindle_pipe_t p = trindle_pipe(1);
	trindle_message_t got;

	if (!s || !p || trindle_util_move(p, s) != 0 ||
	    trindle_util_receive(p, &got, 0) != 1 ||
	    trindle_util_kind(&got) != TRINDLE_UTIL_MESSAGE ||
	    strcmp(got.content, "hello") != 0 ||
	    trindle_access(got.content) !=
	    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)) {
		fprintf(stderr, "consumer: the installed library misbehaves\n");
		return 1;
	}
	printf("consumer: moved \"%s\" through a pipe\n", (char *)got.content);

	trindle_message_t room[4];
	trindle_util_batch_t done;

	trindle_util_batch_init(&done, room, 4);
	if (trindle_util_add_release(&done, got.content) != 0 ||
	    trindle_util_add_release(&done, p) != 0 ||
	    trindle_util_flush(&done, NULL) != 0) {
		fprintf(stderr, "consumer: releasing failed\n");
		return 1;
	}
	return 0;
}
