# Shared by the host tests (POSIX sh). Source it: . "${0%/*}/lib.sh"
# Exit codes: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
#
# Two kinds of "cannot run":
#   skip REASON   a case the README lists as not runnable here (not root, a
#                 kernel without BTF or without legacy xtables): always a skip.
#   need REASON   something scripts/deps.sh installs or every machine of ours
#                 has (a command, network namespaces, veth): a skip on a
#                 developer's box, a FAILURE under CI=true, where a missing
#                 tool means an install step is missing.

skip() {
	echo "SKIP: $*"
	exit 77
}
need() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (under CI=true this is an install step missing, not a skip)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
need_cmd() { # need_cmd CMD...: each on PATH
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || need "$_c not installed (scripts/deps.sh installs it)"
	done
}

# Checks that count a failure and go on (a test ends with its own tally,
# e.g. [ "$fails" -eq 0 ]); a test that stops at the first failure defines
# its own fail() after sourcing this file.
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
