#include "perf_reader.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace itr {

void PerfReader::PbDeleter::operator()(struct perf_buffer* pb) const { perf_buffer__free(pb); }

Result<PerfReader> PerfReader::open(int map_fd, size_t pages_per_cpu, SampleFn on_sample, LostFn on_lost)
{
    PerfReader r;
    r.cb_ = std::make_unique<Callbacks>(Callbacks{std::move(on_sample), std::move(on_lost)});
    auto sample = [](void* ctx, int cpu, void* data, __u32 size) {
        static_cast<Callbacks*>(ctx)->sample(cpu, data, size);
    };
    auto lost = [](void* ctx, int cpu, __u64 cnt) { static_cast<Callbacks*>(ctx)->lost(cpu, cnt); };
    struct perf_buffer* pb = perf_buffer__new(map_fd, pages_per_cpu, sample, lost, r.cb_.get(), nullptr);
    if (!pb) {
        int e = errno;
        return Error{"opening the perf buffer (" + std::to_string(pages_per_cpu) + " pages per CPU): " +
                         std::strerror(e),
                     e == EPERM || e == ENOMEM ? "lower -B, or raise RLIMIT_MEMLOCK / perf_event_mlock_kb" : ""};
    }
    r.pb_.reset(pb);
    return r;
}

PerfReader::~PerfReader() = default;

int PerfReader::poll(int timeout_ms) { return perf_buffer__poll(pb_.get(), timeout_ms); }

}  // namespace itr
