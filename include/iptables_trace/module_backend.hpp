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

}  // namespace itr
