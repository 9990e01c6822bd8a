// Doing things inside another network namespace, found by its inode:
// running a function on a thread that entered it, and running a program in
// it (fork + setns + execve, no shell) with a deadline and an output bound.
// Shared by the readers of rule text (legacy iptables-save, nftables).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "iptables_trace/result.hpp"

namespace itr {

struct CommandLimits {
    std::chrono::milliseconds timeout{5000};
    size_t max_stdout = size_t{256} << 20;
};

// CLOCK_MONOTONIC in nanoseconds (the clock trace events are stamped with).
uint64_t monotonic_ns();

class NetnsExec {
public:
    NetnsExec();
    ~NetnsExec();
    NetnsExec(const NetnsExec&) = delete;
    NetnsExec& operator=(const NetnsExec&) = delete;

    // The inode of the caller's own network namespace.
    uint32_t own_netns() const;

    // Runs fn with the calling thread's view in netns. For a foreign netns a
    // short-lived thread enters it (setns of a network namespace is per
    // thread); sockets and /proc files opened there are bound to that netns.
    // Nothing is kept open afterwards, so a dead container's netns is never
    // kept alive. The error is about finding or entering the netns; what fn
    // does is fn's business.
    Status run_in(uint32_t netns, const std::function<void()>& fn);

    // Runs argv[0] (an absolute path) in netns with PATH and LC_ALL=C only,
    // stdin from /dev/null; returns its stdout when it exits 0. Errors read
    // "<argv...> in netns N: <why>" (exit status with the first line of
    // stderr, timed out, output too large, could not enter or execute).
    Result<std::string> run(uint32_t netns, const std::vector<std::string>& argv, const CommandLimits& limits);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace itr
