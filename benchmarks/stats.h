/* SPDX-License-Identifier: MIT */
/*
 * stats.h - the timing and statistics both benchmark programs use
 * (trindle-bench and trindle-io-bench): a monotonic clock, median and
 * range of a set of figures, and the median of the ratios of pairs run
 * back to back with a distribution-free confidence interval.
 */
#ifndef TRINDLE_BENCH_STATS_H
#define TRINDLE_BENCH_STATS_H

/* CLOCK_MONOTONIC in seconds. */
double stats_now(void);

typedef struct stats {
	double median, min, max;
} stats_t;

/* Median, min and max of v[0 .. n), n >= 1; sorts v in place. */
stats_t stats_of(double *v, int n);
/* The median of v[0 .. n); sorts v in place. */
double stats_median(double *v, int n);

typedef struct stats_ratio {
	double median, lo, hi;
} stats_ratio_t;

/*
 * The ratios a[i] / b[i] of pairs run back to back: both sides of a pair
 * saw the same machine, so drift of a shared, noisy host over the whole
 * run cancels out.  Their median, and a 95% confidence interval for it
 * that assumes nothing about how the noise is distributed: with the ratios
 * sorted, [r[k], r[n-1-k]] for the largest k such that a binomial(n, 1/2)
 * variable is at most k with probability 2.5% or less (n = 9: the 2nd and
 * 8th; n = 27: the 8th and 20th).  With too few pairs for 95% (n < 6) the
 * interval is the extremes.  Leaves a and b as they are.
 */
stats_ratio_t stats_pairwise(const double *a, const double *b, int n);

#endif
