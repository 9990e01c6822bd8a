#!/usr/bin/env bash
# All tests: unit (no root), host (root on this machine: verifier loads,
# netlink backend in namespaces; skipped with a reason otherwise), and the
# VM scenarios on Debian kernels 5.10, 6.1 and 6.12 (QEMU): every backend
# with a binary built for each kernel, then the bpf backend with the one
# binary built here, under lockdown.
#   scripts/test.sh            everything
#   scripts/test.sh --no-vm    unit + host only
set -euo pipefail
cd "$(dirname "$0")/.."
vm=1
[ "${1:-}" = "--no-vm" ] && vm=0
if [ $vm -eq 1 ]; then scripts/deps.sh --vm; else scripts/deps.sh; fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DITR_BUILD_TESTS=ON "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)"
echo "== unit and host tests"
(cd build && ctest --output-on-failure --no-tests=error)
if [ $vm -eq 1 ]; then
  echo "== VM scenarios"
  scripts/vmtest.sh --kernel all
  # The release story: the binary built above, on every kernel, booted as a
  # Secure Boot machine is (the kernel refuses unsigned modules): auto must
  # pick the bpf backend, and every scenario passes with it.
  echo "== VM scenarios: this binary under lockdown=integrity module.sig_enforce=1"
  scripts/vmtest.sh --kernel all --binary build/iptables-trace --backend bpf \
    --append "lockdown=integrity module.sig_enforce=1"
fi
