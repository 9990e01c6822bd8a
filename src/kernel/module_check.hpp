// --check for the module backend.
#pragma once

#include <ostream>

#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/options.hpp"

namespace itr {

// The report on out; 0 when every program loads, 1 when not, 2 for a bad -N.
int module_check(const Options& opts, std::ostream& out, Diagnostics& diag);

}  // namespace itr
