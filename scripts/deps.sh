#!/usr/bin/env bash
# Installs what building and testing need on Debian 12 (root). Idempotent.
#   scripts/deps.sh        build + unit/host tests
#   scripts/deps.sh --vm   also the VM test bed (QEMU, busybox, kernel build tools)
#   scripts/deps.sh --arm64  also the arm64 cross build (scripts/cross-arm64.sh):
#                            Debian's aarch64 cross compiler, the :arm64 -dev
#                            packages the build links, qemu-user to run the result
# Options combine (scripts/deps.sh --vm --arm64).
#
# Every command a test runs is in one of these lists: on CI (CI=true) a host
# test that finds one missing fails instead of skipping (tests/host/lib.sh).
set -euo pipefail

build_pkgs=(
  cmake make g++ pkg-config ccache
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libfmt-dev libcli11-dev libmnl-dev libnftnl-dev
  googletest libgtest-dev libbenchmark-dev
)
# Commands the host tests run (tests/host/*.sh): iptables (legacy and nft
# variants), nft, ip, ping, python3 (JSON and socket checks), timeout,
# unshare/nsenter, sysctl, modprobe.
test_pkgs=(
  iptables nftables iproute2 kmod iputils-ping python3 coreutils util-linux procps
)
vm_pkgs=(
  qemu-system-x86 qemu-utils busybox-static cpio xz-utils zstd gzip jq file
  gcc-12 make bc flex bison libssl-dev pahole dpkg-dev
  debian-archive-keyring
)

# The arm64 cross build: clang and bpftool stay the host's (they run at build
# time); what the aarch64 binary and its unit tests link comes as :arm64
# multiarch packages. libcli11-dev and googletest are headers or sources only
# (Architecture: all), so the host's serve both builds. qemu-user-static
# runs the aarch64 results on this machine (scripts/cross-arm64.sh).
arm64_pkgs=(
  g++-aarch64-linux-gnu file qemu-user-static
  libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64
  libmnl-dev:arm64 libnftnl-dev:arm64 libfmt-dev:arm64 libgtest-dev:arm64
)

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
arm64=0
for arg in "$@"; do
  case $arg in
    --vm) want+=("${vm_pkgs[@]}") ;;
    --arm64) want+=("${arm64_pkgs[@]}"); arm64=1 ;;
    *) echo "deps: unknown option $arg (known: --vm, --arm64)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# :arm64 packages exist for apt only once dpkg knows the architecture; the
# package lists must then be read again (below) to carry its indexes.
if [ $arm64 -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "deps: dpkg --add-architecture arm64 (for the :arm64 -dev packages of the cross build)"
  $SUDO dpkg --add-architecture arm64
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Headers of the running kernel let the build embed a module for it. Debian
# serves them only for its own kernels; without them the build still succeeds
# and the binary carries no module (the netlink backend still works): say so.
hdr="linux-headers-$(uname -r)"
if [ ! -e "/lib/modules/$(uname -r)/build" ]; then
  if apt-cache show "$hdr" >/dev/null 2>&1; then
    echo "deps: installing $hdr (lets the build embed a kernel module for this kernel)"
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$hdr" >/dev/null; then
      echo "deps: WARNING: installing $hdr failed: the binary will carry no kernel module;" \
           "only the backends without a module can run on this machine" >&2
    fi
  else
    echo "deps: note: no package $hdr for the running kernel $(uname -r):" \
         "the binary will carry no kernel module for it (the module backend runs in the VMs;" \
         "the netlink backend runs here)" >&2
  fi
fi
