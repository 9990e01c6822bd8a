// The guard: a small process that outlives a tracer killed with SIGKILL (or
// crashed) and removes what it left in the kernel at once, instead of at the
// next start. Without it, after `kill -9` the logger binding of the netlink
// and bpf backends (nf_log/2 and nf_log/10 = nfnetlink_log, no listener)
// swallowed the administrator's TRACE records and conntrack's invalid-packet
// logs until someone ran the tool again, and the module and kprobe events
// stayed in the kernel.
//
// The tracer holds the write end of a pipe; the guard blocks reading the
// other end. A tracer that has released everything writes one byte and the
// guard exits quietly; end of file without that byte means the tracer died
// without its cleanup. The guard is a fresh exec of the same binary (every
// descriptor of ours is close-on-exec, so it holds no socket, link or perf
// buffer that would keep the tracer's resources alive) in a session of its
// own (Ctrl-C and a dropped SSH connection reach the tracer, not the guard).
// A SIGKILL sent to both (a whole cgroup) leaves the fallback: the next
// start, or --cleanup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "iptables_trace/result.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {

inline constexpr const char* kGuardArg = "--internal-guard";
inline constexpr const char* kGuardComm = "itr-guard";

class Guard {
public:
    // Forks and execs the guard for this process. An error leaves no process.
    static Result<Guard> spawn();
    Guard(Guard&&) noexcept = default;
    Guard& operator=(Guard&&) noexcept = default;
    // Tells the guard that everything was released (call last).
    ~Guard();
    pid_t pid() const { return pid_; }

private:
    Guard() = default;
    Fd done_;
    pid_t pid_ = 0;
};

// The guard's own command line: kGuardArg FD OWNER_PID OWNER_START.
struct GuardArgs {
    int fd = -1;
    pid_t owner = 0;
    uint64_t owner_start = 0;
};
std::optional<GuardArgs> parse_guard_args(int argc, char** argv);

enum class OwnerEnd { Released, Died };
// Blocks until the owner says it released everything, or its end of the
// pipe closes without that (it died). Then, for a death, waits (bounded)
// until the owner's process is gone, so that the leftover checks, which ask
// whether the owner lives, see it dead.
OwnerEnd wait_for_owner(const GuardArgs& a);

}  // namespace itr
