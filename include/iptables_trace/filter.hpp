// Turns the parsed command line into the BPF side's itr_config (event.h).
// Pure: nothing here touches the kernel. Byte order is done here, once:
// ports and the ICMP id are stored in network order, ready to compare with
// packet bytes, so 22 lands in memory as 0x00 0x16 on every host.
#pragma once

#include <cstdint>
#include <optional>

#include "iptables_trace/event.h"
#include "iptables_trace/model.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

// IPPROTO_* for --proto: tcp 6, udp 17, icmp 1, icmp6 58, any 0.
uint8_t proto_number(Proto p);

// Builds the BPF configuration. abi_version = ITR_ABI_VERSION; every filter
// given on the command line sets its has_ flag (they combine with AND):
//   -H:       has_addr, addr_version, addr (v4 in the first 4 bytes, v6 all 16)
//   --proto:  proto (0 = any)
//   -P:       has_port, port_be (network order; source or destination)
//   --icmpid: has_icmp_id, icmp_id_be (network order). With --proto any it
//             means "an ICMP or ICMPv6 echo with this id".
//   -p:       has_pid, pid
//   -N:       has_netns, netns: resolved_netns (open_netns() found it),
//             else the inode -N gave literally.
// Fails only when -N was given, is not an inode, and no resolved inode was
// passed: a filter is never silently dropped.
Result<itr_config> make_bpf_config(const Options& opts, itr_arg_layout ipt, itr_arg_layout ip6t,
                                   std::optional<uint32_t> resolved_netns = std::nullopt);

// The same packet filters (-H, --proto, -P, --icmpid) in user space, for
// events whose source does not filter: nf_tables trace events come for
// every packet with nf_trace set, an administrator's `meta nftrace set 1`
// or TRACE target included. A packet whose headers are unknown (ip_version
// 0) passes: nothing says it is not ours.
bool packet_matches_filter(const Options& opts, const Packet& pkt);

}  // namespace itr
