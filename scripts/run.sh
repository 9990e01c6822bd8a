#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install build dependencies,
# build, and run the tracer with the given arguments, e.g.
#   scripts/run.sh -c 20
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DITR_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
exec $SUDO ./build/iptables-trace "$@"
