#!/bin/sh
# The first boot of check-vm (/test.sh in the guest, VM_PMEM=memmap, 2 GiB
# of emulated pmem): real device-DAX made by ndctl at 4 KiB, 2 MiB and
# 1 GiB alignment, then the daxlite module at 4 KiB and 2 MiB: the mapping
# rules (daxtest), the busy query and removal (daxlitetest); the example
# engines on them (guest-engines.sh): kvstore on device-DAX at 4 KiB and
# 2 MiB (a run, a second process reading every key back, a SIGKILL crash
# test) and on daxlite at 2 MiB, blockcache on device-DAX at 2 MiB.
. /opt/guest-lib.sh
. /opt/guest-engines.sh

step ndctl list -R
for a in 4K 2M 1G; do
	progress "device-DAX, align $a"
	step ndctl create-namespace -f -e namespace0.0 -m devdax -a "$a" >/dev/null
	step daxtest /dev/dax0.0
	step regiontest /dev/dax0.0
	# The engines on what regiontest left there (not a store: formatted).
	case $a in
	4K)
		kvstore_run /dev/dax0.0 "device-DAX 4K"
		kvstore_crash /dev/dax0.0 "device-DAX 4K" 3 ;;
	2M)
		kvstore_run /dev/dax0.0 "device-DAX 2M"
		kvstore_again /dev/dax0.0 "device-DAX 2M"
		kvstore_crash /dev/dax0.0 "device-DAX 2M" 5
		blockcache_run /dev/dax0.0 "device-DAX 2M" ;;
	esac
done
# A legacy (e820) region: no deep_flush attribute, an empty badblocks.
progress "libdax sysfs side and writeback (wbtest)"
step test ! -e /sys/bus/nd/devices/region0/deep_flush
step test -z "$(cat /sys/bus/nd/devices/region0/badblocks)"
step wbtest /dev/dax0.0 absent 0
expect_dmesg "dax_mmap: fail, attempted private mapping"
expect_dmesg "dax_mmap: fail, unaligned vma"

progress "daxlite, align 4K and 2M"
step insmod /opt/daxlite.ko ndevs=2 size=32M,64M align=4K,2M
step ls -l /dev/daxlite0 /dev/daxlite1 /sys/dev/char/"$(cat /sys/class/daxlite/daxlite0/dev)"/
grep daxlite /proc/iomem | head -n 4
step daxtest /dev/daxlite0
step daxtest /dev/daxlite1
step regiontest /dev/daxlite1
kvstore_run /dev/daxlite1 "daxlite 2M"
expect_dmesg "daxlite_mmap: fail, attempted private mapping"
expect_dmesg "daxlite_mmap: fail, unaligned vma"

progress "daxlite busy query"
# A slow block device: every request completes after 1 s (timer).
rmmod null_blk 2>/dev/null
step insmod "$(mod drivers/block/null_blk/null_blk.ko)" nr_devices=1 \
	irqmode=2 completion_nsec=1000000000
step daxlitetest busy /dev/daxlite0 /dev/nullb0
step daxlitetest busy /dev/daxlite1 /dev/nullb0

progress "daxlite removal"
exec 3</dev/daxlite1
expect_fail rmmod daxlite		# an open file holds the module
exec 3<&-
step daxlitetest remove /dev/daxlite1
step daxlitetest remove /dev/daxlite0 rmmod
[ ! -d /sys/module/daxlite ] || { echo "not ok - daxlite still loaded"; fail=1; }
step insmod /opt/daxlite.ko
step daxtest /dev/daxlite0
step rmmod daxlite
# Removal racing faults, a few more times, at both granularities.
for i in 1 2 3; do
	insmod /opt/daxlite.ko ndevs=2 size=16M align=2M,4K || fail=1
	daxlitetest remove /dev/daxlite0 >/tmp/remove.log 2>&1 &&
		daxlitetest remove /dev/daxlite1 rmmod >>/tmp/remove.log 2>&1 ||
		{ cat /tmp/remove.log; echo "FAILED: removal round $i"; fail=1; }
done
echo "removal rounds done"
expect_dmesg "daxlite daxlite1: removed"
exit $fail
