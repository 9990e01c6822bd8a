#!/usr/bin/env bash
# Cross-builds iptables-trace for Debian arm64 (aarch64) on this x86-64
# machine and proves what can be proved without an arm64 kernel:
#   - the binary and the unit tests are aarch64 ELF files (file(1));
#   - the embedded BPF object reads the kprobe context by arm64's conventions
#     (nf_log_trace: x0..x7 and the entry sp; the kretprobes: sp at 248) and
#     makes no CO-RE relocation against struct pt_regs (the x86 vmlinux.h's);
#   - under qemu-user: iptables-trace --version and --help run, --check says
#     the module backend cannot run (x86-64 only, naming --backend bpf) and
#     the bpf backend's arch check passes on aarch64, and every unit
#     test passes (ctest -L unit through qemu-aarch64), the arm64 ABI test
#     (tests/unit/arm64_abi_test.cpp) among them, run, not skipped.
# The tracer itself on an arm64 kernel: scripts/vmtest.sh --arch arm64.
#
#   scripts/cross-arm64.sh [--no-deps] [BUILD_DIR]     (default build-arm64)
#
# Exits non-zero on the first failure, saying which.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=1
[ "${1:-}" = "--no-deps" ] && { deps=0; shift; }
B=${1:-build-arm64}

fail() { echo "cross-arm64: FAIL: $*" >&2; exit 1; }
ok() { echo "cross-arm64: ok: $*"; }

[ $deps -eq 1 ] && scripts/deps.sh --arm64
for c in aarch64-linux-gnu-g++ qemu-aarch64-static file llvm-objdump bpftool; do
  command -v "$c" >/dev/null || fail "$c not installed (scripts/deps.sh --arm64 installs it)"
done

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
echo "== cross build in $B"
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=scripts/cmake/aarch64-linux-gnu.cmake -DITR_BUILD_TESTS=ON "${launcher[@]}"
cmake --build "$B" -j"$(nproc)"

echo "== what was built"
for f in "$B/iptables-trace" "$B/tests/itr_unit_tests"; do
  desc=$(file -b "$f")
  echo "$f: $desc"
  case $desc in *"ARM aarch64"*) ok "$f is aarch64" ;; *) fail "$f is not an aarch64 ELF: $desc" ;; esac
done

echo "== the arm64 BPF object"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
obj=$B/bpf/iptables_trace.bpf.o
file -b "$obj" | grep -q eBPF || fail "$obj is not an eBPF object: $(file -b "$obj")"
grep -qx 'ITR_BPF_ARCH:STRING=arm64' "$B/CMakeCache.txt" || fail "ITR_BPF_ARCH is not arm64 in $B"
# One program's code: from its symbol to the next program's (the LBB_*
# labels inside a program are symbols too, so --disassemble-symbols stops short).
# awk reads to the end: an early exit would fail llvm-objdump on a closed pipe.
dis() {
  llvm-objdump -d --no-show-raw-insn "$obj" > "$tmp/obj.dis"
  awk -v p="<$1>:" '$2 == p { on = 1; next } on && /^[0-9a-f]+ <[^L>][^>]*>:$/ { on = 0 } on' "$tmp/obj.dis"
}
# ctx_loads PROGRAM OFFSET...: each OFFSET is a load from the
# program's context (r1 at entry, or the register it is first copied to);
# a 4-byte load at the same offset is the low half (a u32 result).
ctx_loads() {
  local p=$1 code reg off; shift
  code=$(dis "$p")
  [ -n "$code" ] || fail "no program $p in $obj"
  reg=$(awk 'NR <= 2 && $3 == "=" && $4 == "r1" { print $2; exit }' <<< "$code")
  for off in "$@"; do
    grep -Eq "= \*\(u(32|64) \*\)\((r1|${reg:-r1}) \+ $off\)" <<< "$code" ||
      fail "$p makes no load at context offset $off"
  done
}
# nf_log_trace: x0..x7 (offsets 0..56) and sp (248).
ctx_loads kprobe_nf_log_trace 0 8 16 24 32 40 48 56 248
ok "kprobe_nf_log_trace loads x0..x7 and sp from its context (user_pt_regs offsets 0..56, 248)"
ctx_loads kretprobe_nft_do_chain 0 248
ctx_loads kretprobe_ipt_do_table_all 0 248
ok "the kretprobes load x0 (the result) and sp (248) from their context"
# CO-RE: the x86 vmlinux.h's struct pt_regs must not be relocated against
# the arm64 kernel's (another layout under the same name).
if [ -r /sys/kernel/btf/vmlinux ]; then
  bpftool gen min_core_btf /sys/kernel/btf/vmlinux "$tmp/min.btf" "$obj"
  if bpftool btf dump file "$tmp/min.btf" | grep -q "'pt_regs'"; then
    fail "the arm64 object has CO-RE relocations against struct pt_regs"
  fi
  ok "no CO-RE relocation against struct pt_regs (bpftool gen min_core_btf)"
else
  echo "cross-arm64: SKIP: no /sys/kernel/btf/vmlinux here: the CO-RE relocation check needs it"
fi

echo "== under qemu-aarch64"
q() { qemu-aarch64-static "$@"; }
q "$B/iptables-trace" --version > "$tmp/version" 2>&1 || fail "iptables-trace --version: $(cat "$tmp/version")"
grep -q '^iptables-trace ' "$tmp/version" || fail "--version says: $(cat "$tmp/version")"
ok "--version: $(cat "$tmp/version")"
q "$B/iptables-trace" --help > "$tmp/help" 2>&1 || fail "iptables-trace --help: $(cat "$tmp/help")"
grep -q -- "--backend" "$tmp/help" || fail "--help does not list --backend"
ok "--help ($(wc -l < "$tmp/help") lines)"
# --check reads the host kernel's facts under uname -m = aarch64 (qemu-user
# answers so) and takes no lock, loads nothing that stays (its verifier
# loads fail here: qemu-user has no bpf(2)), so it can run beside anything.
rc=0
q "$B/iptables-trace" --check --backend module > "$tmp/module" 2>&1 || rc=$?
cat "$tmp/module"
[ $rc -ne 0 ] || fail "--check --backend module passed on aarch64"
grep -E '^ *FAIL +arch +the kernel module is x86-64 only.*this is aarch64.*--backend bpf' "$tmp/module" >/dev/null ||
  fail "--check --backend module: no arch failure naming --backend bpf"
grep -E '^ *FAIL +module +.*none for aarch64' "$tmp/module" >/dev/null ||
  fail "--check --backend module: the module line does not say there is none for aarch64"
ok "--check --backend module: refused on aarch64 (exit $rc), naming --backend bpf"
q "$B/iptables-trace" --check --backend bpf > "$tmp/bpf" 2>&1 || true
grep -E '^ *ok +arch +aarch64$' "$tmp/bpf" >/dev/null || { cat "$tmp/bpf"; fail "--check --backend bpf: arch is not ok on aarch64"; }
ok "--check --backend bpf: arch ok on aarch64"

echo "== unit tests under qemu-aarch64 (ctest -L unit)"
(cd "$B" && ctest -L unit --output-on-failure --no-tests=error) || fail "unit tests under qemu-aarch64"
(cd "$B" && ctest -L unit -R 'Arm64Abi' -V) > "$tmp/abi" 2>&1 || { cat "$tmp/abi"; fail "the arm64 ABI test"; }
grep -q '\[  PASSED  \] 1 test' "$tmp/abi" || { cat "$tmp/abi"; fail "the arm64 ABI test did not run and pass"; }
ok "Arm64Abi.NfLogTraceArgumentsAreWhereTheBpfReaderLooks ran and passed"
echo "cross-arm64: OK"
