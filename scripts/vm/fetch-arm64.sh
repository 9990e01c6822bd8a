#!/bin/bash
# Fetch and unpack one Debian arm64 kernel series and the arm64 userland the
# guest runs (busybox, iptables, nftables, iproute2, jq and their libraries),
# for scripts/vmtest.sh --arch arm64. Nothing is installed on the host.
#
#   ITR_VM_ARCH=arm64 scripts/vm/fetch-arm64.sh KEY     KEY = a first column of kernels-arm64.conf
#
# The series resolves to the newest linux-image-ABI-arm64 its suites serve
# (ITR_VM_PIN_<KEY, . as _>=ABI pins one); the userland comes from bookworm.
# Result, under $ITR_VM_DIR (default <repo>/build/vm-arm64):
#   KEY/root/   the unpacked packages (modules decompressed, modules.dep built)
#   KEY/env     KEY KREL KPKGS KERNEL (the Image QEMU boots) MODROOT
# .debs are kept in $ITR_VM_CACHE/debs-arm64; apt lists in $ITR_VM_CACHE/apt-arm64.
set -euo pipefail
. "$(dirname "$0")/common.sh"
[ $# -eq 1 ] || { echo "usage: $0 KEY  (one of: $(vm_kernel_keys | tr '\n' ' '))" >&2; exit 2; }
vm_kernel_conf "$1"

MIRROR=${ITR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${ITR_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DEBS=$ITR_VM_CACHE/debs-arm64
APTDIR=$ITR_VM_CACHE/apt-arm64
OUT=$ITR_VM_DIR/$K_KEY
ROOT=$OUT/root
mkdir -p "$DEBS" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/etc/none.d"
: > "$APTDIR/etc/status"
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/etc/sources.list" -o "Dir::Etc::SourceParts=$APTDIR/etc/none.d"
          -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
          -o "Dir::State::status=$APTDIR/etc/status" -o "Acquire::Languages=none"
          -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
          -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false")
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")

# The guest's userland (bookworm) and every kernel suite, in one list.
suites=$( { echo bookworm; echo bookworm-security; awk '!/^[[:space:]]*(#|$)/ { print $4 }' "$ITR_KERNELS_CONF" | tr ',' '\n'; } | sort -u)
want=$(for s in $suites; do case $s in *-security) u=$SECMIRROR ;; *) u=$MIRROR ;; esac
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $u $s main"; done)
if [ "$want" != "$(cat "$APTDIR/etc/sources.list" 2>/dev/null)" ] ||
   [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 | head -n 1)" ]; then
	echo "$want" > "$APTDIR/etc/sources.list"
	vm_log "fetch-arm64: apt-get update (private lists in $APTDIR)"
	apt-get "${APT_OPTS[@]}" -q update >&2
fi

pin_var=ITR_VM_PIN_${K_KEY//./_}
pin=${!pin_var:-}
if [ -n "$pin" ]; then
	image=linux-image-${pin%%=*}-$K_FLAVOUR
else
	image=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-image- | grep -E "^linux-image-($K_ABI_ERE)-$K_FLAVOUR\$" | sort -V | tail -n 1 || true)
fi
[ -n "$image" ] || vm_die "no linux-image matching '$K_ABI_ERE' for arm64 in the suites '$K_SUITES'"
# Userland: what mkinitramfs-arm64.sh copies, with the libraries they need
# (Depends resolved by apt-get download's caller: listed here, checked there).
USERLAND=(busybox-static iptables libxtables12 libip4tc2 libip6tc2 libnetfilter-conntrack3 libnfnetlink0
	nftables libnftables1 libjansson4 libgmp10 libedit2 libbsd0 libmd0 libtinfo6 iproute2 libcap2 libdb5.3
	libselinux1 libpcre2-8-0 jq libjq1 libonig5 libbpf1 libelf1 libmnl0 libnftnl11 zlib1g libc6 libgcc-s1)
PKGS=("$image" "${USERLAND[@]}")
STAMP="$K_KEY $(apt-cache "${APT_OPTS[@]}" policy "${PKGS[@]}" | awk '/Candidate:/ { print $2 }' | tr '\n' ' ') arm64-v1"
if [ -f "$OUT/env" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ]; then
	vm_log "fetch-arm64: $K_KEY already unpacked in $OUT"
	exit 0
fi
vm_log "fetch-arm64: $K_KEY: downloading ${PKGS[*]}"
(cd "$DEBS" && apt-get "${APT_OPTS[@]}" -q download "${PKGS[@]}" >&2) || vm_die "cannot download the arm64 packages"
rm -rf "$ROOT" "$OUT/env" "$OUT/.stamp"
mkdir -p "$ROOT"
used=()
for p in "${PKGS[@]}"; do
	v=$(apt-cache "${APT_OPTS[@]}" policy "$p" | awk '/Candidate:/ { print $2 }')
	f=$(ls "$DEBS/${p}_${v//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$f" ] || vm_die "downloaded $p but found no $p $v .deb in $DEBS"
	dpkg-deb -x "$f" "$ROOT"
	used+=("$p=$v")
done
KREL=$(ls "$ROOT/lib/modules" | head -n 1)
MODDIR=$ROOT/lib/modules/$KREL
[ -d "$MODDIR/kernel" ] || vm_die "no modules in $image"
find "$MODDIR" -name '*.ko.xz' -print0 | xargs -0 -r -P "$(nproc)" -n 64 xz -d -f
for f in modules.order modules.builtin; do [ -f "$MODDIR/$f" ] && sed -i 's/\.ko\.xz$/.ko/' "$MODDIR/$f"; done
depmod -b "$ROOT" "$KREL"
KERNEL=$ROOT/boot/vmlinuz-$KREL
file -b "$KERNEL" | grep -q 'ARM64 boot executable Image' || vm_die "$KERNEL is not an arm64 Image: $(file -b "$KERNEL")"
cat > "$OUT/env" <<EOV
# Written by scripts/vm/fetch-arm64.sh; source it.
KEY='$K_KEY'
KREL='$KREL'
KPKGS='${used[0]}'
KERNEL='$KERNEL'
MODROOT='$ROOT'
EOV
echo "$STAMP" > "$OUT/.stamp"
vm_log "fetch-arm64: $K_KEY ready: KREL=$KREL (${used[0]}), env in $OUT/env"
