// The netlink backend: nftables marks the flow with nftrace; nf_tables
// emits its own trace events (NFNLGRP_NFTRACE) for iptables-nft and native
// rulesets, ip_tables emits TRACE through nfnetlink_log for legacy ones; we
// decode both from one socket.
#include <fcntl.h>
#include <glob.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "iptables_trace/checks.hpp"
#include "iptables_trace/filter.hpp"
#include "iptables_trace/netlink_backend.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/resources.hpp"
#include "internal.hpp"

namespace itr::netlink {

namespace {

uint64_t clock_ns(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string owner_comment()
{
    const pid_t pid = getpid();
    return format_owner_comment({pid, process_start_time(pid).value_or(0)});
}

// Recovery in the current netns (the caller has entered it): a state file
// or a table left by a killed instance.
void recover_here(uint64_t ns_inode, std::vector<std::string>& notices)
{
    const std::string path = state_path(ns_inode);
    if (auto st = read_state(path); st && st->pid != getpid() && !process_alive(st->pid, st->start_time)) {
        for (const auto& [pf, saved] : {std::pair{2, st->nf_log2}, std::pair{10, st->nf_log10}}) {
            auto cur = read_nf_log(pf);
            if (cur && *cur == "nfnetlink_log" && saved != "nfnetlink_log") {
                const std::string v = saved.empty() ? "NONE" : saved;
                if (write_nf_log(pf, v))
                    notices.push_back(fmt::format("restored nf_log/{} to {} in netns {} (left by pid {})", pf, v,
                                                  ns_inode, st->pid));
            }
        }
        if (unlink(path.c_str()) == 0)
            notices.push_back(fmt::format("removed stale state file {}", path));
    }
    auto sock = open_netfilter_socket();
    if (!sock)
        return;
    auto info = query_table(sock->get());
    if (!info || !info->exists || info->owned)
        return;  // an owned table has a live owner: the kernel drops it with the socket
    const auto owner = parse_owner_comment(info->comment);
    if (!owner) {
        // Anyone with CAP_NET_ADMIN in this netns can make a table of that
        // name: without our exact comment it is not ours to delete.
        notices.push_back(fmt::format("not removed: nft table inet {} in netns {}: its comment does not name an "
                                      "owner of ours",
                                      kTableName, ns_inode));
        return;
    }
    if (owner->pid == getpid() || process_alive(owner->pid, owner->start_time))
        return;
    if (delete_table(sock->get()))
        notices.push_back(fmt::format("removed stale nft table inet {} in netns {} (left by pid {})", kTableName,
                                      ns_inode, owner->pid));
}

class NetlinkBackend final : public TraceBackend {
public:
    std::string name() const override { return "netlink"; }
    int fd() const { return fd_; }
    uint64_t netns_inode() const { return ns_.inode; }
    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost) override;
    Status drain(const EventFn& on_event, const LostFn& on_lost) override { return poll(0, on_event, on_lost); }
    std::string summary() const override
    {
        // Sequence gaps count every nflog record dropped before one that was
        // read; records dropped after the last one read leave no gap, and
        // nf_tables trace messages carry no sequence number, so after an
        // overrun the count is a lower bound.
        std::string s;
        if (overruns_ == 0)
            s = fmt::format("events {}, lost {}", events_, seq_.lost());
        else if (seq_.lost() == 0)
            s = fmt::format("events {}, lost an unknown number (the receive buffer overran {} times and no "
                            "sequence gap showed how many)",
                            events_, overruns_);
        else
            s = fmt::format("events {}, lost at least {} (the receive buffer overran {} times; records dropped "
                            "after the last one read cannot be counted)",
                            events_, seq_.lost(), overruns_);
        if (const uint64_t bad = nft_.stats().malformed; bad > 0)
            s += fmt::format(", {} malformed nf_tables trace messages skipped", bad);
        return s;
    }

    // Owners, in acquisition order: destroyed in reverse.
    std::optional<ModprobedModule> nflog_module_;  // when nfnetlink_log had to be loaded
    NetnsHandle ns_;
    std::optional<NflogGroup> nflog_;
    MnlSocket plain_;  // Tuning::logger false: nf_tables trace only, no nflog group
    Fd ifsock_;  // AF_UNIX socket in the traced netns, for SIOCGIFNAME
    std::optional<StateFile> state_;
    std::optional<LoggerBinding> logger_;
    std::optional<NftTraceTable> table_;
    bool legacy_records_ = true;  // Tuning::legacy_records
    // The packet filters: nf_tables and TRACE report every packet with
    // nf_trace set, an administrator's own marks included.
    Options filter_;
    int fd_ = -1;                 // the socket both kinds of events come on

private:
    std::string ifname(uint32_t index);
    void handle(const nlmsghdr* nlh, const DecodeContext& ctx, const EventFn& on_event, const LostFn& on_lost);

    std::vector<char> buf_ = std::vector<char>(256 * 1024);
    std::unordered_map<uint32_t, std::pair<std::string, uint64_t>> ifcache_;
    SeqTracker seq_{0};  // our group 0 instance is new: its first record is 0
    NftTraceHandler nft_{kTableName};
    uint64_t events_ = 0;
    uint64_t overruns_ = 0;
};

std::string NetlinkBackend::ifname(uint32_t index)
{
    const uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (auto it = ifcache_.find(index); it != ifcache_.end() && now < it->second.second)
        return it->second.first;
    ifreq ifr{};
    ifr.ifr_ifindex = static_cast<int>(index);
    std::string name;
    if (ioctl(ifsock_.get(), SIOCGIFNAME, &ifr) == 0)
        name.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    else
        name = fmt::format("if{}", index);
    ifcache_[index] = {name, now + 1'000'000'000ull};  // names can change: keep 1 s
    return name;
}

void NetlinkBackend::handle(const nlmsghdr* nlh, const DecodeContext& ctx, const EventFn& on_event,
                            const LostFn& on_lost)
{
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES) {
        if (auto ev = nft_.handle({reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len}, ctx);
            ev && packet_matches_filter(filter_, ev->pkt)) {
            ++events_;
            on_event(*ev);
        }
        return;
    }
    if (!legacy_records_)
        return;
    auto rec = parse_nflog_message(nlh);
    if (!rec)
        return;
    if (rec->seq) {
        if (const uint64_t gap = seq_.observe(*rec->seq); gap > 0)
            on_lost(gap, -1);
    }
    if (auto ev = record_to_event(*rec, ctx); ev && packet_matches_filter(filter_, ev->pkt)) {
        ++events_;
        on_event(*ev);
    }
}

Status NetlinkBackend::poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost)
{
    const int fd = fd_;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? ok_status() : Status(Error{"poll: " + errno_text(errno), ""});
    if (r == 0)
        return ok_status();
    DecodeContext ctx;
    ctx.ifname = [this](uint32_t i) { return ifname(i); };
    ctx.netns = static_cast<uint32_t>(ns_.inode);
    ctx.realtime_minus_mono_ns =
        static_cast<int64_t>(clock_ns(CLOCK_REALTIME)) - static_cast<int64_t>(clock_ns(CLOCK_MONOTONIC));
    // Drain what is queued, bounded so the caller checks its stop flag often
    // (1024 short messages take well under a millisecond) yet large enough
    // that the per-batch work after a poll (one ruleset check per table for
    // rule text) is paid once per thousand records, not per few.
    for (int i = 0; i < 1024; ++i) {
        const ssize_t n = recv(fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            if (errno == ENOBUFS) {
                // The kernel dropped records; the next sequence number says how many.
                ++overruns_;
                continue;
            }
            return Error{"nfnetlink_log: receive: " + errno_text(errno), ""};
        }
        ctx.recv_mono_ns = clock_ns(CLOCK_MONOTONIC);
        int len = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_NOOP)
                continue;
            handle(nlh, ctx, on_event, on_lost);
        }
    }
    return ok_status();
}

}  // namespace

std::vector<Check> requirements(const Options& opts)
{
    std::vector<Check> c;
    auto need = [&](std::string name, bool ok, std::string found, std::string missing) {
        c.push_back(Check{std::move(name), ok, true, ok ? std::move(found) : std::move(missing), ""});
    };
    need("root", geteuid() == 0, "running as root",
         "it needs root (CAP_NET_ADMIN) to add an nftables table and bind nfnetlink_log");
    const bool nflog_loaded = access("/proc/net/netfilter/nfnetlink_log", F_OK) == 0;
    need("nfnetlink_log", nflog_loaded || kernel_module_available("nfnetlink_log"),
         nflog_loaded ? "present" : "a module, loaded at start",
         "nfnetlink_log is not available (CONFIG_NETFILTER_NETLINK_LOG)");
    need("nf_log", access("/proc/sys/net/netfilter/nf_log/2", F_OK) == 0, "the logger sysctl is there",
         "the nf_log sysctl (/proc/sys/net/netfilter/nf_log) is missing");
    auto rules = build_trace_rules(opts);
    need("filter", rules.ok(), "the filters fit nftables rules", rules ? "" : rules.error().what);
    // nf_tables: a read-only table dump answers EOPNOTSUPP without it.
    auto sock = open_netfilter_socket();
    if (!sock) {
        need("nf_tables", false, "", sock.error().what);
    } else {
        auto info = query_table(sock->get());
        need("nf_tables", info.ok(), "answers (its trace events report iptables-nft and nftables rules)", info ? "" : "nf_tables is not available: " + info.error().what);
    }
    return c;
}

Result<std::unique_ptr<TraceBackend>> make_backend(const Options& opts, const Tuning& tuning, Diagnostics& diag)
{
    if (auto bad = first_fatal(requirements(opts)))
        return Error{"netlink backend: " + bad->detail, ""};
    auto rules = build_trace_rules(opts);
    if (!rules)
        return rules.error();

    auto be = std::make_unique<NetlinkBackend>();
    // Debian builds nfnetlink_log as a module that nothing loads before the
    // first NFLOG user; unloaded again at exit if we loaded it.
    if (tuning.logger && access("/proc/net/netfilter/nfnetlink_log", F_OK) != 0) {
        auto m = ModprobedModule::ensure("nfnetlink_log");
        if (!m)
            return Error{"netlink backend: " + m.error().what, ""};
        be->nflog_module_.emplace(std::move(*m));
    }
    if (auto st = setup_step("nflog-module"); !st)
        return st.error();
    auto ns = opts.netns ? open_netns(*opts.netns) : open_own_netns();
    if (!ns)
        return ns.error();
    be->ns_ = std::move(*ns);

    std::optional<ScopedNetns> inside;
    if (opts.netns) {
        auto g = ScopedNetns::enter(be->ns_.fd.get());
        if (!g)
            return g.error();
        inside.emplace(std::move(*g));
    }
    std::vector<std::string> notices;
    recover_here(be->ns_.inode, notices);
    for (const auto& n : notices)
        diag.notice(n);
    if (auto st = setup_step("recover"); !st)
        return st.error();

    be->legacy_records_ = tuning.legacy_records && tuning.logger;
    be->filter_ = opts;
    int fd = -1;
    if (tuning.logger) {
        auto nflog = NflogGroup::bind(tuning.rcvbuf_bytes, tuning.legacy_records);
        if (!nflog)
            return nflog.error();
        be->nflog_.emplace(std::move(*nflog));
        fd = be->nflog_->fd();
    } else {
        auto sock = open_netfilter_socket();
        if (!sock)
            return sock.error();
        be->plain_ = std::move(*sock);
        fd = be->plain_.fd();
        if (tuning.rcvbuf_bytes > 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &tuning.rcvbuf_bytes, sizeof tuning.rcvbuf_bytes) < 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tuning.rcvbuf_bytes, sizeof tuning.rcvbuf_bytes);
    }
    // nf_tables' own trace (iptables-nft and native rulesets) on the same
    // socket: one receive queue keeps the kernel's order between the legacy
    // TRACE records and the nf_tables events of a packet. The kernel sends
    // nf_tables trace only while a listener exists in the packet's netns:
    // this socket, which lives in the traced netns.
    if (const int group = NFNLGRP_NFTRACE;
        setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
        return Error{"subscribe to nf_tables trace events (NFNLGRP_NFTRACE): " + errno_text(errno), ""};
    be->fd_ = fd;
    if (auto st = setup_step("nflog-bind"); !st)
        return st.error();

    be->ifsock_ = Fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!be->ifsock_)
        return Error{"socket(AF_UNIX): " + errno_text(errno), ""};

    if (tuning.logger) {
        auto prev2 = read_nf_log(2);
        if (!prev2)
            return prev2.error();
        auto prev10 = read_nf_log(10);
        if (!prev10)
            return prev10.error();
        StateRecord rec{getpid(), process_start_time(getpid()).value_or(0), be->ns_.inode, *prev2, *prev10};
        auto state = StateFile::write(rec);
        if (!state)
            return state.error();
        be->state_.emplace(std::move(*state));
        if (auto st = setup_step("state-file"); !st)
            return st.error();

        auto logger = LoggerBinding::bind(*prev2, *prev10);
        if (!logger)
            return logger.error();
        be->logger_.emplace(std::move(*logger));
        if (auto st = setup_step("logger"); !st)
            return st.error();
    }

    auto table = NftTraceTable::create(*rules, owner_comment());
    if (!table)
        return table.error();
    be->table_.emplace(std::move(*table));
    if (auto st = setup_step("nft-table"); !st)
        return st.error();

    if (filter_is_empty(opts))
        diag.notice("warning: no filter given: every packet in this netns is traced, which slows every packet "
                    "down");
    return std::unique_ptr<TraceBackend>(std::move(be));
}

Result<Embedded> start_embedded(const Options& opts, Diagnostics& diag, bool bind_logger)
{
    Tuning t;
    t.legacy_records = false;
    t.logger = bind_logger;
    auto be = make_backend(opts, t, diag);
    if (!be)
        return be.error();
    auto* nl = static_cast<NetlinkBackend*>(be->get());
    Embedded e;
    e.fd = nl->fd();
    e.netns = nl->netns_inode();
    e.backend = std::move(*be);
    return e;
}

namespace {

// What the set-up of each further netns says, less what the first one said
// already (the no-filter warning).
class OnceMore final : public Diagnostics {
public:
    explicit OnceMore(Diagnostics& to) : to_(to) {}
    void notice(std::string_view line) override
    {
        if (line.rfind("warning: no filter given", 0) != 0)
            to_.notice(line);
    }
    void error(const Error& e) override { to_.error(e); }
    void log(std::string_view text) override { to_.log(text); }

private:
    Diagnostics& to_;
};

}  // namespace

Result<std::vector<Embedded>> start_marking(const Options& opts, Diagnostics& diag, bool bind_logger)
{
    std::vector<Embedded> out;
    auto own = start_embedded(opts, diag, bind_logger);
    if (!own)
        return own.error();
    const uint64_t own_netns = own->netns;
    out.push_back(std::move(*own));
    if (opts.netns)
        return out;
    NetnsFinder finder;
    OnceMore quieter(diag);
    for (uint32_t ino : finder.all()) {
        if (ino == own_netns)
            continue;
        Options in = opts;
        in.netns = NetnsSpec{NetnsSpec::Kind::Inode, ino, std::to_string(ino)};
        auto other = start_embedded(in, quieter, bind_logger);
        if (!other) {
            diag.notice("netns " + std::to_string(ino) + ": no rule lines there: " + other.error().what);
            continue;
        }
        out.push_back(std::move(*other));
    }
    return out;
}

std::vector<Check> marking_requirements(const Options& opts) { return requirements(opts); }

std::string listeners_summary(const std::vector<Embedded>& listeners)
{
    std::string s;
    for (size_t i = 0; i < listeners.size(); i++)
        s += fmt::format("{}netns {} ({})", i ? ", " : "; nf_tables trace: ", listeners[i].netns,
                         listeners[i].backend->summary());
    return s;
}

}  // namespace itr::netlink

namespace itr {

namespace {

Result<std::unique_ptr<TraceBackend>> start_netlink_backend(const Options& opts, Diagnostics& diag)
{
    netlink::Tuning t;
    // -B asks for more buffer than the default: honour the larger size.
    const long page = sysconf(_SC_PAGESIZE);
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const long long asked = static_cast<long long>(opts.perf_pages) * (page > 0 ? page : 4096) * (cpus > 0 ? cpus : 1);
    if (asked > t.rcvbuf_bytes && asked < (1LL << 30))
        t.rcvbuf_bytes = static_cast<int>(asked);
    return netlink::make_backend(opts, t, diag);
}

Result<std::vector<std::string>> remove_leftovers()
{
    std::vector<std::string> notices;
    // Instances recorded in state files (they name their netns).
    NetnsFinder finder;
    glob_t g{};
    if (glob(fmt::format("{}/netlink-*.state", netlink::kStateDir).c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
            const std::string path = g.gl_pathv[i];
            auto st = netlink::read_state(path);
            if (!st) {
                continue;
            }
            if (st->pid == getpid() || netlink::process_alive(st->pid, st->start_time))
                continue;
            auto fd = st->netns <= UINT32_MAX ? finder.open(static_cast<uint32_t>(st->netns))
                                              : Result<Fd>(Error{"not a netns inode", ""});
            if (!fd) {
                if (unlink(path.c_str()) == 0)
                    notices.push_back(fmt::format("removed {}: its netns {} no longer exists", path, st->netns));
                continue;
            }
            auto inside = ScopedNetns::enter(fd->get());
            if (!inside)
                return inside.error();
            netlink::recover_here(st->netns, notices);
        }
    }
    globfree(&g);
    // A table left in our own netns without a state file.
    auto self = open_own_netns();
    if (self)
        netlink::recover_here(self->inode, notices);
    return notices;
}

class NetlinkProvider final : public BackendProvider {
public:
    std::string_view name() const override { return "netlink"; }
    Capabilities capabilities() const override
    {
        return {Capability::LegacyRuleEvents, Capability::NftRuleEvents};
    }
    std::optional<std::string> probe(const Options& opts) const override
    {
        if (auto bad = first_fatal(netlink::requirements(opts)))
            return bad->detail;
        return std::nullopt;
    }
    Result<std::unique_ptr<TraceBackend>> start(const Options& opts, Diagnostics& diag) const override
    {
        return start_netlink_backend(opts, diag);
    }
    Result<std::vector<std::string>> cleanup_leftovers() const override { return remove_leftovers(); }
    int check(const Options& opts, std::ostream& out, Diagnostics&) const override
    {
        const auto checks = netlink::requirements(opts);
        out << "netlink backend (nftables nftrace; nf_tables trace events for iptables-nft and nftables rules, "
               "nfnetlink_log TRACE records for iptables-legacy rules)\n";
        write_checks(out, checks);
        return first_fatal(checks) ? 1 : 0;
    }
};

}  // namespace

std::unique_ptr<BackendProvider> make_netlink_provider() { return std::make_unique<NetlinkProvider>(); }

}  // namespace itr
