#!/bin/sh
# The fourth boot of check-vm (/test.sh in the guest, VM_PMEM=virtio):
# virtio-pmem, an nd region with an asynchronous flush (the host fsyncs
# the backing file).  Found here: Debian's 6.1 hides its deep_flush
# attribute (nvdimm_has_flush() answers "unknown" for a region without
# DIMM mappings before it looks at the asynchronous flush), so libdax must
# report no capability, as for the e820 region; should a kernel show the
# attribute, its value decides, and a 1 must be writable.  Then device-DAX
# on it, libdax's sysfs side and writeback (wbtest), and regiontest.
. /opt/guest-lib.sh

step ndctl list -R -v
region=/sys/bus/nd/devices/region0
ls "$region"
if [ -e "$region/deep_flush" ]; then
	df=$(cat "$region/deep_flush")
	echo "deep_flush: $df ($(stat -c %A "$region/deep_flush"))"
	[ "$df" != 1 ] || step sh -c "echo 1 > $region/deep_flush"
else
	df=absent
	echo "deep_flush: absent"
fi

progress "device-DAX on virtio-pmem"
step ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M >/dev/null
dev=$(ls -d /dev/dax* | head -n 1)
echo "device: $dev"
nbad=$(awk '{ f = int($1 / 8); l = int(($1 + $2 - 1) / 8);
	      n += l - f + 1 } END { print n + 0 }' "$region/badblocks")

progress "libdax on $dev"
step wbtest "$dev" "$df" "$nbad"
step regiontest "$dev"
exit $fail
