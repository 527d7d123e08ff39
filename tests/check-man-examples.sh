#!/bin/sh
# check-man-examples.sh CC CFLAGS LIBS PAGE...: the EXAMPLE of every man page
# that has a main() must compile and link against the library as printed,
# so that a reader can copy it.  (Not symlinked variants: their target is
# checked under its own name.)
cc=$1 cflags=$2 libs=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
for page in "$@"; do
	[ -L "$page" ] && continue
	src=$tmp/$(basename "$page").c
	# The .EX block(s) of the EXAMPLE section, roff escapes undone.
	awk '/^\.SH EXAMPLE/ { in_ex = 1; next }
	     /^\.SH / { in_ex = 0 }
	     in_ex && /^\.EX/ { code = 1; next }
	     in_ex && /^\.EE/ { code = 0; next }
	     in_ex && code { print }' "$page" |
		sed -e 's/\\e/\\/g' -e 's/\\-/-/g' -e 's/\\(dq/"/g' \
		    -e "s/\\\\(aq/'/g" -e 's/\\&//g' -e 's/\\(ti/~/g' \
		    -e 's/\\(ha/^/g' >"$src"
	grep -q 'main(' "$src" || continue
	# shellcheck disable=SC2086
	if $cc $cflags -o "$src.bin" "$src" $libs >"$src.log" 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "check-man-examples: the EXAMPLE of $page does not build:"
		sed 's/^/    /' "$src.log" | head -20
	fi
done
echo "man-examples: $passed passed, $failed failed"
[ $failed -eq 0 ]
