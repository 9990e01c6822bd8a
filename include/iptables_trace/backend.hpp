// A source of trace events: the module backend (kprobes + our kernel module +
// perf buffer) or the netlink backend (nftables nftrace + nfnetlink_log).
// Both produce the same TraceEvent; the app enriches and sinks them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iptables_trace/model.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

// The event is the backend's scratch object: the callee may change it or
// move from it, and must not keep a reference past the call.
using EventFn = std::function<void(TraceEvent&)>;
// Lost events: count, and the CPU (or -1 when the backend is not per CPU).
using LostFn = std::function<void(uint64_t count, int cpu)>;

class TraceBackend {
public:
    virtual ~TraceBackend() = default;
    virtual std::string name() const = 0;  // "module" or "netlink"
    // Waits up to timeout_ms for events and hands each one to on_event.
    // Returns an error only for a fatal condition. EINTR is not an error
    // (return normally so the caller can check its stop flag).
    virtual Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost) = 0;
    // At exit, after the last poll: hands over what is still buffered,
    // without waiting, so that Ctrl-C does not drop what happened before it.
    virtual Status drain(const EventFn& on_event, const LostFn& on_lost)
    {
        (void)on_event;
        (void)on_lost;
        return ok_status();
    }
    // At exit, after drain: events the kernel could not deliver that no
    // loss report has counted yet (a perf buffer reports a loss only with
    // the next sample it can take, and the last burst has none). Counted
    // into the backend's own totals; 0 when everything is accounted for.
    virtual uint64_t take_unreported_lost() { return 0; }
    // Totals for the exit summary, e.g. "events 120, lost 0".
    virtual std::string summary() const = 0;
};

// Why a backend cannot run here, or nullopt when it can. Cheap, no side effects;
// used by --backend auto to pick one and say why.
std::optional<std::string> module_backend_unavailable(const Options& opts);
std::optional<std::string> netlink_backend_unavailable(const Options& opts);

// The kernel BTF that module_backend_unavailable() may have parsed (several
// MB), kept for the module backend's set-up; free it when another backend
// was chosen.
void release_module_backend_caches();

// Set up everything (maps, programs, module / nft table, logger binding) and
// return an owner whose destructor tears it all down in reverse order.
Result<std::unique_ptr<TraceBackend>> make_module_backend(const Options& opts);
Result<std::unique_ptr<TraceBackend>> make_netlink_backend(const Options& opts);

// Find and remove what a killed instance left behind (module, pins, nft
// table, logger binding). Returns what was removed, one line each.
Result<std::vector<std::string>> cleanup_module_backend_leftovers();
Result<std::vector<std::string>> cleanup_netlink_backend_leftovers();

}  // namespace itr
