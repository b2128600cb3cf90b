#!/usr/bin/env bash
# VNN-COMP tool interface: prepare one instance (usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB).
# genbab keeps no state between runs and run_instance.sh ends its own process, so there is
# nothing to reset: this checks that both files exist (plain or .gz: genbab reads either).
set -euo pipefail
if [ "${1:-}" != "v1" ] || [ "$#" -ne 4 ]; then
    echo "usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB" >&2
    exit 1
fi
for f in "$3" "$4"; do
    if [ ! -f "$f" ]; then
        echo "$f: no such file" >&2
        exit 1
    fi
done
exit 0
