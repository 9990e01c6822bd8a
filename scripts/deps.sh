#!/usr/bin/env bash
# Installs what building and testing need on Debian 12 (root). Idempotent.
#   scripts/deps.sh        build + unit/host tests
#   scripts/deps.sh --vm   also the VM test bed (QEMU, busybox, kernel build tools)
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

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
[ "${1:-}" = "--vm" ] && want+=("${vm_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
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
