// The module backend: BPF programs (CO-RE, from the skeleton) pinned in
// bpffs, run by our kernel module from its kprobes on ipt_do_table /
// ip6t_do_table / nf_log_trace; nft_do_chain probed through perf kprobes (at the
// address the module reports, else by name).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>

#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <iostream>
#include <sstream>
#include <vector>

// The skeleton names struct itr_config: the ABI header comes first.
#include "iptables_trace/event.h"
#include "iptables_trace.skel.h"
#include "iptables_trace/backend.hpp"
#include "iptables_trace/decode.hpp"
#include "iptables_trace/filter.hpp"
#include "iptables_trace/kmod_image.hpp"
#include "iptables_trace/module_backend.hpp"
#include "iptables_trace/preflight.hpp"
#include "iptables_trace/signature.hpp"
#include "kernel_btf.hpp"
#include "perf_reader.hpp"
#include "iptables_trace/resources.hpp"

namespace itr {
namespace {

struct SkelDeleter {
    void operator()(struct iptables_trace_bpf* s) const { iptables_trace_bpf__destroy(s); }
};
using SkelPtr = std::unique_ptr<struct iptables_trace_bpf, SkelDeleter>;

struct LinkDeleter {
    void operator()(struct bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<struct bpf_link, LinkDeleter>;

// Test hook for the "error half-way through set-up" lifecycle scenario:
// ITR_TEST_FAIL_AT=<stage> makes set-up fail right after that stage.
Status maybe_fail(const char* stage)
{
    const char* at = std::getenv("ITR_TEST_FAIL_AT");
    if (at && std::strcmp(at, stage) == 0)
        return Error{std::string("set-up failed after ") + stage + " (ITR_TEST_FAIL_AT)", ""};
    return ok_status();
}

std::vector<std::byte> read_file(const std::string& path, int& err)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        err = errno ? errno : ENOENT;
        return {};
    }
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    err = 0;
    return out;
}

// The module image: --kmod PATH, else the one embedded at build time.
struct ModuleImage {
    std::vector<std::byte> owned;
    std::span<const std::byte> bytes;
    std::string origin;
};

Result<ModuleImage> module_image(const Options& opts)
{
    ModuleImage img;
    if (opts.kmod_path) {
        int err = 0;
        img.owned = read_file(*opts.kmod_path, err);
        if (err || img.owned.empty())
            return Error{"--kmod " + *opts.kmod_path + ": " + (err ? std::strerror(err) : "empty file"), ""};
        img.bytes = img.owned;
        img.origin = *opts.kmod_path;
    } else {
        img.bytes = embedded_kmod();
        img.origin = "embedded";
    }
    return img;
}

KernelFacts facts_with_image(const ModuleImage& img)
{
    KernelFacts f = gather_kernel_facts();
    f.have_module_image = !img.bytes.empty();
    if (f.have_module_image) {
        auto vm = kmod_vermagic_release(img.bytes);
        f.module_vermagic = vm ? *vm : "(unreadable .modinfo)";
    }
    return f;
}

void set_autoload_nft(struct iptables_trace_bpf* skel, bool on)
{
    bpf_program__set_autoload(skel->progs.kprobe_nft_do_chain, on);
    bpf_program__set_autoload(skel->progs.kretprobe_nft_do_chain, on);
}

struct Layouts {
    itr_arg_layout ipt{};
    itr_arg_layout ip6t{};
    std::string ipt_source, ip6t_source;
};

// From the module image's .modinfo when it carries both layouts (no BTF
// parse: the slowest part of start-up under an emulated CPU, and the
// headers the module was built against are this kernel's), else from BTF.
// The image must already be known to fit this kernel.
std::optional<Layouts> layouts_from_image(const ModuleImage& img, const KernelFacts& f)
{
    auto info = parse_modinfo(img.bytes);
    if (!info)
        return std::nullopt;
    Layouts l;
    const std::string src = "the module's .modinfo (this kernel's headers)";
    auto ipt = layout_from_modinfo(info->get("itr_ipt_args").value_or(""));
    if (!ipt)
        return std::nullopt;
    l.ipt = *ipt;
    l.ipt_source = src;
    if (f.ip6t_do_table) {
        auto ip6t = layout_from_modinfo(info->get("itr_ip6t_args").value_or(""));
        if (!ip6t)
            return std::nullopt;
        l.ip6t = *ip6t;
        l.ip6t_source = src;
    }
    return l;
}

Result<Layouts> layouts_from_btf(const KernelFacts& f)
{
    Layouts l;
    auto ipt = detect_signature("ipt_do_table", "ip_tables", f.release);
    if (!ipt)
        return ipt.error();
    l.ipt = ipt->layout;
    l.ipt_source = ipt->source;
    if (f.ip6t_do_table) {
        auto ip6t = detect_signature("ip6t_do_table", "ip6_tables", f.release);
        if (!ip6t)
            return ip6t.error();
        l.ip6t = ip6t->layout;
        l.ip6t_source = ip6t->source;
    }
    return l;
}

Result<Layouts> detect_layouts(const ModuleImage& img, const KernelFacts& f)
{
    if (auto l = layouts_from_image(img, f))
        return *l;
    return layouts_from_btf(f);
}

bool same_layout(const itr_arg_layout& a, const itr_arg_layout& b)
{
    return a.valid == b.valid && (!a.valid || (a.skb == b.skb && a.state == b.state && a.table == b.table));
}

// ITR_LIBBPF_DEBUG=1: every libbpf message, debug level included, with a
// monotonic time stamp in ms: where the BPF load time goes (BTF parsing,
// CO-RE relocation, each program's verification).
int timed_debug_print(enum libbpf_print_level, const char* fmt, va_list args)
{
    struct timespec t {};
    clock_gettime(CLOCK_MONOTONIC, &t);
    std::fprintf(stderr, "[%10.3f] ", double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6);
    return std::vfprintf(stderr, fmt, args);
}

// "processed 9717 insns (limit ...) ...\nverification time 51234 usec\n..."
// -> "9717 insns walked in 51.2 ms"
std::string verifier_stats_summary(const char* log)
{
    std::string out;
    if (const char* p = std::strstr(log, "processed "))
        out += std::to_string(std::strtoul(p + 10, nullptr, 10)) + " insns walked";
    if (const char* t = std::strstr(log, "verification time ")) {
        char ms[32];
        std::snprintf(ms, sizeof(ms), "%.1f", double(std::strtoul(t + 18, nullptr, 10)) / 1000.0);
        out += std::string(out.empty() ? "" : " ") + "in " + ms + " ms";
    }
    return out.empty() ? "no verifier statistics" : out;
}

// One open + load. `stats`: collect the verifier's own statistics
// (BPF_LOG_STATS) per program and print them (-v): what each costs.
Result<SkelPtr> open_and_load_once(const itr_config& cfg, bool nft, bool stats)
{
    SkelPtr skel(iptables_trace_bpf__open());
    if (!skel)
        return Error{"opening the BPF object: " + std::string(std::strerror(errno)), ""};
    skel->rodata->itr_cfg = cfg;
    set_autoload_nft(skel.get(), nft);
    std::vector<std::pair<struct bpf_program*, std::string>> stats_logs;
    if (stats) {
        struct bpf_program* prog;
        bpf_object__for_each_program(prog, skel->obj)
        {
            if (bpf_program__autoload(prog))
                stats_logs.emplace_back(prog, std::string(4096, '\0'));
        }
        for (auto& [prog, buf] : stats_logs) {
            bpf_program__set_log_buf(prog, buf.data(), buf.size());
            bpf_program__set_log_level(prog, 4);
        }
    }
    int err = iptables_trace_bpf__load(skel.get());
    if (err)
        return Error{"loading the BPF programs: " + std::string(std::strerror(-err)),
                     "run with -v, or `iptables-trace --check`, to see the verifier's log"};
    for (auto& [prog, buf] : stats_logs)
        std::cerr << "iptables-trace: start-up:     " << bpf_program__name(prog) << ": "
                  << verifier_stats_summary(buf.c_str()) << "\n";
    return skel;
}

Result<SkelPtr> open_and_load(const Options& opts, const Layouts& l, std::optional<uint32_t> netns, bool nft)
{
    auto cfg = make_bpf_config(opts, l.ipt, l.ip6t, netns);
    if (!cfg)
        return cfg.error();
    if (const char* d = std::getenv("ITR_LIBBPF_DEBUG"); d && *d && std::strcmp(d, "0") != 0)
        libbpf_set_print(timed_debug_print);
    auto skel = open_and_load_once(*cfg, nft, opts.verbose);
    // A statistics-only log leaves out the verifier's reasons: load once
    // more without it so that libbpf prints them.
    if (!skel && opts.verbose)
        skel = open_and_load_once(*cfg, nft, false);
    return skel;
}

class ModuleBackend final : public TraceBackend {
public:
    std::string name() const override { return "module"; }

    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost) override
    {
        cur_event_ = &on_event;
        cur_lost_ = &on_lost;
        int rc = reader_->poll(timeout_ms);
        cur_event_ = nullptr;
        cur_lost_ = nullptr;
        if (rc < 0 && rc != -EINTR)
            return Error{"reading the perf buffer: " + std::string(std::strerror(-rc)), ""};
        return ok_status();
    }

    Status drain(const EventFn& on_event, const LostFn& on_lost) override
    {
        cur_event_ = &on_event;
        cur_lost_ = &on_lost;
        int rc = reader_->drain();
        cur_event_ = nullptr;
        cur_lost_ = nullptr;
        if (rc < 0 && rc != -EINTR)
            return Error{"reading the perf buffer: " + std::string(std::strerror(-rc)), ""};
        return ok_status();
    }

    // Every failed bpf_perf_event_output() is counted by our programs
    // (output_err); the perf buffer reports the same losses only when a
    // later sample gets in.
    uint64_t take_unreported_lost() override
    {
        const uint64_t refused = stat_total(ITR_STAT_OUTPUT_ERR);
        if (refused <= lost_)
            return 0;
        const uint64_t n = refused - lost_;
        lost_ = refused;
        return n;
    }

    uint64_t stat_total(__u32 key) const
    {
        int ncpu = libbpf_num_possible_cpus();
        if (ncpu <= 0)
            return 0;
        std::vector<__u64> vals(static_cast<size_t>(ncpu));
        uint64_t sum = 0;
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &key, vals.data()) == 0)
            for (auto v : vals)
                sum += v;
        return sum;
    }

    std::string summary() const override
    {
        std::ostringstream s;
        s << "events " << events_ << ", lost " << lost_;
        if (undecodable_)
            s << ", undecodable " << undecodable_;
        static const char* params[] = {"marked",     "skipped", "silenced", "admin_passed",
                                       "admin_traced", "slots_full", "missed"};
        s << "; module:";
        for (const char* p : params)
            s << ' ' << p << '=' << read_module_param(ITR_MODULE_NAME, p);
        s << "; bpf: " << bpf_stats();
        return s.str();
    }

    std::string bpf_stats() const
    {
        static const char* names[ITR_STAT_MAX] = {"seen", "matched", "stack_full", "return_unmatched",
                                                  "output_err", "rule_events"};
        std::ostringstream s;
        for (__u32 k = 0; k < ITR_STAT_MAX; k++)
            s << (k ? " " : "") << names[k] << '=' << stat_total(k);
        return s.str();
    }

    // Acquisition order; destruction runs in reverse: the perf buffer and
    // links go first, then the module (it runs the pinned programs), then the
    // pins, the skeleton, and last the table modules we modprobed.
    std::optional<ModprobedModule> ip_tables_, ip6_tables_, xt_trace_;
    SkelPtr skel_;
    std::optional<BpffsMount> bpffs_;
    std::optional<PinDir> pins_;
    std::optional<LoadedModule> kmod_;
    Fd owner_;  // the module marks packets only while this is open
    std::vector<LinkPtr> links_;
    std::optional<PerfReader> reader_;

    const EventFn* cur_event_ = nullptr;
    TraceEvent scratch_;  // every sample is decoded into it, storage reused
    const LostFn* cur_lost_ = nullptr;
    uint64_t events_ = 0, lost_ = 0, undecodable_ = 0;
};

}  // namespace

std::optional<std::string> module_backend_unavailable(const Options& opts)
{
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

namespace {

// The kprobe PMU's type and its retprobe bit ("config:0").
std::optional<std::pair<uint32_t, uint32_t>> kprobe_pmu()
{
    std::ifstream t("/sys/bus/event_source/devices/kprobe/type");
    std::ifstream r("/sys/bus/event_source/devices/kprobe/format/retprobe");
    uint32_t type = 0, bit = 0;
    std::string fmt;
    if (!(t >> type) || !(r >> fmt) || fmt.rfind("config:", 0) != 0)
        return std::nullopt;
    bit = uint32_t(std::strtoul(fmt.c_str() + 7, nullptr, 10));
    if (bit >= 64)
        return std::nullopt;
    return std::make_pair(type, bit);
}

// A kprobe or kretprobe at a kernel address through the kprobe PMU, with
// `prog` attached; the link owns the perf event. nullptr (errno set) on
// failure, for the caller to fall back to attaching by name.
struct bpf_link* attach_kprobe_at(struct bpf_program* prog, uint64_t addr, bool retprobe)
{
    static const auto pmu = kprobe_pmu();
    if (!pmu) {
        errno = ENOENT;
        return nullptr;
    }
    struct perf_event_attr attr {};
    attr.size = sizeof(attr);
    attr.type = pmu->first;
    attr.config = retprobe ? (1ULL << pmu->second) : 0;
    attr.kprobe_func = 0;  // no name: kprobe_addr is the address
    attr.kprobe_addr = addr;
    const int pfd = int(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0)
        return nullptr;
    struct bpf_link* l = bpf_program__attach_perf_event(prog, pfd);
    if (!l) {
        const int e = errno;
        ::close(pfd);
        errno = e;
    }
    return l;
}

}  // namespace

void release_module_backend_caches() { KernelBtf::release_shared(); }

Result<std::unique_ptr<TraceBackend>> make_module_backend(const Options& opts)
{
    // -v: the cost of each set-up step (start-up time is a measured target).
    struct timespec t0 {};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    auto mark = [&](const char* step) {
        if (!opts.verbose)
            return;
        struct timespec t {};
        clock_gettime(CLOCK_MONOTONIC, &t);
        const double ms = double(t.tv_sec - t0.tv_sec) * 1e3 + double(t.tv_nsec - t0.tv_nsec) / 1e6;
        std::cerr << "iptables-trace: start-up:   " << step << " " << ms << " ms\n";
        t0 = t;
    };
    auto be = std::make_unique<ModuleBackend>();
    auto img = module_image(opts);
    if (!img)
        return img.error();

    // The table functions and their BTF exist only once the modules are in.
    auto ipt = ModprobedModule::ensure("ip_tables");
    if (ipt)
        be->ip_tables_.emplace(std::move(*ipt));
    auto ip6t = ModprobedModule::ensure("ip6_tables");
    if (ip6t)
        be->ip6_tables_.emplace(std::move(*ip6t));
    // With xt_TRACE present the module keeps an administrator's TRACE mark
    // that lands on a packet during our own table call.
    auto xt_trace = ModprobedModule::ensure("xt_TRACE");
    if (xt_trace)
        be->xt_trace_.emplace(std::move(*xt_trace));
    mark("modprobe ip_tables, ip6_tables, xt_TRACE");

    KernelFacts f = facts_with_image(*img);
    mark(("kernel facts (" + f.symbol_sources + ")").c_str());
    auto checks = evaluate_module_preflight(f);
    if (auto bad = first_fatal(checks))
        return Error{bad->name + ": " + bad->detail, bad->hint};

    if (auto st = check_kmod_image(img->bytes, f.release); !st)
        return st.error();
    auto layouts = detect_layouts(*img, f);
    if (!layouts)
        return layouts.error();
    mark(("signatures (from " + layouts->ipt_source + ")").c_str());

    std::optional<uint32_t> netns;
    if (opts.netns) {
        auto ino = resolve_netns_inode(*opts.netns);
        if (!ino)
            return ino.error();
        netns = *ino;
    }
    auto skel = open_and_load(opts, *layouts, netns, f.nft_do_chain);
    if (!skel)
        return skel.error();
    be->skel_ = std::move(*skel);
    KernelBtf::release_shared();  // libbpf parsed its own copy; ours is done
    mark("BPF load and verification");
    if (auto st = maybe_fail("load"); !st)
        return st.error();

    auto mnt = BpffsMount::ensure("/sys/fs/bpf");
    if (!mnt)
        return mnt.error();
    be->bpffs_.emplace(std::move(*mnt));
    auto pins = PinDir::create(kPinDir);
    if (!pins)
        return Error{pins.error().what, "a stale instance? run iptables-trace --cleanup"};
    be->pins_.emplace(std::move(*pins));
    auto* p = &be->skel_->progs;
    std::vector<std::pair<struct bpf_program*, const char*>> to_pin = {
        {p->kprobe_ipt_do_table, ITR_PIN_IPT_ENTRY},
        {p->kretprobe_ipt_do_table, ITR_PIN_IPT_RETURN},
        {p->kprobe_nf_log_trace, ITR_PIN_LOG_TRACE},
    };
    if (layouts->ip6t.valid) {
        to_pin.push_back({p->kprobe_ip6t_do_table, ITR_PIN_IP6T_ENTRY});
        to_pin.push_back({p->kretprobe_ip6t_do_table, ITR_PIN_IP6T_RETURN});
    }
    for (auto& [prog, pin] : to_pin)
        if (auto st = be->pins_->pin(prog, pin); !st)
            return st.error();
    if (auto st = maybe_fail("pin"); !st)
        return st.error();
    mark("pinning");

    std::string params = std::string("pin_dir=") + kPinDir + " abi=" + std::to_string(ITR_ABI_VERSION) +
                         " ipt_skb_arg=" + std::to_string(layouts->ipt.skb) +
                         " ip6t_skb_arg=" + std::to_string(layouts->ip6t.valid ? layouts->ip6t.skb : 0);
    auto mod = LoadedModule::insert(img->bytes, params, ITR_MODULE_NAME);
    if (!mod)
        return mod.error();
    be->kmod_.emplace(std::move(*mod));
    // Arms the module; our death closes it and marking stops at once.
    be->owner_ = Fd(::open("/proc/" ITR_OWNER_PROC, O_RDONLY | O_CLOEXEC));
    if (!be->owner_)
        return Error{std::string("arming the module (/proc/") + ITR_OWNER_PROC + "): " + std::strerror(errno), ""};
    mark("module insertion (probes registered)");
    if (auto st = maybe_fail("module"); !st)
        return st.error();

    bool nft_by_address = false;
    if (f.nft_do_chain) {
        // By address when the module could tell it: libbpf attaches by
        // name, a walk over every kernel symbol before 6.2 (~100 ms each
        // on 5.10 under TCG).
        uint64_t nft_addr = 0;
        nft_by_address = true;
        const std::string a = read_module_param(ITR_MODULE_NAME, "nft_do_chain_addr");
        if (!a.empty())
            nft_addr = std::strtoull(a.c_str(), nullptr, 10);
        for (auto* prog : {p->kprobe_nft_do_chain, p->kretprobe_nft_do_chain}) {
            const bool ret = prog == p->kretprobe_nft_do_chain;
            struct bpf_link* l = nft_addr ? attach_kprobe_at(prog, nft_addr, ret) : nullptr;
            if (!l) {
                nft_by_address = false;
                l = bpf_program__attach(prog);
            }
            if (!l)
                return Error{std::string("attaching ") + bpf_program__name(prog) + ": " + std::strerror(errno),
                             ""};
            be->links_.emplace_back(l);
        }
    }

    ModuleBackend* raw = be.get();
    auto reader = PerfReader::open(
        bpf_map__fd(be->skel_->maps.events), opts.perf_pages,
        [raw](int, const void* data, uint32_t size) {
            if (!decode_event_into(data, size, raw->scratch_)) {
                raw->undecodable_++;
                return;
            }
            raw->events_++;
            if (raw->cur_event_)
                (*raw->cur_event_)(raw->scratch_);
        },
        [raw](int cpu, uint64_t n) {
            raw->lost_ += n;
            if (raw->cur_lost_)
                (*raw->cur_lost_)(n, cpu);
        });
    if (!reader)
        return reader.error();
    be->reader_.emplace(std::move(*reader));
    mark(nft_by_address ? "nft probes (by address) and perf buffer" : "nft probes and perf buffer");
    if (auto st = maybe_fail("attach"); !st)
        return st.error();
    return std::unique_ptr<TraceBackend>(std::move(be));
}

Result<std::vector<std::string>> cleanup_module_backend_leftovers()
{
    std::vector<std::string> removed;
    if (module_is_loaded(ITR_MODULE_NAME)) {
        // A live owner (another instance, maybe in another mount namespace
        // where our lock file is not seen) still holds the module armed.
        if (read_module_param(ITR_MODULE_NAME, "armed") == "1") {
            const std::string pid = read_module_param(ITR_MODULE_NAME, "owner_pid");
            return Error{"another iptables-trace (pid " + pid + ") is tracing with the kernel module",
                         "only one instance can trace at a time; stop the other one first"};
        }
        if (auto st = remove_module(ITR_MODULE_NAME); !st)
            return st.error();
        removed.push_back(std::string("kernel module ") + ITR_MODULE_NAME);
    }
    if (remove_pin_dir(kPinDir))
        removed.push_back(std::string("pinned programs in ") + kPinDir);
    return removed;
}

namespace {

int verbose_print(enum libbpf_print_level level, const char* fmt, va_list args)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    return std::vfprintf(stderr, fmt, args);
}

}  // namespace

int run_module_check(const Options& opts, std::ostream& out)
{
    auto img = module_image(opts);
    KernelFacts f;
    if (img) {
        f = facts_with_image(*img);
    } else {
        f = gather_kernel_facts();
        out << "module image: " << img.error().what << "\n";
    }
    out << "kernel " << f.release << " " << f.machine << " (functions looked up in " << f.symbol_sources << ")\n";
    for (const auto& c : evaluate_module_preflight(f)) {
        out << "  " << (c.ok ? "ok  " : (c.fatal ? "FAIL" : "warn")) << "  " << c.name;
        out << std::string(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ') << c.detail;
        if (!c.ok && !c.hint.empty())
            out << " (hint: " << c.hint << ")";
        out << "\n";
    }
    // Both sources when both exist: the module's compile-time answer is
    // what start-up uses, BTF is the independent check on it.
    auto layouts = layouts_from_btf(f);
    if (!layouts) {
        out << "signature: " << layouts.error().what << "\n";
        return 1;
    }
    auto show = [&](const char* fn, const itr_arg_layout& l, const std::string& src) {
        out << "  " << fn << ": skb=arg" << int(l.skb) << " state=arg" << int(l.state) << " table=arg"
            << int(l.table) << " (from " << src << ")\n";
    };
    out << "signatures\n";
    show("ipt_do_table", layouts->ipt, layouts->ipt_source);
    if (layouts->ip6t.valid)
        show("ip6t_do_table", layouts->ip6t, layouts->ip6t_source);
    if (img && check_kmod_image(img->bytes, f.release)) {
        if (auto mod = layouts_from_image(*img, f)) {
            show("ipt_do_table", mod->ipt, mod->ipt_source);
            if (mod->ip6t.valid)
                show("ip6t_do_table", mod->ip6t, mod->ip6t_source);
            if (!same_layout(mod->ipt, layouts->ipt) || !same_layout(mod->ip6t, layouts->ip6t)) {
                out << "signature: FAIL: the module's .modinfo and kernel BTF disagree\n";
                return 1;
            }
        } else {
            out << "  (the module's .modinfo has no layouts: start-up reads BTF)\n";
        }
    }
    libbpf_set_print(verbose_print);
    std::optional<uint32_t> netns;
    if (opts.netns) {
        auto ino = resolve_netns_inode(*opts.netns);
        if (!ino) {
            out << "-N: " << ino.error().what << "\n";
            return 2;
        }
        netns = *ino;
    }
    auto skel = open_and_load(opts, *layouts, netns, f.nft_do_chain);
    libbpf_set_print(nullptr);
    if (!skel) {
        out << "verifier: FAIL: " << skel.error().what << "\n";
        return 1;
    }
    out << "verifier (programs loaded, nothing attached)\n";
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, (*skel)->obj)
    {
        if (!bpf_program__autoload(prog)) {
            out << "  skip  " << bpf_program__name(prog) << " (nft_do_chain absent)\n";
            continue;
        }
        struct bpf_prog_info info {};
        __u32 len = sizeof(info);
        bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
        out << "  ok    " << bpf_program__name(prog) << " (" << info.xlated_prog_len / 8 << " insns";
        if (info.verified_insns)  // 5.16+: what the verifier walked, the load-time cost
            out << ", " << info.verified_insns << " verified";
        out << ")\n";
    }
    auto why = module_backend_unavailable(opts);
    out << "module backend: " << (why ? "cannot run here: " + *why : std::string("ready")) << "\n";
    auto why_nl = netlink_backend_unavailable(opts);
    out << "netlink backend: " << (why_nl ? "cannot run here: " + *why_nl : std::string("ready")) << "\n";
    return 0;
}

}  // namespace itr
