// The program's one path from parsed options to an exit code.
#pragma once

#include "iptables_trace/backend.hpp"
#include "iptables_trace/options.hpp"
#include "guard.hpp"

namespace itr {

int run(const Options& opts, const BackendRegistry& backends);
// The guard process (guard.hpp): waits for its tracer, and removes what the
// tracer left when it died without releasing it.
int run_guard(const GuardArgs& args, const BackendRegistry& backends);

}  // namespace itr
