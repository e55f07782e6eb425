#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, on loopback, for the Slurm executor's tests:
#   scripts/slurm/local-cluster.sh up     start munged, slurmctld and slurmd (installs slurm-wlm and munge with apt when missing)
#   scripts/slurm/local-cluster.sh down   stop them
#   scripts/slurm/local-cluster.sh status sinfo
# Debian's slurm-wlm (22.05) and munge; no accounting database (sacct is never required);
# proctrack/linuxproc and task/none, so it needs no cgroups; CPUs are the consumable resource
# (a job without --mem would otherwise hold all the memory, and the node one job at a time). State lives in $STARLAB_SLURM_DIR
# (default /tmp/starlab-slurm). Needs root (the daemons), as a CI machine or a container has.
set -euo pipefail
DIR=${STARLAB_SLURM_DIR:-/tmp/starlab-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by STaR Lab's scripts/slurm/local-cluster.sh"

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

up() {
  # a machine with its own Slurm keeps it: this script never rewrites a configuration it did not write
  if [ -e "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARK"; then
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local-cluster: $CONF is not this script's; using the cluster it configures" >&2
      return
    fi
    echo "local-cluster: $CONF exists and is not this script's; not touching it" >&2
    exit 1
  fi
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
$MARK
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
SelectTypeParameters=CR_CPU
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
  # only the daemons this script started (their pid files are in $DIR), and munged only
  # when the configuration is this script's
  local pids=""
  for f in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
    [ -s "$f" ] && pids="$pids $(cat "$f")"
  done
  if [ -e "$CONF" ] && head -1 "$CONF" | grep -qF "$MARK"; then
    pids="$pids $(pgrep -x munged || true)"
  fi
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 40); do # an "up" right after must not find them still exiting
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.25
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
