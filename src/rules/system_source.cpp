// The real RulesetSource: enters a network namespace by inode, reads its
// legacy xtables rulesets with iptables-legacy-save, and fingerprints a table
// with getsockopt(IPT_SO_GET_ENTRIES) on a raw socket made inside it.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <exception>
#include <thread>
#include <unordered_map>

#include "iptables_trace/enricher.hpp"

namespace itr {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Owns one file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.release();
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

uint64_t mono_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// ---------------------------------------------------------------------------
// Finding a netns by inode. The inode is all an event carries; an fd for it
// comes from a bind mount under /run/netns (ip netns), or from any process
// living in it (/proc/<pid>/ns/net). The last path that worked is remembered
// and checked with stat first, so the /proc scan happens once per netns.
class NetnsResolver {
public:
    NetnsResolver() {
        struct stat st{};
        if (::stat("/proc/self/ns/net", &st) == 0) {
            own_ino_ = uint32_t(st.st_ino);
            nsfs_dev_ = st.st_dev;
        }
    }
    uint32_t own() const { return own_ino_; }

    Result<Fd> open(uint32_t ino) {
        auto it = hint_.find(ino);
        if (it != hint_.end()) {
            if (Fd fd = try_open(it->second, ino)) return fd;
            hint_.erase(it);
        }
        std::vector<std::string> candidates;
        for (const char* dir : {"/run/netns", "/var/run/netns"}) list_dir(dir, "", candidates);
        list_proc(candidates);
        for (const std::string& p : candidates) {
            if (Fd fd = try_open(p, ino)) {
                if (hint_.size() > 4096) hint_.clear();
                hint_[ino] = p;
                return fd;
            }
        }
        return Error{"network namespace " + std::to_string(ino) + " not found",
                     "it has no process left and no bind mount under /run/netns"};
    }

private:
    Fd try_open(const std::string& path, uint32_t ino) const {
        struct stat st{};
        if (::stat(path.c_str(), &st) != 0 || st.st_ino != ino || st.st_dev != nsfs_dev_) return Fd{};
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        // Check again on the open file: the pid may have been reused.
        if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_ino != ino || st.st_dev != nsfs_dev_) return Fd{};
        return fd;
    }
    static void list_dir(const char* dir, const char* suffix, std::vector<std::string>& out) {
        DIR* d = ::opendir(dir);
        if (!d) return;
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            out.push_back(std::string(dir) + "/" + e->d_name + suffix);
        }
        ::closedir(d);
    }
    static void list_proc(std::vector<std::string>& out) {
        DIR* d = ::opendir("/proc");
        if (!d) return;
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            out.push_back(std::string("/proc/") + e->d_name + "/ns/net");
        }
        ::closedir(d);
    }

    uint32_t own_ino_ = 0;
    dev_t nsfs_dev_ = 0;
    std::unordered_map<uint32_t, std::string> hint_;
};

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

    uint64_t now_ns() override { return mono_now(); }
    uint32_t own_netns() override { return resolver_.own(); }

    Result<Fingerprint> fingerprint(uint32_t netns, Family f, const std::string& table) override {
        Result<Fingerprint> out = Error{"not run", ""};
        auto st = in_netns(netns, [&] { out = fingerprint_here(f, table); });
        if (!st) return st.error();
        return out;
    }

    Result<std::vector<std::string>> list_tables(uint32_t netns, Family f) override {
        Result<std::vector<std::string>> out = Error{"not run", ""};
        auto st = in_netns(netns, [&] { out = tables_here(f); });
        if (!st) return st.error();
        return out;
    }

    Result<std::string> save(uint32_t netns, Family f, const std::string& table) override;

private:
    // Runs fn with the calling thread's view in netns. For a foreign netns a
    // short-lived thread enters it (setns of a network namespace is per
    // thread and allowed in a multi-threaded process); sockets and /proc
    // files opened there are bound to that netns. Nothing is kept open
    // afterwards, so we never keep a dead container's netns alive.
    Status in_netns(uint32_t netns, const std::function<void()>& fn) {
        if (netns == resolver_.own()) {
            fn();
            return ok_status();
        }
        auto fd = resolver_.open(netns);
        if (!fd) return fd.error();
        int err = 0;
        // An exception escaping a thread would end the process without
        // unwinding (module, pins, nft table left live): carried out instead.
        std::exception_ptr thrown;
        std::thread t([&] {
            if (::setns(fd->get(), CLONE_NEWNET) != 0) {
                err = errno;
                return;
            }
            try {
                fn();
            } catch (...) {
                thrown = std::current_exception();
            }
        });
        t.join();
        if (thrown)
            std::rethrow_exception(thrown);
        if (err) return Error{"enter network namespace " + std::to_string(netns) + ": " + errno_text(err), ""};
        return ok_status();
    }

    SystemSourceOptions opts_;
    NetnsResolver resolver_;
};

// fork + setns + execve, no shell; stdout and stderr captured with a size
// bound and a deadline; the child is killed on either.
Result<std::string> SystemSource::save(uint32_t netns, Family f, const std::string& table) {
    auto prog = find_save_program(f, f == Family::Ipv4 ? opts_.save_program_v4 : opts_.save_program_v6);
    if (!prog) return prog.error();
    Fd nsfd;
    if (netns != resolver_.own()) {
        auto fd = resolver_.open(netns);
        if (!fd) return fd.error();
        nsfd = std::move(*fd);
    }
    // Everything the child needs is prepared before fork: after it only
    // async-signal-safe calls are allowed.
    std::vector<std::string> args = {*prog};
    if (!table.empty()) {
        args.push_back("-t");
        args.push_back(table);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char env_lc[] = "LC_ALL=C";
    char* envp[] = {env_path, env_lc, nullptr};

    int out_p[2], err_p[2];
    if (::pipe2(out_p, O_CLOEXEC) != 0) return Error{"pipe: " + errno_text(errno), ""};
    Fd out_r(out_p[0]), out_w(out_p[1]);
    if (::pipe2(err_p, O_CLOEXEC) != 0) return Error{"pipe: " + errno_text(errno), ""};
    Fd err_r(err_p[0]), err_w(err_p[1]);
    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));

    pid_t pid = ::fork();
    if (pid < 0) return Error{"fork: " + errno_text(errno), ""};
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (nsfd && ::setns(nsfd.get(), CLONE_NEWNET) != 0) _exit(126);
        if (devnull) ::dup2(devnull.get(), 0);
        if (::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) _exit(126);
        ::execve(argv[0], argv.data(), envp);
        _exit(127);
    }
    out_w.reset();
    err_w.reset();

    std::string out, err;
    bool too_big = false, timed_out = false;
    const uint64_t deadline = mono_now() + uint64_t(opts_.save_timeout.count()) * 1000000ull;
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        uint64_t now = mono_now();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        pollfd pfd[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
        int wait_ms = int((deadline - now) / 1000000ull) + 1;
        int n = ::poll(pfd, 2, wait_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = ::read(pfd[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& dst = i == 0 ? out : err;
            if (i == 1 && dst.size() > 4096) continue;  // keep the start of stderr only
            dst.append(buf, size_t(r));
            if (i == 0 && dst.size() > opts_.max_save_bytes) {
                too_big = true;
                out_open = err_open = false;
            }
        }
    }
    if (timed_out || too_big) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string what = *prog + (table.empty() ? "" : " -t " + table) + " in netns " + std::to_string(netns);
    if (timed_out) return Error{what + ": timed out", ""};
    if (too_big) return Error{what + ": output larger than " + std::to_string(opts_.max_save_bytes) + " bytes", ""};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return out;
    std::string why;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 126) why = "could not enter the network namespace";
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) why = "could not execute it";
    else if (WIFEXITED(status)) why = "exit status " + std::to_string(WEXITSTATUS(status));
    else why = "killed by signal " + std::to_string(WTERMSIG(status));
    size_t nl = err.find('\n');
    if (!err.empty()) why += ": " + err.substr(0, nl);
    return Error{what + ": " + why, ""};
}

}  // namespace

std::unique_ptr<RulesetSource> make_system_ruleset_source(const SystemSourceOptions& opts) {
    return std::make_unique<SystemSource>(opts);
}

}  // namespace itr
