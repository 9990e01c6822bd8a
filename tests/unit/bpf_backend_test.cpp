// The bpf backend's pure parts: what it needs of the kernel
// (evaluate_bpf_preflight) and the order it hands two event sources on in
// (EventMerge).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "iptables_trace/event_merge.hpp"
#include "iptables_trace/preflight.hpp"
#include "kprobe_attach.hpp"

namespace itr {
namespace {

KernelFacts bpf_facts()
{
    KernelFacts f;
    f.release = "6.12.57+deb13-amd64";
    f.machine = bpf_object_machine();
    f.is_root = true;
    f.vmlinux_btf = true;
    f.kprobes = Tri::Yes;
    f.lockdown = "integrity";
    f.sig_enforce = true;
    f.xt_trace = Tri::Yes;
    f.ipt_do_table = f.ip6t_do_table = f.nft_do_chain = f.nf_log_trace = true;
    return f;  // no module image, no module loading: none of it is needed
}

std::string fatal(const KernelFacts& f)
{
    auto c = first_fatal(evaluate_bpf_preflight(f));
    return c ? c->name + ": " + c->detail : "";
}

TEST(BpfPreflight, SecureBootMachineWithoutModuleImageCanRun)
{
    EXPECT_EQ(fatal(bpf_facts()), "");
    // The module backend refuses the same machine: for its signed-modules
    // policy on x86-64, and before that for the architecture elsewhere.
    auto m = first_fatal(evaluate_module_preflight(bpf_facts()));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->name, std::string(bpf_object_machine()) == "x86_64" ? "modules" : "arch");
}

TEST(BpfPreflight, EachMissingPieceIsNamed)
{
    auto f = bpf_facts();
    f.is_root = false;
    EXPECT_EQ(fatal(f).rfind("root:", 0), 0u) << fatal(f);
    f = bpf_facts();
    f.vmlinux_btf = false;
    EXPECT_EQ(fatal(f).rfind("btf:", 0), 0u);
    f = bpf_facts();
    f.kprobes = Tri::No;
    EXPECT_EQ(fatal(f).rfind("kprobes:", 0), 0u);
    f = bpf_facts();
    f.machine = std::string(bpf_object_machine()) == "x86_64" ? "aarch64" : "x86_64";
    EXPECT_EQ(fatal(f).rfind("arch:", 0), 0u);
    EXPECT_NE(fatal(f).find(std::string("built for ") + bpf_object_machine()), std::string::npos) << fatal(f);
    f.machine = "riscv64";
    EXPECT_EQ(fatal(f).rfind("arch:", 0), 0u);
    f = bpf_facts();
    f.lockdown = "confidentiality";
    EXPECT_NE(fatal(f).find("refuses BPF reads of kernel memory"), std::string::npos) << fatal(f);
}

// The BPF object is compiled for the target's register conventions
// (bpf/CMakeLists.txt ITR_BPF_ARCH from CMAKE_SYSTEM_PROCESSOR): the machine
// the preflight accepts is the one this test binary was compiled for.
TEST(BpfPreflight, ObjectIsBuiltForTheTargetMachine)
{
#if defined(__x86_64__)
    EXPECT_STREQ(bpf_object_machine(), "x86_64");
#elif defined(__aarch64__)
    EXPECT_STREQ(bpf_object_machine(), "aarch64");
#else
    GTEST_SKIP() << "no BPF register conventions for this test binary's architecture";
#endif
}

TEST(BpfPreflight, HintNamesTheWayOut)
{
    auto f = bpf_facts();
    f.machine = std::string(bpf_object_machine()) == "x86_64" ? "aarch64" : "x86_64";
    auto c = first_fatal(evaluate_bpf_preflight(f));
    ASSERT_TRUE(c);
    EXPECT_NE(c->hint.find("built for " + f.machine), std::string::npos) << c->hint;
    f.machine = "riscv64";
    c = first_fatal(evaluate_bpf_preflight(f));
    ASSERT_TRUE(c);
    EXPECT_NE(c->hint.find("--backend netlink"), std::string::npos) << c->hint;
}

TEST(BpfPreflight, NoLegacyTablesIsNotFatal)
{
    auto f = bpf_facts();
    f.ipt_do_table = f.ip6t_do_table = f.nf_log_trace = false;
    f.xtables_legacy = Tri::No;
    EXPECT_EQ(fatal(f), "");
    bool said = false;
    for (const auto& c : evaluate_bpf_preflight(f))
        if (c.name == "ipt_do_table") {
            EXPECT_FALSE(c.ok);
            said = c.detail.find("nf_tables lines only") != std::string::npos;
        }
    EXPECT_TRUE(said);
}

TraceEvent at(uint64_t ns, EventKind k, const char* chain)
{
    TraceEvent e;
    e.mono_ns = ns;
    e.kind = k;
    e.chain = chain;
    return e;
}

struct Out {
    std::vector<std::string> seen;
    EventMerge::Emit fn() { return [this](TraceEvent& e) { seen.push_back(e.chain); }; }
};

TEST(EventMerge, PerfEventOlderThanTheDrainGoesAtOnce)
{
    EventMerge m;
    Out o;
    m.begin_drain(100);
    auto a = at(90, EventKind::Table, "a");
    m.offer(a, o.fn());
    EXPECT_EQ(o.seen, std::vector<std::string>{"a"});
    EXPECT_EQ(m.held(), 0u);
}

// A chain's return (perf) read in the same pass as, but younger than, the
// start of the netlink drain: its rule events may still be on their way, so
// it waits for the next drain and comes after them.
TEST(EventMerge, YoungerPerfEventWaitsForTheNextDrain)
{
    EventMerge m;
    Out o;
    m.begin_drain(100);
    auto ret = at(150, EventKind::Nft, "chain-return");
    m.offer(ret, o.fn());
    EXPECT_TRUE(o.seen.empty());
    EXPECT_EQ(m.held(), 1u);
    // Next pass: the netlink drain brings the rule events first.
    m.begin_drain(200);
    auto rule = at(0, EventKind::NftRule, "rule");
    o.fn()(rule);
    m.release(o.fn());
    EXPECT_EQ(o.seen, (std::vector<std::string>{"rule", "chain-return"}));
    EXPECT_EQ(m.held(), 0u);
}

// Behind a held event, an older one does not overtake it: a perf buffer's
// events keep their order.
TEST(EventMerge, NothingOvertakesAHeldEvent)
{
    EventMerge m;
    Out o;
    m.begin_drain(100);
    auto x = at(120, EventKind::Table, "x");
    auto y = at(95, EventKind::Table, "y");
    m.offer(x, o.fn());
    m.offer(y, o.fn());
    EXPECT_TRUE(o.seen.empty());
    m.begin_drain(130);
    m.release(o.fn());
    EXPECT_EQ(o.seen, (std::vector<std::string>{"x", "y"}));
}

TEST(EventMerge, FlushHandsOverEverythingAtExit)
{
    EventMerge m;
    Out o;
    m.begin_drain(10);
    auto a = at(20, EventKind::Table, "a");
    auto b = at(30, EventKind::Nft, "b");
    m.offer(a, o.fn());
    m.offer(b, o.fn());
    m.release(o.fn());
    EXPECT_TRUE(o.seen.empty());
    m.flush(o.fn());
    EXPECT_EQ(o.seen, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(m.held(), 0u);
}

}  // namespace
}  // namespace itr

// The bpf backend's kretprobe events in tracefs outlive a kill -9: the next
// start finds its own by name and removes those whose owner is gone.
TEST(KprobeEvents, OursAreFoundByNameAndOwner)
{
    auto p = itr::parse_our_kprobe_event("r64:itr/itr_1234_ipt_do_table ipt_do_table");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->pid, 1234);
    EXPECT_EQ(p->event, "itr/itr_1234_ipt_do_table");
    EXPECT_TRUE(itr::parse_our_kprobe_event("r4096:itr/itr_77_ip6t_do_table ip6t_do_table"));
    // Someone else's, or not a name we make.
    EXPECT_FALSE(itr::parse_our_kprobe_event("r64:kprobes/myprobe ipt_do_table"));
    EXPECT_FALSE(itr::parse_our_kprobe_event("r64:itr/other_1234_ipt_do_table ipt_do_table"));
    EXPECT_FALSE(itr::parse_our_kprobe_event("r64:itr/itr_x_ipt_do_table ipt_do_table"));
    EXPECT_FALSE(itr::parse_our_kprobe_event("r64:itr/itr_1234 ipt_do_table"));
    EXPECT_FALSE(itr::parse_our_kprobe_event(""));
}
