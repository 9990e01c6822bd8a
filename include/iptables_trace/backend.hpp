// The seam every backend plugs into. A backend is a provider: a name, what
// it can do (capabilities), whether it can run here and why not (probe),
// how to start it, its own leftover cleanup and its own --check report.
// The registry lists the providers in the order --backend auto tries them;
// the command line and the app ask capabilities, never names.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/model.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

struct Options;

// The event is the backend's scratch object: the callee may change it or
// move from it, and must not keep a reference past the call.
using EventFn = std::function<void(TraceEvent&)>;
// Lost events: count, and the CPU (or -1 when the backend is not per CPU).
using LostFn = std::function<void(uint64_t count, int cpu)>;

// A running backend: owns every kernel resource it set up and releases
// them, in reverse order, in its destructor.
class TraceBackend {
public:
    virtual ~TraceBackend() = default;
    virtual std::string name() const = 0;
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

// What a backend can do. The options that need a capability are refused,
// by name of the flag, with a backend that lacks it.
enum class Capability : uint8_t {
    TableVerdicts,     // iptables=[...]: each table call's verdict and cost (so --fate)
    LegacyRuleEvents,  // ipttrace=[...] for the rules of iptables-legacy tables
    NftRuleEvents,     // per-rule events of nftables rulesets
    NftChainVerdicts,  // nft=[...]: each nftables base chain's verdict and cost
    PidFilter,         // -p: the task current when the event fired
    SkbIdentity,       // the skb address, which ties a packet's events together
    Cpu,               // the CPU of each event
    PerCpuLoss,        // losses counted per CPU
    KernelModule,      // inserts a kernel module (--kmod)
};
inline constexpr Capability kAllCapabilities[] = {
    Capability::TableVerdicts, Capability::LegacyRuleEvents, Capability::NftRuleEvents,
    Capability::NftChainVerdicts, Capability::PidFilter, Capability::SkbIdentity,
    Capability::Cpu, Capability::PerCpuLoss, Capability::KernelModule,
};
// "table-verdicts", "pid-filter", ... (for --check).
std::string_view capability_name(Capability c);

class Capabilities {
public:
    constexpr Capabilities() = default;
    constexpr Capabilities(std::initializer_list<Capability> caps)
    {
        for (Capability c : caps)
            bits_ |= bit(c);
    }
    constexpr bool has(Capability c) const { return (bits_ & bit(c)) != 0; }
    // "table-verdicts legacy-rule-events ...", in declaration order.
    std::string names() const;

private:
    static constexpr uint32_t bit(Capability c) { return 1u << static_cast<unsigned>(c); }
    uint32_t bits_ = 0;
};

class BackendProvider {
public:
    virtual ~BackendProvider() = default;
    virtual std::string_view name() const = 0;
    virtual Capabilities capabilities() const = 0;
    // Why it cannot run here, or nullopt when it can. Cheap, no side
    // effects, prints nothing.
    virtual std::optional<std::string> probe(const Options& opts) const = 0;
    // Sets everything up; the result owns it. What it has to say on the
    // way goes to diag, which outlives the backend.
    virtual Result<std::unique_ptr<TraceBackend>> start(const Options& opts, Diagnostics& diag) const = 0;
    // Finds and removes what a killed instance left (module, pins, nft
    // table, logger binding); one line for each thing removed.
    virtual Result<std::vector<std::string>> cleanup_leftovers() const = 0;
    // --check: its own report on out; 0 when it passes.
    virtual int check(const Options& opts, std::ostream& out, Diagnostics& diag) const = 0;
    // Another backend was chosen: drop what probe() kept for start().
    virtual void release_probe_state() const {}
};

// A flag that needs a capability the backend lacks, as one line ("--fate
// needs table verdicts, which the netlink backend does not report"), or
// nullopt. Pure.
std::optional<std::string> capability_refusal(const Options& opts, std::string_view backend, Capabilities caps);

// The providers, in the order --backend auto tries them.
class BackendRegistry {
public:
    explicit BackendRegistry(std::vector<std::unique_ptr<BackendProvider>> providers);
    std::span<const std::unique_ptr<BackendProvider>> providers() const { return providers_; }
    const BackendProvider* find(std::string_view name) const;
    // "auto, module or netlink".
    std::string choices() const;

private:
    std::vector<std::unique_ptr<BackendProvider>> providers_;
};

// The one chosen for opts.backend: the named one, or for "auto" the first
// that has what the options need and can run here. notice: for auto, why
// the ones before it were passed over ("using the netlink backend: the
// module backend cannot run here (...)"), empty when the first was taken.
struct BackendChoice {
    const BackendProvider* provider = nullptr;
    std::string notice;
};
// Errors: none can run (exit 1), or the options exclude every one that can
// (exit 2: bad input for this machine); bad_input says which.
struct ChoiceError {
    Error error;
    bool bad_input = false;
};
std::variant<BackendChoice, ChoiceError> choose_backend(const BackendRegistry& registry, const Options& opts);

}  // namespace itr
