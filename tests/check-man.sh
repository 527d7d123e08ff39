#!/bin/sh
# check-man.sh PAGE...: every man page must be mandoc -Tlint clean, and every
# exported symbol (libdax/libdax.map) must have a page in man/man3.
status=0 out=
if command -v mandoc >/dev/null 2>&1; then
	[ $# -eq 0 ] || out=$(mandoc -Tlint -W warning "$@" 2>&1)
	if [ -n "$out" ]; then
		echo "$out"
		status=1
	fi
else
	echo "check-man: mandoc not installed; run ./configure --install-deps"
	status=1
fi
for sym in $(grep -o 'dax_[a-z0-9_]*' libdax/libdax.map | sort -u); do
	if ! ls man/man3/"$sym".3 >/dev/null 2>&1; then
		echo "check-man: $sym is exported but has no man/man3/$sym.3"
		status=1
	fi
done
if [ $status -eq 0 ]; then
	echo "man: $# passed, 0 failed"
else
	echo "man: 0 passed, 1 failed"
fi
exit $status
