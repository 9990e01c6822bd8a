#!/bin/sh
# Paths a local user can reach are untrusted input to a root tool.
# --ready-file: a file that is there, or a symlink to someone's file, is
# refused before anything loads (a root tool truncating through a link in
# /tmp would clobber any file).
# The module backend's leftovers in a shared bpffs are untrusted too: a bpffs
# mounted without mode= is world-writable, so a local user can put a
# symlink or a folder of their own where an older version pinned
# (/sys/fs/bpf/iptables-trace). --cleanup (and every start) must then
# delete nothing outside it and nothing that is not ours, and say so; a
# real leftover (root's 0700 folder) and a stale private bpffs mount are
# removed.
# usage: sh untrusted_paths.sh <path-to-iptables-trace>
BIN=$1
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
need_cmd mount umount stat
[ -x "$BIN" ] || need "no iptables-trace binary at '$BIN'"

BPF=/sys/fs/bpf
PIN=$BPF/iptables-trace
PRIV=/run/iptables-trace.bpffs
T=$(mktemp -d)
mounted_bpf=
cleanup() {
	rm -rf "$PIN" 2>/dev/null
	umount "$PRIV" 2>/dev/null; rmdir "$PRIV" 2>/dev/null
	[ -n "$mounted_bpf" ] && umount "$BPF" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ "$(stat -f -c %T "$BPF" 2>/dev/null)" != bpf_fs ]; then
	# As a distribution mounts it when nothing asks for a mode: 1777.
	mount -t bpf bpf "$BPF" || need "cannot mount bpffs at $BPF"
	mounted_bpf=1
fi
[ -e "$PIN" ] && skip "$PIN exists already (a live instance?)"

# 0. --ready-file through a symlink, or onto a file that is there.
echo keep > "$T/victim-file"
ln -s "$T/victim-file" "$T/ready-link"
for target in "$T/ready-link" "$T/victim-file"; do
	"$BIN" --backend netlink --no-rule-text -c 1 --ready-file "$target" > "$T/out" 2> "$T/err" < /dev/null; rc=$?
	[ "$rc" = 2 ] && ok "--ready-file ${target##*/}: refused (exit 2)" || fail "--ready-file ${target##*/}: exit $rc"
	[ "$(wc -l < "$T/err")" = 1 ] && grep -q "exists already" "$T/err" || { cat "$T/err"; fail "--ready-file ${target##*/}: not one clear line"; }
done
[ "$(cat "$T/victim-file")" = keep ] && ok "--ready-file: the file behind the link is intact" || fail "--ready-file: clobbered through the link"

# 1. A symlink to a folder of the user's: nothing in it may be deleted.
mkdir "$T/victim"
for f in ipt_entry ipt_return log_trace precious; do echo data > "$T/victim/$f"; done
ln -s "$T/victim" "$PIN"
"$BIN" --cleanup > "$T/out" 2> "$T/err"; rc=$?
cat "$T/err"
[ "$rc" = 0 ] || fail "symlink: --cleanup exited $rc"
n=$(ls "$T/victim" | wc -l)
[ "$n" = 4 ] && ok "symlink: the files it points at are intact" || fail "symlink: $((4 - n)) files deleted through it"
[ -L "$PIN" ] && ok "symlink: left in place" || fail "symlink: removed"
grep -q "not removed: $PIN: a symlink" "$T/err" && ok "symlink: said so" || fail "symlink: not reported"
rm -f "$PIN"

# 2. A folder a user made (not root's): left alone.
mkdir "$PIN" && mkdir "$PIN/mine" && chown -R 65534:65534 "$PIN"
"$BIN" --cleanup > "$T/out" 2> "$T/err"; rc=$?
cat "$T/err"
[ "$rc" = 0 ] || fail "user folder: --cleanup exited $rc"
[ -d "$PIN/mine" ] && ok "user folder: intact" || fail "user folder: its content was removed"
grep -q "not removed: $PIN: not owned by root" "$T/err" && ok "user folder: said so" || fail "user folder: not reported"
rm -rf "$PIN"

# 3. Root's folder holding something that is not one of our pins: kept.
mkdir -m 0700 "$PIN" && mkdir "$PIN/other"
"$BIN" --cleanup > "$T/out" 2> "$T/err"
[ -d "$PIN/other" ] && ok "root's folder with foreign content: kept" || fail "root's folder: foreign content removed"
grep -q "not removed: $PIN: it holds files" "$T/err" && ok "foreign content: said so" || fail "foreign content: not reported"
rm -rf "$PIN"

# 4. What an older version really left (root's 0700 folder): removed.
mkdir -m 0700 "$PIN"
"$BIN" --cleanup > "$T/out" 2> "$T/err"
cat "$T/err"
[ -e "$PIN" ] && fail "old leftover: still there" || ok "old leftover: removed"
grep -q "removed pinned programs in $PIN" "$T/err" && ok "old leftover: said so" || fail "old leftover: not reported"

# 5. A private bpffs mount left by a kill -9 during set-up: unmounted.
mkdir -m 0700 "$PRIV" && mount -t bpf -o mode=0700 bpf "$PRIV" || fail "cannot make a private bpffs"
"$BIN" --cleanup > "$T/out" 2> "$T/err"
cat "$T/err"
if [ "$(stat -f -c %T "$PRIV" 2>/dev/null)" = bpf_fs ]; then fail "private bpffs: still mounted"; else ok "private bpffs: unmounted"; fi
[ -e "$PRIV" ] && fail "private bpffs: folder left" || ok "private bpffs: folder removed"

[ "$fails" -eq 0 ] || { echo "FAIL: $fails checks"; exit 1; }
echo PASS
