#!/usr/bin/env bash
# VNN-COMP tool interface: build genbab (usage: install_tool.sh v1).
# Needs a Rust toolchain (cargo) on PATH; builds the release binary into target/release/genbab.
set -euo pipefail
if [ "${1:-}" != "v1" ]; then
    echo "expected the version string v1 as the first argument, got '${1:-}'" >&2
    exit 1
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v cargo > /dev/null; then
    echo "cargo not found: install a Rust toolchain (rustup) first" >&2
    exit 1
fi
cargo build --release --locked --manifest-path "$root/Cargo.toml" -p genbab-cli
"$root/target/release/genbab" --version
