#!/usr/bin/env bash
# Installs what building and testing need on Debian 12 (root). Idempotent.
#   scripts/deps.sh        build + unit/host tests
#   scripts/deps.sh --vm   also the VM test bed (QEMU, busybox, kernel build tools)
set -euo pipefail

build_pkgs=(
  cmake make g++ pkg-config ccache
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libfmt-dev libcli11-dev libmnl-dev libnftnl-dev
  googletest libgtest-dev libbenchmark-dev
  iptables nftables iproute2 kmod
)
vm_pkgs=(
  qemu-system-x86 qemu-utils busybox-static cpio xz-utils gzip jq
  gcc-12 make bc flex bison libssl-dev pahole dpkg-dev
)

want=("${build_pkgs[@]}")
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
# Headers of the running kernel let the build embed a module for it; their
# absence is fine (the build says so, the netlink backend still works).
if [ ! -e "/lib/modules/$(uname -r)/build" ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "linux-headers-$(uname -r)" >/dev/null 2>&1 || true
fi
