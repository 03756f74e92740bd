#!/usr/bin/env bash
# Start a single-node SLURM cluster (munge + slurmctld + slurmd) on this machine, with 2 fake
# GPUs so GPU requests are scheduled for real. Facts: ../shared/recipes/local-slurm.md.
# Usage: bash .ci/slurm/up.sh [STATE_DIR]   (default /tmp/wlcnn-slurm); prints the state dir.
set -euo pipefail
STATE=${1:-/tmp/wlcnn-slurm}
mkdir -p "$STATE"/{log,spool,ctld,gpu}

# PMIx must be present before slurmd starts, or `srun --mpi=pmix` steps fail: SLURM's pmix plugin
# dlopens the unversioned pmix2/lib/libpmix.so, which only libpmix-dev provides.
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! ls /usr/lib/*/pmix2/lib/libpmix.so >/dev/null 2>&1; then
  echo "[slurm-up] installing SLURM, munge, Open MPI, PMIx (Debian packages)"
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    slurmctld slurmd slurm-client munge openmpi-bin libpmix2 libpmix-dev >/dev/null
fi

# munge
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

HOST=$(hostname -s)
NODE=$(slurmd -C | head -1)
MEM=$(echo "$NODE" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
NODE=$(echo "$NODE" | sed "s/RealMemory=[0-9]*/RealMemory=$((MEM - 1024))/")
for i in 0 1; do [ -e "$STATE/gpu/gpu$i" ] || mknod "$STATE/gpu/gpu$i" c 1 3; done

CONF_DIR=/etc/slurm
mkdir -p "$CONF_DIR"
cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=wlcnn-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=pmix
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SchedulerType=sched/backfill
$NODE NodeAddr=127.0.0.1 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
cat > "$CONF_DIR/gres.conf" <<CONF
AutoDetect=off
NodeName=$HOST Name=gpu File=$STATE/gpu/gpu[0-1]
CONF

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$STATE/slurmctld.pid" || /usr/sbin/slurmctld -i
running "$STATE/slurmd.pid" || /usr/sbin/slurmd
for _ in $(seq 100); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  [ "$state" = "idle" ] && break
  sleep 0.2
done
[ "$state" = "idle" ] || { echo "[slurm-up] node state '$state' (expected idle); logs in $STATE/log" >&2; exit 1; }
echo "[slurm-up] cluster up: $(sinfo -h -N -o '%N %t %c CPUs %m MB %G')"
echo "$STATE"
