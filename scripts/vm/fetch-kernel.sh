#!/bin/bash
# Fetch and unpack one pinned Debian kernel (image, headers, kbuild) for the
# VM test bed, without touching the host's /boot, /lib/modules or /usr/src.
#
#   scripts/vm/fetch-kernel.sh KEY          KEY = a first column of kernels.conf (5.10, 6.1, 6.12)
#
# Result, under ${ITR_VM_DIR:-<repo>/build/vm}:
#   cache/debs/*.deb     the downloaded packages (kept between runs)
#   cache/apt/           the private apt configuration and package lists
#   KEY/root/            the unpacked packages (lib/modules/$KREL with modules.dep)
#   KEY/vmlinux          ELF vmlinux extracted from the bzImage (PVH boot, BTF)
#   KEY/env              shell variables: KEY KVERSION KREL KDIR VMLINUX BZIMAGE MODROOT KMAKE_ARGS
# Idempotent: a second run with everything in place only checks a stamp.
# Mirrors: ITR_DEBIAN_MIRROR (default http://deb.debian.org/debian) and
# ITR_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -eq 1 ] || { echo "usage: $0 KEY  (one of: $(vm_kernel_keys | tr '\n' ' '))" >&2; exit 2; }
vm_kernel_conf "$1"

MIRROR=${ITR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${ITR_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DEBS=$ITR_VM_CACHE/debs
APTDIR=$ITR_VM_CACHE/apt
OUT=$ITR_VM_DIR/$K_KEY
ROOT=$OUT/root
STAMP="$K_KEY $K_VERSION $K_ABI $K_FLAVOUR $K_KBUILD fetch-v1"

PKGS=("linux-image-$K_ABI-$K_FLAVOUR" "linux-headers-$K_ABI-$K_FLAVOUR"
      "linux-headers-$K_ABI-common" "$K_KBUILD")

if [ -f "$OUT/env" ] && [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ]; then
	vm_log "fetch-kernel: $K_KEY ($K_VERSION) already unpacked in $OUT"
	exit 0
fi

mkdir -p "$DEBS" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/etc"

deb_of() { # the cached .deb of a package at the pinned version, if any
	local f
	for f in "$DEBS/${1}_${K_VERSION}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/etc/sources.list"
          -o "Dir::Etc::SourceParts=$APTDIR/etc/none.d"
          -o "Dir::State::Lists=$APTDIR/lists"
          -o "Dir::Cache=$APTDIR/cache"
          -o "Dir::State::status=$APTDIR/etc/status"
          -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false")
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")

apt_update() {
	local s uri kr=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$APTDIR/etc/none.d"
	: > "$APTDIR/etc/status"
	: > "$APTDIR/etc/sources.list"
	# Every suite any kernel of the matrix needs, so one package list serves all.
	for s in $(awk '!/^[[:space:]]*(#|$)/ { print $6 }' "$ITR_KERNELS_CONF" | tr ',' '\n' | sort -u); do
		case $s in *-security) uri=$SECMIRROR ;; *) uri=$MIRROR ;; esac
		echo "deb [signed-by=$kr] $uri $s main" >> "$APTDIR/etc/sources.list"
	done
	vm_log "fetch-kernel: apt-get update (private lists in $APTDIR)"
	apt-get "${APT_OPTS[@]}" -q update >&2
}

missing=()
for p in "${PKGS[@]}"; do deb_of "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	# Refresh the lists when absent or older than a day; retry once after a refresh.
	if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
		apt_update
	fi
	for p in "${missing[@]}"; do
		vm_log "fetch-kernel: downloading $p=$K_VERSION"
		if ! (cd "$DEBS" && apt-get "${APT_OPTS[@]}" -q download "$p=$K_VERSION" >&2); then
			apt_update
			(cd "$DEBS" && apt-get "${APT_OPTS[@]}" -q download "$p=$K_VERSION" >&2) ||
				vm_die "cannot download $p=$K_VERSION from the suites '$K_SUITES' (see scripts/vm/kernels.conf)"
		fi
		deb_of "$p" >/dev/null || vm_die "downloaded $p but found no ${p}_${K_VERSION}_*.deb in $DEBS"
	done
fi

vm_log "fetch-kernel: unpacking $K_KEY ($K_VERSION) into $OUT"
rm -rf "$ROOT" "$OUT/.stamp" "$OUT/env"
mkdir -p "$ROOT"
for p in "${PKGS[@]}"; do dpkg-deb -x "$(deb_of "$p")" "$ROOT"; done

# Modules live in /lib/modules (bullseye, bookworm) or /usr/lib/modules (later).
if [ ! -d "$ROOT/lib/modules" ] && [ -d "$ROOT/usr/lib/modules" ]; then
	[ -e "$ROOT/lib" ] || ln -s usr/lib "$ROOT/lib"
fi
KREL=$(ls "$ROOT/lib/modules" | head -n 1)
[ -n "$KREL" ] && [ -d "$ROOT/lib/modules/$KREL/kernel" ] || vm_die "no modules found in the image package"
KDIR=$ROOT/usr/src/linux-headers-$KREL
COMMON=$ROOT/usr/src/linux-headers-$K_ABI-common
[ -f "$KDIR/Makefile" ] || vm_die "no headers at $KDIR"

# The flavour headers include the common headers by absolute path; point them
# at the unpacked copy. Relative symlinks (scripts, tools -> linux-kbuild) already resolve.
sed -i "s|/usr/src/linux-headers-$K_ABI-common|$COMMON|g" "$KDIR/Makefile"
for l in "$KDIR"/scripts "$KDIR"/tools; do
	if [ -L "$l" ]; then
		t=$(readlink "$l")
		case $t in /*) ln -sfn "$ROOT$t" "$l" ;; esac
	fi
done
[ -e "$KDIR/scripts/basic/fixdep" ] || vm_die "kbuild tools missing under $KDIR/scripts (is $K_KBUILD unpacked?)"

# Compressed modules (6.12 ships .ko.xz): busybox insmod/modprobe want plain .ko.
MODDIR=$ROOT/lib/modules/$KREL
if find "$MODDIR" -name '*.ko.xz' -print -quit | grep -q .; then
	vm_log "fetch-kernel: decompressing .ko.xz modules"
	find "$MODDIR" -name '*.ko.xz' -print0 | xargs -0 -r -P "$(nproc)" -n 64 xz -d -f
fi
if find "$MODDIR" -name '*.ko.zst' -print -quit | grep -q .; then
	find "$MODDIR" -name '*.ko.zst' -print0 | xargs -0 -r -n 64 zstd -q -d --rm -f
fi
for f in modules.order modules.builtin; do
	[ -f "$MODDIR/$f" ] && sed -i -e 's/\.ko\.xz$/.ko/' -e 's/\.ko\.zst$/.ko/' "$MODDIR/$f"
done
depmod -b "$ROOT" "$KREL"

# An ELF vmlinux from the bzImage: QEMU boots it directly (PVH, no slow
# in-guest decompression), and its .BTF section gives this kernel's vmlinux.h.
BZIMAGE=$ROOT/boot/vmlinuz-$KREL
[ -f "$BZIMAGE" ] || vm_die "no $BZIMAGE"
"$ITR_VM_SCRIPTS/extract-vmlinux.sh" "$BZIMAGE" > "$OUT/vmlinux.tmp" ||
	vm_die "could not extract an ELF vmlinux from $BZIMAGE"
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"

cat > "$OUT/env" <<EOF
# Written by scripts/vm/fetch-kernel.sh; source it.
KEY='$K_KEY'
KVERSION='$K_VERSION'
KREL='$KREL'
KDIR='$KDIR'
VMLINUX='$OUT/vmlinux'
BZIMAGE='$BZIMAGE'
MODROOT='$ROOT'
KMAKE_ARGS='$K_KMAKE_ARGS'
EOF
echo "$STAMP" > "$OUT/.stamp"
vm_log "fetch-kernel: $K_KEY ready: KREL=$KREL, env in $OUT/env"
