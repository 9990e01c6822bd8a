// The request to stop (SIGINT, SIGTERM, SIGHUP) as every part sees it, and
// the check set-up makes between its steps, so that a signal during set-up
// stops it at the next step and unwinds through the same cleanup as a stop
// while tracing. Async-signal-safe to set.
#pragma once

#include "iptables_trace/result.hpp"

namespace itr {

// Called from the signal handler: only stores the number.
void note_stop_signal(int sig) noexcept;
bool stop_requested() noexcept;
int stop_signal() noexcept;  // the signal that asked to stop, 0 if none

// Between two set-up steps: an Error ("interrupted ...") once a stop was
// asked for, so the caller returns and its owners undo what was done.
// Test hook: ITR_TEST_PAUSE_AT=<stage> says "paused at <stage>" on stderr
// and waits (up to 60 s) for a stop signal there.
Status setup_step(const char* stage);

// poll(2) for POLLIN on one descriptor that a signal does not cut short:
// EINTR polls again for the time left. >0 readable, 0 timed out, <0 error
// (errno set).
int poll_readable(int fd, int timeout_ms);

}  // namespace itr
