#!/bin/sh
# The second boot of check-vm (/test.sh in the guest, VM_PMEM=hmem): a
# dynamic dax region from "soft reserved" memory, carved with daxctl into a
# device of three discontiguous ranges and a 4 KiB-aligned device; then a
# 1 GiB-aligned daxlite device.
. /opt/guest-lib.sh
s=/sys/bus/dax/devices

progress "hmem: multi-range device-DAX"
# dax0.0 starts with the whole region: empty it, then carve 3 x 64 MiB.
step daxctl disable-device dax0.0
step daxctl reconfigure-device -s 0 dax0.0
for _ in 1 2 3; do step daxctl create-device -r 0 -s 64M >/dev/null; done
# Free the middle one and grow the last over it and past the end.
step daxctl disable-device dax0.2
step daxctl destroy-device dax0.2
step daxctl disable-device dax0.3
step daxctl reconfigure-device -s 256M dax0.3
step daxctl enable-device dax0.3
for m in "$s"/dax0.3/mapping[0-9]*; do
	echo "$m: start $(cat "$m/start") end $(cat "$m/end")" \
	     "page_offset $(cat "$m/page_offset")"
done
[ -e $s/dax0.3/mapping2 ] || { echo "not ok - expected 3 ranges"; fail=1; }
step daxtest /dev/dax0.3
# libpmem2 1.12.1 (Debian 12) crashes in pmem2_source_alignment() on
# device-DAX that no nd namespace backs, as here; libdax maps such devices
# itself, and this checks that it does.
step regiontest /dev/dax0.3

progress "hmem: 4K-aligned device-DAX"
step daxctl disable-device dax0.1
echo 4096 >$s/dax0.1/align || fail=1
step daxctl enable-device dax0.1
step daxtest /dev/dax0.1
progress "hmem: unbind device-DAX while mapped and faulted on"
# vmtest.devdax_pipe_oops=1: also while a pipe holds pages, which oopses
# Debian's 6.1 (device-DAX frees struct pages that are still referenced).
if grep -q vmtest.devdax_pipe_oops=1 /proc/cmdline; then
	step daxlitetest unbind /dev/dax0.1 pipe
else
	step daxlitetest unbind /dev/dax0.1
fi

progress "daxlite, align 1G"
step insmod /opt/daxlite.ko size=1G align=1G
step daxtest /dev/daxlite0
[ ! -x /opt/regiontest ] || step regiontest /dev/daxlite0
step rmmod daxlite
exit $fail
