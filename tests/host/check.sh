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
# The bpf backend's report: its own programs through the verifier, the
# module's left out; it exits 1 where it cannot run (here: no kprobes).
bout=$("$bin" --check --backend bpf 2>&1); brc=$?
echo "$bout"
for prog in kprobe_ipt_do_table_all kretprobe_ipt_do_table_all kprobe_ip6t_do_table_all kretprobe_ip6t_do_table_all kprobe_nf_log_trace; do
  echo "$bout" | grep -Eq "^  ok +$prog \([0-9]+ insns" || { echo "FAIL: bpf backend: $prog did not load"; exit 1; }
done
echo "$bout" | grep -Eq "^  skip +kprobe_ipt_do_table " || { echo "FAIL: bpf backend loaded the module's programs"; exit 1; }
if echo "$bout" | grep -q '^  FAIL'; then
  [ "$brc" -eq 1 ] || { echo "FAIL: --check --backend bpf exited $brc with a FAIL line"; exit 1; }
else
  [ "$brc" -eq 0 ] || { echo "FAIL: --check --backend bpf exited $brc with nothing failed"; exit 1; }
fi
# Nothing may be left behind by a check.
grep -q '^iptables_trace ' /proc/modules 2>/dev/null && { echo "FAIL: module left loaded"; exit 1; }
[ -e /sys/fs/bpf/iptables-trace ] && { echo "FAIL: pins left behind"; exit 1; }
echo "PASS"
