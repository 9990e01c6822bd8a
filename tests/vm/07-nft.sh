#!/bin/sh
# Scenario 7: nft_do_chain. An nftables table on the same kernel gives nft=[...]
# lines with family, table, chain, hook, verdict and cost; a drop by a rule and
# a drop by a chain's policy both read DROP on every kernel (since
# NF_DROP_REASON, nft_do_chain frees a dropped skb and returns NF_STOLEN with
# EPERM in the upper bits; the tracer reports that as the drop it is).
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs nft-chains
need_tracer
need_cmd nft

nft -f - <<'NFT' || skip "nf_tables unavailable on this kernel"
table ip itr7 {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 7002 drop
		icmp type echo-request counter accept
	}
	chain out {
		type filter hook output priority 0; policy drop;
		meta l4proto != udp accept
		udp dport != 7003 accept
	}
}
NFT
tracer_start trace --proto any -H 127.0.0.1
itr-net ping 127.0.0.1 4747 1 2 || fail "ping 127.0.0.1"
itr-net udp 127.0.0.1 7002 40060
# Dropped by the output chain's policy: the send itself fails (EPERM).
itr-net udp 127.0.0.1 7003 40061 >/dev/null 2>&1
wait_lines trace 'U:127\.0\.0\.1:40060->127\.0\.0\.1:7002 .*nft=\[.*chain=in ' 1 15
wait_lines trace 'U:127\.0\.0\.1:40061->127\.0\.0\.1:7003 .*nft=' 1 15
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace
assert_match trace 'I_request:127\.0\.0\.1->127\.0\.0\.1 .*nft=\[family=ip table=itr7 chain=in hook=(INPUT|input) verdict=ACCEPT cost=[0-9.]+(ns|µs|ms|s)\]' "echo request through nft chain in: ACCEPT"
assert_match trace 'U:127\.0\.0\.1:40060->127\.0\.0\.1:7002 .*nft=\[family=ip table=itr7 chain=in hook=(INPUT|input) verdict=DROP cost=' "UDP 7002 through nft chain in: DROP (by a rule)"
assert_match trace 'U:127\.0\.0\.1:40061->127\.0\.0\.1:7003 .*nft=\[family=ip table=itr7 chain=out hook=(OUTPUT|output) verdict=DROP cost=' "UDP 7003 through nft chain out: DROP (by the policy)"
assert_no_match trace 'nft=\[.*verdict=STOLEN' "no drop reported as STOLEN"
assert_match trace 'I_request:127\.0\.0\.1->127\.0\.0\.1 .*nft=\[family=ip table=itr7 chain=out hook=(OUTPUT|output) verdict=ACCEPT cost=' "echo request through nft chain out: ACCEPT"
assert_no_match trace 'nft=\[.*cost=0(\.0+)?[a-zµ]*\]' "nft costs above zero"
nft delete table ip itr7
assert_clean "after SIGINT"
