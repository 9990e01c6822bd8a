#!/bin/bash
# Pack the arm64 guest initramfs for one kernel of the VM test bed
# (scripts/vmtest.sh --arch arm64): what scripts/vm/mkinitramfs.sh packs for
# x86-64, taken from the arm64 packages scripts/vm/fetch-arm64.sh unpacked
# (busybox-static, iptables legacy and nft, nft, iproute2's ip, jq, their
# libraries, the netfilter modules), itr-net cross-compiled static, the
# cross-built iptables-trace (--binary), tests/vm/lib.sh, the scenarios and
# scripts/vm/init.
#
#   ITR_VM_ARCH=arm64 scripts/vm/mkinitramfs-arm64.sh KEY -o OUT.cpio.gz [--binary PATH]
#                     [--timeout SECS] [--backends "bpf netlink"] SCENARIO...
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { echo "usage: $0 KEY -o OUT [--binary PATH] [--timeout SECS] [--backends LIST] SCENARIO..." >&2; exit 2; }
[ $# -ge 1 ] || usage
KEY=$1; shift
OUTFILE="" BINARY="" TIMEOUT=120 BACKENDS="bpf netlink" SCENARIOS=()
while [ $# -gt 0 ]; do
	case $1 in
	-o) OUTFILE=$2; shift 2 ;;
	--binary) BINARY=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--backends) BACKENDS=$2; shift 2 ;;
	-*) echo "$0: unknown option $1" >&2; usage ;;
	*) SCENARIOS+=("$1"); shift ;;
	esac
done
[ -n "$OUTFILE" ] || usage
ENVF=$ITR_VM_DIR/$KEY/env
[ -f "$ENVF" ] || vm_die "kernel $KEY not fetched: run ITR_VM_ARCH=arm64 scripts/vm/fetch-arm64.sh $KEY"
# shellcheck disable=SC1090
. "$ENVF"
R=$MODROOT
ML=usr/lib/aarch64-linux-gnu

STAGE=${OUTFILE%.cpio.gz}.d
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,$ML,etc,proc,sys,dev,tmp,run,root,itr/scenarios}
ln -s usr/lib "$STAGE/lib"
mkdir -p "$STAGE/var" && ln -s ../run "$STAGE/var/run"
[ "$(id -u)" -eq 0 ] && mknod -m 600 "$STAGE/dev/console" c 5 1 && mknod -m 666 "$STAGE/dev/null" c 1 3

# Libraries: every one the packages brought (iconv modules and tc plugins
# aside: nothing here uses them, and they need more libraries).
cp -a "$R/$ML/." "$STAGE/$ML/"
[ -d "$R/lib/aarch64-linux-gnu" ] && cp -a "$R/lib/aarch64-linux-gnu/." "$STAGE/$ML/"
rm -rf "$STAGE/$ML/gconv" "$STAGE/$ML/tc"
cp -L "$R/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1" "$STAGE/usr/lib/ld-linux-aarch64.so.1"

# Tools: regular files only (the packages' absolute symlinks, /sbin/ip ->
# /bin/ip, would resolve into the host).
tool() { # tool NAME GUESTDIR
	local src
	for src in "$R/usr/sbin/$1" "$R/bin/$1" "$R/usr/bin/$1" "$R/sbin/$1"; do
		[ -f "$src" ] && [ ! -L "$src" ] && { cp "$src" "$STAGE/$2/$1"; return 0; }
	done
	vm_die "no $1 in the arm64 packages ($R)"
}
tool xtables-legacy-multi usr/sbin
tool xtables-nft-multi usr/sbin
tool nft usr/sbin
tool ip usr/sbin
tool jq usr/bin
for l in iptables-legacy iptables-legacy-save iptables-legacy-restore \
	 ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore \
	 iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
	ln -s xtables-legacy-multi "$STAGE/usr/sbin/$l"
done
for l in iptables-nft iptables-nft-save iptables-nft-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore; do
	ln -s xtables-nft-multi "$STAGE/usr/sbin/$l"
done
for f in /etc/protocols /etc/services /etc/ethertypes; do [ -f "$f" ] && cp -L "$f" "$STAGE/etc/"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$STAGE/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' > "$STAGE/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$STAGE/etc/hosts"

NETBIN=$ITR_VM_DIR/tools/itr-net
if [ ! -x "$NETBIN" ] || [ "$ITR_VM_SCRIPTS/itr-net.c" -nt "$NETBIN" ]; then
	mkdir -p "$(dirname "$NETBIN")"
	aarch64-linux-gnu-gcc -static -O2 -Wall -o "$NETBIN.tmp" "$ITR_VM_SCRIPTS/itr-net.c" && mv "$NETBIN.tmp" "$NETBIN"
fi
cp "$NETBIN" "$STAGE/usr/local/bin/itr-net"
if [ -n "$BINARY" ]; then
	file -b "$BINARY" | grep -q 'ARM aarch64' || vm_die "--binary $BINARY is not an aarch64 executable: $(file -b "$BINARY")"
	cp "$BINARY" "$STAGE/usr/local/bin/iptables-trace"
fi

# Every library an ELF file of the guest needs must be in the guest: the
# host's multiarch arm64 libraries fill a gap, anything else is an error.
needed_missing() {
	local f n
	find "$STAGE" -type f | while read -r f; do
		file -b "$f" | grep -q '^ELF 64-bit.*aarch64' || continue
		aarch64-linux-gnu-readelf -d "$f" 2>/dev/null | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' |
		while read -r n; do
			[ -e "$STAGE/$ML/$n" ] || [ -e "$STAGE/usr/lib/$n" ] || echo "$n"
		done
	done | sort -u
}
for n in $(needed_missing); do
	[ -e "/$ML/$n" ] && cp -L "/$ML/$n" "$STAGE/$ML/"
done
left=$(needed_missing)
[ -z "$left" ] || vm_die "libraries no arm64 package brought: $left"
foreign=$(find "$STAGE" -type f -exec file {} + | grep ': *ELF' | grep -v 'aarch64' || true)
[ -z "$foreign" ] || vm_die "not aarch64: $foreign"

# busybox's applet list, asked of the arm64 busybox through qemu-user.
cp "$R/bin/busybox" "$STAGE/bin/busybox"
file -b "$STAGE/bin/busybox" | grep -q 'statically linked' || vm_die "$R/bin/busybox is not static"
qemu-aarch64-static "$STAGE/bin/busybox" --list-full | while read -r a; do
	[ -e "$STAGE/$a" ] || [ -L "$STAGE/$a" ] || ln -s /bin/busybox "$STAGE/$a"
done

# Kernel modules, as mkinitramfs.sh takes them.
MODULES_LOAD="x_tables ip_tables ip6_tables iptable_filter iptable_raw iptable_mangle iptable_nat
 ip6table_filter ip6table_raw ip6table_mangle ip6table_nat nf_conntrack nf_nat nf_reject_ipv4
 nf_reject_ipv6 ipt_REJECT ip6t_REJECT xt_TRACE xt_tcpudp xt_multiport xt_comment xt_conntrack
 xt_state xt_LOG xt_mark xt_limit xt_NFLOG xt_owner xt_TEE nf_dup_ipv4 nf_dup_ipv6 nf_log_syslog
 veth crc32c_generic nfnetlink nfnetlink_log nf_tables nft_ct nft_reject nft_reject_inet
 nft_reject_ipv4 nft_reject_ipv6 nft_log nft_limit nft_nat nft_chain_nat nft_counter nft_compat
 nft_fib nft_fib_ipv4 nft_fib_ipv6 nft_fib_inet nf_tables_inet nf_tables_ipv4 nf_tables_ipv6"
MODSRC=$R/lib/modules/$KREL
MODDST=$STAGE/lib/modules/$KREL
mkdir -p "$MODDST"
present=()
for m in $MODULES_LOAD; do
	deps=$(modprobe -d "$R" -S "$KREL" --show-depends "$m" 2>/dev/null) || continue
	present+=("$m")
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		rel=${path#"$MODSRC"/}
		mkdir -p "$MODDST/$(dirname "$rel")"
		cp "$path" "$MODDST/$rel"
	done <<< "$deps"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$MODSRC/$f" ] && cp "$MODSRC/$f" "$MODDST/"
done
depmod -b "$STAGE" "$KREL"
printf '%s\n' "${present[@]}" > "$STAGE/itr/modules"
for m in x_tables ip_tables ip6_tables iptable_filter ip6table_filter nf_log_syslog crc32c_generic; do
	case " ${present[*]} " in *" $m "*) echo "$m" ;; esac
done > "$STAGE/itr/modules-boot"

cp "$ITR_REPO/tests/vm/lib.sh" "$STAGE/itr/scenarios/lib.sh"
: > "$STAGE/itr/scenario-list"
declare -A SEEN_NAME=()
for s in "${SCENARIOS[@]}"; do
	[ -f "$s" ] || vm_die "no such scenario: $s"
	name=$(basename "$s" .sh)
	[ "$name" = lib ] && continue
	n=$name i=2
	while [ -n "${SEEN_NAME[$n]:-}" ]; do n=$name-$i; i=$((i + 1)); done
	SEEN_NAME[$n]=1
	cp "$s" "$STAGE/itr/scenarios/$n.sh"
	echo "$n" >> "$STAGE/itr/scenario-list"
done
cat > "$STAGE/itr/conf" <<EOC
ITR_KERNEL='$KEY'
ITR_KREL='$KREL'
ITR_DEFAULT_TIMEOUT='$TIMEOUT'
ITR_CI='$([ "${CI:-}" = true ] && echo 1 || echo 0)'
ITR_BACKENDS='$BACKENDS'
EOC
cp "$ITR_VM_SCRIPTS/init" "$STAGE/init"
chmod 755 "$STAGE/init"
mkdir -p "$(dirname "$OUTFILE")"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
vm_log "mkinitramfs-arm64: $OUTFILE ($(du -h "$OUTFILE" | cut -f1), ${#present[@]} modules, ${#SEEN_NAME[@]} scenarios)"
