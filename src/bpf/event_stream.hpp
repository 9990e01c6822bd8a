// Events from a BPF perf event array: the reader, the decoding into one
// reused TraceEvent, and the counts the exit summary gives. What every
// backend whose events come from BPF programs shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/model.hpp"
#include "iptables_trace/result.hpp"
#include "perf_reader.hpp"

namespace itr {

class PerfEventStream {
public:
    // The reader's callbacks point into the stream: it does not move.
    static Result<std::unique_ptr<PerfEventStream>> open(int map_fd, size_t pages_per_cpu);

    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost);
    // Everything buffered now, without waiting (at exit).
    Status drain(const EventFn& on_event, const LostFn& on_lost);
    // For a caller that waits on this and something else at once.
    int epoll_fd() const { return reader_->epoll_fd(); }

    // Losses found another way (a counter of refused outputs) and reported
    // by the caller: counted with the reader's own.
    void add_lost(uint64_t n) { lost_ += n; }
    // At exit: `refused` outputs the programs counted (output_err) that no
    // loss report covered yet (the last burst's) are counted lost; how many.
    uint64_t account_refused(uint64_t refused)
    {
        if (refused <= lost_)
            return 0;
        const uint64_t n = refused - lost_;
        lost_ += n;
        return n;
    }
    uint64_t lost() const { return lost_; }
    // "events 120, lost 0" (", undecodable N" when there were any).
    std::string totals() const;

private:
    PerfEventStream() = default;
    Status run(int rc);

    std::optional<PerfReader> reader_;
    const EventFn* on_event_ = nullptr;
    const LostFn* on_lost_ = nullptr;
    TraceEvent scratch_;  // every sample is decoded into it, storage reused
    uint64_t events_ = 0, lost_ = 0, undecodable_ = 0;
};

}  // namespace itr
