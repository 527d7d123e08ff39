# shellcheck shell=sh disable=SC2034  # fail: guest-lib.sh's verdict
# guest-engines.sh: sourced by guest-devdax.sh after guest-lib.sh.  The
# example engines (examples/kvstore, examples/blockcache, built by make as
# for the host and shipped as /opt/examples/NAME with libdax.so.N in /opt)
# on real devices.  Each step prints one line the host shows and
# check-vm.sh counts:
#   vm: engine ok - WHAT
#   vm: engine FAIL - WHAT
# and the programs' own output goes to the serial log only.
KV=/opt/examples/kvstore
BC=/opt/examples/blockcache
KV_KEYS=2000

engine_ok() { echo "vm: engine ok - $*"; }
engine_fail() { echo "vm: engine FAIL - $*"; fail=1; }

# kvstore's backups are O_DIRECT writes (through dax_aio_write) that are
# read back: the guest's /tmp is tmpfs, which has no O_DIRECT in 6.1, so
# they go to a RAM disk (brd allocates its pages only when written).
backup_disk() {
	[ -b /dev/ram0 ] && return 0
	insmod /opt/brd.ko rd_nr=1 rd_size=262144 ||
		{ engine_fail "insmod brd (the backup disk)"; return 1; }
}

# kvstore_run DEV WHAT: a short demo run on DEV (workload, backup against
# compaction, backup check, close, reopen, recovery check), then a second
# process (kvtest keys) reopens the store and reads every key back.
kvstore_run() {
	dev=$1 what=$2
	progress "kvstore on $what ($dev)"
	backup_disk || return
	echo "+ $KV --seconds 3 --threads 2 --keys $KV_KEYS --backup /dev/ram0 $dev"
	$KV --seconds 3 --threads 2 --keys $KV_KEYS --backup /dev/ram0 "$dev" \
		>/tmp/kv.log 2>&1
	rc=$?
	sed 's/^/kvstore| /' /tmp/kv.log
	# "      1891 committed keys recovered, 0 missing, 0 wrong, 0 unexpected"
	n=$(sed -n 's/^ *\([0-9][0-9]*\) committed keys recovered, 0 missing, 0 wrong, 0 unexpected$/\1/p' /tmp/kv.log)
	region=$(sed -n '3s/^ *\([^;]*\);.*/\1/p' /tmp/kv.log)
	opened=$(sed -n -e 's/^ *new store: .*/new store/p' \
		-e 's/^ *recovered: \([0-9]*\) records.*/recovered \1 records/p' /tmp/kv.log)
	ops=$(sed -n 's/^ *throughput *\([0-9]*\) ops\/s.*/\1/p' /tmp/kv.log)
	if [ $rc -eq 0 ] && [ -n "$n" ] &&
	   grep -q '^kvstore: all checks passed$' /tmp/kv.log; then
		engine_ok "kvstore on $what: $region, $opened; $ops ops/s;" \
			"backup checked; $n committed keys recovered on reopen"
	else
		engine_fail "kvstore on $what (exit $rc): $(grep -v '^ ' /tmp/kv.log | tail -n 2 | tr '\n' ' ')"
		return
	fi
	echo "+ kvtest keys $dev $KV_KEYS $n"
	if kvtest keys "$dev" $KV_KEYS "$n" >/tmp/kvk.log 2>&1; then
		engine_ok "kvstore on $what: a second process recovered the" \
			"$n keys, every value intact"
	else
		engine_fail "kvstore on $what: second process: $(grep -m1 'not ok' /tmp/kvk.log)"
	fi
	cat /tmp/kvk.log
}

# kvstore_again DEV WHAT: the kvstore program itself opens the store again
# in a new process; it must recover as many keys as the last run left.
kvstore_again() {
	dev=$1 what=$2
	progress "kvstore again on $what"
	echo "+ $KV --seconds 1 --threads 2 --keys $KV_KEYS --backup /dev/ram0 $dev"
	$KV --seconds 1 --threads 2 --keys $KV_KEYS --backup /dev/ram0 "$dev" \
		>/tmp/kv2.log 2>&1
	rc=$?
	sed 's/^/kvstore| /' /tmp/kv2.log
	got=$(sed -n 's/^ *recovered: [0-9]* records replayed, \([0-9]*\) keys$/\1/p' /tmp/kv2.log)
	if [ $rc -eq 0 ] && [ "$got" = "$n" ] &&
	   grep -q '^kvstore: all checks passed$' /tmp/kv2.log; then
		engine_ok "kvstore on $what: the next kvstore run recovered" \
			"$got keys at open, and passed"
	else
		engine_fail "kvstore on $what, next run (exit $rc): recovered" \
			"'$got' keys at open, $n expected"
	fi
}

# kvstore_crash DEV WHAT ROUNDS: kvstore --crash-test-child killed with
# SIGKILL at random moments; each time a new process checks that the store
# holds exactly a prefix of the operations, at least all it reported
# committed (kvtest crash, the protocol of tests/kvstore_crash.c).
kvstore_crash() {
	dev=$1 what=$2 rounds=$3
	progress "kvstore crash test on $what, $rounds rounds"
	echo "+ kvtest crash $dev $KV $rounds"
	if kvtest crash "$dev" $KV "$rounds" >/tmp/kvc.log 2>&1; then
		engine_ok "kvstore crash test on $what: $(sed -n 's/^ok - [^:]*: //p' /tmp/kvc.log | head -n 1)"
	else
		engine_fail "kvstore crash test on $what: $(grep -m1 'not ok' /tmp/kvc.log)"
	fi
	cat /tmp/kvc.log
}

# blockcache_run DEV WHAT: the block cache's checked workload, its cache
# in DEV.
blockcache_run() {
	dev=$1 what=$2
	progress "blockcache on $what"
	echo "+ $BC --region $dev --file-mb 16 --cache-mb 8 --seconds 2 --threads 2"
	$BC --region "$dev" --file-mb 16 --cache-mb 8 --seconds 2 --threads 2 \
		>/tmp/bc.log 2>&1
	rc=$?
	sed 's/^/blockcache| /' /tmp/bc.log
	if [ $rc -eq 0 ] && grep -q '^blockcache: all checks passed$' /tmp/bc.log; then
		engine_ok "blockcache on $what: $(sed -n 's/^verified *//p' /tmp/bc.log)"
	else
		engine_fail "blockcache on $what (exit $rc): $(tail -n 2 /tmp/bc.log | tr '\n' ' ')"
	fi
}
