#include "perf_reader.hpp"

#include "iptables_trace/sys.hpp"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace itr {

namespace {

// Wake the reader once per this many samples on a CPU instead of once per
// sample (libbpf's perf_buffer__new default): at high rates the wake-ups,
// not the decoding, were the reader's limit (BENCHMARKS.md). Samples below
// the threshold are collected by the consume after a poll that timed out,
// so a quiet trace shows its lines at most one poll timeout late.
constexpr unsigned kWakeupEvents = 16;

struct RawSample {
    struct perf_event_header header;
    uint32_t size;
    char data[];
};

struct RawLost {
    struct perf_event_header header;
    uint64_t id;
    uint64_t lost;
};

}  // namespace

void PerfReader::PbDeleter::operator()(struct perf_buffer* pb) const { perf_buffer__free(pb); }

Result<PerfReader> PerfReader::open(int map_fd, size_t pages_per_cpu, SampleFn on_sample, LostFn on_lost)
{
    PerfReader r;
    r.cb_ = std::make_unique<Callbacks>(Callbacks{std::move(on_sample), std::move(on_lost), 0});
    auto on_record = [](void* ctx, int cpu, struct perf_event_header* h) -> enum bpf_perf_event_ret {
        auto* cb = static_cast<Callbacks*>(ctx);
        if (h->type == PERF_RECORD_SAMPLE) {
            const auto* s = reinterpret_cast<const RawSample*>(h);
            cb->handled++;
            cb->sample(cpu, s->data, s->size);
        } else if (h->type == PERF_RECORD_LOST) {
            cb->lost(cpu, reinterpret_cast<const RawLost*>(h)->lost);
        }
        return LIBBPF_PERF_EVENT_CONT;
    };
    struct perf_event_attr attr {};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = kWakeupEvents;
    struct perf_buffer* pb = perf_buffer__new_raw(map_fd, pages_per_cpu, &attr, on_record, r.cb_.get(), nullptr);
    if (!pb) {
        int e = errno;
        return Error{"opening the perf buffer (" + std::to_string(pages_per_cpu) + " pages per CPU): " +
                         errno_text(e),
                     e == EPERM || e == ENOMEM ? "lower -B, or raise RLIMIT_MEMLOCK / perf_event_mlock_kb" : ""};
    }
    r.pb_.reset(pb);
    return r;
}

PerfReader::~PerfReader() = default;

int PerfReader::poll(int timeout_ms)
{
    cb_->handled = 0;
    int rc = perf_buffer__poll(pb_.get(), timeout_ms);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        // Timed out: fewer than kWakeupEvents samples may be waiting.
        if (int c = perf_buffer__consume(pb_.get()); c < 0)
            return c;
    }
    return static_cast<int>(cb_->handled);
}

int PerfReader::drain()
{
    cb_->handled = 0;
    if (int c = perf_buffer__consume(pb_.get()); c < 0)
        return c;
    return static_cast<int>(cb_->handled);
}

int PerfReader::epoll_fd() const { return perf_buffer__epoll_fd(pb_.get()); }

}  // namespace itr
