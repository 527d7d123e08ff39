#!/bin/bash
# check-vm.sh: the kernel tests.  Boots Debian 12's own kernel in qemu (KVM
# when it really works, TCG otherwise) twice:
#   devdax  2 GiB of emulated pmem made device-DAX by ndctl at 4 KiB, 2 MiB
#           and 1 GiB alignment; the daxlite module at 4 KiB and 2 MiB, its
#           busy query (vmsplice, O_DIRECT in flight) and removal
#   hmem    a dynamic dax region carved by daxctl into a 3-range device and
#           a 4 KiB device; a 1 GiB-aligned daxlite device
#   nvdimm  qemu's emulated NVDIMM (ACPI NFIT) made device-DAX: the nd
#           region's deep_flush and badblocks as libdax reads them, an
#           ndctl inject-error attempt, writeback (wbtest), daxctl-lite
#   virtio  virtio-pmem made device-DAX: an nd region whose deep_flush is
#           1, so libdax's writeback ends with a deep flush (wbtest)
# and runs daxtest (mapping rules), daxlitetest and, once libdax has
# regions, regiontest (libdax on each device) there; the devdax boot also
# runs the example engines on real devices (kvstore at 4 KiB and 2 MiB and
# on daxlite, with a second-process check and a SIGKILL crash test;
# blockcache), one "vm: engine ok/FAIL" line per step, counted at the end.
# A kernel warning, oops or bad page fails the boot.
#
#   check-vm.sh [BOOT...]      (default: devdax hmem nvdimm virtio)
#
#   VM_CACHE   downloads and builds (default build/vm); a warm cache makes
#              a run take well under a minute
#   B          the libdax build folder whose libdax.a regiontest links
#              (default: VM_CACHE/lib; make check-vm passes its own)
#   VM_VERBOSE 1: print the whole serial console
#
# Prints one PASS/FAIL line per boot and "vm: N passed, N failed, N
# skipped"; exits 0 when all passed, 1 otherwise, and 77 (after saying why,
# loudly) only when qemu cannot run at all.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin	# depmod, modprobe for a non-root user
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export VM_CACHE=${VM_CACHE:-build/vm}
mkdir -p "$VM_CACHE"
VM_CACHE=$(cd "$VM_CACHE" && pwd)
B=${B:-$VM_CACHE/lib}
boots=("$@")
[ ${#boots[@]} -gt 0 ] || boots=(devdax hmem nvdimm virtio)
t_start=$(date +%s)
say() { echo "check-vm: $* ($(($(date +%s) - t_start))s)"; }

skip() {
	echo "****************************************************************"
	echo "check-vm: SKIPPED: $*"
	echo "check-vm: the kernel tests did NOT run"
	echo "****************************************************************"
	echo "vm: 0 passed, 0 failed, ${#boots[@]} skipped"
	exit 77
}
qemu=qemu-system-x86_64
command -v $qemu >/dev/null ||
	skip "$qemu is not installed (./configure --install-deps)"
echo quit | timeout 30 $qemu -machine none -nodefaults -display none \
	-monitor stdio >/dev/null 2>&1 || skip "$qemu cannot start here"

# 1. Debian's kernel and headers (cached; re-fetched when Debian moves).
say "kernel packages"
kernel_env=$("$here/fetch-kernel.sh")
# shellcheck source=/dev/null
. "$kernel_env"				# KREL VMLINUZ KDIR MODROOT

# 2. The module, built out of tree from a copy of kmod/ (only the files
#    that changed are copied, so kbuild rebuilds only when needed).
say "module against $KREL headers"
mkdir -p "$VM_CACHE/kmod" "$VM_CACHE/bin"
for f in "$top"/kmod/Kbuild "$top"/kmod/*.[ch]; do
	cmp -s "$f" "$VM_CACHE/kmod/${f##*/}" || cp "$f" "$VM_CACHE/kmod/"
done
ko=$VM_CACHE/kmod/daxlite.ko
uptodate=1
for f in "$VM_CACHE"/kmod/Kbuild "$VM_CACHE"/kmod/*.[ch] "$kernel_env"; do
	[ "$ko" -nt "$f" ] || uptodate=0
done
if [ $uptodate = 0 ] &&
   ! make -s -C "$KDIR" M="$VM_CACHE/kmod" modules >"$VM_CACHE/kmod.log" 2>&1
then
	cat "$VM_CACHE/kmod.log"
	echo "check-vm: the module does not build"
	exit 1
fi
[ $uptodate = 1 ] || grep -v 'Skipping BTF generation' "$VM_CACHE/kmod.log" || true

# 3. The guest's programs: static, except regiontest (libdax's libraries
#    are copied into the image by mkinitramfs).
say "test programs"
cc=${CC:-cc}
for p in daxtest daxlitetest; do
	bin=$VM_CACHE/bin/$p
	[ "$bin" -nt "$here/$p.c" ] && [ "$bin" -nt "$top/kmod/daxlite_uapi.h" ] ||
		$cc -O2 -g -Wall -Wextra -static -pthread -I"$top/kmod" \
			-o "$bin" "$here/$p.c"
done
files=(-f "$VM_CACHE/bin/daxtest" -f "$VM_CACHE/bin/daxlitetest"
       -f "$VM_CACHE/kmod/daxlite.ko" -f "$here/guest-lib.sh"
       -f "$here/guest-devdax.sh" -f "$here/guest-hmem.sh")
# regiontest runs libdax's own region code on every device: always built.
make -s -C "$top" B="$B" lib >/dev/null
# shellcheck disable=SC2046
$cc -O2 -g -std=gnu11 -pthread -D_GNU_SOURCE -I"$top/include" \
	-I"$top/kmod" -rdynamic -o "$VM_CACHE/bin/regiontest" \
	"$here/regiontest.c" "$B/libdax.a" \
	$(sed -n 's/^\(PMEM2\|URCU\|JEMALLOC\|AIO\)_LIBS = //p' \
		"$top/config-host.mak") -lpthread
files+=(-f "$VM_CACHE/bin/regiontest")
# wbtest: the nd region's sysfs side and writeback; daxctl-lite for its
# badblocks JSON (its json-c comes along through ldd).
# shellcheck disable=SC2046
$cc -O2 -g -std=gnu11 -pthread -D_GNU_SOURCE -I"$top/include" \
	-o "$VM_CACHE/bin/wbtest" "$here/wbtest.c" "$B/libdax.a" \
	$(sed -n 's/^\(PMEM2\|URCU\|JEMALLOC\|AIO\)_LIBS = //p' \
		"$top/config-host.mak") -lpthread
make -s -C "$top" B="$B" "$B/daxctl-lite" >/dev/null
files+=(-f "$VM_CACHE/bin/wbtest" -f "$B/daxctl-lite"
	-f "$here/guest-nvdimm.sh" -f "$here/guest-virtio.sh")
# The example engines as make builds them (against libdax.so, found at
# $ORIGIN/..): /opt/examples/NAME with libdax.so.N in /opt.  kvtest checks
# kvstore's store from a second process and runs its crash test; brd.ko
# is the RAM disk its O_DIRECT backups go to (guest-engines.sh).
make -s -C "$top" B="$B" "$B/examples/kvstore" "$B/examples/blockcache" \
	>/dev/null
soname=$(readelf -d "$B/examples/kvstore" |
	sed -n 's/.*(NEEDED).*\[\(libdax\.so[^]]*\)\].*/\1/p')
# shellcheck disable=SC2046
$cc -O2 -g -std=gnu11 -pthread -D_GNU_SOURCE -I"$top/include" -I"$top" \
	-o "$VM_CACHE/bin/kvtest" "$here/kvtest.c" "$B/libdax.a" \
	$(sed -n 's/^\(PMEM2\|URCU\|JEMALLOC\|AIO\)_LIBS = //p' \
		"$top/config-host.mak") -lpthread
files+=(-f "$B/examples/kvstore:/opt/examples/kvstore"
	-f "$B/examples/blockcache:/opt/examples/blockcache"
	-f "$B/$soname:/opt/$soname" -f "$VM_CACHE/bin/kvtest"
	-f "$MODROOT/lib/modules/$KREL/kernel/drivers/block/brd.ko"
	-f "$here/guest-engines.sh")

# 4. One initramfs for both boots; the kernel command line picks the script.
cat >"$VM_CACHE/dispatch.sh" <<'EOF'
#!/bin/sh
for kv in $(cat /proc/cmdline); do
	case $kv in vmtest.boot=*) exec sh "/opt/guest-${kv#*=}.sh" ;; esac
done
echo "no vmtest.boot= on the command line"; exit 1
EOF
"$here/mkinitramfs.sh" -o "$VM_CACHE/initrd.gz" -t "$VM_CACHE/dispatch.sh" \
	-m nd_e820 -m nfit -m nd_pmem -m dax_pmem -m device_dax -m dax_hmem \
	-m null_blk -m virtio_pci -m virtio_pmem -b ndctl -b daxctl \
	"${files[@]}" 2>/dev/null

# 5. The boots, at the same time when there are cores for it (each TCG
#    guest keeps about one core busy); their lines are prefixed [BOOT].
boot_one() {
	local boot=$1 env rc
	case $boot in
	devdax) env=(VM_PMEM=memmap VM_MEM_MB=1280 VM_PMEM_MB=2048) ;;
	hmem) env=(VM_PMEM=hmem VM_MEM_MB=2560 VM_PMEM_MB=512) ;;
	nvdimm) env=(VM_PMEM=nvdimm VM_MEM_MB=1024 VM_PMEM_MB=512
		     VM_PMEM_FILE="$VM_CACHE/pmem-nvdimm.img") ;;
	virtio) env=(VM_PMEM=virtio VM_MEM_MB=1024 VM_PMEM_MB=512
		     VM_PMEM_FILE="$VM_CACHE/pmem-virtio.img") ;;
	*) echo "check-vm: unknown boot $boot"; return 2 ;;
	esac
	set +e
	env "${env[@]}" VM_LOG="$VM_CACHE/serial-$boot.log" \
		VM_TIMEOUT="${VM_TIMEOUT:-240}" \
		VM_APPEND="vmtest.boot=$boot ${VM_APPEND:-}" \
		"$here/run-vm.sh" "$VM_CACHE/initrd.gz" 2>&1 |
		sed -u "s/^/[$boot] /"
	rc=${PIPESTATUS[0]}
	set -e
	return "$rc"
}

parallel=${VM_PARALLEL:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
# At most one guest per core at a time: a TCG guest keeps a core busy.
maxpar=$(nproc)
say "booting: ${boots[*]}$([ "$parallel" = 1 ] && echo ", $maxpar at a time")"
declare -A t0 secs
for boot in "${boots[@]}"; do
	rm -f "$VM_CACHE/rc-$boot"
	if [ "$parallel" = 1 ]; then
		while [ "$(jobs -rp | wc -l)" -ge "$maxpar" ]; do
			wait -n || true
		done
	fi
	t0[$boot]=$(date +%s)
	if [ "$parallel" = 1 ]; then
		{ boot_one "$boot" && rc=0 || rc=$?
		  echo "$rc $(($(date +%s) - t0[$boot]))" >"$VM_CACHE/rc-$boot"; } &
	else
		boot_one "$boot" && rc=0 || rc=$?
		echo "$rc $(($(date +%s) - t0[$boot]))" >"$VM_CACHE/rc-$boot"
	fi
done
wait

passed=0 failed=0
for boot in "${boots[@]}"; do
	read -r rc secs <"$VM_CACHE/rc-$boot" || rc=2 secs=?
	log=$VM_CACHE/serial-$boot.log
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		echo "  PASS  vm/$boot (${secs}s)"
	else
		failed=$((failed + 1))
		echo "  FAIL  vm/$boot (exit $rc, ${secs}s); last lines of $log:"
		tail -n 60 "$log" | sed 's/^/        /'
	fi
done
# The engines' steps (guest-engines.sh), counted over the boots' logs.
eng_ok=0 eng_fail=0
for boot in "${boots[@]}"; do
	log=$VM_CACHE/serial-$boot.log
	[ -f "$log" ] || continue
	eng_ok=$((eng_ok + $(grep -ac '^vm: engine ok - ' "$log" || true)))
	eng_fail=$((eng_fail + $(grep -ac '^vm: engine FAIL - ' "$log" || true)))
done
[ $((eng_ok + eng_fail)) -eq 0 ] ||
	echo "  engines: $eng_ok steps ok, $eng_fail failed (kvstore, blockcache)"
say "done"
echo "vm: $passed passed, $failed failed, 0 skipped"
[ $failed -eq 0 ] && [ $eng_fail -eq 0 ]
