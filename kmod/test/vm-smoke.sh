#!/bin/bash
# Module smoke test in a QEMU guest: the module alone, with stand-in BPF
# programs (stub.bpf.c), no iptables-trace binary.
#
#   kmod/test/vm-smoke.sh KEY      KEY of scripts/vm/kernels.conf (5.10, 6.1, 6.12)
#
# Needs the kernel fetched (scripts/vm/fetch-kernel.sh KEY), qemu, clang,
# bpftool, busybox-static, iptables (legacy), gcc-12. Work files go to
# ${ITR_KMOD_SMOKE_DIR:-/tmp/itr-kmod-smoke}/KEY. Prints the guest's log and
# ends with "SMOKE PASS" or "SMOKE FAIL"; exit status likewise.
#
# Checks: the module inserts with pin_dir and counts; our packets' TRACE
# lines never reach dmesg while an administrator's TRACE rule on another flow
# still logs, and one on our flow keeps logging after its rule; the packet's
# own nf_trace is restored; a REJECT (nested table walk) is survived; IPv6
# is probed; rmmod is clean; no BUG/WARNING/Oops.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KEY=${1:?usage: $0 KEY}
ENVF=${ITR_VM_DIR:-$REPO/build/vm}/$KEY/env
[ -f "$ENVF" ] || { echo "no $ENVF: run scripts/vm/fetch-kernel.sh $KEY first" >&2; exit 2; }
# shellcheck disable=SC1090
. "$ENVF"
W=${ITR_KMOD_SMOKE_DIR:-/tmp/itr-kmod-smoke}/$KEY
rm -rf "$W" && mkdir -p "$W/mod" "$W/rootfs"

# The module.
cp "$HERE/../iptables_trace.c" "$HERE/../itr_slot.h" "$HERE/../Kbuild" "$W/mod/"
# shellcheck disable=SC2086
make -s -C "$KDIR" M="$W/mod" ITR_INCLUDE="$REPO/include" $KMAKE_ARGS modules >"$W/kbuild.log" 2>&1 ||
	{ cat "$W/kbuild.log"; exit 1; }
grep -i "warning" "$W/kbuild.log" | grep -v "Skipping BTF" && { echo "module build warnings"; exit 1; }

# The stand-in programs, against this kernel's BTF.
case $KREL in 5.10.*|5.1[0-5].*|[1-4].*) SKB=0 ;; *) SKB=1 ;; esac
bpftool btf dump file "$VMLINUX" format c >"$W/vmlinux.h"
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -DSKB_ARG=$SKB -I"$W" -c "$HERE/stub.bpf.c" -o "$W/stub.bpf.o"

# The initramfs.
R=$W/rootfs
mkdir -p "$R"/{bin,sbin,usr/sbin,usr/lib,lib64,proc,sys,dev,tmp,etc,mod,run}
cp /usr/bin/busybox "$R/bin/busybox"
copy_bin() { # copy a binary and the libraries it needs
	local f lib
	for f in "$@"; do
		mkdir -p "$R$(dirname "$f")"; cp -L "$f" "$R$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
			[ -e "$R$lib" ] || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
		done
	done
}
copy_bin /usr/sbin/xtables-legacy-multi /usr/sbin/bpftool
ln -sf xtables-legacy-multi "$R/usr/sbin/iptables-legacy"
ln -sf xtables-legacy-multi "$R/usr/sbin/ip6tables-legacy"
XT=/usr/lib/x86_64-linux-gnu/xtables
for p in libxt_standard libxt_TRACE libxt_REJECT libipt_REJECT libipt_icmp libxt_icmp libxt_tcp libxt_udp libip6t_icmp6; do
	[ -f "$XT/$p.so" ] && copy_bin "$XT/$p.so"
done
mods="x_tables ip_tables xt_tcpudp iptable_filter iptable_raw ipt_REJECT xt_TRACE ip6_tables ip6table_filter"
case $KREL in 5.10.*) mods="$mods nf_log_ipv4 nf_log_ipv6" ;; *) mods="$mods nf_log_syslog" ;; esac
: >"$R/modules.list"
for m in $mods; do
	modprobe -d "$MODROOT" -S "$KREL" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' |
	while read -r f; do
		b=$(basename "$f")
		grep -qx "/mod/$b" "$R/modules.list" && continue
		cp "$f" "$R/mod/$b"; echo "/mod/$b" >>"$R/modules.list"
	done
done
cp "$W/mod/iptables_trace.ko" "$W/stub.bpf.o" "$R/"
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp; mount -t bpf bpf /sys/fs/bpf
sh /scenario.sh
poweroff -f
EOF
cat >"$R/scenario.sh" <<EOF
SKB=$SKB
EOF
cat >>"$R/scenario.sh" <<'EOF'
P=/sys/module/iptables_trace/parameters
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; fail=1; fi; }
param() { cat $P/$1; }
for m in $(cat /modules.list); do insmod $m || echo "insmod $m failed"; done
ip link set lo up
iptables-legacy -A INPUT -p icmp -j ACCEPT
iptables-legacy -A OUTPUT -d 127.0.0.5 -p icmp --icmp-type echo-request -j REJECT
iptables-legacy -t raw -A OUTPUT -d 127.0.0.3 -p icmp -j TRACE
iptables-legacy -t raw -A OUTPUT -d 127.0.0.4 -p icmp -j TRACE
ip6tables-legacy -A INPUT -j ACCEPT

bpftool prog loadall /stub.bpf.o /sys/fs/bpf/itr type kprobe pinmaps /sys/fs/bpf/itrmaps || fail=1
ls /sys/fs/bpf/itr
# Refusals first: wrong ABI, missing pin_dir, missing pins.
insmod /iptables_trace.ko pin_dir=/sys/fs/bpf/itr abi=99 ipt_skb_arg=$SKB 2>/dev/null && fail=1
insmod /iptables_trace.ko abi=1 2>/dev/null && fail=1
insmod /iptables_trace.ko pin_dir=/sys/fs/bpf/nothere abi=1 2>/dev/null && fail=1
dmesg | grep iptables_trace
check "refusals left no module" '[ ! -d /sys/module/iptables_trace ]'

dmesg -c >/dev/null
insmod /iptables_trace.ko pin_dir=/sys/fs/bpf/itr abi=1 ipt_skb_arg=$SKB ip6t_skb_arg=$SKB || fail=1
dmesg | grep iptables_trace
check "has_ip6" '[ "$(param has_ip6)" = 1 ]'
echo "has_trace_tg=$(param has_trace_tg)"
dmesg -c >/dev/null

ping -c 3 -W 1 127.0.0.2 >/dev/null; echo "ping .2 rc=$?"
ping -c 2 -W 1 127.0.0.3 >/dev/null; echo "ping .3 rc=$?"
ping -c 2 -W 1 127.0.0.4 >/dev/null; echo "ping .4 rc=$?"
ping -c 1 -W 1 127.0.0.5 >/dev/null; echo "ping .5 (REJECT) rc=$?"
ping6 -c 1 -W 1 ::1 >/dev/null; echo "ping6 ::1 rc=$?"
ping -c 50 -i 0.01 -W 1 127.0.0.2 >/dev/null 2>&1; echo "ping -c 50 .2 rc=$?"
dmesg > /tmp/dmesg.run

for p in marked skipped silenced admin_passed admin_traced slots_full missed has_ip6 has_trace_tg; do
	echo "param $p=$(param $p)"
done
bpftool map dump pinned /sys/fs/bpf/itrmaps/cnt | tr -d '\n' | sed 's/}/}\n/g' | sed -n 's/.*"key": *\([0-9]*\).*"value": *\([0-9]*\).*/cnt[\1]=\2/p' > /tmp/cnt
cat /tmp/cnt
c() { sed -n "s/^cnt\[$1\]=//p" /tmp/cnt; }
echo "TRACE lines by destination:"
for d in 2 3 4 5; do echo "  127.0.0.$d: $(grep 'TRACE:' /tmp/dmesg.run | grep -c "DST=127.0.0.$d ")"; done
grep 'TRACE:' /tmp/dmesg.run | grep 'DST=127.0.0.4 ' | head -20

check "marked > 0" '[ "$(param marked)" -gt 0 ]'
check "silenced > 0" '[ "$(param silenced)" -gt 0 ]'
check "skipped > 0" '[ "$(param skipped)" -gt 0 ]'
check "no TRACE lines for our flow .2" '! grep "TRACE:" /tmp/dmesg.run | grep -q "DST=127.0.0.2 "'
check "no TRACE lines for our flow .5 (REJECT)" '! grep "TRACE:" /tmp/dmesg.run | grep -q "DST=127.0.0.5 "'
check "admin TRACE on another flow (.3) logs" 'grep "TRACE:" /tmp/dmesg.run | grep -q "DST=127.0.0.3 "'
check "admin TRACE on our flow (.4) logs in later tables" 'grep "TRACE:" /tmp/dmesg.run | grep "DST=127.0.0.4 " | grep -q "filter:INPUT"'
check "entry yes == marked" '[ "$(c 1)" = "$(param marked)" ]'
check "returns == entries marked" '[ "$(c 2)" = "$(c 1)" ]'
check "return ctx carries the entry skb" '[ "$(c 4)" = 0 ]'
check "log programs == silenced + admin_passed" '[ "$(c 5)" = "$(( $(param silenced) + $(param admin_passed) ))" ]'
check "log program saw pf before the hijack" '[ "$(c 6)" = 0 ]'
check "ip6t entry ran" '[ "$(c 7)" -gt 0 ]'
check "missed == 0" '[ "$(param missed)" = 0 ]'

# Unload while traffic flows.
ping -c 200 -i 0.005 -W 1 127.0.0.2 >/dev/null 2>&1 & pinger=$!
sleep 0.3
rmmod iptables_trace; echo "rmmod rc=$?"
check "module gone" '[ ! -d /sys/module/iptables_trace ]'
wait $pinger
# With the module gone, a fresh packet to .2 gets no trace at all.
dmesg -c >/dev/null
ping -c 1 -W 1 127.0.0.2 >/dev/null
check "no nf_trace leak after unload" '! dmesg | grep "TRACE:" | grep -q "DST=127.0.0.2 "'
dmesg > /tmp/dmesg.all
check "no BUG/WARNING/Oops" '! grep -E "BUG|WARNING|Oops|Call Trace|RIP:" /tmp/dmesg.all'
grep -E "BUG|WARNING|Oops|Call Trace|RIP:" /tmp/dmesg.all | head -20
if [ $fail = 0 ]; then echo "SMOKE PASS"; else echo "SMOKE FAIL"; fi
EOF
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$W/initramfs.gz"

accel="-accel tcg,thread=single -smp 1"
timeout 240 qemu-system-x86_64 $accel -cpu max -m 384M -kernel "$VMLINUX" -initrd "$W/initramfs.gz" \
	-nodefaults -display none -no-reboot -serial stdio -monitor none \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic" | tee "$W/guest.log"
grep -q "^SMOKE PASS" "$W/guest.log"
