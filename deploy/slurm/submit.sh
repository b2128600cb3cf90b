#!/bin/bash
# Queue a sharded campaign on Slurm: an array of N `bench --shard` tasks, then the merge, which
# waits for the whole array (`afterany`: it runs even if a task failed, and then reports the
# instances that task left out).
#
#   deploy/slurm/submit.sh DIR OUT N [bench flags...]
#
# `genbab` must be on the compute nodes' PATH (or set GENBAB=/path/to/genbab, exported to the
# jobs), and DIR and OUT on a file system they share.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 DIR OUT N [bench flags...]" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=$(realpath "$1")
OUT=$(realpath -m "$2")
N=$3
shift 3
mkdir -p "$OUT"
array=$(sbatch --parsable --export=ALL --chdir="$OUT" --array=0-$((N - 1)) "$here/bench-array.sbatch" "$DIR" "$OUT" "$@")
merge=$(sbatch --parsable --export=ALL --chdir="$OUT" --dependency="afterany:${array%%;*}" "$here/merge.sbatch" "$DIR" "$OUT" "$N")
echo "array job $array ($N shards), merge job $merge: results in $OUT/results.csv"
