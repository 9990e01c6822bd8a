// EnricherChain: the pipeline's one rule-text interface over several
// sources (legacy xtables, nf_tables), each taking its own kinds.
#include <gtest/gtest.h>

#include "iptables_trace/enricher.hpp"

using namespace itr;

namespace {

class Fake final : public RuleTextEnricher {
public:
    Fake(EventKind kind, std::string name, bool prime_fails) : kind_(kind), name_(std::move(name)), fail_(prime_fails) {}
    Status prime(std::optional<uint32_t>) override {
        if (fail_) return Error{name_ + " cannot read", ""};
        return ok_status();
    }
    void enrich(TraceEvent& ev) override {
        if (ev.kind != kind_) return;
        ev.rule_text = name_;
        ++seen_;
        diags_.push_back(name_ + " saw one");
    }
    void tick() override { ++ticks_; }
    std::vector<std::string> take_diagnostics() override { return std::exchange(diags_, {}); }
    std::string summary() const override { return name_ + ": lookups " + std::to_string(seen_); }
    int ticks_ = 0;

private:
    EventKind kind_;
    std::string name_;
    bool fail_;
    int seen_ = 0;
    std::vector<std::string> diags_;
};

}  // namespace

TEST(EnricherChain, EachSourceTakesItsOwnKinds) {
    auto legacy = std::make_unique<Fake>(EventKind::Rule, "rules", false);
    auto nft = std::make_unique<Fake>(EventKind::NftRule, "nft rules", true);
    Fake* l = legacy.get();
    std::vector<std::unique_ptr<RuleTextEnricher>> parts;
    parts.push_back(std::move(legacy));
    parts.push_back(std::move(nft));
    EnricherChain chain(std::move(parts));

    auto st = chain.prime(std::nullopt);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what, "nft rules cannot read");

    TraceEvent r, n, t;
    r.kind = EventKind::Rule;
    n.kind = EventKind::NftRule;
    t.kind = EventKind::Table;
    chain.enrich(r);
    chain.enrich(n);
    chain.enrich(n);
    chain.enrich(t);
    EXPECT_EQ(r.rule_text, "rules");
    EXPECT_EQ(n.rule_text, "nft rules");
    EXPECT_FALSE(t.rule_text);
    chain.tick();
    EXPECT_EQ(l->ticks_, 1);
    EXPECT_EQ(chain.take_diagnostics(),
              (std::vector<std::string>{"rules saw one", "nft rules saw one", "nft rules saw one"}));
    EXPECT_TRUE(chain.take_diagnostics().empty());
    EXPECT_EQ(chain.summary(), "rules: lookups 1; nft rules: lookups 2");
}
