#include "app.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <iostream>
#include <vector>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/enricher.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/pipeline.hpp"
#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/sink.hpp"
#include "iptables_trace/sys.hpp"
#include "iptables_trace/tree_view.hpp"
#include "iptables_trace/resources.hpp"
#include "guard.hpp"
#include "signals.hpp"

namespace itr {
namespace {

constexpr const char* kProg = "iptables-trace: ";
// Held while an instance runs; tells a live instance from a killed one.
constexpr const char* kLockFile = "/run/iptables-trace.lock";

// The program's one diagnostics channel: stderr, every line prefixed.
class StderrDiagnostics final : public Diagnostics {
public:
    void notice(std::string_view line) override { std::cerr << kProg << line << "\n"; }
    void error(const Error& e) override
    {
        std::cerr << kProg << e.what << "\n";
        if (!e.hint.empty())
            std::cerr << "hint: " << e.hint << "\n";
    }
    void log(std::string_view text) override { std::cerr << text; }
};

int64_t realtime_offset_ns()
{
    struct timespec rt {}, mono {};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return (int64_t(rt.tv_sec) - int64_t(mono.tv_sec)) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
}

int32_t local_utc_offset_s()
{
    std::time_t now = std::time(nullptr);
    struct tm lt {};
    localtime_r(&now, &lt);
    return static_cast<int32_t>(lt.tm_gmtoff);
}

// Whatever a killed instance left: found, reported, removed.
void remove_leftovers(const BackendRegistry& backends, Diagnostics& diag, const std::string& when)
{
    for (const auto& p : backends.providers()) {
        auto removed = p->cleanup_leftovers();
        if (!removed) {
            diag.notice("removing a stale instance: " + removed.error().what);
            continue;
        }
        // A line that says its own verb ("removed stale ...", "restored
        // nf_log/2 ...", "not removed: ...") is said as it is.
        for (const auto& what : *removed) {
            const bool own_verb = what.rfind(kNotRemoved, 0) == 0 || what.rfind("removed ", 0) == 0 ||
                                  what.rfind("restored ", 0) == 0;
            diag.notice(own_verb ? what : when + what);
        }
    }
}

// --check: each backend's own report (the one --backend names, or every
// one), then whether each can run here. 0 when one passes its check.
int run_checks(const Options& opts, const BackendRegistry& backends, Diagnostics& diag)
{
    int code = -1;
    for (const auto& p : backends.providers()) {
        if (opts.backend != "auto" && p->name() != opts.backend)
            continue;
        const int c = p->check(opts, std::cout, diag);
        code = code == 0 || c == 0 ? 0 : (code < 0 ? c : code);
    }
    for (const auto& p : backends.providers()) {
        auto why = p->probe(opts);
        std::cout << p->name() << " backend: " << (why ? "cannot run here: " + *why : std::string("ready"))
                  << "; can: " << p->capabilities().names() << "\n";
    }
    return code < 0 ? 0 : code;
}

}  // namespace

int run(const Options& opts, const BackendRegistry& backends)
{
    install_stop_handlers();
    StderrDiagnostics diag;
    auto fail = [&diag](const Error& e, int code = 1) {
        diag.error(e);
        return code;
    };
    StepClock clock(diag, opts.verbose, "", opts.main_start_ns);
    if (opts.main_start_ns)
        clock.mark("command line");

    // A namespace that does not exist is bad input (exit 2), found before
    // anything is loaded; the backends resolve it again for their own use.
    std::optional<uint32_t> netns_inode;
    if (opts.netns) {
        auto ns = open_netns(*opts.netns);
        if (!ns)
            return fail(Error{ns.error().what, ""}, 2);
        netns_inode = ns->inode;
    }
    if (opts.check)
        return run_checks(opts, backends, diag);
    if (opts.ready_file) {
        struct stat st {};
        if (::lstat(opts.ready_file->c_str(), &st) == 0)
            return fail(Error{"--ready-file " + *opts.ready_file + " exists already (a new file is made there once tracing is live)", ""}, 2);
    }

    if (geteuid() != 0)
        return fail(Error{"must run as root", "sudo iptables-trace ..."});

    // A stop asked for during set-up ends it at the next step; whatever was
    // set up is undone by its owner on the way out, and the exit is the one
    // of a stop while tracing (0, nothing said), not an error.
    auto stopped_at = [](const char* stage) { return !setup_step(stage).ok(); };

    auto lock = InstanceLock::acquire(kLockFile);
    if (!lock)
        return fail(lock.error());
    if (stopped_at("lock"))
        return 0;

    remove_leftovers(backends, diag, opts.cleanup ? "removed " : "removed a stale instance's ");
    if (opts.cleanup)
        return 0;
    clock.mark("lock and stale-instance check");
    if (stopped_at("leftovers"))
        return 0;

    // Before anything is loaded that a SIGKILL would leave behind.
    std::optional<Guard> guard;
    if (auto g = Guard::spawn(); g)
        guard.emplace(std::move(*g));
    else
        diag.notice(g.error().what + ": after a kill -9, what this run loads stays until the next start or "
                    "--cleanup");
    clock.mark(guard ? "starting the guard (pid " + std::to_string(guard->pid()) + ")" : "no guard");

    auto choice = choose_backend(backends, opts);
    if (auto* e = std::get_if<ChoiceError>(&choice))
        return fail(e->error, e->bad_input ? 2 : 1);
    const BackendProvider& provider = *std::get<BackendChoice>(choice).provider;
    if (const std::string& why = std::get<BackendChoice>(choice).notice; !why.empty())
        diag.notice(why);
    for (const auto& p : backends.providers())
        if (p.get() != &provider)
            p->release_probe_state();
    clock.mark("choosing the backend");
    if (stopped_at("backend-chosen"))
        return 0;
    auto backend = provider.start(opts, diag);
    // The signal may also have cut a step short (a failed system call):
    // the request to stop explains the failure.
    if (!backend && stop_requested())
        return 0;
    if (!backend)
        return fail(backend.error());
    if (stopped_at("backend-started"))
        return 0;

    clock.mark("setting up the backend");

    SinkOptions so;
    so.time_mode = opts.time_mode;
    so.realtime_offset_ns = realtime_offset_ns();
    so.utc_offset_s = local_utc_offset_s();
    std::unique_ptr<Sink> sink;
    if (opts.tree) {
        TreeOptions to;
        to.sink = so;
        to.colour = want_colour(isatty(STDOUT_FILENO) == 1, std::getenv("NO_COLOR"));
        sink = std::make_unique<TreeView>(std::cout, to);
    } else {
        sink = opts.json ? make_json_sink(std::cout, so) : make_column_sink(std::cout, so);
    }

    clock.total();
    sink->flush();  // the column header, before the first packet
    // A new file, never one that is there (O_EXCL), never through a link
    // (O_NOFOLLOW): the path may be in a folder other users can write.
    bool ready_made = false;
    if (opts.ready_file) {
        Fd fd(::open(opts.ready_file->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!fd)
            diag.notice("--ready-file " + *opts.ready_file + ": " + errno_text(errno));
        ready_made = bool(fd);
    }
    diag.notice("tracing with the " + (*backend)->name() + " backend; Ctrl-C to stop");

    // Rule text: the rulesets are read once now, then again when they change.
    // After the ready file: the probes are live and the kernel buffers what
    // happens meanwhile; with many tables (one iptables-save each) this is
    // the slowest step left and tracing need not wait for it.
    // One enricher per kind of rule event the backend reports, behind one
    // interface: the legacy rulesets always, the nf_tables ones when the
    // backend reports nft rule events. Both are primed the same way.
    std::unique_ptr<RuleTextEnricher> enricher;
    if (opts.rule_text) {
        std::vector<std::unique_ptr<RuleTextEnricher>> parts;
        parts.push_back(std::make_unique<Enricher>(make_system_ruleset_source(), EnricherOptions{}));
        if (provider.capabilities().has(Capability::NftRuleEvents))
            parts.push_back(nft::make_nft_enricher(nft::make_system_nft_source()));
        enricher = std::make_unique<EnricherChain>(std::move(parts));
    }
    PipelineOptions po;
    po.catch_count = opts.catch_count;
    po.fate = opts.fate;
    po.drops_only = opts.drops_only;
    po.decisions = provider.capabilities().has(Capability::TableVerdicts);
    Pipeline pipeline(po, *sink, std::cout, diag, enricher.get());
    if (enricher && !stop_requested()) {
        if (auto st = enricher->prime(netns_inode); !st)
            diag.notice("rule text unavailable: " + st.error().what);
        pipeline.say_enricher_diagnostics();
        clock.mark("reading the rulesets (tracing already live)");
    }

    const int code = pipeline.run(**backend, stop_requested);
    if (ready_made)
        ::unlink(opts.ready_file->c_str());
    return code;
}


int run_guard(const GuardArgs& args, const BackendRegistry& backends)
{
    ::prctl(PR_SET_NAME, kGuardComm, 0, 0, 0);
    // The tracer's own stop signals are its business: a Ctrl-C or a dropped
    // SSH session stops the tracer, which then releases what it holds.
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
    if (wait_for_owner(args) == OwnerEnd::Released)
        return 0;
    const std::string who = "pid " + std::to_string(args.owner);
    StderrDiagnostics diag;
    // A new instance that already holds the lock removes what is stale itself.
    auto lock = InstanceLock::acquire(kLockFile);
    if (!lock) {
        diag.notice("guard: " + who + " ended without releasing what it loaded; left to the instance that runs now (" +
                    lock.error().what + ")");
        return 0;
    }
    diag.notice("guard: " + who + " ended without releasing what it loaded; removing it");
    remove_leftovers(backends, diag, "removed what " + who + " left: ");
    return 0;
}

}  // namespace itr
