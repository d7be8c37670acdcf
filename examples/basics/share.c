/* Sharing a segment makes it read-only; the last holder gets WRITE back.
 *
 * main writes a word into a segment it holds alone (READ|WRITE), then
 * *sends* it to a worker without letting go: two processes hold it now,
 * and for both it is read-only (a write would fault).  The worker reads
 * it, reports what it saw, and lets go once main says so (until then
 * main may look at its rights without racing the worker).  main, the sole holder again,
 * receives the notice { NULL, segment } and may write once more.
 *
 * Notices are delivered before messages, so the worker's report and the
 * notices may arrive in any order: main takes note of each, and prints
 * once nothing more can arrive. */
#include <stdio.h>
#include <string.h>
#include <trindle.h>
#include <trindle/util.h>

static const char *rights(trindle_object_t object)
{
	switch (trindle_access(object)) {
	case TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE: return "read write";
	case TRINDLE_ACCESS_READ: return "read only";
	case 0: return "none";
	default: return "other";
	}
}

static void reader(trindle_pipe_t input)
{
	trindle_message_t m;
	char line[80];

	if (trindle_util_receive(input, &m, -1) != 1 ||
	    trindle_util_kind(&m) != TRINDLE_UTIL_MESSAGE)
		return;
	snprintf(line, sizeof line, "worker: read \"%s\", access %s",
		 (const char *)m.content, rights(m.content));
	trindle_message_t go; /* wait for main's word to let go */
	if (trindle_util_receive(input, &go, -1) == 1)
		trindle_util_release(go.content);
	/* The report goes to our out pipe; then what we hold is released. */
	trindle_exit(trindle_util_allocate(strlen(line) + 1, line));
}

int main(void)
{
	trindle_pipe_t back = trindle_pipe(2);
	trindle_pipe_t worker = trindle_launch(reader, 2, back, NULL);
	char *word = trindle_util_allocate(16, NULL);
	char report[80] = "", after[80] = "";
	int ended = 0;

	if (!worker || !word)
		return 1;
	strcpy(word, "hello");
	printf("main: wrote \"%s\", access %s\n", word, rights(word));
	if (trindle_util_send(worker, word) != 0)
		return 1;
	printf("main: shared it, access %s\n", rights(word));
	trindle_segment_t go = trindle_util_allocate(0, NULL);
	if (!go || trindle_util_move(worker, go) != 0)
		return 1;

	trindle_message_t m;
	while (trindle_util_receive(back, &m, -1) == 1) {
		switch (trindle_util_kind(&m)) {
		case TRINDLE_UTIL_SOLE: /* m.content == word */
			snprintf(after, sizeof after, "%s", rights(word));
			strcpy(word, "HELLO"); /* ours alone again */
			break;
		case TRINDLE_UTIL_MESSAGE: /* the worker's report */
			snprintf(report, sizeof report, "%s",
				 (const char *)m.content);
			trindle_util_release(m.content);
			break;
		case TRINDLE_UTIL_CLOSED: /* m.address == worker */
			ended = 1;
			break;
		default:
			break;
		}
	}
	printf("%s\n", report);
	printf("main: the worker let go, access %s\n", after);
	printf("main: wrote \"%s\"\n", word);
	printf("main: the worker %s\n", ended ? "has ended" : "is still running");
	trindle_util_release(word);
	trindle_util_release(back);
	return 0;
}
