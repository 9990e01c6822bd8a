// The netlink backend: nftables marks the flow with nftrace, ip_tables
// emits TRACE through nfnetlink_log (src/netlink). No module, no kprobes.
#pragma once

#include <memory>

#include "iptables_trace/backend.hpp"

namespace itr {

std::unique_ptr<BackendProvider> make_netlink_provider();

}  // namespace itr
