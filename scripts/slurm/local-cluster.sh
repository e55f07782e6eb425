#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, on loopback, for the Slurm executor's tests:
#   scripts/slurm/local-cluster.sh up     start munged, slurmctld and slurmd (installs slurm-wlm and munge with apt when missing)
#   scripts/slurm/local-cluster.sh down   stop them
#   scripts/slurm/local-cluster.sh status sinfo
# Debian's slurm-wlm (22.05) and munge; no accounting database (sacct is never required);
# proctrack/linuxproc and task/none, so it needs no cgroups. State lives in $STARLAB_SLURM_DIR
# (default /tmp/starlab-slurm). Needs root (the daemons), as a CI machine or a container has.
set -euo pipefail
DIR=${STARLAB_SLURM_DIR:-/tmp/starlab-slurm}
CONF=/etc/slurm/slurm.conf

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

up() {
  install
  mkdir -p "$DIR"/{ctld,d,log} /etc/slurm /run/munge /var/log/munge /etc/munge
  chown -R munge:munge /run/munge /var/log/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  pgrep -x munged >/dev/null || runuser -u munge -- munged
  local cpus mem
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
  cat >"$CONF" <<CONF
ClusterName=starlab
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    if echo "$state" | grep -qE '^(idle|mixed|allocated)'; then
      sinfo
      return
    fi
    # a node remembered as down from an earlier run of the cluster
    if echo "$state" | grep -qE '^(down|drained)'; then scontrol update nodename=localhost state=resume || true; fi
    sleep 0.5
  done
  echo "local-cluster: the node did not come up; see $DIR/log/" >&2
  exit 1
}

down() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
  pkill -x munged || true
  for _ in $(seq 1 40); do # an "up" right after must not find them still exiting
    pgrep -x 'slurmd|slurmctld|munged' >/dev/null || return 0
    sleep 0.25
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
