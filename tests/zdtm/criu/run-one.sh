#!/bin/sh
# run-one.sh TREE CRIU TEST FLAVOR [ZDTM-OPTION...]: one CRIU ZDTM test in one flavor, as a
# command of a zdtm lane (xtask/src/criu/zdtm.rs). Exit 0 pass, 77 zdtm
# skipped it (flavor or feature not there), 1 fail (with the tail of the
# CRIU logs zdtm points at). The lane kills whatever it leaves behind.
set -u
tree=$1 criu=$2 test=$3 flavor=$4
shift 4
cd "$tree/test" || exit 1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The network lock without iptables (the kit installs nftables).
export CRIU_CONFIG_FILE=/tmp/crib-criu.conf
[ -f "$CRIU_CONFIG_FILE" ] || printf 'network-lock nftables\n' > "$CRIU_CONFIG_FILE"
# Kernel health is the harness's splat detector's job (stock kernels load
# unsigned modules, which taints them).
export ZDTM_IGNORE_TAINT=1
out=$(./zdtm.py run -t "$test" -f "$flavor" --criu-bin "$criu" -k failed "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
case "$out" in
*"Test $test PASS"*) [ $rc -eq 0 ] && exit 0 ;;
esac
if printf '%s\n' "$out" | grep -q "^Skipping $test"; then
	exit 77
fi
printf '%s\n' "$out" | sed -n 's/^=\[log\]=> //p' | while read -r log; do
	echo "--- end of $log"
	tail -n 25 "$log" 2>/dev/null
done
exit 1
