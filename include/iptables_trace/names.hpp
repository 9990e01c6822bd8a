// Names for the numbers netfilter hands us: verdicts, hooks, families, TCP
// flags, IP protocols. Pure functions; unknown values never throw, they name
// themselves as "UNKNOWN(<n>)".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace itr {

// NF_DROP 0 DROP, 1 ACCEPT, 2 STOLEN, 3 QUEUE, 4 REPEAT, 5 STOP. The raw
// value is masked with 0xff first (a queue verdict carries the queue number
// in its upper 16 bits). Unknown: "UNKNOWN(<masked value>)".
std::optional<std::string_view> known_verdict_name(uint32_t raw);
std::string verdict_name(uint32_t raw);

// nf_tables verdict codes, which share one number space with the netfilter
// ones: NF_* >= 0 named as above after masking the queue number / errno
// bits (DROP, ACCEPT, STOLEN, QUEUE, REPEAT, STOP), NFT_* < 0 CONTINUE -1,
// BREAK -2, JUMP -3, GOTO -4, RETURN -5; anything else "UNKNOWN(<code>)".
std::string nft_verdict_name(int32_t code);
// The verdict as nft rule lines print it: the name, then ":<queue number>"
// for QUEUE and ":<target>" for JUMP / GOTO with a target ("JUMP:BLOCK").
// The target is appended as given (the caller escapes it where needed).
std::string nft_verdict_text(int32_t code, std::string_view target);

// Hook names by family (enum itr_nfproto numbering):
//   IPv4, IPv6, INET, UNSPEC and anything else: PREROUTING 0, INPUT 1,
//     FORWARD 2, OUTPUT 3, POSTROUTING 4, INGRESS 5 (inet family ingress)
//   ARP: IN 0, OUT 1, FORWARD 2
//   BRIDGE: PREROUTING 0, INPUT 1, FORWARD 2, OUTPUT 3, POSTROUTING 4, BROUTING 5
//   NETDEV: INGRESS 0, EGRESS 1
// Unknown: "UNKNOWN(<hook>)".
std::optional<std::string_view> known_hook_name(uint32_t hook, uint32_t nfproto);
std::string hook_name(uint32_t hook, uint32_t nfproto);

// xtables families as the original prints them: PF_INET (2), PF_INET6 (10);
// anything else "UNKNOWN(<n>)".
std::optional<std::string_view> known_pf_name(uint32_t nfproto);
std::string pf_name(uint32_t nfproto);

// nftables family names: inet 1, ip 2, arp 3, netdev 5, bridge 7, ip6 10;
// anything else "UNKNOWN(<n>)".
std::optional<std::string_view> known_nft_family_name(uint32_t nfproto);
std::string nft_family_name(uint32_t nfproto);

// TCP flags in the fixed order SYN, FIN, RST, ACK, PSH, URG, ECE, CWR, so
// that the common combinations read as people say them: "SYN,ACK",
// "FIN,ACK", "RST,ACK", "ACK,PSH". Empty when no flag is set.
std::vector<std::string_view> tcp_flag_names(uint8_t flags);
// Appends the names joined by ',' (nothing when no flag is set).
void append_tcp_flags(std::string& out, uint8_t flags);

// Lower-case IP protocol names for JSON: tcp 6, udp 17, icmp 1, icmp6 58,
// sctp 132, udplite 136, gre 47, esp 50, ah 51, igmp 2, ipip 4, ospf 89,
// pim 103, vrrp 112. nullopt for the others.
std::optional<std::string_view> l4proto_name(uint8_t proto);

}  // namespace itr
