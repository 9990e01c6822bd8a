#include "merged_stream.hpp"

#include <poll.h>

#include <cerrno>

#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {
Status MergedStream::poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost, bool keep_side)
{
    // Held events want the next drain soon, not after a full wait.
    if (merge_.held() > 0 && timeout_ms > 10)
        timeout_ms = 10;
    if (pollfds_.empty()) {
        pollfds_.push_back({perf_.epoll_fd(), POLLIN, 0});
        for (const auto& s : sides_)
            pollfds_.push_back({s.fd, POLLIN, 0});
    }
    if (::poll(pollfds_.data(), pollfds_.size(), timeout_ms) < 0 && errno != EINTR)
        return Error{"poll: " + errno_text(errno), ""};
    return pass_on(on_event, on_lost, keep_side, false);
}

Status MergedStream::drain(const EventFn& on_event, const LostFn& on_lost, bool keep_side)
{
    return pass_on(on_event, on_lost, keep_side, true);
}

Status MergedStream::pass_on(const EventFn& on_event, const LostFn& on_lost, bool keep_side, bool last)
{
    merge_.begin_drain(uint64_t(StepClock::now_ns()));
    EventFn side = [&](TraceEvent& ev) {
        if (keep_side)
            on_event(ev);
    };
    for (auto& s : sides_)
        if (auto st = s.backend->drain(side, on_lost); !st)
            return st;
    merge_.release(on_event);
    EventFn offer = [&](TraceEvent& ev) { merge_.offer(ev, on_event); };
    auto st = perf_.drain(offer, on_lost);
    if (last)
        merge_.flush(on_event);
    return st;
}

}  // namespace itr
