#!/usr/bin/env bash
# Cargo runner: boot the ELF on QEMU's mps2-an386 (Cortex-M4F) and decode defmt from stdout.
#
# - `pipefail` keeps QEMU's exit code through the pipe (defmt-print itself exits 0); the firmware
#   exits through semihosting: 0 = all checks passed, 1 = a check failed, a panic or a HardFault.
# - `timeout` catches a hung firmware: exit code 124 after QEMU_TIMEOUT seconds (default 120).
# - `-icount shift=0`: virtual time advances exactly 2^0 = 1 ns per executed instruction, so
#   SysTick (25 MHz core clock on this board, 40 ns per tick) advances one tick per 40
#   instructions, deterministically, whatever the host load. The firmware converts ticks to
#   instructions (see src/main.rs, module `measure`). Without -icount SysTick follows host time.
set -euo pipefail
elf="$1"
shift
timeout --foreground -k 5 "${QEMU_TIMEOUT:-120}" \
  qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
    -semihosting-config enable=on,target=native \
    -icount shift=0 \
    -kernel "$elf" "$@" \
  | defmt-print -e "$elf"
