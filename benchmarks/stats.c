/* SPDX-License-Identifier: MIT */
/* stats.c - see stats.h. */
#include "stats.h"

#include <stdlib.h>
#include <time.h>

double stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double stats_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

stats_t stats_of(double *v, int n)
{
	stats_t st;

	st.median = stats_median(v, n);
	st.min = v[0];
	st.max = v[n - 1];
	return st;
}

stats_ratio_t stats_pairwise(const double *a, const double *b, int n)
{
	double r[n], p = 1, cdf = 0;
	stats_ratio_t out;
	int k = -1;

	for (int i = 0; i < n; i++) {
		r[i] = a[i] / b[i];
		p /= 2;         /* p = C(n, i) / 2^n below, starting at 2^-n */
	}
	for (int i = 0; i < n / 2; i++) {
		cdf += p;
		if (cdf > 0.025)
			break;
		k = i;
		p = p * (n - i) / (i + 1);
	}
	if (k < 0)
		k = 0;          /* too few pairs for 95%: the extremes */
	out.median = stats_median(r, n);
	out.lo = r[k];
	out.hi = r[n - 1 - k];
	return out;
}
