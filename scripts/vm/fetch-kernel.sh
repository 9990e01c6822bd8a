#!/bin/bash
# Fetch and unpack one Debian kernel series (image, headers, kbuild) for the
# VM test bed, without touching the host's /boot, /lib/modules or /usr/src.
#
#   scripts/vm/fetch-kernel.sh KEY          KEY = a first column of kernels.conf (5.10, 6.1, 6.12)
#
# The series is resolved at run time to the newest build its suites serve:
# the newest linux-image-ABI-FLAVOUR whose headers (flavour and common) are
# served at the same version, and the newest kbuild that satisfies the
# headers' dependency. ITR_VM_PIN_<KEY, . as _>=ABI[=VERSION] pins a build.
# The exact packages used are printed and written to KEY/env (KPKGS).
#
# Result, under ${ITR_VM_DIR:-<repo>/build/vm}:
#   cache/debs/*.deb     the downloaded packages (kept between runs; older builds pruned)
#   cache/apt/           the private apt configuration and package lists (refreshed daily)
#   cache/resolved/KEY   the last resolution, used when the archive cannot be reached
#   KEY/root/            the unpacked packages (lib/modules/$KREL with modules.dep)
#   KEY/vmlinux          ELF vmlinux extracted from the bzImage (PVH boot, BTF)
#   KEY/env              shell variables: KEY KVERSION KABI KPKGS KREL KDIR VMLINUX BZIMAGE MODROOT KMAKE_ARGS
# Idempotent: a second run with the same resolution only checks a stamp.
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
RESOLVED=$ITR_VM_CACHE/resolved/$K_KEY
OUT=$ITR_VM_DIR/$K_KEY
ROOT=$OUT/root

mkdir -p "$DEBS" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/etc/none.d" "${RESOLVED%/*}"

APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/etc/sources.list"
          -o "Dir::Etc::SourceParts=$APTDIR/etc/none.d"
          -o "Dir::State::Lists=$APTDIR/lists"
          -o "Dir::Cache=$APTDIR/cache"
          -o "Dir::State::status=$APTDIR/etc/status"
          -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false")
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")

apt_update() {
	local s uri kr=/usr/share/keyrings/debian-archive-keyring.gpg
	: > "$APTDIR/etc/status"
	: > "$APTDIR/etc/sources.list.new"
	# Every suite any kernel of the matrix needs, so one package list serves all.
	for s in $(awk '!/^[[:space:]]*(#|$)/ { print $4 }' "$ITR_KERNELS_CONF" | tr ',' '\n' | sort -u); do
		case $s in *-security) uri=$SECMIRROR ;; *) uri=$MIRROR ;; esac
		echo "deb [signed-by=$kr] $uri $s main" >> "$APTDIR/etc/sources.list.new"
	done
	mv "$APTDIR/etc/sources.list.new" "$APTDIR/etc/sources.list"
	vm_log "fetch-kernel: apt-get update (private lists in $APTDIR)"
	apt-get "${APT_OPTS[@]}" -q update >&2
}

# "PKG VERSION" for every version of the given packages that one of this
# kernel's suites serves, newest first.
served() {
	local lines
	lines=$(apt-cache "${APT_OPTS[@]}" madison "$@" 2>/dev/null |
		awk -F'|' -v suites=",$K_SUITES," '{
			gsub(/ /, "", $1); gsub(/ /, "", $2); split($3, a, " "); split(a[2], b, "/")
			if (index(suites, "," b[1] ",")) print $1, $2 }' | sort -u) || true
	# Newest first, by Debian version order (sort -V does not know "~").
	local out=() l i j
	while read -r l; do
		[ -n "$l" ] || continue
		i=${#out[@]}
		out+=("$l")
		while [ "$i" -gt 0 ]; do
			j=$((i - 1))
			dpkg --compare-versions "${out[$i]#* }" gt "${out[$j]#* }" || break
			l=${out[$j]}; out[$j]=${out[$i]}; out[$i]=$l
			i=$j
		done
	done <<< "$lines"
	[ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

has_version() { # has_version PKG VERSION: a suite of this kernel serves it
	served "$1" | grep -qxF "$1 $2"
}

# Sets R_ABI R_VERSION R_KBUILD R_KBUILD_VERSION from the package lists.
resolve() {
	local pin_var=ITR_VM_PIN_${K_KEY//./_} pin images cands c pkg ver abi dep kb kbmin
	pin=${!pin_var:-}
	if [ -n "$pin" ]; then
		images="linux-image-${pin%%=*}-$K_FLAVOUR"
	else
		images=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-image- | grep -E "^linux-image-($K_ABI_ERE)-$K_FLAVOUR\$" || true)
	fi
	[ -n "$images" ] || { vm_log "fetch-kernel: no linux-image matching '$K_ABI_ERE' in the lists"; return 1; }
	# shellcheck disable=SC2086
	cands=$(served $images)
	case $pin in *=*) cands=$(grep -xF "$images ${pin#*=}" <<< "$cands" || true) ;; esac
	while read -r pkg ver; do
		[ -n "$pkg" ] || continue
		abi=${pkg#linux-image-}; abi=${abi%-"$K_FLAVOUR"}
		if ! has_version "linux-headers-$abi-$K_FLAVOUR" "$ver" || ! has_version "linux-headers-$abi-common" "$ver"; then
			vm_log "fetch-kernel: $pkg $ver: its headers are not served at that version, trying an older build"
			continue
		fi
		dep=$(apt-cache "${APT_OPTS[@]}" show "linux-headers-$abi-$K_FLAVOUR=$ver" 2>/dev/null |
			sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' | grep -o 'linux-kbuild-[^ ]*.*' | head -n 1)
		kb=${dep%% *}
		kbmin=$(sed -n 's/.*(>= *\([^)]*\)).*/\1/p' <<< "$dep")
		[ -n "$kb" ] || { vm_log "fetch-kernel: no linux-kbuild dependency in linux-headers-$abi-$K_FLAVOUR $ver"; continue; }
		c=$(served "$kb" | head -n 1)
		if [ -z "$c" ] || { [ -n "$kbmin" ] && ! dpkg --compare-versions "${c#* }" ge "$kbmin"; }; then
			vm_log "fetch-kernel: $pkg $ver: no $kb ${kbmin:+>= $kbmin }is served, trying an older build"
			continue
		fi
		R_ABI=$abi R_VERSION=$ver R_KBUILD=$kb R_KBUILD_VERSION=${c#* }
		return 0
	done <<< "$cands"
	vm_log "fetch-kernel: no complete build of $K_KEY${pin:+ (pin $pin_var=$pin)} in the suites '$K_SUITES'"
	return 1
}

# Package lists: refreshed when absent or older than a day.
fresh_lists=$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)
if [ -z "$fresh_lists" ] || ! cmp -s <(awk '!/^[[:space:]]*(#|$)/ { print $4 }' "$ITR_KERNELS_CONF" | tr ',' '\n' | sort -u) \
		<(awk '{ print $4 }' "$APTDIR/etc/sources.list" 2>/dev/null | sort -u); then
	apt_update || vm_log "fetch-kernel: apt-get update failed"
fi
if resolve; then
	echo "$R_ABI $R_VERSION $R_KBUILD $R_KBUILD_VERSION" > "$RESOLVED"
elif pin_var=ITR_VM_PIN_${K_KEY//./_} && [ -z "${!pin_var:-}" ] && [ -f "$RESOLVED" ]; then
	read -r R_ABI R_VERSION R_KBUILD R_KBUILD_VERSION < "$RESOLVED"
	vm_log "fetch-kernel: WARNING: using the last resolution of $K_KEY ($RESOLVED): the package lists have none"
else
	vm_die "cannot resolve kernel series $K_KEY from the suites '$K_SUITES' (see scripts/vm/kernels.conf)"
fi

PKGS=("linux-image-$R_ABI-$K_FLAVOUR=$R_VERSION" "linux-headers-$R_ABI-$K_FLAVOUR=$R_VERSION"
      "linux-headers-$R_ABI-common=$R_VERSION" "$R_KBUILD=$R_KBUILD_VERSION")
vm_log "fetch-kernel: $K_KEY resolved to ${PKGS[*]}"
STAMP="$K_KEY ${PKGS[*]} fetch-v2"

deb_of() { # deb_of PKG=VERSION: the cached .deb, if any (an epoch's colon is %3a in file names)
	local p=${1%%=*} v=${1#*=} f
	for f in "$DEBS/${p}_${v//:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

if [ -f "$OUT/env" ] && [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ]; then
	vm_log "fetch-kernel: $K_KEY already unpacked in $OUT"
	exit 0
fi

for p in "${PKGS[@]}"; do
	deb_of "$p" >/dev/null && continue
	vm_log "fetch-kernel: downloading $p"
	(cd "$DEBS" && apt-get "${APT_OPTS[@]}" -q download "$p" >&2) ||
		vm_die "cannot download $p from the suites '$K_SUITES'"
	deb_of "$p" >/dev/null || vm_die "downloaded $p but found no matching .deb in $DEBS"
	# Older builds of the same package are not needed again.
	for f in "$DEBS/${p%%=*}_"*.deb; do
		[ "$f" = "$(deb_of "$p")" ] || rm -f "$f"
	done
done

vm_log "fetch-kernel: unpacking $K_KEY ($R_ABI $R_VERSION) into $OUT"
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
COMMON=$ROOT/usr/src/linux-headers-$R_ABI-common
[ -f "$KDIR/Makefile" ] || vm_die "no headers at $KDIR"

# The flavour headers include the common headers by absolute path; point them
# at the unpacked copy. Relative symlinks (scripts, tools -> linux-kbuild) already resolve.
sed -i "s|/usr/src/linux-headers-$R_ABI-common|$COMMON|g" "$KDIR/Makefile"
for l in "$KDIR"/scripts "$KDIR"/tools; do
	if [ -L "$l" ]; then
		t=$(readlink "$l")
		case $t in /*) ln -sfn "$ROOT$t" "$l" ;; esac
	fi
done
[ -e "$KDIR/scripts/basic/fixdep" ] || vm_die "kbuild tools missing under $KDIR/scripts (is $R_KBUILD unpacked?)"

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
KVERSION='$R_VERSION'
KABI='$R_ABI'
KPKGS='${PKGS[*]}'
KREL='$KREL'
KDIR='$KDIR'
VMLINUX='$OUT/vmlinux'
BZIMAGE='$BZIMAGE'
MODROOT='$ROOT'
KMAKE_ARGS='$K_KMAKE_ARGS'
EOF
echo "$STAMP" > "$OUT/.stamp"
vm_log "fetch-kernel: $K_KEY ready: KREL=$KREL, env in $OUT/env"
