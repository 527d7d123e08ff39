#!/bin/sh
# The third boot of check-vm (/test.sh in the guest, VM_PMEM=nvdimm): qemu's
# emulated NVDIMM (ACPI NFIT, nfit.ko) made device-DAX by ndctl.  What the
# nd region's sysfs says (deep_flush, badblocks), an attempt to inject a
# media error with ndctl inject-error (qemu's NFIT implements no ARS error
# injection: the attempt is expected to fail, and its message is logged),
# then libdax on the device: the deep_flush capability and the bad pages
# it reads from sysfs must match the files (wbtest), daxctl-lite badblocks
# must print them as JSON, and writeback must work.
. /opt/guest-lib.sh

region=/sys/bus/nd/devices/region0
step ndctl list -R -v
progress "nd region sysfs"
ls "$region"
if [ -e "$region/deep_flush" ]; then
	df=$(cat "$region/deep_flush")
	echo "deep_flush: $df ($(stat -c %A "$region/deep_flush"))"
else
	df=absent
	echo "deep_flush: absent"
fi
step test -e "$region/badblocks"

progress "device-DAX on the NVDIMM"
step ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M >/dev/null

progress "ndctl inject-error"
# Sector 8192 (4 MiB into the namespace), 8 sectors: one 4 KiB page.
if ndctl inject-error --block=8192 --count=8 namespace0.0 \
	>/tmp/inject.log 2>&1; then
	cat /tmp/inject.log
	echo "inject-error: accepted"
	ndctl start-scrub --wait 2>&1 | tail -n 3
	ndctl list -M -N 2>&1 | head -n 20
else
	echo "inject-error: refused (exit $?):"
	cat /tmp/inject.log
fi
echo "region badblocks:"
cat "$region/badblocks"
# Region pages the badblocks sectors cover, as libdax counts them (each
# "sector count" line: pages from sector/8 to (sector+count-1)/8); the
# device starts after its info block, so a bad page outside it would not
# count: this boot injects inside it, or nothing at all.
nbad=$(awk '{ f = int($1 / 8); l = int(($1 + $2 - 1) / 8);
	      n += l - f + 1 } END { print n + 0 }' "$region/badblocks")
echo "expected bad pages: $nbad"

progress "libdax on /dev/dax0.0"
step wbtest /dev/dax0.0 "$df" "$nbad"
step regiontest /dev/dax0.0
echo "daxctl-lite badblocks:"
daxctl-lite badblocks /dev/dax0.0 >/tmp/bb.json 2>&1 ||
	{ echo "FAILED: daxctl-lite badblocks"; fail=1; }
cat /tmp/bb.json
tr -d ' \n' </tmp/bb.json >/tmp/bb.flat
if [ "$nbad" = 0 ]; then
	step grep -q '"badblocks":\[\]' /tmp/bb.flat
else
	step grep -q '"badblocks":\[{"offset"' /tmp/bb.flat
fi
exit $fail
