#!/bin/bash
# run-vm.sh: boot the fetched Debian kernel with an initramfs from
# mkinitramfs.sh in qemu, with emulated persistent memory, print the serial
# console and exit with the guest's verdict:
#   0 = VM-RESULT: PASS, 1 = VM-RESULT: FAIL, 2 = no verdict (crash, timeout)
#
# run-vm.sh INITRD [EXTRA QEMU ARGS...]
#
#   VM_CACHE      cache directory (default ./build/vm)
#   VM_ACCEL      auto (KVM when it works, else TCG), kvm or tcg
#   VM_MEM_MB     guest RAM, not counting the pmem (default 1536)
#   VM_SMP        guest CPUs (default 2)
#   VM_PMEM       memmap: legacy pmem carved out of RAM with memmap=SIZE!1G
#                         (nd_e820; label-less region0, namespace0.0)
#                 nvdimm: qemu NVDIMM backed by a file (ACPI NFIT; nfit.ko)
#                 hmem:   the memmap carve-out as "soft reserved" memory, a
#                         dynamic dax region (dax_hmem; daxctl create-device)
#                 virtio: virtio-pmem backed by a file (virtio_pmem.ko): an
#                         nd region with an asynchronous flush, so its
#                         deep_flush attribute is 1 and writable (a write
#                         makes the host fsync the file)
#                 none
#   VM_PMEM_MB    pmem size (default 512)
#   VM_PMEM_FILE  nvdimm backing file (default $VM_CACHE/pmem0.img, recreated
#                 empty each boot unless VM_PMEM_KEEP=1)
#   VM_LABEL_KB   nvdimm label area in KiB (default 0: label-less)
#   VM_APPEND     extra kernel command line
#   VM_TIMEOUT    seconds before the VM is killed (default 600)
#   VM_LOG        serial log file (default $VM_CACHE/serial.log)
#   VM_VERBOSE    1: print the whole serial console; otherwise only the
#                 guest's progress, failure and verdict lines
set -euo pipefail

VM_CACHE=${VM_CACHE:-./build/vm}
# shellcheck source=/dev/null
. "$VM_CACHE/kernel/current/kernel.env"
initrd=${1:?usage: run-vm.sh INITRD [QEMU ARGS...]}
shift
mem=${VM_MEM_MB:-1536} pmem=${VM_PMEM_MB:-512}
log=${VM_LOG:-$VM_CACHE/serial.log}
qemu="qemu-system-x86_64"

# /dev/kvm may accept KVM_CREATE_VM and still be unable to run a stock
# kernel: a nested host whose KVM is PVM (kvm_pvm, for PVM-built guests
# only) hangs right after the real-mode setup code.  So probe by booting the
# kernel with no root fs, which panics within seconds where KVM works.
# The answer is cached per host boot.
kvm_works() {
	[ -w /dev/kvm ] || return 1
	if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] &&
	   [ ! -d /sys/module/kvm_amd ]; then
		return 1
	fi
	local out stamp
	stamp=$VM_CACHE/kvm-works.$(cat /proc/sys/kernel/random/boot_id)
	if [ ! -f "$stamp" ]; then
		out=$(timeout -k 2 20 $qemu -accel kvm -cpu host -m 256M -nodefaults \
			-display none -serial stdio -no-reboot -kernel "$VMLINUZ" \
			-append "console=ttyS0 panic=-1 loglevel=1" </dev/null 2>&1) || true
		case $out in *"Kernel panic"*) echo yes ;; *) echo no ;; esac >"$stamp"
	fi
	[ "$(cat "$stamp")" = yes ]
}

accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
	if kvm_works; then accel=kvm; else accel=tcg; fi
fi
case $accel in
kvm) args=(-accel kvm -cpu host) ;;
tcg) args=(-accel tcg -cpu max) ;;
*) echo "run-vm: VM_ACCEL must be auto, kvm or tcg" >&2; exit 2 ;;
esac

# no_timer_check: a TCG guest on a loaded host can run so slowly that the
# kernel's early check of the IO-APIC timer fails and it panics ("IO-APIC +
# timer doesn't work!", seen here with four guests on two busy cores).
append="console=ttyS0 panic=-1 quiet no_timer_check ${VM_APPEND:-}"
machine=pc
VM_PMEM=${VM_PMEM:-memmap}
case $VM_PMEM in
memmap|hmem)
	# RAM | pmem | RAM: the carve-out sits at 1 GiB (1 GiB-aligned), away
	# from the top of RAM where the firmware reserves a few pages; pc keeps
	# all RAM below 4 GiB while there is less than 3.5 GiB of it.  hmem types
	# it "soft reserved" (EFI specific-purpose memory) instead of pmem:
	# dax_hmem makes it a dynamic dax region, where daxctl can create,
	# resize (into several ranges) and re-align devices.
	((mem >= 1280 && mem + pmem < 3584)) || { echo "run-vm: $VM_PMEM" \
		"needs 1280 <= VM_MEM_MB, VM_MEM_MB + VM_PMEM_MB < 3584" >&2; exit 2; }
	if [ "$VM_PMEM" = memmap ]; then
		append+=" memmap=${pmem}M!1024M"
	else
		append+=" memmap=${pmem}M%1024M+0xefffffff"
	fi
	args+=(-m "$((mem + pmem))M")
	;;
nvdimm)
	# qemu takes the label area from the end of the backing file: add it,
	# so that the region keeps the 16 MiB-aligned size asked for.  The
	# NVDIMM sits above RAM, in hotpluggable space (maxmem, with slack).
	label=${VM_LABEL_KB:-0}
	file=${VM_PMEM_FILE:-$VM_CACHE/pmem0.img}
	if [ "${VM_PMEM_KEEP:-0}" != 1 ] || [ ! -e "$file" ]; then
		rm -f "$file"
		truncate -s "$((pmem * 1024 + label))K" "$file"
	fi
	nvdimm=nvdimm,id=nvdimm0,memdev=pmem0
	[ "$label" = 0 ] || nvdimm+=,label-size=${label}K
	machine=pc,nvdimm=on
	args+=(-m "${mem}M,slots=2,maxmem=$((mem + pmem + 1024))M"
	       -object "memory-backend-file,id=pmem0,share=on,mem-path=$file,size=$((pmem * 1024 + label))K"
	       -device "$nvdimm")
	;;
virtio)
	file=${VM_PMEM_FILE:-$VM_CACHE/vpmem0.img}
	if [ "${VM_PMEM_KEEP:-0}" != 1 ] || [ ! -e "$file" ]; then
		rm -f "$file"
		truncate -s "${pmem}M" "$file"
	fi
	args+=(-m "${mem}M,slots=2,maxmem=$((mem + pmem + 1024))M"
	       -object "memory-backend-file,id=pmem0,share=on,mem-path=$file,size=${pmem}M"
	       -device "virtio-pmem-pci,memdev=pmem0,id=vpmem0")
	;;
none) args+=(-m "${mem}M") ;;
*) echo "run-vm: VM_PMEM must be memmap, nvdimm, hmem, virtio or none" >&2
   exit 2 ;;
esac

echo "run-vm: $KREL, $accel, VM_PMEM=$VM_PMEM (${pmem} MiB), log $log" >&2
t0=$(date +%s%N)
set +e
timeout -k 5 "${VM_TIMEOUT:-600}" \
	$qemu -machine "$machine" "${args[@]}" -smp "${VM_SMP:-2}" \
		-nodefaults -display none -serial stdio -no-reboot \
		-kernel "$VMLINUZ" -initrd "$initrd" -append "$append" "$@" \
		</dev/null 2>&1 | tee "$log" |
	if [ "${VM_VERBOSE:-0}" = 1 ]; then cat; else
		grep -a --line-buffered -E '^(vm-progress:|vm:|not ok|FAILED|KNOWN-BUG|VM-RESULT)' |
			sed -u 's/^vm-progress: /  ... /'
	fi
qrc=${PIPESTATUS[0]}
set -e
t1=$(date +%s%N)
echo "run-vm: qemu exit $qrc after $(((t1 - t0) / 1000000)) ms ($accel)" >&2

if grep -aq '^VM-RESULT: PASS' "$log"; then
	exit 0
elif grep -aq '^VM-RESULT: FAIL' "$log"; then
	exit 1
fi
echo "run-vm: no verdict from the guest (qemu exit $qrc; 124: timed out;" \
     "0: the guest rebooted, e.g. after a panic)" >&2
exit 2
