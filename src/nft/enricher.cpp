// NftRuleText behind the pipeline's RuleTextEnricher interface.
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/rules.hpp"

namespace itr::nft {

namespace {

class NftEnricher final : public RuleTextEnricher {
public:
    NftEnricher(std::unique_ptr<NftRulesetSource> src, NftRuleTextOptions opts)
        : own_netns_(src->own_netns()), text_(std::move(src), opts) {}

    Status prime(std::optional<uint32_t> netns) override { return text_.prime(netns); }

    void enrich(TraceEvent& ev) override {
        if (ev.kind != EventKind::NftRule) return;
        // What the lookup reads of the message: family, table, chain,
        // handle, kind and a policy's verdict.
        TraceRecord rec;
        rec.msg.family = static_cast<uint8_t>(ev.pf);
        rec.msg.table = ev.table;
        rec.msg.chain = ev.chain;
        rec.msg.handle = ev.handle;
        switch (ev.rule_kind) {
        case RuleKind::Return: rec.msg.kind = HitKind::Return; break;
        case RuleKind::Policy:
            rec.msg.kind = HitKind::Policy;
            if (ev.nft_verdict_known && ev.nft_verdict >= 0) rec.msg.policy = static_cast<uint32_t>(ev.nft_verdict);
            break;
        case RuleKind::Rule:
        case RuleKind::Unknown: rec.msg.kind = HitKind::Rule; break;
        }
        const uint32_t netns = ev.pkt.netns.value_or(0) ? *ev.pkt.netns : own_netns_;
        text_.lookup(rec, netns, ev.mono_ns);
        ev.rulenum = rec.rulenum.value_or(0);
        if (rec.rule_text)
            ev.rule_text = escape_rule_text(*rec.rule_text);
        else
            ev.rule_text.reset();
        ev.rule_text_stale = rec.rule_text_stale;
    }

    std::vector<std::string> take_diagnostics() override { return text_.take_diagnostics(); }

    std::string summary() const override {
        const NftRuleTextStats& s = text_.stats();
        return "nft rules: lookups " + std::to_string(s.lookups) + ", reads " + std::to_string(s.reads) +
               ", changes " + std::to_string(s.changes) + ", stale " + std::to_string(s.stale);
    }

private:
    uint32_t own_netns_;
    NftRuleText text_;
};

}  // namespace

std::unique_ptr<RuleTextEnricher> make_nft_enricher(std::unique_ptr<NftRulesetSource> src, NftRuleTextOptions opts) {
    return std::make_unique<NftEnricher>(std::move(src), opts);
}

}  // namespace itr::nft
