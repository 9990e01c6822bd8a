// Module-backend entry points beyond the TraceBackend interface.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "iptables_trace/options.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

// Where the module backend pins its programs (a private 0700 folder).
inline constexpr const char* kPinDir = "/sys/fs/bpf/iptables-trace";
// Held while an instance runs; tells a live instance from a killed one.
inline constexpr const char* kLockFile = "/run/iptables-trace.lock";

// --check: preflight, then every BPF program through the verifier without
// attaching or inserting anything. Writes a report; returns the exit code
// (0 when the programs load).
int run_module_check(const Options& opts, std::ostream& out);

// -N: a netns inode ("4026531840"), "pid:N", a name under /var/run/netns, or
// a path to a netns file, to the inode number the BPF filter compares.
Result<uint32_t> resolve_netns_inode(const NetnsSpec& spec);

}  // namespace itr
