#!/bin/sh
# Loads the BPF object through this kernel's verifier under a matrix of
# configurations (old/new ipt_do_table signatures, every filter alone and
# together, IPv4/IPv6 addresses, partial kernels). Needs root; loading needs
# neither bpffs nor any attachment.
#
# Then, for every VM kernel already unpacked by scripts/vm/fetch-kernel.sh
# (${ITR_VM_DIR:-$ITR_SOURCE_DIR/build/vm}/<key>/vmlinux), the same matrix
# with CO-RE relocations resolved against that kernel's vmlinux BTF (verified
# by this kernel's verifier: it checks the relocated object, not that
# kernel's verifier).
#
# Usage: sh verifier_matrix.sh <path-to-iptables-trace>   (argument unused)
# Env: ITR_BUILD_DIR (build tree holding itr_verifier_matrix), ITR_SOURCE_DIR,
#      ITR_VM_DIR.
# Exit: 0 pass, 1 fail, 77 skipped (reason printed).

bin="${ITR_BUILD_DIR:-.}/itr_verifier_matrix"
. "${0%/*}/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "loading BPF programs needs root"
[ -r /sys/kernel/btf/vmlinux ] || skip "no kernel BTF at /sys/kernel/btf/vmlinux (CO-RE cannot relocate)"
if [ ! -x "$bin" ]; then
	echo "FAIL: $bin not built (build target itr_verifier_matrix)"
	exit 1
fi

rc=0
echo "== running kernel $(uname -r)"
"$bin" || rc=1

vmdir="${ITR_VM_DIR:-${ITR_SOURCE_DIR:-.}/build/vm}"
for btf in "$vmdir"/*/vmlinux; do
	[ -f "$btf" ] || continue
	echo "== CO-RE against $btf"
	"$bin" --btf "$btf" || rc=1
done
exit $rc
