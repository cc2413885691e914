#!/bin/bash
# Line coverage of the sources under DIR from a --coverage build in BUILD
# (make coverage): one line per file, then the total, with gcc's gcov only
# (gcovr and lcov are not needed).
#   tests/coverage.sh BUILD DIR
set -euo pipefail
build=$1
dir=$2
# gcov -n prints, per source it saw, "File '<path>'" then
# "Lines executed:<pct>% of <n>"; headers it reports are skipped.
gcov -n -o "$build/$dir" "$dir"/*.c 2>/dev/null | awk -v dir="$dir/" '
/^File / {
	f = $2
	gsub("\047", "", f)
	keep = index(f, dir) == 1 && f ~ /\.c$/ && !(f in seen)
	next
}
/^Lines executed:/ && keep {
	split($2, a, ":")
	pct = a[2] + 0
	n = $4 + 0
	hit = int(pct * n / 100 + 0.5)
	seen[f] = 1
	files[++nf] = f
	hits[f] = hit
	lines[f] = n
	th += hit
	tn += n
	keep = 0
}
END {
	for (i = 1; i <= nf; i++)
		printf "%-40s %6.2f%% of %5d lines\n", files[i],
		    lines[files[i]] ? 100 * hits[files[i]] / lines[files[i]] : 0,
		    lines[files[i]]
	printf "%-40s %6.2f%% of %5d lines (%d executed)\n",
	    "total " dir, tn ? 100 * th / tn : 0, tn, th
}'
