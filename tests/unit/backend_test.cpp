// The backend seam: capabilities decide which flags a backend refuses, and
// --backend auto takes the first provider that has what the flags need and
// can run here.
#include <gtest/gtest.h>

#include <sstream>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/registry.hpp"

using namespace itr;

namespace {

class FakeProvider final : public BackendProvider {
public:
    FakeProvider(std::string name, Capabilities caps, std::optional<std::string> why_not)
        : name_(std::move(name)), caps_(caps), why_not_(std::move(why_not))
    {
    }
    std::string_view name() const override { return name_; }
    Capabilities capabilities() const override { return caps_; }
    std::optional<std::string> probe(const Options&) const override
    {
        probes_++;
        return why_not_;
    }
    Result<std::unique_ptr<TraceBackend>> start(const Options&, Diagnostics&) const override
    {
        return Error{"not started in tests", ""};
    }
    Result<std::vector<std::string>> cleanup_leftovers() const override { return std::vector<std::string>{}; }
    int check(const Options&, std::ostream& out, Diagnostics&) const override
    {
        out << name_ << "\n";
        return 0;
    }
    mutable int probes_ = 0;

private:
    std::string name_;
    Capabilities caps_;
    std::optional<std::string> why_not_;
};

const Capabilities kRich{Capability::TableVerdicts, Capability::LegacyRuleEvents, Capability::PidFilter,
                         Capability::KernelModule};
const Capabilities kPlain{Capability::LegacyRuleEvents};

BackendRegistry registry(std::optional<std::string> rich_why, std::optional<std::string> plain_why)
{
    std::vector<std::unique_ptr<BackendProvider>> p;
    p.push_back(std::make_unique<FakeProvider>("rich", kRich, rich_why));
    p.push_back(std::make_unique<FakeProvider>("plain", kPlain, plain_why));
    return BackendRegistry(std::move(p));
}

}  // namespace

TEST(Backend, CapabilitiesAreABitset) {
    EXPECT_TRUE(kRich.has(Capability::PidFilter));
    EXPECT_FALSE(kPlain.has(Capability::PidFilter));
    EXPECT_FALSE(Capabilities{}.has(Capability::TableVerdicts));
    EXPECT_EQ(kPlain.names(), "legacy-rule-events");
    EXPECT_EQ(kRich.names(), "table-verdicts legacy-rule-events pid-filter kernel-module");
}

TEST(Backend, FlagsNeedingACapabilityAreRefusedByName) {
    Options o;
    EXPECT_FALSE(capability_refusal(o, "plain", kPlain));
    o.fate = true;
    EXPECT_EQ(capability_refusal(o, "plain", kPlain), "--fate needs table verdicts, which the plain backend does not report");
    EXPECT_FALSE(capability_refusal(o, "rich", kRich));
    o.drops_only = true;
    EXPECT_EQ(capability_refusal(o, "plain", kPlain),
              "--drops-only needs table verdicts, which the plain backend does not report");
    Options p;
    p.pid = 7;
    EXPECT_NE(capability_refusal(p, "plain", kPlain)->find("-p/--pid cannot be honoured by the plain backend"),
              std::string::npos);
    Options k;
    k.kmod_path = "/x.ko";
    EXPECT_NE(capability_refusal(k, "plain", kPlain)->find("--kmod has no effect with the plain backend"),
              std::string::npos);
    EXPECT_FALSE(capability_refusal(k, "rich", kRich));
}

TEST(Backend, AutoTakesTheFirstThatRunsAndSaysWhy) {
    Options o;
    auto both = registry(std::nullopt, std::nullopt);
    auto c = std::get<BackendChoice>(choose_backend(both, o));
    EXPECT_EQ(c.provider->name(), "rich");
    EXPECT_EQ(c.notice, "") << "nothing to explain when the first one runs";

    auto fallback = registry("kprobes: none here", std::nullopt);
    c = std::get<BackendChoice>(choose_backend(fallback, o));
    EXPECT_EQ(c.provider->name(), "plain");
    EXPECT_EQ(c.notice, "using the plain backend: the rich backend cannot run here (kprobes: none here)");
}

TEST(Backend, AutoPassesOverWhatLacksACapability) {
    Options o;
    o.fate = true;
    std::vector<std::unique_ptr<BackendProvider>> p;
    p.push_back(std::make_unique<FakeProvider>("plain", kPlain, std::nullopt));
    p.push_back(std::make_unique<FakeProvider>("rich", kRich, std::nullopt));
    BackendRegistry r(std::move(p));
    auto c = std::get<BackendChoice>(choose_backend(r, o));
    EXPECT_EQ(c.provider->name(), "rich");
    EXPECT_EQ(c.notice, "using the rich backend: --fate needs table verdicts, which the plain backend does not report");
}

TEST(Backend, NoneCanRun) {
    Options o;
    auto none = registry("no kprobes", "no nfnetlink_log");
    auto e = std::get<ChoiceError>(choose_backend(none, o));
    EXPECT_EQ(e.error.what, "no backend can run here: rich: no kprobes; plain: no nfnetlink_log");
    EXPECT_FALSE(e.bad_input) << "the machine, not the flags";

    o.fate = true;
    auto flags = registry("no kprobes", std::nullopt);
    e = std::get<ChoiceError>(choose_backend(flags, o));
    EXPECT_EQ(e.error.what, "no backend can run here: rich: no kprobes; plain: --fate needs table verdicts, which "
                            "the plain backend does not report");
    EXPECT_TRUE(e.bad_input) << "plain could run: the flags exclude it";
}

TEST(Backend, ANamedBackendIsNotProbed) {
    Options o;
    o.backend = "plain";
    auto r = registry("x", "y");
    auto c = std::get<BackendChoice>(choose_backend(r, o));
    EXPECT_EQ(c.provider->name(), "plain");
    EXPECT_EQ(static_cast<const FakeProvider*>(c.provider)->probes_, 0);
    o.fate = true;
    EXPECT_TRUE(std::get<ChoiceError>(choose_backend(r, o)).bad_input);
}

TEST(Backend, TheRegistryListsModuleThenBpfThenNetlink) {
    auto r = default_backend_registry();
    ASSERT_EQ(r.providers().size(), 3u);
    EXPECT_EQ(r.providers()[0]->name(), "module");
    EXPECT_EQ(r.providers()[1]->name(), "bpf");
    EXPECT_EQ(r.providers()[2]->name(), "netlink");
    EXPECT_EQ(r.choices(), "auto, module, bpf or netlink");
    const auto module = r.find("module")->capabilities();
    const auto bpf = r.find("bpf")->capabilities();
    const auto netlink = r.find("netlink")->capabilities();
    for (Capability c : {Capability::TableVerdicts, Capability::PidFilter, Capability::SkbIdentity,
                         Capability::Cpu, Capability::PerCpuLoss})
        EXPECT_TRUE(module.has(c) && bpf.has(c) && !netlink.has(c)) << capability_name(c);
    // Only the module backend inserts a module (--kmod).
    EXPECT_TRUE(module.has(Capability::KernelModule));
    EXPECT_FALSE(bpf.has(Capability::KernelModule) || netlink.has(Capability::KernelModule));
    for (const auto& caps : {module, bpf, netlink})
        EXPECT_TRUE(caps.has(Capability::LegacyRuleEvents));
    // nf_tables rule events: nf_tables' own trace, which every backend hears.
    for (const auto& caps : {module, bpf, netlink})
        EXPECT_TRUE(caps.has(Capability::NftRuleEvents));
    EXPECT_TRUE(bpf.has(Capability::NftChainVerdicts) && module.has(Capability::NftChainVerdicts));
}
