#include "iptables_trace/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace itr {
namespace {

constexpr const char* kOwnNetns = "/proc/thread-self/ns/net";

std::optional<uint64_t> decimal(std::string_view s)
{
    if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
        return std::nullopt;
    return v;
}

void list_dir(const char* dir, std::vector<std::string>& out)
{
    DIR* d = ::opendir(dir);
    if (!d)
        return;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.')
            out.push_back(std::string(dir) + "/" + e->d_name);
    ::closedir(d);
}

void list_proc(std::vector<std::string>& out)
{
    DIR* d = ::opendir("/proc");
    if (!d)
        return;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
            out.push_back(std::string("/proc/") + e->d_name + "/ns/net");
    ::closedir(d);
}

dev_t own_nsfs_dev(uint32_t* inode)
{
    struct stat st {};
    if (::stat(kOwnNetns, &st) != 0)
        return 0;
    if (inode)
        *inode = static_cast<uint32_t>(st.st_ino);
    return st.st_dev;
}

Result<NetnsHandle> open_path(const std::string& path, const std::string& label)
{
    NetnsHandle h;
    h.label = label;
    h.fd = Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!h.fd)
        return Error{"-N " + label + ": " + path + ": " + errno_text(errno),
                     "give a netns inode, pid:PID, a name from `ip netns list`, or a path"};
    struct stat st {};
    if (::fstat(h.fd.get(), &st) != 0)
        return Error{"-N " + label + ": " + path + ": " + errno_text(errno), ""};
    // nsfs answers NS_GET_NSTYPE (4.11+); anything else is not a namespace.
    const int type = ::ioctl(h.fd.get(), NS_GET_NSTYPE);
    const bool is_net = type >= 0 ? type == CLONE_NEWNET : st.st_dev == own_nsfs_dev(nullptr);
    if (!is_net)
        return Error{"-N " + label + ": " + path + " is not a network namespace", ""};
    h.inode = static_cast<uint32_t>(st.st_ino);
    return h;
}

}  // namespace

Result<NetnsSpec> parse_netns_spec(std::string_view s)
{
    NetnsSpec spec;
    spec.text = std::string(s);
    if (s.empty())
        return Error{"empty -N/--netns: want an inode number, pid:N, a name under /var/run/netns or a path", ""};
    if (s.find_first_not_of("0123456789") == std::string_view::npos) {
        auto v = decimal(s);
        if (!v || *v == 0 || *v > UINT32_MAX)
            return Error{"invalid netns inode '" + spec.text + "' for -N/--netns", ""};
        spec.kind = NetnsSpec::Kind::Inode;
        spec.number = static_cast<uint32_t>(*v);
        return spec;
    }
    if (s.starts_with("pid:")) {
        auto v = decimal(s.substr(4));
        if (!v || *v == 0 || *v > kPidMaxLimit)
            return Error{"invalid pid in '" + spec.text + "' for -N/--netns: want pid:N with N in 1.." +
                             std::to_string(kPidMaxLimit),
                         ""};
        spec.kind = NetnsSpec::Kind::Pid;
        spec.number = static_cast<uint32_t>(*v);
        return spec;
    }
    if (s.find('/') == std::string_view::npos) {
        if (s == "." || s == ".." || s.size() > 255)
            return Error{"invalid netns name '" + spec.text + "' for -N/--netns", ""};
        spec.kind = NetnsSpec::Kind::Name;
    } else {
        if (s.size() > 4095)
            return Error{"netns path for -N/--netns is too long", ""};
        spec.kind = NetnsSpec::Kind::Path;
    }
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20)
            return Error{"netns name for -N/--netns contains a control character", ""};
    return spec;
}

std::string netns_spec_path(const NetnsSpec& spec)
{
    switch (spec.kind) {
    case NetnsSpec::Kind::Inode:
        return "";
    case NetnsSpec::Kind::Pid:
        return "/proc/" + std::to_string(spec.number) + "/ns/net";
    case NetnsSpec::Kind::Name:
        return "/var/run/netns/" + spec.text;
    case NetnsSpec::Kind::Path:
        break;
    }
    return spec.text;
}

Result<NetnsHandle> open_own_netns() { return open_path(kOwnNetns, "current"); }

Result<NetnsHandle> open_netns(const NetnsSpec& spec)
{
    if (spec.kind != NetnsSpec::Kind::Inode)
        return open_path(netns_spec_path(spec), spec.text);
    NetnsFinder finder;
    auto fd = finder.open(spec.number);
    if (!fd)
        return Error{"-N " + spec.text + ": " + fd.error().what, fd.error().hint};
    NetnsHandle h;
    h.fd = std::move(*fd);
    h.inode = spec.number;
    h.label = spec.text;
    return h;
}

NetnsFinder::NetnsFinder() { nsfs_dev_ = own_nsfs_dev(&own_ino_); }

Result<Fd> NetnsFinder::open(uint32_t inode)
{
    if (auto it = hint_.find(inode); it != hint_.end()) {
        if (Fd fd = try_open(it->second, inode))
            return fd;
        hint_.erase(it);
    }
    std::vector<std::string> candidates;
    for (const char* dir : {"/run/netns", "/var/run/netns"})
        list_dir(dir, candidates);
    list_proc(candidates);
    for (const std::string& p : candidates) {
        if (Fd fd = try_open(p, inode)) {
            if (hint_.size() > 4096)
                hint_.clear();
            hint_[inode] = p;
            return fd;
        }
    }
    return Error{"no network namespace has inode " + std::to_string(inode),
                 "no process lives in it and no bind mount under /run/netns holds it"};
}

std::vector<uint32_t> NetnsFinder::all()
{
    std::vector<std::string> candidates;
    for (const char* dir : {"/run/netns", "/var/run/netns"})
        list_dir(dir, candidates);
    list_proc(candidates);
    std::vector<uint32_t> out;
    std::unordered_set<uint32_t> seen;
    for (const std::string& p : candidates) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0 || st.st_dev != nsfs_dev_ || st.st_ino > UINT32_MAX)
            continue;
        const auto ino = static_cast<uint32_t>(st.st_ino);
        if (seen.insert(ino).second) {
            hint_[ino] = p;
            out.push_back(ino);
        }
    }
    return out;
}

Fd NetnsFinder::try_open(const std::string& path, uint32_t inode) const
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_ino != inode || st.st_dev != nsfs_dev_)
        return Fd{};
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    // Again on the open file: the pid may have been reused meanwhile.
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_ino != inode || st.st_dev != nsfs_dev_)
        return Fd{};
    return fd;
}

Result<ScopedNetns> ScopedNetns::enter(int target_fd)
{
    ScopedNetns g;
    g.saved_ = Fd(::open(kOwnNetns, O_RDONLY | O_CLOEXEC));
    if (!g.saved_)
        return Error{std::string("open ") + kOwnNetns + ": " + errno_text(errno), ""};
    if (::setns(target_fd, CLONE_NEWNET) < 0)
        return Error{"setns into the target netns: " + errno_text(errno), ""};
    return g;
}

ScopedNetns::~ScopedNetns()
{
    if (saved_)
        (void)::setns(saved_.get(), CLONE_NEWNET);
}

}  // namespace itr
