#!/bin/sh
# SPDX-License-Identifier: MIT
#
# unaligned-wc.sh -j N --chunk BYTES FILE
#
# Stands in for trindle-wc in the io-bench-unaligned-wc test: GNU wc's
# numbers for FILE with its columns not aligned, as trindle-io-bench's
# pthreads twin prints them.  trindle-io-bench must take that for a
# difference from GNU wc, whose output it compares byte for byte.
for file; do :; done
LC_ALL=C wc "$file" | tr -s ' ' | sed 's/^ //'
