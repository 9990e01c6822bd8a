// Stop requests from signals. Installed before anything is loaded, so every
// kernel resource is owned by something whose destructor runs on the way out.
#pragma once

#include <csignal>

#include "iptables_trace/stop.hpp"

namespace itr {

// SIGINT, SIGTERM, SIGHUP set the stop flag (stop.hpp; no SA_RESTART, so a
// blocking poll returns EINTR); SIGPIPE is ignored and a failed write ends
// the run.
void install_stop_handlers();

}  // namespace itr
