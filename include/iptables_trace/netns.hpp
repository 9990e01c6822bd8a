// Network namespaces: the one reading of -N, and the one way to find and
// enter a namespace, whether it comes from -N or from an event's inode.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iptables_trace/result.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {

// -N as given: an inode number, "pid:N", a name under /var/run/netns (what
// `ip netns list` shows), or a path to a namespace file.
struct NetnsSpec {
    enum class Kind { Inode, Pid, Name, Path };
    Kind kind = Kind::Name;
    uint32_t number = 0;  // Inode: the inode; Pid: the pid
    std::string text;     // as given, for messages
};

// Pure: the spec, or why the text can never name a namespace (one line,
// for "iptables-trace: ", exit 2).
Result<NetnsSpec> parse_netns_spec(std::string_view text);

// Pure: the file that names the namespace ("/proc/N/ns/net",
// "/var/run/netns/NAME", the path itself); "" for an inode, which names no
// file.
std::string netns_spec_path(const NetnsSpec& spec);

// An open namespace: the fd keeps it alive and is what setns() takes.
struct NetnsHandle {
    Fd fd;
    uint32_t inode = 0;
    std::string label;  // the -N text, or "current"
};

// The calling thread's own namespace.
Result<NetnsHandle> open_own_netns();

// The namespace -N names. Anything that does not name an existing network
// namespace (no such pid, name or file, a file that is not a network
// namespace, an inode no process and no bind mount holds) is an error the
// app reports as bad input, before anything is loaded.
Result<NetnsHandle> open_netns(const NetnsSpec& spec);

// Finds a namespace by inode, the only thing an event or a state file
// carries: a bind mount under /run/netns, else any process living in it.
// The path that worked is remembered and checked first next time, so the
// /proc scan happens once per namespace.
class NetnsFinder {
public:
    NetnsFinder();
    uint32_t own() const { return own_ino_; }
    Result<Fd> open(uint32_t inode);
    // Every network namespace a bind mount or a process holds now, ours
    // included, by inode (each remembered for open()).
    std::vector<uint32_t> all();

private:
    Fd try_open(const std::string& path, uint32_t inode) const;

    uint32_t own_ino_ = 0;
    dev_t nsfs_dev_ = 0;
    std::unordered_map<uint32_t, std::string> hint_;
};

// Switches the calling thread into a namespace, and back on destruction.
class ScopedNetns {
public:
    static Result<ScopedNetns> enter(int target_fd);
    ScopedNetns(ScopedNetns&& o) noexcept : saved_(std::move(o.saved_)) {}
    ScopedNetns& operator=(ScopedNetns&&) = delete;
    ~ScopedNetns();

private:
    ScopedNetns() = default;
    Fd saved_;
};

}  // namespace itr
