// itr_perf_bench: the real consumer under a controlled event rate.
//
// A raw-tracepoint BPF program (perf_source.bpf.c) sends `burst` itr_event
// records into a perf event array on each getppid() of this process; a
// generator thread, pinned to one CPU, makes those calls at the asked rate.
// The main thread, pinned to another CPU, reads the perf buffer with the
// project's PerfReader (src/bpf/perf_reader.*), decodes every sample with
// decode_event and formats it with the column (or JSON) sink into a
// discarding stream: the module backend's consumer path minus the terminal.
//
//   itr_perf_bench [--rate N|max] [--seconds S] [--pages P] [--burst B]
//                  [--sink columns|json|none] [--header] [--gen-cpu N] [--reader-cpu N]
// The generator runs on CPU 0 and the reader on CPU 1 unless told otherwise.
// Prints one line of key=value pairs (--header: first the names as a
// comment). Needs root (BPF); no kprobes, no bpffs.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>


#include <algorithm>
#include <functional>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <thread>

#include "event_mix.hpp"
#include "iptables_trace/decode.hpp"
#include "iptables_trace/sink.hpp"
#include "itr_perf_source.skel.h"
#include "perf_reader.hpp"

namespace {

using Clock = std::chrono::steady_clock;

class DiscardBuf final : public std::streambuf {
protected:
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
};

void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

double thread_cpu_s() {
    struct rusage ru {};
    getrusage(RUSAGE_THREAD, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int usage() {
    std::fprintf(stderr,
                 "usage: itr_perf_bench [--rate N|max] [--seconds S] [--pages P] [--burst B]\n"
                 "                      [--sink columns|json|none] [--header]\n"
                 "                      [--gen-cpu N] [--reader-cpu N]\n");
    return 2;
}

int libbpf_quiet(enum libbpf_print_level level, const char* fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, ap);
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t rate = 0;  // 0 = as fast as the generator can
    double seconds = 3;
    size_t pages = 64;
    uint32_t burst = 1;
    std::string sink_kind = "columns";
    bool header = false;
    const int ncpu = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    int gen_cpu = 0, reader_cpu = ncpu > 1 ? 1 : 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) std::exit(usage());
            return argv[++i];
        };
        if (a == "--rate") {
            std::string v = val();
            rate = v == "max" ? 0 : std::stoull(v);
        } else if (a == "--seconds")
            seconds = std::stod(val());
        else if (a == "--pages")
            pages = std::stoul(val());
        else if (a == "--burst")
            burst = static_cast<uint32_t>(std::stoul(val()));
        else if (a == "--sink")
            sink_kind = val();
        else if (a == "--gen-cpu")
            gen_cpu = std::stoi(val());
        else if (a == "--reader-cpu")
            reader_cpu = std::stoi(val());
        else if (a == "--header")
            header = true;
        else
            return usage();
    }
    if (burst < 1 || burst > 64 || (sink_kind != "columns" && sink_kind != "json" && sink_kind != "none"))
        return usage();
    libbpf_set_print(libbpf_quiet);

    // The event templates: the benchmark mix.
    const auto mix = itr::bench::event_mix();
    const uint32_t ntemplates = static_cast<uint32_t>(std::min<size_t>(mix.size(), 16));

    itr_perf_source_bpf* skel = itr_perf_source_bpf__open();
    if (!skel) {
        std::perror("itr_perf_bench: opening the BPF object");
        return 1;
    }
    skel->rodata->target_tgid = static_cast<uint32_t>(getpid());
    skel->rodata->syscall_nr = SYS_getppid;
    skel->rodata->ntemplates = ntemplates;
    skel->data->burst = burst;
    if (int err = itr_perf_source_bpf__load(skel)) {
        std::fprintf(stderr, "itr_perf_bench: loading the BPF program: %s\n", std::strerror(-err));
        return 1;
    }
    for (uint32_t k = 0; k < ntemplates; ++k)
        bpf_map_update_elem(bpf_map__fd(skel->maps.templates), &k, &mix[k], BPF_ANY);

    DiscardBuf buf;
    std::ostream out(&buf);
    itr::SinkOptions so;
    so.header = false;
    std::unique_ptr<itr::Sink> sink;
    if (sink_kind == "columns") sink = itr::make_column_sink(out, so);
    if (sink_kind == "json") sink = itr::make_json_sink(out, so);

    uint64_t consumed = 0, lost = 0, undecodable = 0;
    itr::TraceEvent scratch;  // as the module backend does
    auto on_sample = [&](const void* data, uint32_t size) {
        if (!itr::decode_event_into(data, size, scratch)) {
            ++undecodable;
            return;
        }
        ++consumed;
        if (sink) sink->event(scratch);
    };
    auto on_lost = [&](uint64_t n) {
        lost += n;
        if (sink) sink->lost(n, -1);
    };
    auto reader = itr::PerfReader::open(
        bpf_map__fd(skel->maps.events), pages, [&](int, const void* d, uint32_t n) { on_sample(d, n); },
        [&](int, uint64_t n) { on_lost(n); });
    if (!reader) {
        std::fprintf(stderr, "itr_perf_bench: %s\n", reader.error().what.c_str());
        return 1;
    }
    auto poll = [&](int ms) { return reader->poll(ms); };
    if (int err = itr_perf_source_bpf__attach(skel)) {
        std::fprintf(stderr, "itr_perf_bench: attaching raw_tracepoint/sys_enter: %s\n", std::strerror(-err));
        return 1;
    }

    std::atomic<bool> done{false};
    uint64_t calls = 0;
    Clock::time_point t_gen;
    const auto t0 = Clock::now();
    std::thread gen([&] {
        pin(gen_cpu);
        const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        if (rate == 0) {
            while (Clock::now() < end) {
                for (int i = 0; i < 64; ++i) syscall(SYS_getppid);
                calls += 64;
            }
        } else {
            // Call i is due at t0 + i * period. Every 200 us the calls that
            // fell due are made in a burst, then the thread sleeps: packets
            // come in bursts too, and a spinning generator would take the
            // CPU the reader may need.
            const double period_ns = 1e9 * burst / static_cast<double>(rate);
            for (;;) {
                const auto now = Clock::now();
                if (now >= end) break;
                const auto due_calls = static_cast<uint64_t>(
                    std::chrono::duration<double, std::nano>(now - t0).count() / period_ns) + 1;
                while (calls < due_calls) {
                    syscall(SYS_getppid);
                    ++calls;
                }
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
        t_gen = Clock::now();
        done = true;
    });

    pin(reader_cpu);
    const double cpu0 = thread_cpu_s();
    // Read while the generator runs, then until the buffer is empty.
    auto t_end = t0;
    while (!done)
        if (poll(100) > 0) t_end = Clock::now();
    gen.join();
    while (poll(100) > 0) t_end = Clock::now();
    const double cpu_used = thread_cpu_s() - cpu0;
    itr_perf_source_bpf__detach(skel);

    const uint64_t sent = skel->bss->sent, failed = skel->bss->failed;
    const double gen_s = std::chrono::duration<double>(t_gen - t0).count();
    const double all_s = std::chrono::duration<double>(t_end - t0).count();
    if (header)
        std::printf("# target_rate burst pages sink produced produced_per_s consumed consumed_per_s lost lost_pct "
                    "output_failed consumer_cpu_pct undecodable\n");
    const uint64_t produced = sent + failed;
    std::printf(
        "target_rate=%s burst=%u pages=%zu sink=%s produced=%llu produced_per_s=%.0f consumed=%llu "
        "consumed_per_s=%.0f lost=%llu lost_pct=%.2f output_failed=%llu consumer_cpu_pct=%.0f undecodable=%llu\n",
        rate ? std::to_string(rate).c_str() : "max", burst, pages, sink_kind.c_str(),
        static_cast<unsigned long long>(produced), produced / gen_s, static_cast<unsigned long long>(consumed),
        consumed / all_s, static_cast<unsigned long long>(lost), produced ? 100.0 * lost / produced : 0.0,
        static_cast<unsigned long long>(failed), 100.0 * cpu_used / all_s,
        static_cast<unsigned long long>(undecodable));
    itr_perf_source_bpf__destroy(skel);
    return 0;
}
