/* A program built only from the installed header and pkg-config file:
 * proves that an installed libtrindle is usable as a package. */
#include <stdio.h>
#include <string.h>
#include <trindle.h>

int main(void)
{
	trindle_buffer_t b = { 6, "hello" };
	char *s = trindle_allocate(1, &b);
	trindle_pipe_t p = trindle_pipe(1);
	trindle_message_t out_msgs[3] = { { p, s }, { NULL, s }, { p, NULL } };
	trindle_message_t in_msgs[1];
	trindle_mailbox_t out = { 3, out_msgs }, in = { 1, in_msgs };

	if (!s || !p || trindle_sync(&out, &in) != 0 || out.count || in.count != 1 ||
	    strcmp(in_msgs[0].content, "hello") != 0) {
		fprintf(stderr, "consumer: the installed library misbehaves\n");
		return 1;
	}
	printf("consumer: moved \"%s\" through a pipe\n", (char *)in_msgs[0].content);
	trindle_message_t rel[2] = { { NULL, in_msgs[0].content }, { NULL, p } };
	trindle_mailbox_t done = { 2, rel };
	return trindle_sync(&done, NULL) == 0 && done.count == 0 ? 0 : 1;
}
