#!/bin/bash
# CI check of the Slurm files on a real single-node Slurm: start munge and Slurm on this
# machine (as root, no systemd), submit a 4-task array campaign over vnncomp_test, tllverifybench
# and one ACAS Xu instance cut by `genbab split` (submit.sh: the array, then the merge), and
# check that the merged verdicts are a single-machine run's. Stops the daemons at the end.
#
#   deploy/slurm/ci-test.sh GENBAB SHARED_BENCHMARKS
#
# Needs Debian's slurm-wlm and munge (installed by .ci/run) and root.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 GENBAB SHARED_BENCHMARKS" >&2
  exit 2
fi
GENBAB=$(realpath "$1")
SHARED=$(realpath "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/genbab-slurm.XXXXXX)
export GENBAB

stop() {
  scancel --user=root >/dev/null 2>&1 || true
  for d in slurmd slurmctld munged; do pkill -x "$d" >/dev/null 2>&1 || true; done
}
trap stop EXIT

# munge: a key, the daemon as its own user.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged --force
munge -n | unmunge >/dev/null

# Slurm: one node, this machine.
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=genbab-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then break; fi
  sleep 1
done
sinfo

# The campaign: two benchmark folders and one ACAS Xu instance cut into 3 parts.
camp="$work/campaign"
mkdir -p "$camp"
ln -s "$root/tests/fixtures/vnncomp_test" "$camp/vnncomp_test"
ln -s "$SHARED/tllverifybench" "$camp/tllverifybench"
A="$SHARED/acasxu"
"$GENBAB" split "$A/onnx/ACASXU_run2a_1_1_batch_2000.onnx" "$A/vnnlib/prop_5.vnnlib" --parts 3 \
  --out "$camp/acasxu_split"
test "$(wc -l < "$camp/acasxu_split/instances.csv")" -ge 2

# One machine, then the array of 4 shards and the merge.
"$GENBAB" bench "$camp" -o "$work/single.csv" --plot "$work/single.svg" >/dev/null
"$here/submit.sh" "$camp" "$work/out" 4
for _ in $(seq 1 900); do
  if [ -z "$(squeue -h 2>/dev/null)" ]; then break; fi
  sleep 1
done
if [ -n "$(squeue -h)" ]; then
  echo "the jobs did not finish within 15 minutes" >&2
  squeue >&2
  exit 1
fi
cat "$work"/out/genbab-merge-*.out
for i in 0 1 2 3; do test -s "$work/out/shard-$i.csv"; done
test -s "$work/out/results.csv"
# The verdicts (benchmark, onnx, vnnlib, expected, result), row for row.
cut -d, -f1-5 "$work/single.csv" > "$work/single.rows"
cut -d, -f1-5 "$work/out/results.csv" > "$work/merged.rows"
diff "$work/single.rows" "$work/merged.rows"
rows=$(($(wc -l < "$work/merged.rows") - 1))
echo "Slurm: 4 array tasks and the merge gave the single run's $rows verdicts"
rm -rf "$work"
