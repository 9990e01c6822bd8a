#!/bin/sh
# Scenario 7: nft_do_chain. An nftables table on the same kernel gives nft=[...]
# lines with family, table, chain, hook, verdict and cost.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd nft

nft -f - <<'NFT' || skip "nf_tables unavailable on this kernel"
table ip itr7 {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 7002 drop
		icmp type echo-request counter accept
	}
}
NFT
tracer_start trace --proto any -H 127.0.0.1
itr-net ping 127.0.0.1 4747 1 2 || fail "ping 127.0.0.1"
itr-net udp 127.0.0.1 7002 40060
wait_lines trace 'U:127\.0\.0\.1:40060->127\.0\.0\.1:7002 .*nft=' 1 15
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace
assert_match trace 'I_request:127\.0\.0\.1->127\.0\.0\.1 .*nft=\[family=ip table=itr7 chain=in hook=(INPUT|input) verdict=ACCEPT cost=[0-9.]+(ns|µs|ms|s)\]' "echo request through nft chain in: ACCEPT"
# Since 6.8 nft_do_chain frees a dropped skb itself (NF_DROP_REASON) and
# returns NF_STOLEN: the kernel's own return value is what the trace shows.
DROPV=DROP
case $(uname -r) in [0-5].*|6.[0-7].*) ;; *) DROPV='(DROP|STOLEN)' ;; esac
assert_match trace "U:127\.0\.0\.1:40060->127\.0\.0\.1:7002 .*nft=\[family=ip table=itr7 chain=in hook=(INPUT|input) verdict=$DROPV cost=" "UDP 7002 through nft chain in: DROP"
assert_no_match trace 'nft=\[.*cost=0(\.0+)?[a-zµ]*\]' "nft costs above zero"
nft delete table ip itr7
assert_clean "after SIGINT"
