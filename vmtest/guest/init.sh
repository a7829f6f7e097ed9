#!/bin/busybox sh
# crib-vmtest guest init (PID 1 of the generated initramfs).
# Loads the modules listed in /modules/order, mounts the host root read-only
# over 9p, and runs the job the host wrote (path on the kernel command line as
# crib_job=...). Results go over the virtio-serial port named crib.result;
# the console only carries the kernel log.
export PATH=/bin
[ -e /bin/mount ] || /bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

log() { echo "<3>crib-vmtest: $*" > /dev/kmsg; }
# Phase markers: in dmesg (with timestamps), not on the console.
# The uptime makes them useful on kernels without CONFIG_PRINTK_TIME.
phase() { read -r up _ < /proc/uptime; echo "<6>crib-vmtest: phase $* at $up" > /dev/kmsg; }
say() { [ -n "$PORT" ] && echo "$*" >&3; }
finish() { sync; reboot -f; sleep 10; }
die() { log "FATAL: $*"; say "FATAL $*"; finish; }

JOB= PROBE=
for a in $(cat /proc/cmdline); do
    case "$a" in
        crib_job=*) JOB="${a#crib_job=}" ;;
        crib_probe=1) PROBE=1 ;;
    esac
done

phase init
if [ -f /modules/order ]; then
    while read -r m; do
        insmod "/modules/$m" || die "insmod $m failed"
    done < /modules/order
fi

phase modules-loaded
# Optional modules (socket diag) load in the background during the mounts.
EXTRA_PID=
if [ -s /modules/extra ]; then
    ( while read -r m; do
          insmod "/modules/$m" || log "insmod $m failed"
      done < /modules/extra ) &
    EXTRA_PID=$!
fi
# The port's name arrives from the host shortly after the device appears.
PORT=
i=0
while [ -z "$PORT" ] && [ $i -lt 100 ]; do
    for d in /sys/class/virtio-ports/*; do
        [ "$(cat "$d/name" 2>/dev/null)" = crib.result ] && PORT="/dev/${d##*/}"
    done
    [ -n "$PORT" ] || usleep 50000
    i=$((i + 1))
done
[ -n "$PORT" ] || die "virtio-serial port crib.result not found"
[ -c "$PORT" ] || mknod "$PORT" c $(cat "/sys/class/virtio-ports/${PORT#/dev/}/dev" | tr : ' ')
exec 3<>"$PORT"
phase port-open

if [ -n "$PROBE" ]; then
    say "READY probe"
    finish
fi

R=/mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot $R \
    || die "mounting the host root over 9p failed"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null || log "no bpffs"
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
ip link set lo up 2>/dev/null
[ -n "$EXTRA_PID" ] && wait $EXTRA_PID
phase mounts-done
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 30 > /proc/sys/kernel/hung_task_timeout_secs

[ -n "$JOB" ] && [ -f "$R$JOB" ] || die "job file '$JOB' not visible in the guest"

# Writable tmpfs over each directory the job lists (the root stays read-only).
# The working directory and the share stay visible when they live under one
# of these (a checkout in /tmp): bind-kept across the tmpfs mount.
rw_tmpfs() {
    for d in "$@"; do
        if [ ! -d "$R$d" ]; then log "no directory $d to put tmpfs on"; continue; fi
        k=0
        for p in "$CRIB_CWD" "$CRIB_VMTEST_OUT"; do
            case "$p" in "$d"/*) ;; *) continue ;; esac
            k=$((k + 1))
            mkdir -p "/keep/$k"
            mount -o bind "$R$p" "/keep/$k" || die "keeping $p visible under tmpfs $d failed"
        done
        mount -t tmpfs tmpfs "$R$d"
        k=0
        for p in "$CRIB_CWD" "$CRIB_VMTEST_OUT"; do
            case "$p" in "$d"/*) ;; *) continue ;; esac
            k=$((k + 1))
            mkdir -p "$R$p" && mount -o move "/keep/$k" "$R$p" \
                || die "putting $p back under tmpfs $d failed"
        done
    done
}

# Writable 9p share of a host directory, mounted at the same path.
rw_share() {
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 cribout "$R$1" || die "mounting $1 failed"
}

# Each command enters the host root in a mount namespace of its own, with
# the host root moved onto "/" (as switch_root does: chroot to the moved
# mount's root, the working directory) rather than chrooted into at
# /mnt/root: a pivot_root inside (CRIU's ZDTM ns flavor, containers) then
# attaches its new root at "/", and /proc/PID/root reads "/" again.
ENTER='mount --make-rprivate / && cd '"$R"' && mount -o move . / && exec chroot . /bin/sh -c '\''cd "$1" || exit 125; exec /bin/sh -c "$2"'\'' sh "$1" "$2"'

# run_cmd NAME TIMEOUT_SECS COMMAND: run COMMAND in the host root, in its own
# session and (when cgroup2 is there) its own cgroup; at the timeout kill the
# process group and the cgroup (daemonized children included); after it ends
# kill whatever it left behind, so tests do not leak into each other. Then
# send output, new kernel log lines and the exit status to the host.
N=0
run_cmd() {
    name=$1 tmo=$2 cmd=$3
    N=$((N + 1))
    out=/tmp/out.$N
    say "BEGIN $name"
    log "begin $name"
    rm -f /tmp/timedout
    cg=$R/sys/fs/cgroup/crib-vmtest-$N
    mkdir "$cg" 2>/dev/null || cg=
    # `echo 0 > cgroup.procs` moves the writing process: the subshell itself.
    ( [ -n "$cg" ] && echo 0 > "$cg/cgroup.procs"
      exec setsid unshare -m /bin/sh -c "$ENTER" sh "$CRIB_CWD" "$cmd" ) \
        < /dev/null > "$out" 2>&1 &
    pid=$!
    ( sp=; trap 'kill $sp 2>/dev/null; exit 0' TERM
      sleep "$tmo" & sp=$!; wait $sp
      echo 1 > /tmp/timedout
      kill -KILL -$pid 2>/dev/null
      [ -n "$cg" ] && echo 1 > "$cg/cgroup.kill" 2>/dev/null ) &
    w=$!
    wait $pid
    rc=$?
    kill $w 2>/dev/null
    wait $w 2>/dev/null
    if [ -n "$cg" ]; then
        echo 1 > "$cg/cgroup.kill" 2>/dev/null
        rmdir "$cg" 2>/dev/null
    fi
    to=0
    [ -f /tmp/timedout ] && to=1
    log "end $name rc=$rc"
    say "OUT $name $(wc -c < "$out")"
    cat "$out" >&3
    rm -f "$out"
    dmesg -c > /tmp/kmsg 2>/dev/null
    say "KMSG $name $(wc -c < /tmp/kmsg)"
    cat /tmp/kmsg >&3
    say "EXIT $name $rc $to"
}

dmesg -c > /tmp/kmsg 2>/dev/null
say "READY $(cut -d' ' -f1 /proc/uptime)"
say "KMSG boot $(wc -c < /tmp/kmsg)"
cat /tmp/kmsg >&3

. "$R$JOB"

# Wait for the host to acknowledge everything before pulling the plug.
say "DONE"
read -r -t 10 ack <&3
finish
