// The bpf backend: no kernel module. BPF kprobes on the table functions
// (verdict, cost, skb, task), nf_log_trace (legacy rules) and nft_do_chain;
// the packets are marked by the netlink backend's nftables table and
// nf_tables rules come from its trace events (src/bpf_backend).
#pragma once

#include <memory>

#include "iptables_trace/backend.hpp"

namespace itr {

std::unique_ptr<BackendProvider> make_bpf_provider();

}  // namespace itr
