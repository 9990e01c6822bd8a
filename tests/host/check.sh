#!/bin/sh
# iptables-trace --check loads every BPF program through this kernel's
# verifier (nothing attached, no module inserted) and exits 0.
bin="$1"
. "${0%/*}/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "--check needs root (BPF program loads)"
[ -e /sys/kernel/btf/vmlinux ] || skip "no /sys/kernel/btf/vmlinux on this kernel"
out=$("$bin" --check 2>&1); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: --check exited $rc"; exit 1; }
for prog in kprobe_ipt_do_table kretprobe_ipt_do_table kprobe_ip6t_do_table kretprobe_ip6t_do_table kprobe_nf_log_trace; do
  echo "$out" | grep -Eq "^  ok +$prog \([0-9]+ insns(, [0-9]+ verified)?\)" || { echo "FAIL: $prog did not load"; exit 1; }
done
if grep -qw nft_do_chain /proc/kallsyms; then
  echo "$out" | grep -Eq "^  ok +kprobe_nft_do_chain" || { echo "FAIL: nft programs did not load"; exit 1; }
fi
# Nothing may be left behind by a check.
grep -q '^iptables_trace ' /proc/modules 2>/dev/null && { echo "FAIL: module left loaded"; exit 1; }
[ -e /sys/fs/bpf/iptables-trace ] && { echo "FAIL: pins left behind"; exit 1; }
echo "PASS"
