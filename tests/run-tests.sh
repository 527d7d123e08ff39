#!/bin/sh
# run-tests.sh SUITE PROGRAM...: run each test program, print one line per
# program, and close with "SUITE: N passed, N failed, N skipped".  A program
# that exits 77 was skipped (it must say why on its output).  Output of a
# failing program is shown; a passing one's is kept in PROGRAM.log.
suite=$1
shift
passed=0 failed=0 skipped=0
for prog in "$@"; do
	name=${prog#*/}
	start=$(date +%s)
	"$prog" >"$prog.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0)	passed=$((passed + 1)); echo "  PASS  $name (${secs}s)" ;;
	77)	skipped=$((skipped + 1))
		echo "  SKIP  $name: $(tail -n 1 "$prog.log")" ;;
	*)	failed=$((failed + 1)); echo "  FAIL  $name (exit $rc, ${secs}s)"
		sed 's/^/        /' "$prog.log" | tail -n 60 ;;
	esac
done
echo "$suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
