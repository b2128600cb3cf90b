#!/usr/bin/env bash
# VNN-COMP tool interface: run one instance
# (usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT).
# Writes RESULTS_FILE in every case: `sat` and the counterexample, `unsat`, `timeout`, `unknown`
# or `error`. The category is not used: genbab's defaults serve every benchmark. GENBAB names the
# binary (default: the one install_tool.sh built).
set -uo pipefail
if [ "${1:-}" != "v1" ] || [ "$#" -ne 6 ]; then
    echo "usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT" >&2
    exit 1
fi
onnx="$3" vnnlib="$4" results="$5" timeout="$6"
root="$(cd "$(dirname "$0")/.." && pwd)"
genbab="${GENBAB:-$root/target/release/genbab}"
# genbab writes the file itself (also `error` for bad inputs); this covers a binary that could
# not start at all.
echo error > "$results"
"$genbab" verify "$onnx" "$vnnlib" --timeout "$timeout" --results-file "$results"
status=$?
# 0 = a result, 2 = an input error (the file says `error`); anything else is a crash.
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
    echo error > "$results"
fi
exit 0
