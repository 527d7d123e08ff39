# guest-lib.sh: sourced by the guest test scripts (as /opt/guest-lib.sh).
fail=0
# step CMD...: run and log a command; a failure fails the boot.
step() {
	echo "+ $*"
	"$@" || { echo "FAILED($?): $*"; fail=1; }
}
# progress TEXT: a line the host prints while the boot runs.
progress() {
	echo "vm-progress: $* ($(cut -d' ' -f1 /proc/uptime)s)"
}
# expect_dmesg PATTERN: the kernel logged a line matching PATTERN.
expect_dmesg() {
	if dmesg | grep -q -- "$1"; then
		echo "ok - dmesg has \"$1\""
	else
		echo "not ok - dmesg lacks \"$1\""; fail=1
	fi
}
# expect_fail CMD...: the command must fail.
expect_fail() {
	echo "+ ! $*"
	if "$@"; then echo "FAILED: succeeded: $*"; fail=1; fi
}
# mod PATH: a module of the running kernel, by its path under kernel/.
mod() {
	echo "/lib/modules/$(uname -r)/kernel/$1"
}
