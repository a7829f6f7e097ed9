#!/bin/sh
# text-patching-stress.sh [FLIPS]: flip a static key (sched_schedstats) FLIPS
# times while the other vCPUs run kernel code, so the kernel patches its text
# (int3-based text_poke_bp) under their feet. Under multi-threaded TCG a
# vCPU can keep executing a stale int3 and the guest dies with
# `Oops: int3` (the boot flake of stock kernels with 2 vCPUs); with
# `-accel tcg,thread=single` it must survive. Exit 77 with one CPU.
set -u
flips=${1:-500}
cpus=$(grep -c '^processor' /proc/cpuinfo)
knob=/proc/sys/kernel/sched_schedstats
if [ "$cpus" -lt 2 ]; then echo "one CPU: no cross-modifying code race to provoke"; exit 77; fi
if [ ! -w "$knob" ]; then echo "no $knob (CONFIG_SCHEDSTATS): no static key to flip"; exit 77; fi
pids=
for _ in $(seq 2 "$cpus"); do
	( while :; do cat /proc/self/stat > /dev/null; done ) &
	pids="$pids $!"
done
i=0
while [ "$i" -lt "$flips" ]; do
	echo 1 > "$knob"
	echo 0 > "$knob"
	i=$((i + 1))
done
kill $pids
echo "flipped $knob $i times on $cpus CPUs"
