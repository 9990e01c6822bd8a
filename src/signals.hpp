// Stop requests from signals. Installed before anything is loaded, so every
// kernel resource is owned by something whose destructor runs on the way out.
#pragma once

#include <csignal>

namespace itr {

// SIGINT, SIGTERM, SIGHUP set the stop flag (no SA_RESTART, so a blocking
// poll returns EINTR); SIGPIPE is ignored and a failed write ends the run.
void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal that asked to stop, 0 if none

}  // namespace itr
