// The perf event array's reader: owns the libbpf perf_buffer and hands each
// raw sample and each loss report to callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "iptables_trace/result.hpp"

struct perf_buffer;

namespace itr {

class PerfReader {
public:
    using SampleFn = std::function<void(int cpu, const void* data, uint32_t size)>;
    using LostFn = std::function<void(int cpu, uint64_t count)>;

    static Result<PerfReader> open(int map_fd, size_t pages_per_cpu, SampleFn on_sample, LostFn on_lost);
    PerfReader(PerfReader&&) noexcept = default;
    ~PerfReader();
    // Waits up to timeout_ms, then hands over what is there (also samples
    // that did not reach the wake-up threshold). Returns the number of
    // samples handled, or -errno (-EINTR when a signal arrived).
    int poll(int timeout_ms);
    // Hands over everything buffered now, without waiting (at exit).
    // Returns the number of samples handled, or -errno.
    int drain();
    // Readable when a wake-up threshold was reached on some CPU.
    int epoll_fd() const;

private:
    struct Callbacks {
        SampleFn sample;
        LostFn lost;
        uint64_t handled;
    };
    PerfReader() = default;
    std::unique_ptr<Callbacks> cb_;
    struct PbDeleter {
        void operator()(struct perf_buffer* pb) const;
    };
    std::unique_ptr<struct perf_buffer, PbDeleter> pb_;
};

}  // namespace itr
