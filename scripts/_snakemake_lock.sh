#!/usr/bin/env bash
# Run `snakemake ARGS` in the current directory, recovering from a stale Snakemake lock.
#   bash scripts/_snakemake_lock.sh [snakemake arguments]
#
# A Snakemake killed with SIGKILL leaves .snakemake/locks/ behind, and every later run stops with
# "Directory cannot be locked" until someone runs `snakemake --unlock`. This wrapper holds an
# flock on .snakemake/wlcnn-run.flock for the whole run (the kernel drops it when the holder dies,
# however it dies), so that:
#   - the flock is held: another wrapped run is live here; say so and exit 75 (EX_TEMPFAIL);
#   - a snakemake process (started without this wrapper) is running here: refuse, exit 75;
#   - otherwise, locks in .snakemake/locks/ belong to a run that is gone: say so, run
#     `snakemake ARGS --unlock`, then the real run.
set -euo pipefail

# Exit status when another run holds the directory (sysexits.h EX_TEMPFAIL: try again later).
readonly BUSY=75
# Private status of the inner step: a snakemake started without this wrapper is running here.
readonly LIVE=76
readonly FLOCK_FILE=.snakemake/wlcnn-run.flock
readonly LOCK_DIR=.snakemake/locks

# PIDs of snakemake processes whose working directory is this one (argv[0] or `-m` target
# `snakemake`; job scripts under .snakemake/scripts/ do not count), from /proc where there is one.
live_snakemake() {
    local proc cwd arg
    local -a argv
    [ -d /proc ] || return 0
    for proc in /proc/[0-9]*; do
        [ "${proc#/proc/}" = "$$" ] && continue
        cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
        [ "$cwd" = "$PWD" ] || continue
        # the first three argv entries: python -m snakemake, or .../bin/snakemake
        mapfile -d '' -n 3 argv 2>/dev/null <"$proc/cmdline" || continue
        for arg in "${argv[@]}"; do
            if [[ "$arg" == snakemake || "$arg" == */snakemake ]]; then
                echo "${proc#/proc/}"
                break
            fi
        done
    done
}

if [ -z "${_WLCNN_RUN_FLOCK_HELD:-}" ]; then
    mkdir -p .snakemake
    # -o: the lock stays with this flock process, not with the jobs Snakemake starts, so that
    # jobs orphaned by a killed Snakemake do not keep the directory "busy".
    status=0
    _WLCNN_RUN_FLOCK_HELD=1 flock --nonblock --close --conflict-exit-code "$BUSY" "$FLOCK_FILE" \
        bash "${BASH_SOURCE[0]}" "$@" || status=$?
    case "$status" in
        "$BUSY")
            echo "[snakemake-lock] another run is in progress in $PWD (it holds $FLOCK_FILE):" \
                "wait for it to finish or stop it" >&2 ;;
        "$LIVE")
            echo "[snakemake-lock] snakemake is already running in $PWD (pid $(live_snakemake | xargs)):" \
                "wait for it to finish or stop it; its lock in $LOCK_DIR is not stale" >&2
            status=$BUSY ;;
    esac
    exit "$status"
fi

# From here on this process (started by flock) runs while the flock is held.
unset _WLCNN_RUN_FLOCK_HELD
if [ -n "$(live_snakemake)" ]; then
    exit "$LIVE"
fi
if [ -n "$(ls -A "$LOCK_DIR" 2>/dev/null)" ]; then
    echo "[snakemake-lock] stale Snakemake lock in $PWD/$LOCK_DIR (no snakemake is running here:" \
        "a previous run was killed); running: snakemake $* --unlock" >&2
    snakemake "$@" --unlock
fi
exec snakemake "$@"
