#!/bin/sh
# Guest side of scripts/vm/capture-nft-fixtures.sh: run as the only scenario
# of the guest's /init. Runs tests/tools/capture-nft-trace.sh on this kernel
# and prints its files on the console, the only way out of the guest that the
# test bed already has (no shared folder, no disk):
#   ITR-FIXTURES-BEGIN <sha256 of the archive> <bytes>
#   <base64 of a gzipped tar of the output directory>
#   ITR-FIXTURES-END
# The host checks the digest, so a console line mangled on the way is caught.
# itr-timeout: 900
out=/tmp/nft-fixtures
reason() { echo "$*" > "${ITR_REASON_FILE:-/dev/null}"; echo "nft-capture: $*"; }

# Debian's busybox sh runs its own `ip` applet before PATH, and that one has no
# netns: the script is sourced in a subshell where a function sends `ip` to
# iproute2's.
(
	ip() { /usr/sbin/ip "$@"; }
	set -- "$out" /usr/local/bin/itr-nft-capture /usr/local/bin/itr-net
	. /itr/capture-nft-trace.sh
) || { reason "capture-nft-trace.sh failed"; exit 1; }
ls "$out"/*.trace.hex >/dev/null 2>&1 || { reason "no trace files"; exit 1; }

# Console messages of the kernel would land inside the base64 block.
dmesg -n 1
(cd "$out" && tar cf - .) | gzip -9 > /tmp/fixtures.tar.gz || { reason "tar"; exit 1; }
sum=$(sha256sum < /tmp/fixtures.tar.gz | cut -d' ' -f1)
echo "ITR-FIXTURES-BEGIN $sum $(wc -c < /tmp/fixtures.tar.gz)"
base64 < /tmp/fixtures.tar.gz
echo "ITR-FIXTURES-END"
