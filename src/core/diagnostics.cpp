#include "iptables_trace/diagnostics.hpp"

#include <time.h>

#include <sstream>

namespace itr {

StepClock::StepClock(Diagnostics& diag, bool on, std::string indent, int64_t start_ns)
    : diag_(diag), on_(on), indent_(std::move(indent)), t0_(start_ns ? start_ns : now_ns()), last_(t0_)
{
}

int64_t StepClock::now_ns()
{
    struct timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

void StepClock::mark(std::string_view step)
{
    if (!on_)
        return;
    const int64_t t = now_ns();
    std::ostringstream s;
    s << "start-up: " << indent_ << step << " " << (t - last_) / 1000000.0 << " ms";
    diag_.notice(s.str());
    last_ = t;
}

void StepClock::total()
{
    if (!on_)
        return;
    std::ostringstream s;
    s << "start-up: ready after " << (now_ns() - t0_) / 1000000.0 << " ms";
    diag_.notice(s.str());
}

}  // namespace itr
