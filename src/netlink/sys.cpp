// Processes, sysctl logger bindings and the recovery state file.
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "internal.hpp"

namespace itr::netlink {

MnlSocket& MnlSocket::operator=(MnlSocket&& o) noexcept
{
    if (this != &o) {
        if (s_)
            mnl_socket_close(s_);
        s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
}

MnlSocket::~MnlSocket()
{
    if (s_)
        mnl_socket_close(s_);
}

int MnlSocket::fd() const { return s_ ? mnl_socket_get_fd(s_) : -1; }
uint32_t MnlSocket::portid() const { return s_ ? mnl_socket_get_portid(s_) : 0; }

Result<MnlSocket> open_netfilter_socket()
{
    mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!s)
        return Error{"netlink socket (NETLINK_NETFILTER): " + errno_text(errno), ""};
    MnlSocket out(s);
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0)
        return Error{"netlink bind: " + errno_text(errno), ""};
    return out;
}

ssize_t recv_retrying(mnl_socket* nl, void* buf, size_t len)
{
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(nl, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

// ---- processes ---------------------------------------------------------------

bool process_alive(pid_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return false;
    const auto st = process_start_time(pid);
    return st && (start_time == 0 || *st == start_time);
}

// ---- logger bindings ---------------------------------------------------------

namespace {

std::string nf_log_path(int pf) { return fmt::format("/proc/sys/net/netfilter/nf_log/{}", pf); }

Result<std::string> read_fd_value(int fd)
{
    char buf[128];
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        return Error{"read nf_log: " + errno_text(errno), ""};
    std::string v(buf, static_cast<size_t>(n));
    while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
        v.pop_back();
    return v;
}

}  // namespace

Result<std::string> read_nf_log(int pf)
{
    Fd fd(::open(nf_log_path(pf).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return Error{nf_log_path(pf) + ": " + errno_text(errno), ""};
    return read_fd_value(fd.get());
}

Status write_nf_log(int pf, const std::string& value)
{
    Fd fd(::open(nf_log_path(pf).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd)
        return Error{nf_log_path(pf) + ": " + errno_text(errno), ""};
    if (pwrite(fd.get(), value.data(), value.size(), 0) < 0)
        return Error{fmt::format("write {} to {}: {}", value, nf_log_path(pf), errno_text(errno)), ""};
    return ok_status();
}

Result<LoggerBinding> LoggerBinding::bind(const std::string& saved2, const std::string& saved10)
{
    LoggerBinding b;
    auto one = [](int pf, const std::string& prev, One& slot) -> Status {
        slot.fd = Fd(::open(nf_log_path(pf).c_str(), O_RDWR | O_CLOEXEC));
        if (!slot.fd)
            return Error{nf_log_path(pf) + ": " + errno_text(errno),
                         "the netlink backend binds nfnetlink_log as the logger; /proc/sys must be writable"};
        slot.previous = prev;
        if (prev == "nfnetlink_log")
            return ok_status();
        static const std::string v = "nfnetlink_log";
        if (pwrite(slot.fd.get(), v.data(), v.size(), 0) < 0)
            return Error{fmt::format("bind nfnetlink_log as the logger ({}): {}", nf_log_path(pf), errno_text(errno)), ""};
        slot.changed = true;
        return ok_status();
    };
    if (auto st = one(2, saved2, b.v4_); !st)
        return st.error();
    if (auto st = one(10, saved10, b.v6_); !st)
        return st.error();
    return b;
}

LoggerBinding::~LoggerBinding()
{
    for (One* s : {&v6_, &v4_}) {
        if (!s->changed || !s->fd)
            continue;
        // Restore only when the binding is still ours.
        auto cur = read_fd_value(s->fd.get());
        if (cur && *cur != "nfnetlink_log")
            continue;
        const std::string v = s->previous.empty() ? "NONE" : s->previous;
        (void)pwrite(s->fd.get(), v.data(), v.size(), 0);
    }
}

// ---- state file --------------------------------------------------------------

std::string state_path(uint64_t netns_inode) { return fmt::format("{}/netlink-{}.state", kStateDir, netns_inode); }

std::string format_state(const StateRecord& s)
{
    return fmt::format("pid={}\nstart={}\nnetns={}\nnf_log2={}\nnf_log10={}\n", s.pid, s.start_time, s.netns,
                       s.nf_log2, s.nf_log10);
}

std::optional<StateRecord> parse_state(const std::string& text)
{
    StateRecord r;
    std::istringstream in(text);
    std::string line;
    bool have_pid = false, have_netns = false;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
        try {
            if (k == "pid") {
                r.pid = static_cast<pid_t>(std::stol(v));
                have_pid = true;
            } else if (k == "start") {
                r.start_time = std::stoull(v);
            } else if (k == "netns") {
                r.netns = std::stoull(v);
                have_netns = true;
            } else if (k == "nf_log2") {
                r.nf_log2 = v;
            } else if (k == "nf_log10") {
                r.nf_log10 = v;
            }
        } catch (...) {
            return std::nullopt;
        }
    }
    if (!have_pid || !have_netns)
        return std::nullopt;
    return r;
}

std::optional<StateRecord> read_state(const std::string& path)
{
    const auto text = read_small_file(path);
    if (!text)
        return std::nullopt;
    return parse_state(*text);
}

Result<StateFile> StateFile::write(const StateRecord& rec)
{
    if (mkdir(kStateDir, 0700) < 0 && errno != EEXIST)
        return Error{fmt::format("mkdir {}: {}", kStateDir, errno_text(errno)), ""};
    const std::string path = state_path(rec.netns);
    const std::string tmp = path + ".tmp";
    const std::string body = format_state(rec);
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd || ::write(fd.get(), body.data(), body.size()) != static_cast<ssize_t>(body.size()) ||
        fsync(fd.get()) < 0)
        return Error{fmt::format("write {}: {}", tmp, errno_text(errno)), ""};
    fd.reset();
    if (rename(tmp.c_str(), path.c_str()) < 0)
        return Error{fmt::format("rename {}: {}", path, errno_text(errno)), ""};
    StateFile s;
    s.path_ = path;
    return s;
}

StateFile::~StateFile()
{
    if (!path_.empty())
        (void)unlink(path_.c_str());
}

// ---- group 0 holder ----------------------------------------------------------

std::optional<std::string> group0_holder()
{
    // Columns: group_num peer_portid qlen copy_mode copy_range flush_timeout use
    std::ifstream f("/proc/thread-self/net/netfilter/nfnetlink_log");
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream in(line);
        unsigned group = 0, portid = 0;
        if (!(in >> group >> portid) || group != 0)
            continue;
        // Netlink port ids are the holder's pid for its first socket.
        std::ifstream comm(fmt::format("/proc/{}/comm", portid));
        std::string name;
        if (comm && std::getline(comm, name) && !name.empty())
            return fmt::format("{} (pid {})", name, portid);
        return fmt::format("netlink port id {}", portid);
    }
    return std::nullopt;
}

}  // namespace itr::netlink
