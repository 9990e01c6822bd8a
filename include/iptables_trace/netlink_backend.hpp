// The netlink backend: nftables marks the flow with nftrace, ip_tables
// emits TRACE through nfnetlink_log (src/netlink). No module, no kprobes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/checks.hpp"

namespace itr {

std::unique_ptr<BackendProvider> make_netlink_provider();

}  // namespace itr

namespace itr::netlink {

// This backend's set-up in one netns (-N's, else ours), for a backend that
// marks packets and hears nf_tables the same way but reads legacy rules,
// verdicts and costs itself (bpf): the marking table, nfnetlink_log bound
// as the logger with group 0 held (metadata only, never decoded), so that
// no TRACE line of ours reaches the kernel log or another listener, and
// the nf_tables trace events. Its poll/drain hand over nf_tables rule
// events only.
struct Embedded {
    std::unique_ptr<TraceBackend> backend;
    int fd = -1;         // readable when events wait
    uint64_t netns = 0;  // inode of the netns it marks and listens in
};
// bind_logger false: the marking table and the nf_tables listener only, for
// a backend that keeps legacy TRACE out of the kernel log itself (module).
Result<Embedded> start_embedded(const Options& opts, Diagnostics& diag, bool bind_logger = true);
// start_embedded in -N's netns, else in ours and in every other netns that
// exists now (one that refuses is said on diag and left out; ours first).
Result<std::vector<Embedded>> start_marking(const Options& opts, Diagnostics& diag, bool bind_logger);
// "; nf_tables trace: netns N (events N, lost N), ..." for an exit summary;
// empty without listeners.
std::string listeners_summary(const std::vector<Embedded>& listeners);
// What that set-up needs of this machine (root, nfnetlink_log, nf_log,
// nf_tables, filters nftables can express).
std::vector<Check> marking_requirements(const Options& opts);
// Whether the marking covers every filtered packet: before 6.0 OUTPUT
// packets without a socket (a REJECT's reply) are left unmarked (their
// trace id would trip the flow dissector's WARN_ON_ONCE(!net)).
bool trace_id_safe_without_socket();

}  // namespace itr::netlink
