# crib-vmtest job wrapper for virtme-ng (sourced by the host's /bin/sh in the
# guest). Same job file as our own init, different plumbing: results go to
# files in the read-write share ($OUT), which the host reads as they appear.
OUT="$1"
JOB="$2"
log() { echo "<3>crib-vmtest: $*" > /dev/kmsg 2>/dev/null; }
rw_tmpfs() { :; }   # virtme-ng already gives /tmp and /run as tmpfs
rw_share() { :; }   # the share is passed with --rwdir at the same path
run_cmd() {
    name=$1 tmo=$2 cmd=$3
    f=$(echo "$name" | tr / _)
    echo "BEGIN $name" >> "$OUT/events"
    log "begin $name"
    # GNU timeout runs the command in its own process group and signals the
    # group; 124 means it timed out.
    ( cd "$CRIB_CWD" || exit 125; exec timeout -k 2 "$tmo" /bin/sh -c "$cmd" ) \
        < /dev/null > "$OUT/$f.out" 2>&1
    rc=$?
    to=0
    [ $rc -eq 124 ] && to=1
    log "end $name rc=$rc"
    dmesg -c > "$OUT/$f.kmsg" 2>/dev/null
    echo "EXIT $name $rc $to" >> "$OUT/events"
}
dmesg -c > "$OUT/boot.kmsg" 2>/dev/null
echo "READY $(cut -d' ' -f1 /proc/uptime)" >> "$OUT/events"
. "$JOB"
echo "DONE" >> "$OUT/events"
