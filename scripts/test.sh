#!/usr/bin/env bash
# All tests: unit (no root), host (root on this machine: verifier loads,
# netlink backend in namespaces; skipped with a reason otherwise), and the
# VM scenarios on Debian kernels 5.10, 6.1 and 6.12 (QEMU): the module and
# netlink backends with a binary built for each kernel, then the bpf backend
# with the one binary built here, under lockdown.
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
  # Two passes at once, each its own QEMU (one core each under TCG): the
  # bpf pass builds nothing, so it runs beside the module/netlink pass and
  # its builds. The kernels are fetched first, once, into the shared cache.
  export ITR_VM_CACHE=${ITR_VM_CACHE:-$PWD/build/vm/cache}
  echo "== VM kernels"
  for k in $(. scripts/vm/common.sh && vm_kernel_keys); do
    scripts/vm/fetch-kernel.sh "$k" || echo "test: kernel $k could not be fetched now; vmtest tries again and reports it"
  done
  # The bpf backend needs no build per kernel: the release story is the
  # binary built above, unchanged, on every kernel, booted as a Secure Boot
  # machine is (the kernel refuses unsigned modules); auto must pick it
  # there (scenario 18), and every scenario passes with it.
  echo "== VM scenarios: bpf backend, this binary, lockdown=integrity module.sig_enforce=1 (in the background: build/vm-bpf.log)"
  mkdir -p build/vm-bpf
  ITR_VM_DIR=$PWD/build/vm-bpf scripts/vmtest.sh --kernel all --binary build/iptables-trace --backend bpf \
    --append "lockdown=integrity module.sig_enforce=1" > build/vm-bpf.log 2>&1 &
  bpf_pid=$!
  trap 'kill $bpf_pid 2>/dev/null' EXIT
  echo "== VM scenarios: module and netlink backends, a binary built for each kernel"
  rc=0
  scripts/vmtest.sh --kernel all --backend module --backend netlink || rc=$?
  bpf_rc=0
  wait $bpf_pid || bpf_rc=$?
  trap - EXIT
  echo "== VM scenarios: bpf backend (build/vm-bpf.log)"
  cat build/vm-bpf.log
  [ $rc -eq 0 ] && [ $bpf_rc -eq 0 ] || { echo "test: VM scenarios failed (module/netlink: $rc, bpf: $bpf_rc)"; exit 1; }
fi
