#!/bin/sh
# check-exports.sh LIB.so MAP HEADER: the shared library exports exactly the
# dax_* symbols its version script lists, and nothing else; and the public
# header declares exactly those functions (a declaration without a definition
# links in no test until a user trips on it).
lib=$1 map=$2 header=$3
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	sed 's/@.*//' | grep -v '^LIBDAX_' | sort -u)
listed=$(grep -o 'dax_[a-z0-9_]*' "$map" | sort -u)
status=0
stray=$(echo "$exported" | grep -v '^dax_' | grep -v '^$')
if [ -n "$stray" ]; then
	echo "check-exports: symbols outside the dax_ namespace:" $stray
	status=1
fi
missing=$(printf '%s\n' "$listed" | while read -r s; do
	[ -z "$s" ] || echo "$exported" | grep -qx "$s" || echo "$s"; done)
if [ -n "$missing" ]; then
	echo "check-exports: listed in $map but not defined:" $missing
	status=1
fi
if [ -n "$header" ]; then
	# function-like names in the header, minus its macros
	macros=$(sed -n 's/^#define \(dax_[a-z0-9_]*\)(.*/\1/p' "$header")
	declared=$(grep -o 'dax_[a-z0-9_]*(' "$header" | tr -d '(' | sort -u |
		while read -r s; do
			echo "$macros" | grep -qx "$s" || echo "$s"; done)
	undeclared=$(printf '%s\n' "$listed" | while read -r s; do
		[ -z "$s" ] || echo "$declared" | grep -qx "$s" || echo "$s"; done)
	unlisted=$(printf '%s\n' "$declared" | while read -r s; do
		[ -z "$s" ] || echo "$listed" | grep -qx "$s" || echo "$s"; done)
	if [ -n "$undeclared" ]; then
		echo "check-exports: listed in $map but not declared in $header:" \
			$undeclared
		status=1
	fi
	if [ -n "$unlisted" ]; then
		echo "check-exports: declared in $header but not listed in $map:" \
			$unlisted
		status=1
	fi
fi
n=$(echo "$exported" | grep -c '^dax_')
if [ $status -eq 0 ]; then
	echo "exports: 1 passed, 0 failed ($n dax_* symbols)"
else
	echo "exports: 0 passed, 1 failed"
fi
exit $status
