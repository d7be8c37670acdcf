/* SPDX-License-Identifier: MIT */
/*
 * graph.h - the process-and-pipe graph in Graphviz dot (TRINDLE_GRAPH).
 *
 * At the processes level: it reads the pipes' summaries (pipe.h) and the
 * trace's names, and writes the file at exit (and on the dump signal).
 */
#ifndef TRINDLE_GRAPH_H
#define TRINDLE_GRAPH_H

/* Keeps the pipes' summaries from now on and writes the graph to path
 * when the program ends.  Call before any pipe is made. */
void trindle__graph_start(const char *path);

/* Writes the graph now: 0 or a negative errno. */
int trindle__graph_write(const char *path);

/* Writes it now to the path trindle__graph_start() was given (0 and
 * nothing written if it was not called), one writer at a time. */
int trindle__graph_write_started(void);

#endif
