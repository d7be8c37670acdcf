/* Copies a file with the two devices of <trindle/io.h>: usage: copy FROM TO.
 *
 * The file source reads FROM into segments and moves them, in file order,
 * straight into the file sink's input pipe; the sink writes them to TO.
 * No chunk passes through main: it only wires the devices together, lets
 * go of what it does not need, and waits for one of two outcomes on its
 * pipe: the sink's result (an 8-byte count of the bytes written) or a
 * device's error report.  Prints "copied N bytes", or the report. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

/* Handles one message from a device; returns 1 for the result, -1 for an
 * error report, 0 for anything else. */
static int outcome(trindle_object_t content)
{
	const trindle_io_report_t *report = content;
	uint64_t bytes;

	if (trindle_measure(content) == sizeof bytes) {
		memcpy(&bytes, content, sizeof bytes);
		printf("copied %" PRIu64 " bytes\n", bytes);
		return 1;
	}
	if (trindle_measure(content) >= sizeof *report &&
	    report->magic == TRINDLE_IO_REPORT_MAGIC) {
		fprintf(stderr, "%s\n", report->message);
		return -1;
	}
	fprintf(stderr, "copy: unexpected message\n");
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: copy FROM TO\n");
		return 2;
	}
	/* done gets the sink's result and both devices' reports. */
	trindle_pipe_t done = trindle_pipe(4);
	struct trindle_source_options chunks = { 64 * 1024, 0, 0 };
	trindle_pipe_t sink = done ? trindle_file_sink(argv[2], NULL, done, done)
	                           : NULL;
	trindle_pipe_t source = sink ? trindle_file_source(argv[1], &chunks,
	                                                   sink, done) : NULL;
	if (!source) {
		perror("copy: cannot start the devices");
		return 1;
	}
	/* From now on only the devices send.  Without our SEND on the sink,
	 * a source that fails lets the sink know (its input has no sender
	 * left), so the sink reports too instead of waiting forever. */
	trindle_util_release(sink);
	trindle_util_release(source);

	int results = 0, errors = 0;
	trindle_message_t m;
	/* Until both devices have ended: then nothing more can come. */
	while (trindle_util_receive(done, &m, -1) == 1) {
		if (trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE) {
			int r = outcome(m.content);
			results += r > 0;
			errors += r < 0;
		}
		trindle_util_release(m.content);
	}
	trindle_util_release(done);
	return results == 1 && errors == 0 ? 0 : 1;
}
