#!/bin/bash
# Print the ELF vmlinux embedded in a bzImage on stdout.
#   scripts/vm/extract-vmlinux.sh /path/to/vmlinuz > vmlinux
# Looks for the magic of each compressor the kernel supports, decompresses
# from every candidate offset, and keeps the first result that is an ELF file.
set -uo pipefail
img=${1:?usage: $0 BZIMAGE}
[ -f "$img" ] || { echo "$0: no such file: $img" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
export LC_ALL=C

is_elf() { [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }

try() { # try MAGIC_REGEX COMMAND...
	local magic=$1 off; shift
	for off in $(grep -aboP "$magic" "$img" | cut -d: -f1 | head -n 8); do
		tail -c +"$((off + 1))" "$img" | "$@" > "$tmp" 2>/dev/null
		if [ -s "$tmp" ] && is_elf "$tmp"; then
			cat "$tmp"
			exit 0
		fi
	done
}

try '\xFD7zXZ\x00' xz -dcq
try '\x28\xB5\x2F\xFD' zstd -dcq
try '\x02\x21\x4C\x18' lz4 -dcq
try '\x1F\x8B\x08' gzip -dcq
try 'BZh' bzip2 -dcq
try '\x5D\x00\x00\x00' xz -dcq --format=lzma
echo "$0: no compressed ELF kernel found in $img" >&2
exit 1
