#!/bin/sh
# SPDX-License-Identifier: MIT
# chart.sh - turn trindle-bench's JSON into a PNG bar chart of the ratios.
#
#   benchmarks/chart.sh results.json [ratios.png]
#
# One bar per scenario: libtrindle's figure over the pthreads twin's (> 1:
# libtrindle is better; where the twin ran both ways of waiting, the
# faster twin), on a log scale so 0.1x and 10x look equally far from
# even.  Green bars win, red bars lose; a black bar across marks the
# target where the scenario has one against that twin.  A name ending in
# "*" has its target against the textbook twin instead, which the bar
# does not show, so no mark is drawn.  Needs jq and gnuplot (gnuplot-nox).
set -eu

json=${1:?usage: chart.sh results.json [out.png]}
png=${2:-ratios.png}

for tool in jq gnuplot; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "chart.sh: $tool is missing (apt-get install $tool)" >&2
		exit 1
	}
done

data=$(mktemp)
trap 'rm -f "$data"' EXIT

# name, ratio, target, colour (0x2e8b57 wins, 0xc0392b loses); a failed
# scenario (ratio null) gets no bar.  The JSON is an object with the
# scenarios under .scenarios (an array of them before 2026-12-06).
jq -r '(if type == "array" then .[] else .scenarios[] end)
	| (.target_twin == "sleep") as $textbook
	| [ .name + (if $textbook then "*" else "" end), (.ratio // "NaN"),
	(if $textbook then "NaN" else (.target // "NaN") end),
	(if (.ratio // 0) >= 1 then 3050327 else 12597547 end) ] | @tsv' \
	"$json" > "$data"

gnuplot <<EOF
set terminal pngcairo size 1000,520 font "sans,10"
set output "$png"
set title "libtrindle vs the faster pthreads twin: twin time / libtrindle time, medians (> 1: libtrindle faster)\n*: target set against the textbook twin, not drawn"
set logscale y 10
set yrange [0.01:100]
set ytics ("0.01x" 0.01, "0.1x" 0.1, "1x" 1, "10x" 10, "100x" 100)
set grid ytics
set xtics rotate by -30 left nomirror
set style fill solid 0.85 border -1
set boxwidth 0.6
set key outside top center horizontal
set datafile separator "\t"
set datafile missing "NaN"
plot "$data" using 0:2:4:xtic(1) with boxes lc rgb variable notitle, \
     "" using 0:2:(sprintf("%.2fx", \$2)) with labels offset 0,0.8 notitle, \
     "" using 0:3:(\$0-0.35):(\$0+0.35):3:3 with boxxyerrorbars lw 3 lc rgb "black" title "target", \
     1 with lines lc rgb "gray30" dt 2 title "even"
EOF
echo "chart.sh: wrote $png"
