// The program's one path from parsed options to an exit code.
#pragma once

#include "iptables_trace/backend.hpp"
#include "iptables_trace/options.hpp"

namespace itr {

int run(const Options& opts, const BackendRegistry& backends);

}  // namespace itr
