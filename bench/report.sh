#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/report.sh: run every benchmark once, collect the ratio lines they
# print (bench/bench.h: "RATIO<tab>suite<tab>metric<tab>value<tab>goal<tab>
# peer"), judge each goal and write bench/results/REPORT.md with the
# machine's description, plus bench/results/ratios.png (gnuplot).
#
# Usage: sh bench/report.sh BUILD_DIR [PROGRAM...]
#   `make bench` runs it after building, with the programs of bench/*.c;
#   without PROGRAMs it runs every executable in BUILD_DIR/bench.
# Environment:
#   BENCH_FULL=1     full runs (default: quick, DAX_BENCH_QUICK=1: every
#                    program is meant to finish in under a minute)
#   BENCH_TIMEOUT=S  end a program after S seconds (default 300 quick, none
#                    full; 0: none), reported as failed
#   BENCH_OUT=DIR    where REPORT.md and ratios.png go (bench/results)
#
# A program that fails (exit status not 0) is reported "failed, see log",
# the others still run, and the script exits 1 at the end.  A program whose
# peer program is not installed (aio_bench needs fio), or that exits 77, is
# reported as skipped, with its reason.  Logs: BUILD_DIR/bench-logs/.

set -u

if [ $# -lt 1 ]; then
	echo "usage: sh bench/report.sh BUILD_DIR [PROGRAM...]" >&2
	exit 2
fi
B=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/results}
logs=$B/bench-logs
CC=${CC:-cc}

# Programs a suite drives as its peer, "suite:command" (libraries are
# linked in, so a missing one fails the build instead).
peer_tools=${BENCH_PEER_TOOLS:-aio_bench:fio}

case ${BENCH_FULL:-} in
'' | 0 | no)
	mode=quick
	DAX_BENCH_QUICK=1
	export DAX_BENCH_QUICK
	tmo=${BENCH_TIMEOUT:-300}
	;;
*)
	mode=full
	unset DAX_BENCH_QUICK
	tmo=${BENCH_TIMEOUT:-0}
	;;
esac

if [ $# -eq 0 ]; then
	for p in "$B"/bench/*; do
		[ -f "$p" ] && [ -x "$p" ] && set -- "$@" "$p"
	done
fi
if [ $# -eq 0 ]; then
	echo "bench: no programs in $B/bench (run make bench)" >&2
	exit 2
fi

mkdir -p "$logs" "$out" || exit 2
work=$(mktemp -d "${TMPDIR:-/tmp}/dax-bench.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

uptime_s() { awk '{ printf "%.1f", $1 }' /proc/uptime; }
loadavg() { awk '{ print $1 ", " $2 ", " $3 }' /proc/loadavg; }
pkgver() {
	v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null)
	case $v in
	'') echo "$1 not installed" ;;
	*) echo "$1 $v" ;;
	esac
}

# ---- machine, at the start -------------------------------------------------
date_start=$(date -u '+%Y-%m-%d %H:%M')
load_start=$(loadavg)
t_all=$(uptime_s)

# ---- run every program -------------------------------------------------------
: >"$work/ratios.tsv"
: >"$work/suites.tsv"
n=$#
i=0
failed=0
for prog; do
	i=$((i + 1))
	name=$(basename "$prog")
	log=$logs/$name.log
	printf 'bench: [%d/%d] %-18s %s ... ' "$i" "$n" "$name" "$mode"
	status=
	for pt in $peer_tools; do
		[ "${pt%%:*}" = "$name" ] || continue
		tool=${pt#*:}
		command -v "$tool" >/dev/null 2>&1 ||
			status="skipped: peer $tool not installed (./configure --install-deps)"
	done
	t0=$(uptime_s)
	if [ -n "$status" ]; then
		echo "$status" >"$log"
	elif [ ! -x "$prog" ]; then
		status="failed: $prog not built"
		echo "$status" >"$log"
	else
		if [ "$tmo" -gt 0 ] 2>/dev/null; then
			timeout -k 10 "$tmo" "$prog" >"$log" 2>&1 </dev/null
		else
			"$prog" >"$log" 2>&1 </dev/null
		fi
		rc=$?
		case $rc in
		0) status=ok ;;
		77) status="skipped: $(grep -v "$(printf '^RATIO\t')" "$log" |
			tail -n 1)" ;;
		124) status="failed: timed out after $tmo s, see log" ;;
		*) status="failed (exit $rc), see log" ;;
		esac
	fi
	secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	# a ratio line's goal or peer may be empty, never its value
	awk -F '\t' -v OFS='\t' -v p="$name" '$1 == "RATIO" && NF >= 4 {
		print p, $2, $3, $4, $5, $6 }' "$log" >>"$work/ratios.tsv"
	nr=$(awk -F '\t' -v p="$name" '$1 == p' "$work/ratios.tsv" | wc -l)
	case $status in failed*) failed=$((failed + 1)) ;; esac
	printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$nr" \
		>>"$work/suites.tsv"
	echo "$status, $secs s, $nr ratios"
	case $status in
	failed*) tail -n 5 "$log" | sed 's/^/    | /' ;;
	esac
done

t_all=$(awk -v a="$t_all" -v b="$(uptime_s)" 'BEGIN { printf "%.0f", b - a }')
load_end=$(loadavg)
date_end=$(date -u '+%H:%M')

# ---- judge the goals ---------------------------------------------------------
# One row per ratio: program, suite, metric, value, goal, peer, verdict,
# score (libdax / goal, oriented so that above 1 meets it; "" when none).
awk -F '\t' -v OFS='\t' '
function num(s) {
	return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/
}
{
	v = $4; g = $5; op = ""; verdict = "—"; score = ""
	if (g ~ /^(<=|>=)/) { op = substr(g, 1, 2); t = substr(g, 3) }
	else if (g ~ /^[<>=]/) { op = substr(g, 1, 1); t = substr(g, 2) }
	if (op != "" && !num(t))
		verdict = "bad goal"
	else if (op != "" && !num(v))
		verdict = "missed (" v ")"
	else if (op != "") {
		v += 0; t += 0
		ok = (op == "<=" && v <= t) || (op == ">=" && v >= t) ||
		     (op == "<" && v < t) || (op == ">" && v > t) ||
		     (op == "=" && v == t)
		verdict = ok ? "met" : "missed"
		if (op ~ /</)
			score = v > 0 ? t / v : 40
		else
			score = t > 0 ? v / t : 40
		# within the x range of the plot
		if (score < 0.05) score = 0.05
		if (score > 40) score = 40
	}
	print $1, $2, $3, $4, $5, $6, verdict, score
}' "$work/ratios.tsv" >"$work/judged.tsv"

met=$(awk -F '\t' '$7 == "met"' "$work/judged.tsv" | wc -l)
missed=$(awk -F '\t' '$7 ~ /^missed/' "$work/judged.tsv" | wc -l)
nogoal=$(awk -F '\t' '$7 == "—"' "$work/judged.tsv" | wc -l)
badgoal=$(awk -F '\t' '$7 == "bad goal"' "$work/judged.tsv" | wc -l)

# ---- the plot ------------------------------------------------------------------
plot_note=
plot_ok=no
awk -F '\t' -v OFS='\t' '$8 != "" {
	printf "%s: %s vs %s\t%s\t%d\t%s (%s)\n", $2, $3, $6, $8,
	       $7 == "met", $4, $5
}' "$work/judged.tsv" >"$work/plot.tsv"
ngoals=$(wc -l <"$work/plot.tsv")
if ! command -v gnuplot >/dev/null 2>&1; then
	plot_note="gnuplot is not installed (Debian: gnuplot-nox, or ./configure --install-deps): no plot was drawn"
elif [ "$ngoals" -eq 0 ]; then
	plot_note="no ratio line had a goal: no plot was drawn"
else
	height=$((140 + 17 * ngoals))
	# room for the longest label on the left (gnuplot's margin is in
	# characters, a little wider than the labels' own)
	lmargin=$(awk -F '\t' '{ if (length($1) > m) m = length($1) }
		END { printf "%d", m * 0.9 + 3 }' "$work/plot.tsv")
	width=$((lmargin * 8 + 760))
	cat >"$work/plot.gp" <<EOF
set terminal pngcairo size $width,$height font "DejaVu Sans,9" noenhanced
set output "$work/ratios.png"
set datafile separator "\t"
set title "libdax against its peers ($mode run, $date_start UTC)\\neach ratio divided by its goal, oriented so that right of 1 meets it"
set xlabel "ratio / goal (log scale; green: met, red: missed; label: the ratio and its goal)"
set logscale x
set xrange [0.05:200]
set yrange [$ngoals - 0.5:-0.5]
set ytics nomirror scale 0
set grid xtics
set key off
set border 3
set lmargin $lmargin
set rmargin 4
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 dt 2 lc rgb "black"
plot "$work/plot.tsv" using (1):0:(\$2 < 1 ? \$2 : 1):(\$2 < 1 ? 1 : \$2):(\$0 - 0.36):(\$0 + 0.36):(\$3 > 0 ? 0x2ca02c : 0xd62728):ytic(1) with boxxyerror fs solid 0.85 noborder lc rgb variable, \
     "" using (\$2 < 1 ? 1.08 : \$2 * 1.08):0:4 with labels left font ",8"
EOF
	if gnuplot "$work/plot.gp" >"$work/gnuplot.log" 2>&1 &&
	   [ -s "$work/ratios.png" ]; then
		mv "$work/ratios.png" "$out/ratios.png" && plot_ok=yes
	else
		plot_note="gnuplot failed: $(head -n 3 "$work/gnuplot.log" | tr '\n' ' ')"
	fi
fi

# ---- the report ----------------------------------------------------------------
commit="not a git tree"
if git -C "$top" rev-parse --short HEAD >/dev/null 2>&1; then
	commit=$(git -C "$top" rev-parse --short HEAD)
	[ -n "$(git -C "$top" status --porcelain --untracked-files=no \
		-- bench libdax include 2>/dev/null)" ] &&
		commit="$commit (with uncommitted changes in bench/, libdax/ or include/)"
fi
cpu=$(awk -F ': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
ccver=$($CC --version 2>/dev/null | head -n 1)
nsuites=$(wc -l <"$work/suites.tsv")
nskipped=$(awk -F '\t' '$2 ~ /^skipped/' "$work/suites.tsv" | wc -l)
nnone=$(awk -F '\t' '$2 == "ok" && $4 == 0' "$work/suites.tsv" | wc -l)

md_cell() { sed 's/|/\\|/g'; }

{
	echo "# libdax benchmarks: ratios against peers"
	echo
	echo "Written by \`make bench\` (bench/report.sh) on $date_start UTC;" \
		"$mode run. Each program prints ratio lines" \
		"(bench/bench.h): libdax's figure divided by its peer's, with" \
		"the goal the issues set."
	echo
	echo "**$met goals met, $missed missed** ($((met + missed)) with" \
		"a goal; $nogoal ratios reported without one$(
		[ "$badgoal" -gt 0 ] && echo "; $badgoal with a goal this script cannot read"))." \
		"$nsuites suites: $failed failed, $nskipped skipped," \
		"$nnone without ratio lines; $t_all s in all."
	echo
	echo "| suite | status | seconds | ratios | met | missed |"
	echo "|---|---|---:|---:|---:|---:|"
	while IFS="$(printf '\t')" read -r s st secs nr; do
		m=$(awk -F '\t' -v s="$s" '$1 == s && $7 == "met"' "$work/judged.tsv" | wc -l)
		x=$(awk -F '\t' -v s="$s" '$1 == s && $7 ~ /^missed/' "$work/judged.tsv" | wc -l)
		[ "$st" = ok ] && [ "$nr" -eq 0 ] && st="ok, no ratio lines"
		echo "| [$s](#$s) | $(echo "$st" | md_cell) | $secs | $nr | $m | $x |"
	done <"$work/suites.tsv"
	echo
	if [ "$plot_ok" = yes ]; then
		echo "![each ratio divided by its goal](ratios.png)"
		echo
		echo "[ratios.png](ratios.png): every ratio that has a goal," \
			"divided by it and oriented so that right of the dashed" \
			"line (1) meets it."
	else
		echo "No plot: $plot_note."
	fi
	echo
	echo "## Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPUs (\`nproc\`) | $(nproc) |"
	echo "| CPU model | ${cpu:-unknown} |"
	echo "| kernel | $(uname -srm) |"
	echo "| memory | $mem |"
	echo "| load average | start: $load_start; end: $load_end |"
	echo "| packages | $(pkgver liburcu-dev), $(pkgver libjudy-dev)," \
		"$(pkgver libjemalloc-dev), $(pkgver libpmem2-dev)," \
		"$(pkgver fio), $(pkgver gnuplot-nox) |"
	echo "| compiler | ${ccver:-$CC: unknown} (benchmarks built -O3) |"
	echo "| date | $date_start - $date_end UTC |"
	echo "| commit | $commit |"
	echo "| mode | $mode$( [ "$mode" = quick ] &&
		echo " (DAX_BENCH_QUICK=1: fewer runs, smaller sets; \`make bench BENCH_FULL=1\` for full runs)") |"
	echo
	echo "The machine is shared: figures are the best of several short" \
		"runs where a program says so, and a ratio compares libdax" \
		"and its peer under the same load, not absolute speed."
	while IFS="$(printf '\t')" read -r s st secs nr; do
		echo
		echo "## $s"
		echo
		case $st in
		ok) ;;
		failed*) echo "**$(echo "$st" | sed "s|see log|see log $logs/$s.log|")**"
			echo ;;
		*) echo "**$st**"
			echo ;;
		esac
		sn=$(awk -F '\t' -v s="$s" '$1 == s && !seen[$2]++ {
			printf "%s%s", n++ ? ", " : "", $2 }' "$work/judged.tsv")
		[ -n "$sn" ] && echo "Ratio lines of suite $sn (\`$B/bench/$s\`)." &&
			echo
		if [ "$nr" -eq 0 ]; then
			[ "$st" = ok ] &&
				echo "No ratio lines (the program does not print" \
					"bench_ratio() lines yet)." && echo
		else
			echo "| metric | value | goal | met? | peer |"
			echo "|---|---:|---|---|---|"
			awk -F '\t' -v s="$s" '$1 == s {
				for (f = 2; f <= NF; f++)
					gsub(/\|/, "\\|", $f)
				printf "| %s | %s | %s | %s | %s |\n", $3, $4, \
				       $5 == "" ? "—" : $5, $7, $6
			}' "$work/judged.tsv"
			echo
		fi
		if grep -qv "$(printf '^RATIO\t')" "$logs/$s.log" 2>/dev/null; then
			echo "<details><summary>output ($secs s)</summary>"
			echo
			echo '```text'
			grep -v "$(printf '^RATIO\t')" "$logs/$s.log"
			echo '```'
			echo
			echo "</details>"
		fi
	done <"$work/suites.tsv"
} >"$work/REPORT.md"
mv "$work/REPORT.md" "$out/REPORT.md" || exit 2

echo "bench: $met goals met, $missed missed, $nogoal without a goal;" \
	"$failed of $nsuites suites failed; $out/REPORT.md" \
	"$( [ "$plot_ok" = yes ] && echo "and ratios.png")"
[ "$plot_ok" = yes ] || echo "bench: $plot_note" >&2
[ "$failed" -eq 0 ] && [ "$plot_ok" = yes ]
