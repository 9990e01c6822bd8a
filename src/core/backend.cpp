// The backend seam's pure parts: capabilities, the refusals they imply,
// and the choice of a backend.
#include "iptables_trace/backend.hpp"

#include <fmt/format.h>

#include "iptables_trace/options.hpp"

namespace itr {

std::string_view capability_name(Capability c)
{
    switch (c) {
    case Capability::TableVerdicts: return "table-verdicts";
    case Capability::LegacyRuleEvents: return "legacy-rule-events";
    case Capability::NftRuleEvents: return "nft-rule-events";
    case Capability::NftChainVerdicts: return "nft-chain-verdicts";
    case Capability::PidFilter: return "pid-filter";
    case Capability::SkbIdentity: return "skb-identity";
    case Capability::Cpu: return "cpu";
    case Capability::PerCpuLoss: return "per-cpu-loss";
    case Capability::KernelModule: return "kernel-module";
    }
    return "?";
}

std::string Capabilities::names() const
{
    std::string out;
    for (Capability c : kAllCapabilities)
        if (has(c))
            out += std::string(out.empty() ? "" : " ") + std::string(capability_name(c));
    return out;
}

std::optional<std::string> capability_refusal(const Options& opts, std::string_view backend, Capabilities caps)
{
    if (opts.fate && !caps.has(Capability::TableVerdicts))
        return fmt::format("{} needs table verdicts, which the {} backend does not report",
                           opts.drops_only ? "--drops-only" : "--fate", backend);
    if (opts.pid && !caps.has(Capability::PidFilter))
        return fmt::format("-p/--pid cannot be honoured by the {} backend: it does not see the task an event "
                           "fired in",
                           backend);
    if (opts.kmod_path && !caps.has(Capability::KernelModule))
        return fmt::format("--kmod has no effect with the {} backend: it inserts no kernel module", backend);
    return std::nullopt;
}

BackendRegistry::BackendRegistry(std::vector<std::unique_ptr<BackendProvider>> providers)
    : providers_(std::move(providers))
{
}

const BackendProvider* BackendRegistry::find(std::string_view name) const
{
    for (const auto& p : providers_)
        if (p->name() == name)
            return p.get();
    return nullptr;
}

std::string BackendRegistry::choices() const
{
    std::string out = "auto";
    for (size_t i = 0; i < providers_.size(); i++)
        out += std::string(i + 1 == providers_.size() ? " or " : ", ") + std::string(providers_[i]->name());
    return out;
}

std::variant<BackendChoice, ChoiceError> choose_backend(const BackendRegistry& registry, const Options& opts)
{
    if (opts.backend != "auto") {
        const BackendProvider* p = registry.find(opts.backend);
        if (!p)
            return ChoiceError{Error{fmt::format("unknown backend '{}'", opts.backend), ""}, true};
        if (auto refusal = capability_refusal(opts, p->name(), p->capabilities()))
            return ChoiceError{Error{*refusal, ""}, true};
        return BackendChoice{p, ""};
    }
    std::vector<std::string> passed_over;  // for the notice
    std::string reasons;                   // for the error
    bool excluded_one_that_runs = false;
    for (const auto& p : registry.providers()) {
        const std::string name(p->name());
        if (auto refusal = capability_refusal(opts, name, p->capabilities())) {
            excluded_one_that_runs = excluded_one_that_runs || !p->probe(opts);
            passed_over.push_back(*refusal);
            reasons += (reasons.empty() ? "" : "; ") + name + ": " + *refusal;
            continue;
        }
        if (auto why = p->probe(opts)) {
            passed_over.push_back(fmt::format("the {} backend cannot run here ({})", name, *why));
            reasons += (reasons.empty() ? "" : "; ") + name + ": " + *why;
            continue;
        }
        BackendChoice c{p.get(), ""};
        if (!passed_over.empty()) {
            c.notice = fmt::format("using the {} backend: ", name);
            for (size_t i = 0; i < passed_over.size(); i++)
                c.notice += (i ? "; " : "") + passed_over[i];
        }
        return c;
    }
    return ChoiceError{Error{"no backend can run here: " + reasons, ""}, excluded_one_that_runs};
}

}  // namespace itr
