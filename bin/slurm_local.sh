#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try and test --launcher slurm of utils.sweep.
set -euo pipefail

USAGE="Usage: bin/slurm_local.sh start|stop [STATE_DIR]

start: installs Debian's slurm-wlm and munge with apt-get when missing (needs root), starts
       munged, then slurmctld and slurmd with a minimal slurm.conf in STATE_DIR (default:
       /tmp/disvae-slurm): one node of all this machine's cores, partition 'debug', process
       tracking by parent process (proctrack/linuxproc), no accounting, requeued jobs
       eligible again after 10 s (SLURM's default: 120 s). Waits until the node
       is idle and prints the line to set SLURM_CONF for the client commands (sbatch, squeue).
stop:  stops the daemons that start started (by the PIDs in STATE_DIR)."
ACTION=${1:-}
STATE=${2:-/tmp/disvae-slurm}
CONF=$STATE/slurm.conf

die() {
    echo "error: $*" >&2
    exit 2
}

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [[ $(id -u) == 0 ]] || die "SLURM is not installed and installing it needs root: run" \
        "apt-get install slurm-wlm munge as root"
    command -v apt-get >/dev/null || die "SLURM is not installed and there is no apt-get:" \
        "install slurm-wlm and munge with this system's package manager"
    echo "installing slurm-wlm and munge (about a minute)..."
    apt-get update -q </dev/null >"$STATE/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge </dev/null \
            >>"$STATE/apt.log" 2>&1 ||
        die "apt-get could not install slurm-wlm and munge: see $STATE/apt.log"
}

start_munge() {
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return  # already running
    [[ -f /etc/munge/munge.key ]] || die "no /etc/munge/munge.key: reinstall munge"
    mkdir -p /run/munge  # its socket folder (made by the service manager, absent here)
    munged --force 2>>"$STATE/munged.log" || die "munged did not start: see $STATE/munged.log"
    local i
    for i in $(seq 50); do
        if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
            cp /run/munge/munged.pid "$STATE/munged.pid"  # stopped by stop: started here
            return
        fi
        sleep 0.1
    done
    die "munge does not authenticate: see $STATE/munged.log"
}

write_conf() {
    local host memory
    host=$(hostname -s)
    memory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4))
    mkdir -p "$STATE/state" "$STATE/spool"
    # DefMemPerCPU: a job that asks no memory gets its cores' share, so that one-core jobs
    # run side by side (without it each would be given the whole node's memory)
    cat >"$CONF" <<EOF
ClusterName=local
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmUser=root
ReturnToService=2
MpiDefault=none
KillWait=60
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=$((memory / $(nproc)))
EOF
}

start() {
    mkdir -p "$STATE"
    install
    start_munge
    write_conf
    export SLURM_CONF=$CONF
    slurmctld -f "$CONF" || die "slurmctld did not start: see $STATE/slurmctld.log"
    slurmd -f "$CONF" || die "slurmd did not start: see $STATE/slurmd.log"
    local i
    for i in $(seq 120); do
        if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
            echo "SLURM is up: export SLURM_CONF=$CONF"
            return
        fi
        sleep 0.5
    done
    die "the node did not become idle within a minute: see $STATE/slurmctld.log and slurmd.log"
}

stop() {
    local daemon
    for daemon in slurmd slurmctld munged; do
        [[ -f $STATE/$daemon.pid ]] || continue
        kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
        rm -f "$STATE/$daemon.pid"
    done
}

case $ACTION in
    start) start ;;
    stop) stop ;;
    -h | --help) echo "$USAGE" ;;
    *) die "give start or stop: see $0 --help" ;;
esac
