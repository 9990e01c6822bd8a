// The bpf backend: what the module backend reports, with no module.
//
// Marking: the netlink backend's nftables table sets nf_trace on the
// filtered packets only, in front of every hook of -N's netns, else of
// every netns that exists at start. Untraced packets pay no marking,
// unlike the original's.
// Table calls: fentry + fexit on ipt_do_table / ip6t_do_table where the
// kernel has BTF for them and takes the trampolines (6.x), else kprobe +
// kretprobe (5.10 has no module BTF for ip_tables); same BPF object as the
// module backend, ITR_MODE_KPROBES. The choice: table_probes.hpp.
// Legacy rules: a kprobe on nf_log_trace, reporting only the packet of a
// traced table call. What keeps TRACE out of the kernel log is the logger
// binding: nf_log/2 and nf_log/10 of that netns point at nfnetlink_log
// while we run, and we hold its group 0, so the records go nowhere else.
// nf_tables: nft_do_chain's entry and return, with the table calls' mechanism
// (verdict and cost per base chain), and
// nf_tables' own trace events (each rule), merged into one order.
#include "iptables_trace/bpf_backend.hpp"

#include <bpf/bpf.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "event_stream.hpp"
#include "merged_stream.hpp"
#include "iptables_trace/filter.hpp"
#include "iptables_trace/netlink_backend.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/preflight.hpp"
#include "iptables_trace/resources.hpp"
#include "kernel_btf.hpp"
#include "kprobe_attach.hpp"
#include "loader.hpp"
#include "module_image.hpp"
#include "table_probes.hpp"
// The skeleton names struct itr_config: the ABI header comes first.
#include "iptables_trace/event.h"
#include "iptables_trace.skel.h"

namespace itr {
namespace {

using Skel = SkelPtr<struct iptables_trace_bpf>;

class BpfBackend final : public TraceBackend {
public:
    explicit BpfBackend(Diagnostics& diag) : log_(&diag) {}

    std::string name() const override { return "bpf"; }

    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost) override
    {
        return merged_->poll(timeout_ms, on_event, on_lost, nft_rules_);
    }

    Status drain(const EventFn& on_event, const LostFn& on_lost) override
    {
        return merged_->drain(on_event, on_lost, nft_rules_);
    }

    uint64_t take_unreported_lost() override { return stream_->account_refused(stat(ITR_STAT_OUTPUT_ERR)); }

    // The perf totals lead, "events N, lost N;" as every BPF backend says
    // them; the nf_tables listeners' own come last, in brackets.
    std::string summary() const override
    {
        return stream_->totals() + bpf_stats_text(bpf_map__fd(skel_->maps.stats)) + trampoline_misses() +
               netlink::listeners_summary(nl_);
    }

    // A trampoline program the kernel skipped because it was already
    // running on that CPU (a softirq inside it): a table or chain call not
    // followed. Said, never silently missing.
    std::string trampoline_misses() const
    {
        uint64_t n = 0;
        bool any = false;
        auto* p = &skel_->progs;
        for (auto* prog : {p->fentry_ipt_do_table, p->fexit_ipt_do_table, p->fentry_ip6t_do_table,
                           p->fexit_ip6t_do_table, p->fentry_nft_do_chain, p->fexit_nft_do_chain}) {
            const int fd = bpf_program__fd(prog);
            if (fd < 0)
                continue;
            bpf_prog_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
                n += info.recursion_misses;
                any = true;
            }
        }
        return any ? " trampoline_recursion_misses=" + std::to_string(n) : "";
    }

    uint64_t stat(uint32_t key) const { return percpu_sum(bpf_map__fd(skel_->maps.stats), key); }

    // Acquisition order; destruction runs in reverse: the perf buffer and
    // the probes go first, then the programs, then the marking table, the
    // logger binding and group 0 (marked packets never reach the kernel
    // log), the table modules we loaded, and last libbpf's log hook.
    LibbpfLog log_;
    std::optional<ModprobedModule> ip_tables_, ip6_tables_;
    std::vector<netlink::Embedded> nl_;  // one per marked netns
    Skel skel_;
    std::vector<ProbeLink> links_;
    std::unique_ptr<PerfEventStream> stream_;
    std::optional<MergedStream> merged_;
    bool nft_rules_ = true;  // false with -p: nf_tables names no task

};

Result<Skel> load_programs(const Options& opts, const Layouts& l, std::optional<uint32_t> netns,
                           const KernelFacts& f, TableProbes how, Diagnostics& diag)
{
    const bool kp = how == TableProbes::Kprobes, fe = how == TableProbes::Fentry;
    auto cfg = make_bpf_config(opts, l.ipt, l.ip6t, netns);
    if (!cfg)
        return cfg.error();
    cfg->mode = ITR_MODE_KPROBES;
    // Our table marks every filtered packet before any call we follow, once
    // it may mark socketless OUTPUT packets too (6.0+, see the netlink
    // backend): an unmarked call then costs the programs one read.
    cfg->marked_only = netlink::trace_id_safe_without_socket() ? 1 : 0;
    // A table function no filtered packet can reach (-H of the other
    // family) is not followed at all: its programs would return at once,
    // and each trampoline or probe costs start-up and teardown.
    const bool v4 = l.ipt.valid != 0 && !(cfg->has_addr && cfg->addr_version == 6);
    const bool v6 = l.ip6t.valid != 0 && !(cfg->has_addr && cfg->addr_version == 4);
    auto configure = [&](struct iptables_trace_bpf& skel) {
        skel.rodata->itr_cfg = *cfg;
        auto* p = &skel.progs;
        for (auto* m : {p->kprobe_ipt_do_table, p->kretprobe_ipt_do_table, p->kprobe_ip6t_do_table,
                        p->kretprobe_ip6t_do_table})
            bpf_program__set_autoload(m, false);  // the module's
        bpf_program__set_autoload(p->kprobe_ipt_do_table_all, kp && v4);
        bpf_program__set_autoload(p->kretprobe_ipt_do_table_all, kp && v4);
        bpf_program__set_autoload(p->kprobe_ip6t_do_table_all, kp && v6);
        bpf_program__set_autoload(p->kretprobe_ip6t_do_table_all, kp && v6);
        bpf_program__set_autoload(p->fentry_ipt_do_table, fe && v4);
        bpf_program__set_autoload(p->fexit_ipt_do_table, fe && v4);
        bpf_program__set_autoload(p->fentry_ip6t_do_table, fe && v6);
        bpf_program__set_autoload(p->fexit_ip6t_do_table, fe && v6);
        bpf_program__set_autoload(p->kprobe_nf_log_trace, l.ipt.valid != 0 && f.nf_log_trace);
        bpf_program__set_autoload(p->kprobe_nft_do_chain, kp && f.nft_do_chain);
        bpf_program__set_autoload(p->kretprobe_nft_do_chain, kp && f.nft_do_chain);
        bpf_program__set_autoload(p->fentry_nft_do_chain, fe && f.nft_do_chain);
        bpf_program__set_autoload(p->fexit_nft_do_chain, fe && f.nft_do_chain);
    };
    return load_skeleton<struct iptables_trace_bpf>(configure, diag, opts.verbose);
}

// Argument layouts from BTF (or the release on 5.10); no table function,
// no layout: the table programs are then not loaded.
Layouts table_layouts(const KernelFacts& f, Diagnostics& diag)
{
    Layouts l;
    if (!f.ipt_do_table)
        return l;
    auto from_btf = layouts_from_btf(f);
    if (!from_btf) {
        diag.notice("warning: legacy tables not traced: " + from_btf.error().what);
        return l;
    }
    return *from_btf;
}

// Where BTF has the table and chain functions (module BTF exists once the
// module is loaded, from 5.11), and what ITR_TABLE_PROBES asks for.
Result<TableProbeChoice> table_probe_choice(const Layouts& l, bool nft_do_chain)
{
    TableProbeFacts t;
    t.ipt = l.ipt.valid != 0;
    t.ip6t = l.ip6t.valid != 0;
    t.nft = nft_do_chain;
    if (t.nft)
        if (auto fn = KernelBtf::shared().find_func("nft_do_chain", "nf_tables"))
            t.nft_btf = fn->where;
    if (t.ipt)
        if (auto fn = KernelBtf::shared().find_func("ipt_do_table", "ip_tables"))
            t.ipt_btf = fn->where;
    if (t.ip6t)
        if (auto fn = KernelBtf::shared().find_func("ip6t_do_table", "ip6_tables"))
            t.ip6t_btf = fn->where;
    if (const char* e = std::getenv("ITR_TABLE_PROBES"))
        t.forced = e;
    return choose_table_probes(t);
}

// The programs loaded as chosen; fentry programs the verifier refuses
// (a kernel before 5.17 lacks bpf_get_func_arg) fall back to kprobes.
Result<Skel> load_chosen(const Options& opts, const Layouts& l, std::optional<uint32_t> netns, const KernelFacts& f,
                         TableProbeChoice& choice, Diagnostics& diag)
{
    auto skel = load_programs(opts, l, netns, f, choice.how, diag);
    if (skel || choice.how != TableProbes::Fentry || choice.forced)
        return skel;
    choice = kprobes_after(choice, "the fentry programs did not load: " + skel.error().what);
    return load_programs(opts, l, netns, f, choice.how, diag);
}

// fentry/fexit links of the loaded table programs.
Result<std::vector<ProbeLink>> attach_trampolines(struct iptables_trace_bpf& skel)
{
    std::vector<ProbeLink> links;
    auto* p = &skel.progs;
    for (auto* prog : {p->fentry_ipt_do_table, p->fexit_ipt_do_table, p->fentry_ip6t_do_table,
                       p->fexit_ip6t_do_table, p->fentry_nft_do_chain, p->fexit_nft_do_chain}) {
        if (!bpf_program__autoload(prog))
            continue;
        struct bpf_link* link = bpf_program__attach_trace(prog);
        if (!link)
            return Error{std::string("attaching ") + bpf_program__name(prog) + ": " + errno_text(errno), ""};
        links.emplace_back(LinkPtr(link));
    }
    return links;
}

Result<std::unique_ptr<TraceBackend>> start_bpf_backend(const Options& opts, Diagnostics& diag)
{
    StepClock clock(diag, opts.verbose, "  ");
    auto be = std::make_unique<BpfBackend>(diag);
    // The table functions (and their probes) exist only once these are in.
    if (auto m = ModprobedModule::ensure("ip_tables"))
        be->ip_tables_.emplace(std::move(*m));
    if (auto m = ModprobedModule::ensure("ip6_tables"))
        be->ip6_tables_.emplace(std::move(*m));
    clock.mark("modprobe ip_tables, ip6_tables");

    KernelFacts f = gather_kernel_facts();
    clock.mark("kernel facts (" + f.symbol_sources + ")");
    if (auto bad = first_fatal(evaluate_bpf_preflight(f)))
        return Error{bad->name + ": " + bad->detail, bad->hint};
    const Layouts layouts = table_layouts(f, diag);
    clock.mark("signatures");

    auto marks = netlink::start_marking(opts, diag, true);
    if (!marks)
        return marks.error();
    be->nl_ = std::move(*marks);
    const uint64_t own_netns = be->nl_.front().netns;
    clock.mark("nftables marking, logger binding, nf_tables trace listener (" + std::to_string(be->nl_.size()) +
               " netns)");
    // The marking table loads nf_tables if nothing had: nft_do_chain (and
    // its module BTF) exist from here on.
    if (!f.nft_do_chain)
        f = gather_kernel_facts();
    auto choice = table_probe_choice(layouts, f.nft_do_chain);
    if (!choice)
        return choice.error();

    std::optional<uint32_t> only;
    if (opts.netns)
        only = uint32_t(own_netns);
    auto skel = load_chosen(opts, layouts, only, f, *choice, diag);
    if (!skel)
        return skel.error();
    be->skel_ = std::move(*skel);
    clock.mark("BPF load and verification");

    if (choice->how == TableProbes::Fentry) {
        auto tramp = attach_trampolines(*be->skel_);
        if (!tramp && choice->forced)
            return tramp.error();
        if (tramp) {
            for (auto& l : *tramp)
                be->links_.push_back(std::move(l));
        } else {
            // Refused here (no ftrace direct calls, ...): the kprobes' programs
            // instead, in a fresh load.
            *choice = kprobes_after(*choice, "fentry refused: " + tramp.error().what);
            be->skel_.reset();
            auto again = load_programs(opts, layouts, only, f, choice->how, diag);
            if (!again)
                return again.error();
            be->skel_ = std::move(*again);
        }
        clock.mark("fentry/fexit attached");
    }
    KernelBtf::release_shared();
    if (opts.verbose) {
        diag.notice("bpf: " + describe(*choice));
        if (opts.addr && layouts.ipt.valid && layouts.ip6t.valid)
            diag.notice(std::string("bpf: ") + (opts.addr->version == 4 ? "ip6t_do_table" : "ipt_do_table") +
                        " not followed: -H takes IPv" + std::to_string(opts.addr->version) + " packets only");
    }

    auto* p = &be->skel_->progs;
    const std::pair<struct bpf_program*, const char*> named[] = {
        {p->kprobe_ipt_do_table_all, "ipt_do_table"},   {p->kretprobe_ipt_do_table_all, "ipt_do_table"},
        {p->kprobe_ip6t_do_table_all, "ip6t_do_table"}, {p->kretprobe_ip6t_do_table_all, "ip6t_do_table"},
        {p->kprobe_nf_log_trace, "nf_log_trace"},
    };
    for (auto [prog, func] : named) {
        if (!bpf_program__autoload(prog))
            continue;
        auto link = attach_kprobe_to(prog, func);
        if (!link)
            return link.error();
        be->links_.push_back(std::move(*link));
    }
    if (f.nft_do_chain && bpf_program__autoload(p->kprobe_nft_do_chain)) {
        struct bpf_program* nft[] = {p->kprobe_nft_do_chain, p->kretprobe_nft_do_chain};
        auto probes = attach_kprobes(nft, 0);
        if (!probes)
            return probes.error();
        for (auto& l : probes->links)
            be->links_.emplace_back(std::move(l));
    }
    clock.mark("kprobes attached");

    auto stream = PerfEventStream::open(bpf_map__fd(be->skel_->maps.events), opts.perf_pages);
    if (!stream)
        return stream.error();
    be->stream_ = std::move(*stream);
    std::vector<SideSource> sides;
    for (auto& n : be->nl_)
        sides.push_back({n.backend.get(), n.fd});
    be->merged_.emplace(*be->stream_, std::move(sides));
    if (opts.pid) {
        be->nft_rules_ = false;
        diag.notice("note: with -p, nf_tables rule lines are not shown: nf_tables reports them without the task "
                    "(nft= and iptables= lines are filtered by -p)");
    }
    clock.mark("perf buffer");
    return std::unique_ptr<TraceBackend>(std::move(be));
}

class BpfProvider final : public BackendProvider {
public:
    std::string_view name() const override { return "bpf"; }

    Capabilities capabilities() const override
    {
        return {Capability::TableVerdicts, Capability::LegacyRuleEvents, Capability::NftRuleEvents,
                Capability::NftChainVerdicts, Capability::PidFilter, Capability::SkbIdentity,
                Capability::Cpu, Capability::PerCpuLoss};
    }

    std::optional<std::string> probe(const Options& opts) const override
    {
        KernelFacts f = gather_kernel_facts();
        if (auto bad = first_fatal(evaluate_bpf_preflight(f)))
            return bad->name + ": " + bad->detail;
        if (auto bad = first_fatal(netlink::marking_requirements(opts)))
            return bad->name + ": " + bad->detail;
        return std::nullopt;
    }

    Result<std::unique_ptr<TraceBackend>> start(const Options& opts, Diagnostics& diag) const override
    {
        return start_bpf_backend(opts, diag);
    }

    // After kill -9: its kretprobe events in tracefs (they outlive the
    // process); the marking tables, logger bindings and state files are
    // the netlink backend's, found and removed by that provider.
    Result<std::vector<std::string>> cleanup_leftovers() const override { return remove_stale_kprobe_events(); }

    int check(const Options& opts, std::ostream& out, Diagnostics& diag) const override
    {
        const KernelFacts f = gather_kernel_facts();
        out << "bpf backend (no module: kprobes on the table functions, nf_log_trace and nft_do_chain; nftables "
               "marking and nf_tables trace events)\n";
        out << "kernel " << f.release << " " << f.machine << " (functions looked up in " << f.symbol_sources
            << ")\n";
        auto checks = evaluate_bpf_preflight(f);
        for (auto& c : netlink::marking_requirements(opts))
            if (c.name != "root")  // said once already
                checks.push_back(std::move(c));
        write_checks(out, checks);
        // The verifier's answer is worth having even where something else
        // is missing (a kernel without kprobes still verifies).
        const bool fatal = first_fatal(checks).has_value();
        if (!f.vmlinux_btf || !f.is_root)
            return 1;
        LibbpfLog log(&diag);
        const Layouts l = table_layouts(f, diag);
        auto choice = table_probe_choice(l, f.nft_do_chain);
        if (!choice) {
            out << "table calls: FAIL: " << choice.error().what << "\n";
            return 1;
        }
        std::optional<uint32_t> netns;
        if (opts.netns)
            if (auto ns = open_netns(*opts.netns))
                netns = ns->inode;
        auto skel = load_chosen(opts, l, netns, f, *choice, diag);
        KernelBtf::release_shared();
        out << "bpf: " << describe(*choice) << "\n";
        if (!skel) {
            out << "verifier: FAIL: " << skel.error().what << "\n";
            return 1;
        }
        out << "verifier (programs loaded, nothing attached; "
            << (choice->how == TableProbes::Fentry
                    ? "fentry/fexit attached at start, kprobes if the kernel refuses them there"
                    : "attached as kprobes at start")
            << ")\n";
        report_programs((*skel)->obj, out, "not used by this backend or on this kernel");
        return fatal ? 1 : 0;
    }

    void release_probe_state() const override { KernelBtf::release_shared(); }
};

}  // namespace

std::unique_ptr<BackendProvider> make_bpf_provider() { return std::make_unique<BpfProvider>(); }

}  // namespace itr
