#!/bin/bash
# Pack the guest initramfs for one kernel of the VM test bed.
#
#   scripts/vm/mkinitramfs.sh KEY -o OUT.cpio.gz [--binary PATH] [--timeout SECS]
#                             [--extra FILE]... [--add HOST=GUEST]... SCENARIO...
#
# KEY must have been fetched (scripts/vm/fetch-kernel.sh KEY). The archive holds
# busybox-static (every applet linked), the netfilter/veth/nftables modules of
# that kernel with their dependencies (modules.dep rebuilt), iptables-legacy with
# its plugins, nft, iproute2 ip (at /usr/sbin/ip), itr-net (scripts/vm/itr-net.c),
# the project binary at /usr/local/bin/iptables-trace when --binary is given,
# tests/vm/lib.sh and the scenarios under /itr/scenarios/, and scripts/vm/init.
# --timeout is the per-scenario default (a scenario may say "# itr-timeout: N").
# --extra FILE copies a host file (e.g. a library) to the same path in the guest.
# --add HOST=GUEST copies a host file to the path GUEST in the guest (with the
# libraries it needs), e.g. the tools of scripts/vm/capture-nft-fixtures.sh.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { echo "usage: $0 KEY -o OUT [--binary PATH] [--timeout SECS] [--extra FILE]... [--add HOST=GUEST]... SCENARIO..." >&2; exit 2; }
[ $# -ge 1 ] || usage
KEY=$1; shift
OUTFILE="" BINARY="" TIMEOUT=120 EXTRAS=() ADDS=() SCENARIOS=()
while [ $# -gt 0 ]; do
	case $1 in
	-o) OUTFILE=$2; shift 2 ;;
	--binary) BINARY=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--backends) BACKENDS=$2; shift 2 ;;
	--extra) EXTRAS+=("$2"); shift 2 ;;
	--add) case $2 in *=/*) ADDS+=("$2") ;; *) usage ;; esac; shift 2 ;;
	-h|--help) usage ;;
	-*) echo "$0: unknown option $1" >&2; usage ;;
	*) SCENARIOS+=("$1"); shift ;;
	esac
done
[ -n "$OUTFILE" ] || usage
ENVF=$ITR_VM_DIR/$KEY/env
[ -f "$ENVF" ] || vm_die "kernel $KEY not fetched: run scripts/vm/fetch-kernel.sh $KEY"
# shellcheck disable=SC1090
. "$ENVF"

STAGE=${OUTFILE%.cpio.gz}.d
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/lib/x86_64-linux-gnu,usr/lib64,etc,proc,sys,dev,tmp,run,root,itr/scenarios}
ln -s usr/lib "$STAGE/lib"
ln -s usr/lib64 "$STAGE/lib64"
mkdir -p "$STAGE/var" && ln -s ../run "$STAGE/var/run"
[ "$(id -u)" -eq 0 ] && mknod -m 600 "$STAGE/dev/console" c 5 1 && mknod -m 666 "$STAGE/dev/null" c 1 3

# --- shared libraries -------------------------------------------------------
declare -A SEEN_LIB=()
guest_path() { # host path -> path inside the merged-/usr guest
	case $1 in
	/lib64/*) echo "/usr${1}" ;;
	/lib/*) echo "/usr${1}" ;;
	*) echo "$1" ;;
	esac
}
copy_file() { # copy_file HOSTPATH [GUESTPATH]: content of the resolved file
	local src=$1 dst=${2:-$(guest_path "$1")}
	mkdir -p "$STAGE$(dirname "$dst")"
	cp -L "$src" "$STAGE$dst"
}
copy_libs() { # every library ldd lists for the given ELF files
	local l
	for l in $(ldd "$@" 2>/dev/null | grep -E '^[[:space:]]' | grep -oE '/[^ ]+\.so[^ :]*' | sort -u); do
		[ -n "${SEEN_LIB[$l]:-}" ] && continue
		SEEN_LIB[$l]=1
		if [ -e "$l" ]; then copy_file "$l"; fi
	done
	return 0
}
copy_exe() { # copy_exe HOSTPATH [GUESTPATH] with its libraries
	copy_file "$1" "${2:-}"
	copy_libs "$1"
}

# --- busybox ---------------------------------------------------------------
BUSYBOX=${ITR_BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" | grep -q 'statically linked' || vm_die "$BUSYBOX is not static: install busybox-static"

# --- real tools first: busybox links never replace them -----------------------
copy_exe /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-legacy-multi
for l in iptables-legacy iptables-legacy-save iptables-legacy-restore \
	 ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore \
	 iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
	ln -s xtables-legacy-multi "$STAGE/usr/sbin/$l"
done
# iptables-nft too (rules that live in nf_tables, what distributions ship).
copy_exe /usr/sbin/xtables-nft-multi /usr/sbin/xtables-nft-multi
for l in iptables-nft iptables-nft-save iptables-nft-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore; do
	ln -s xtables-nft-multi "$STAGE/usr/sbin/$l"
done
XTLIB=/usr/lib/x86_64-linux-gnu/xtables
[ -d "$XTLIB" ] || vm_die "no iptables plugins in $XTLIB"
mkdir -p "$STAGE$XTLIB"
cp -L "$XTLIB"/*.so "$STAGE$XTLIB/"
copy_libs "$XTLIB"/*.so
copy_exe "$(command -v ip)" /usr/sbin/ip
if command -v nft >/dev/null; then copy_exe "$(command -v nft)" /usr/sbin/nft; else vm_log "mkinitramfs: no nft on the host: scenario 7 will SKIP"; fi
# jq parses the tracer's --json output in the guest (scenario 10).
if command -v jq >/dev/null; then copy_exe "$(command -v jq)" /usr/bin/jq; else vm_log "mkinitramfs: no jq on the host: JSON checks will SKIP"; fi
for f in /etc/protocols /etc/services /etc/ethertypes; do [ -f "$f" ] && cp -L "$f" "$STAGE/etc/"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$STAGE/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' > "$STAGE/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$STAGE/etc/hosts"

# itr-net: built static from scripts/vm/itr-net.c, cached by mtime.
NETBIN=$ITR_VM_DIR/tools/itr-net
if [ ! -x "$NETBIN" ] || [ "$ITR_VM_SCRIPTS/itr-net.c" -nt "$NETBIN" ]; then
	mkdir -p "$(dirname "$NETBIN")"
	gcc -static -O2 -Wall -o "$NETBIN.tmp" "$ITR_VM_SCRIPTS/itr-net.c" && mv "$NETBIN.tmp" "$NETBIN"
fi
cp "$NETBIN" "$STAGE/usr/local/bin/itr-net"

if [ -n "$BINARY" ]; then
	[ -x "$BINARY" ] || vm_die "--binary $BINARY: not an executable file"
	copy_exe "$BINARY" /usr/local/bin/iptables-trace
fi
for f in "${EXTRAS[@]}"; do copy_exe "$f"; done
for a in "${ADDS[@]}"; do
	[ -f "${a%%=*}" ] || vm_die "--add ${a%%=*}: no such file"
	copy_exe "${a%%=*}" "${a#*=}"
done

# Glibc's loader finds libraries in /usr/lib/x86_64-linux-gnu without a cache.
cp "$BUSYBOX" "$STAGE/bin/busybox"
"$BUSYBOX" --list-full | while read -r a; do
	[ -e "$STAGE/$a" ] || [ -L "$STAGE/$a" ] || ln -s /bin/busybox "$STAGE/$a"
done

# --- kernel modules ----------------------------------------------------------
# Wanted modules; the ones a kernel does not have (nf_log_syslog before 5.12,
# nf_log_ipv4 after) are left out quietly. Modules built into the kernel are fine.
MODULES_LOAD="x_tables ip_tables ip6_tables iptable_filter iptable_raw iptable_mangle iptable_nat
 ip6table_filter ip6table_raw ip6table_mangle ip6table_nat nf_conntrack nf_nat nf_reject_ipv4
 nf_reject_ipv6 ipt_REJECT ip6t_REJECT xt_TRACE xt_tcpudp xt_multiport xt_comment xt_conntrack
 xt_state xt_LOG xt_mark xt_limit xt_NFLOG xt_owner xt_TEE nf_dup_ipv4 nf_dup_ipv6 nf_log_syslog nf_log_ipv4 nf_log_ipv6
 veth crc32c_generic nfnetlink nfnetlink_log nf_tables nft_ct nft_reject nft_reject_inet
 nft_reject_ipv4 nft_reject_ipv6 nft_log nft_limit nft_nat nft_chain_nat nft_counter nft_compat
 nft_fib nft_fib_ipv4 nft_fib_ipv6 nft_fib_inet nf_tables_inet nf_tables_ipv4 nf_tables_ipv6"
MODSRC=$MODROOT/lib/modules/$KREL
MODDST=$STAGE/lib/modules/$KREL
mkdir -p "$MODDST"
present=()
for m in $MODULES_LOAD; do
	deps=$(modprobe -d "$MODROOT" -S "$KREL" --show-depends "$m" 2>/dev/null) || continue
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
# Loaded by /init at boot; the rest load on demand through /sbin/modprobe.
MODULES_BOOT="x_tables ip_tables ip6_tables iptable_filter ip6table_filter nf_log_syslog nf_log_ipv4 nf_log_ipv6 crc32c_generic"
for m in $MODULES_BOOT; do
	case " ${present[*]} " in *" $m "*) echo "$m" ;; esac
done > "$STAGE/itr/modules-boot"

# --- scenarios and init -------------------------------------------------------
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
cat > "$STAGE/itr/conf" <<EOF
ITR_KERNEL='$KEY'
ITR_KREL='$KREL'
ITR_DEFAULT_TIMEOUT='$TIMEOUT'
ITR_CI='$([ "${CI:-}" = true ] && echo 1 || echo 0)'
ITR_BACKENDS='$BACKENDS'
EOF
cp "$ITR_VM_SCRIPTS/init" "$STAGE/init"
chmod 755 "$STAGE/init"

mkdir -p "$(dirname "$OUTFILE")"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
vm_log "mkinitramfs: $OUTFILE ($(du -h "$OUTFILE" | cut -f1), ${#present[@]} modules, ${#SEEN_NAME[@]} scenarios)"
