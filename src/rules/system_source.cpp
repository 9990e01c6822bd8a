// The real RulesetSource: enters a network namespace by inode (netns_exec),
// reads its legacy xtables rulesets with iptables-legacy-save, and
// fingerprints a table with getsockopt(IPT_SO_GET_ENTRIES) on a raw socket
// made inside it.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <algorithm>
#include <array>

#include "iptables_trace/enricher.hpp"
#include "iptables_trace/netns_exec.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {
namespace {


// ---------------------------------------------------------------------------
// Reading a small /proc file whole.
Result<std::string> read_small_file(const char* path) {
    Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return Error{std::string(path) + ": " + errno_text(errno), ""};
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error{std::string(path) + ": " + errno_text(errno), ""};
        }
        if (n == 0) break;
        out.append(buf, size_t(n));
        if (out.size() > (1u << 20)) break;
    }
    return out;
}

// The tables that exist in the calling thread's netns. /proc/thread-self/net
// follows the thread's netns (a setns in this thread is seen at once).
Result<std::vector<std::string>> tables_here(Family f) {
    const char* path = f == Family::Ipv4 ? "/proc/thread-self/net/ip_tables_names"
                                         : "/proc/thread-self/net/ip6_tables_names";
    std::vector<std::string> names;
    auto text = read_small_file(path);
    if (!text) {
        // No file: the ip(6)_tables module is not loaded, so no table exists.
        if (::access("/proc/thread-self/net", F_OK) == 0 && ::access(path, F_OK) != 0) return names;
        return text.error();
    }
    size_t pos = 0;
    const std::string& s = *text;
    while (pos < s.size()) {
        size_t nl = s.find('\n', pos);
        if (nl == std::string::npos) nl = s.size();
        if (nl > pos) names.push_back(s.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return names;
}

// 64-bit mixing hash over whole words; not cryptographic, only a change
// detector, fast enough for tables of many megabytes.
struct Hasher {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    void word(uint64_t w) {
        h ^= w * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
        h *= 0xc4ceb9fe1a85ec53ull;
    }
    void bytes(const unsigned char* p, size_t n) {
        word(n);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            word(w);
        }
        uint64_t tail = 0;
        std::memcpy(&tail, p + i, n - i);
        word(tail);
    }
    uint64_t done() const {
        uint64_t x = h;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
    }
};

// The entries of a table blob, as far as xt_chain_layout needs them;
// nullopt when they do not tile the blob.
template <typename Entry>
std::optional<std::vector<XtEntryView>> entry_views(const unsigned char* base, size_t size) {
    std::vector<XtEntryView> out;
    for (size_t off = 0; off < size;) {
        if (size - off < sizeof(Entry)) return std::nullopt;
        Entry e;
        std::memcpy(&e, base + off, sizeof e);
        if (e.next_offset < sizeof(Entry) || e.next_offset > size - off) return std::nullopt;
        if (e.target_offset < sizeof(Entry) || size_t(e.target_offset) + sizeof(xt_entry_target) > e.next_offset)
            return std::nullopt;
        xt_entry_target t;
        std::memcpy(&t, base + off + e.target_offset, sizeof t);
        XtEntryView v;
        v.offset = uint32_t(off);
        v.target.assign(t.u.user.name, strnlen(t.u.user.name, sizeof t.u.user.name));
        const size_t room = e.next_offset - e.target_offset - sizeof(xt_entry_target);
        const unsigned char* data = base + off + e.target_offset + sizeof(xt_entry_target);
        if (v.target.empty() && room >= sizeof(int32_t)) {
            int32_t verdict;
            std::memcpy(&verdict, data, sizeof verdict);
            v.verdict = verdict;
        } else if (v.target == "ERROR") {
            const size_t len = std::min<size_t>(room, XT_FUNCTION_MAXNAMELEN);
            v.error_name.assign(reinterpret_cast<const char*>(data), strnlen(reinterpret_cast<const char*>(data), len));
        }
        out.push_back(std::move(v));
        off += e.next_offset;
    }
    return out;
}

// The fingerprint of one table in the calling thread's netns. Hashes what
// IPT_SO_GET_INFO and IPT_SO_GET_ENTRIES return, with every entry's counters
// zeroed: counters move with each packet, rules do not. Everything else in
// the entries is fixed for a given ruleset: the kernel copies matches and
// targets out only up to their usersize (state such as rate-limit credit and
// kernel pointers are left out and zeroed) and sums the counters separately.
template <typename GetInfo, typename GetEntries, typename Entry>
Result<Fingerprint> fingerprint_here_t(int family, int opt_info, int opt_entries, const std::string& table,
                                       Family fam) {
    Fingerprint fp;
    auto names = tables_here(fam);
    if (!names) return names.error();
    bool listed = false;
    for (const auto& n : *names) listed |= n == table;
    // Asking for a table that is not listed would create it in that netns
    // (the kernel instantiates tables on first use): never do that.
    if (!listed) return fp;
    if (table.size() >= XT_TABLE_MAXNAMELEN) return Error{"table name too long: " + table, ""};

    Fd sock(::socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!sock) return Error{"raw socket: " + errno_text(errno), "rule text needs CAP_NET_RAW and CAP_NET_ADMIN"};
    for (int attempt = 0; attempt < 8; ++attempt) {
        GetInfo info{};
        std::memcpy(info.name, table.data(), table.size());
        socklen_t len = sizeof info;
        if (::getsockopt(sock.get(), family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, opt_info, &info, &len) != 0) {
            int e = errno;
            // The table went away between the listing and now.
            if (e == ENOENT) return Fingerprint{};
            return Error{"get info of table " + table + ": " + errno_text(e), ""};
        }
        std::vector<unsigned char> buf(sizeof(GetEntries) + info.size);
        auto* ge = reinterpret_cast<GetEntries*>(buf.data());
        std::memcpy(ge->name, table.data(), table.size());
        ge->size = info.size;
        len = socklen_t(buf.size());
        if (::getsockopt(sock.get(), family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, opt_entries, ge, &len) != 0) {
            int e = errno;
            if (e == EAGAIN) continue;  // replaced between the two calls: size changed
            if (e == ENOENT) return Fingerprint{};
            return Error{"get entries of table " + table + ": " + errno_text(e), ""};
        }
        unsigned char* base = buf.data() + offsetof(GetEntries, entrytable);
        // Before the counters are masked: the walk only reads targets.
        auto views = entry_views<Entry>(base, info.size);
        std::array<uint32_t, 5> hooks{}, underflows{};
        for (unsigned i = 0; i < NF_INET_NUMHOOKS && i < 5; ++i) {
            hooks[i] = info.hook_entry[i];
            underflows[i] = info.underflow[i];
        }
        fp.layout = views ? xt_chain_layout(*views, info.valid_hooks, hooks, underflows)
                          : XtLayout{{}, "the entries do not tile the table"};
        for (size_t off = 0; off + sizeof(Entry) <= info.size;) {
            auto* e = reinterpret_cast<Entry*>(base + off);
            std::memset(&e->counters, 0, sizeof e->counters);
            if (e->next_offset < sizeof(Entry)) break;
            off += e->next_offset;
        }
        Hasher h;
        h.word(info.valid_hooks);
        for (unsigned i = 0; i < NF_INET_NUMHOOKS; ++i) {
            h.word(info.hook_entry[i]);
            h.word(info.underflow[i]);
        }
        h.word(info.num_entries);
        h.bytes(base, info.size);
        fp.present = true;
        fp.hash = h.done();
        return fp;
    }
    return Error{"table " + table + " kept changing while being fingerprinted", ""};
}

Result<Fingerprint> fingerprint_here(Family f, const std::string& table) {
    if (f == Family::Ipv4)
        return fingerprint_here_t<ipt_getinfo, ipt_get_entries, ipt_entry>(AF_INET, IPT_SO_GET_INFO,
                                                                             IPT_SO_GET_ENTRIES, table, f);
    return fingerprint_here_t<ip6t_getinfo, ip6t_get_entries, ip6t_entry>(AF_INET6, IP6T_SO_GET_INFO,
                                                                            IP6T_SO_GET_ENTRIES, table, f);
}

// ---------------------------------------------------------------------------
// The iptables-save program. iptables-legacy-save first: ipt_do_table walks
// the legacy xtables tables, and since iptables 1.8 the plain name may be the
// nf_tables variant, which shows other (nftables) rules. The plain
// iptables-save is the fallback for systems older than 1.8, where it is the
// legacy tool and the -legacy name does not exist; an nft variant found that
// way is refused rather than trusted.
Result<std::string> find_save_program(Family f, const std::string& override_path) {
    if (!override_path.empty()) return override_path;
    const char* dirs[] = {"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"};
    const std::string legacy = f == Family::Ipv4 ? "iptables-legacy-save" : "ip6tables-legacy-save";
    const std::string plain = f == Family::Ipv4 ? "iptables-save" : "ip6tables-save";
    for (const char* d : dirs) {
        std::string p = std::string(d) + "/" + legacy;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    for (const char* d : dirs) {
        std::string p = std::string(d) + "/" + plain;
        if (::access(p.c_str(), X_OK) != 0) continue;
        char real[PATH_MAX];
        if (::realpath(p.c_str(), real) && std::string_view(real).find("nft") != std::string_view::npos)
            return Error{p + " is the nf_tables variant (" + real + ") and no " + legacy + " was found",
                         "install the iptables package that provides " + legacy};
        return p;
    }
    return Error{legacy + " not found", "install iptables (the legacy tools) to see rule text"};
}

class SystemSource final : public RulesetSource {
public:
    explicit SystemSource(SystemSourceOptions o) : opts_(std::move(o)) {}

    uint64_t now_ns() override { return monotonic_ns(); }
    uint32_t own_netns() override { return exec_.own_netns(); }

    Result<Fingerprint> fingerprint(uint32_t netns, Family f, const std::string& table) override {
        Result<Fingerprint> out = Error{"not run", ""};
        auto st = exec_.run_in(netns, [&] { out = fingerprint_here(f, table); });
        if (!st) return st.error();
        return out;
    }

    Result<std::vector<std::string>> list_tables(uint32_t netns, Family f) override {
        Result<std::vector<std::string>> out = Error{"not run", ""};
        auto st = exec_.run_in(netns, [&] { out = tables_here(f); });
        if (!st) return st.error();
        return out;
    }

    Result<std::string> save(uint32_t netns, Family f, const std::string& table) override;

private:
    SystemSourceOptions opts_;
    NetnsExec exec_;
};

Result<std::string> SystemSource::save(uint32_t netns, Family f, const std::string& table) {
    auto prog = find_save_program(f, f == Family::Ipv4 ? opts_.save_program_v4 : opts_.save_program_v6);
    if (!prog) return prog.error();
    std::vector<std::string> args = {*prog};
    if (!table.empty()) {
        args.push_back("-t");
        args.push_back(table);
    }
    return exec_.run(netns, args, CommandLimits{opts_.save_timeout, opts_.max_save_bytes});
}

}  // namespace

std::unique_ptr<RulesetSource> make_system_ruleset_source(const SystemSourceOptions& opts) {
    return std::make_unique<SystemSource>(opts);
}

}  // namespace itr
