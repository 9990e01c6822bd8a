// The module backend: BPF programs (CO-RE, from the skeleton) pinned in
// bpffs, run by our kernel module from its kprobes on ipt_do_table /
// ip6t_do_table / nf_log_trace; nft_do_chain followed by fentry/fexit where
// nf_tables has BTF, else perf kprobes (at the address the module reports,
// else by name); nf_tables rules from
// nf_tables' own trace events, the packets marked for them by the netlink
// backend's nftables table (no logger binding: the module silences). This file puts the steps
// together; each step has its own file (module_image, module_bpf,
// kprobe_attach, module_check).
#include "iptables_trace/module_backend.hpp"

#include <fcntl.h>
#include <sys/utsname.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "event_stream.hpp"
#include "merged_stream.hpp"
#include "iptables_trace/netlink_backend.hpp"
#include "iptables_trace/counter_names.hpp"
#include "iptables_trace/kmod_image.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/preflight.hpp"
#include "iptables_trace/stop.hpp"
#include "kernel_btf.hpp"
#include "kprobe_attach.hpp"
#include "module_bpf.hpp"
#include "module_check.hpp"
#include "module_image.hpp"

namespace itr {
namespace {

// Test hook for the "error half-way through set-up" lifecycle scenario:
// ITR_TEST_FAIL_AT=<stage> makes set-up fail right after that stage.
// Each is also a point where a stop request ends set-up (setup_step).
Status maybe_fail(const char* stage)
{
    if (auto st = setup_step(stage); !st)
        return st;
    const char* at = std::getenv("ITR_TEST_FAIL_AT");
    if (at && std::strcmp(at, stage) == 0)
        return Error{std::string("set-up failed after ") + stage + " (ITR_TEST_FAIL_AT)", ""};
    return ok_status();
}

class ModuleBackend final : public TraceBackend {
public:
    explicit ModuleBackend(Diagnostics& diag) : log_(&diag) {}

    std::string name() const override { return "module"; }

    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost) override
    {
        return merged_->poll(timeout_ms, on_event, on_lost, nft_rules_);
    }

    Status drain(const EventFn& on_event, const LostFn& on_lost) override
    {
        return merged_->drain(on_event, on_lost, nft_rules_);
    }

    // Every failed bpf_perf_event_output() is counted by our programs
    // (output_err); the perf buffer reports the same losses only when a
    // later sample gets in.
    uint64_t take_unreported_lost() override { return stream_->account_refused(stat(ITR_STAT_OUTPUT_ERR)); }

    std::string summary() const override
    {
        std::ostringstream s;
        s << stream_->totals() << "; module:";
        for (const char* p : kModuleCounterNames)
            s << ' ' << p << '=' << read_module_param(ITR_MODULE_NAME, p);
        s << bpf_stats_text(bpf_map__fd(skel_->maps.stats)) << netlink::listeners_summary(nl_);
        return s.str();
    }

    uint64_t stat(uint32_t key) const { return percpu_sum(bpf_map__fd(skel_->maps.stats), key); }

    // Acquisition order; destruction runs in reverse: the perf buffer and
    // links go first, then the nftables marking (while the module still
    // silences what it marked), then the module (it runs the pinned
    // programs), the pins, the skeleton, the table modules we modprobed,
    // and last libbpf's log hook.
    LibbpfLog log_;
    std::optional<ModprobedModule> ip_tables_, ip6_tables_, xt_trace_;
    ModuleSkel skel_;
    std::optional<BpffsMount> bpffs_;
    std::optional<PinDir> pins_;
    std::optional<LoadedModule> kmod_;
    Fd owner_;  // the module marks packets only while this is open
    std::vector<netlink::Embedded> nl_;  // nftables marking and listeners, one per netns
    std::vector<LinkPtr> links_;
    std::unique_ptr<PerfEventStream> stream_;
    std::optional<MergedStream> merged_;
    bool nft_rules_ = true;  // false with -p: nf_tables names no task
};

Result<std::unique_ptr<TraceBackend>> start_module_backend(const Options& opts, Diagnostics& diag)
{
    StepClock clock(diag, opts.verbose, "  ");
    // Before anything is modprobed: on another architecture there is no
    // module to insert, whatever --kmod says.
    if (struct utsname u{}; uname(&u) == 0)
        if (auto arch = module_arch_check(u.machine); !arch.ok)
            return Error{arch.name + ": " + arch.detail, arch.hint};
    auto be = std::make_unique<ModuleBackend>(diag);
    auto img = module_image(opts);
    if (!img)
        return img.error();

    // The table functions and their BTF exist only once the modules are in.
    if (auto m = ModprobedModule::ensure("ip_tables"))
        be->ip_tables_.emplace(std::move(*m));
    if (auto m = ModprobedModule::ensure("ip6_tables"))
        be->ip6_tables_.emplace(std::move(*m));
    // With xt_TRACE present the module keeps an administrator's TRACE mark
    // that lands on a packet during our own table call.
    if (auto m = ModprobedModule::ensure("xt_TRACE"))
        be->xt_trace_.emplace(std::move(*m));
    clock.mark("modprobe ip_tables, ip6_tables, xt_TRACE");

    KernelFacts f = facts_with_image(*img);
    clock.mark("kernel facts (" + f.symbol_sources + ")");
    if (auto bad = first_fatal(evaluate_module_preflight(f)))
        return Error{bad->name + ": " + bad->detail, bad->hint};
    if (auto st = check_kmod_image(img->bytes, f.release); !st)
        return st.error();
    auto layouts = detect_layouts(*img, f);
    if (!layouts)
        return layouts.error();
    clock.mark("signatures (from " + layouts->ipt_source + ")");
    if (auto st = setup_step("signatures"); !st)  // before the slowest step
        return st.error();

    std::optional<uint32_t> netns;
    if (opts.netns) {
        auto ns = open_netns(*opts.netns);
        if (!ns)
            return ns.error();
        netns = ns->inode;
    }
    // nf_tables rules (nfttrace= lines) need the packets marked before the
    // first nf_tables chain: our nftables table does it, where nf_tables
    // answers and the filters fit its rules.
    std::string no_marking;
    if (!f.nft_do_chain)
        no_marking = "nf_tables is not loaded";
    else if (auto bad = first_fatal(netlink::marking_requirements(opts)))
        no_marking = bad->detail;
    const bool nft_marked = no_marking.empty();
    auto nft = choose_module_nft(f.nft_do_chain);
    if (!nft)
        return nft.error();
    const bool every = netlink::trace_id_safe_without_socket();
    auto skel = load_module_programs(opts, *layouts, netns, nft->how, nft_marked, every, diag);
    if (!skel && nft->how == NftCalls::Fentry) {
        *nft = {NftCalls::Kprobes, "kprobes: the fentry programs did not load: " + skel.error().what};
        skel = load_module_programs(opts, *layouts, netns, nft->how, nft_marked, every, diag);
    }
    if (!skel)
        return skel.error();
    be->skel_ = std::move(*skel);
    // Trampolines now, before the module is in: refused (no ftrace direct
    // calls, ...), the kprobes' programs take their place in a fresh load.
    // They run from here on, so the perf buffer is opened first: what they
    // report before the rest is up is read, not lost.
    if (nft->how == NftCalls::Fentry) {
        auto stream = PerfEventStream::open(bpf_map__fd(be->skel_->maps.events), opts.perf_pages);
        if (!stream)
            return stream.error();
        be->stream_ = std::move(*stream);
        for (auto* prog : {be->skel_->progs.fentry_nft_do_chain, be->skel_->progs.fexit_nft_do_chain}) {
            struct bpf_link* link = bpf_program__attach_trace(prog);
            if (!link) {
                *nft = {NftCalls::Kprobes, std::string("kprobes: fentry refused: attaching ") +
                                               bpf_program__name(prog) + ": " + errno_text(errno)};
                break;
            }
            be->links_.emplace_back(link);
        }
        if (nft->how != NftCalls::Fentry) {
            be->links_.clear();
            be->stream_.reset();
            be->skel_.reset();
            auto again = load_module_programs(opts, *layouts, netns, nft->how, nft_marked, every, diag);
            if (!again)
                return again.error();
            be->skel_ = std::move(*again);
        }
    }
    KernelBtf::release_shared();  // libbpf parsed its own copy; ours is done
    clock.mark("BPF load and verification");
    if (opts.verbose)
        diag.notice("module: nf_tables chain calls via " + nft->why);
    if (auto st = maybe_fail("load"); !st)
        return st.error();

    auto mnt = BpffsMount::create_private(kPrivateBpffs);
    if (!mnt)
        return mnt.error();
    be->bpffs_.emplace(std::move(*mnt));
    auto pins = PinDir::create(kPinDir);
    if (!pins)
        return Error{pins.error().what, "a stale instance? run iptables-trace --cleanup"};
    be->pins_.emplace(std::move(*pins));
    if (auto st = pin_module_programs(*be->skel_, *be->pins_, layouts->ip6t.valid); !st)
        return st.error();
    if (auto st = maybe_fail("pin"); !st)
        return st.error();
    clock.mark("pinning");

    auto mod = LoadedModule::insert(img->bytes, module_params(kPinDir, *layouts, nft_marked), ITR_MODULE_NAME);
    if (!mod)
        return mod.error();
    be->kmod_.emplace(std::move(*mod));
    // The module took its programs at insertion: nothing needs the pins or
    // the mount any longer, and a kill -9 from here on leaves neither.
    be->pins_.reset();
    be->bpffs_.reset();
    // Arms the module; our death, however it comes, closes it and marking
    // stops at once.
    be->owner_ = Fd(::open("/proc/" ITR_OWNER_PROC, O_RDONLY | O_CLOEXEC));
    if (!be->owner_)
        return Error{std::string("arming the module (/proc/") + ITR_OWNER_PROC + "): " + errno_text(errno), ""};
    clock.mark("module insertion (probes registered)");
    if (auto st = maybe_fail("module"); !st)
        return st.error();

    // After the module is armed: from the first mark on, it silences what
    // the legacy tables log for our packets.
    if (nft_marked) {
        auto marks = netlink::start_marking(opts, diag, false);
        if (marks)
            be->nl_ = std::move(*marks);
        else
            no_marking = marks.error().what;
        clock.mark("nftables marking and nf_tables trace listeners (" + std::to_string(be->nl_.size()) + " netns)");
    }
    if (!no_marking.empty())
        diag.notice("note: no nf_tables rule lines (nfttrace=): " + no_marking);

    bool nft_by_address = false;
    if (nft->how == NftCalls::Kprobes) {
        const std::string a = read_module_param(ITR_MODULE_NAME, ITR_NAME(ITR_PARAM_NFT_DO_CHAIN_ADDR));
        const uint64_t nft_addr = a.empty() ? 0 : std::strtoull(a.c_str(), nullptr, 10);
        struct bpf_program* progs[] = {be->skel_->progs.kprobe_nft_do_chain, be->skel_->progs.kretprobe_nft_do_chain};
        auto probes = attach_kprobes(progs, nft_addr);
        if (!probes)
            return probes.error();
        nft_by_address = probes->by_address;
        for (auto& l : probes->links)
            be->links_.push_back(std::move(l));
    }

    if (!be->stream_) {
        auto stream = PerfEventStream::open(bpf_map__fd(be->skel_->maps.events), opts.perf_pages);
        if (!stream)
            return stream.error();
        be->stream_ = std::move(*stream);
    }
    std::vector<SideSource> sides;
    for (auto& n : be->nl_)
        sides.push_back({n.backend.get(), n.fd});
    be->merged_.emplace(*be->stream_, std::move(sides));
    if (opts.pid && !be->nl_.empty()) {
        be->nft_rules_ = false;
        diag.notice("note: with -p, nf_tables rule lines are not shown: nf_tables reports them without the task");
    }
    clock.mark(nft->how == NftCalls::Fentry ? "perf buffer (nft_do_chain: fentry/fexit, attached at load)"
               : nft_by_address             ? "nft probes (by address) and perf buffer"
                                            : "nft probes and perf buffer");
    if (auto st = maybe_fail("attach"); !st)
        return st.error();
    return std::unique_ptr<TraceBackend>(std::move(be));
}

class ModuleProvider final : public BackendProvider {
public:
    std::string_view name() const override { return "module"; }

    Capabilities capabilities() const override
    {
        return {Capability::TableVerdicts, Capability::LegacyRuleEvents, Capability::NftRuleEvents,
                Capability::NftChainVerdicts, Capability::PidFilter, Capability::SkbIdentity,
                Capability::Cpu, Capability::PerCpuLoss, Capability::KernelModule};
    }

    std::optional<std::string> probe(const Options& opts) const override
    {
        LibbpfLog quiet(nullptr);
        auto img = module_image(opts);
        if (!img)
            return img.error().what;
        KernelFacts f = facts_with_image(*img);
        // ip_tables may simply not be loaded yet: set-up loads it.
        if (!f.ipt_do_table && f.xtables_legacy != Tri::No)
            f.ipt_do_table = true;
        if (!f.nf_log_trace && f.kprobes != Tri::Yes)
            f.nf_log_trace = true;  // reported as the kprobes problem instead
        if (auto bad = first_fatal(evaluate_module_preflight(f)))
            return bad->name + ": " + bad->detail;
        return std::nullopt;
    }

    Result<std::unique_ptr<TraceBackend>> start(const Options& opts, Diagnostics& diag) const override
    {
        return start_module_backend(opts, diag);
    }

    Result<std::vector<std::string>> cleanup_leftovers() const override
    {
        std::vector<std::string> removed;
        if (module_is_loaded(ITR_MODULE_NAME)) {
            // A live owner (another instance, maybe in another mount
            // namespace, where our lock file is not seen) holds it armed.
            if (read_module_param(ITR_MODULE_NAME, ITR_NAME(ITR_PARAM_ARMED)) == "1")
                return Error{"another iptables-trace (pid " +
                                 read_module_param(ITR_MODULE_NAME, ITR_NAME(ITR_PARAM_OWNER_PID)) +
                                 ") is tracing with the kernel module",
                             "only one instance can trace at a time; stop the other one first"};
            if (auto st = remove_module(ITR_MODULE_NAME); !st)
                return st.error();
            removed.push_back(std::string("kernel module ") + ITR_MODULE_NAME);
        }
        if (remove_private_bpffs(kPrivateBpffs))
            removed.push_back(std::string("the private bpffs at ") + kPrivateBpffs);
        static constexpr const char* kPins[] = {ITR_PIN_IPT_ENTRY, ITR_PIN_IPT_RETURN, ITR_PIN_IP6T_ENTRY,
                                                ITR_PIN_IP6T_RETURN, ITR_PIN_LOG_TRACE};
        std::string why;
        switch (remove_pin_dir(kLegacyPinDir, kPins, &why)) {
        case PinDirRemoval::Removed:
            removed.push_back(std::string("pinned programs in ") + kLegacyPinDir);
            break;
        case PinDirRemoval::Refused:
            removed.push_back(std::string(kNotRemoved) + why);
            break;
        case PinDirRemoval::Absent:
            break;
        }
        return removed;
    }

    int check(const Options& opts, std::ostream& out, Diagnostics& diag) const override
    {
        return module_check(opts, out, diag);
    }

    // The kernel BTF a probe may have parsed (several MB).
    void release_probe_state() const override { KernelBtf::release_shared(); }
};

}  // namespace

std::unique_ptr<BackendProvider> make_module_provider() { return std::make_unique<ModuleProvider>(); }

}  // namespace itr
