// The stop flag, set-up steps and signal-proof waits (stop.hpp).
#include "iptables_trace/stop.hpp"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace itr {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

int64_t now_ms()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void pause_for_test(const char* stage)
{
    const char* at = std::getenv("ITR_TEST_PAUSE_AT");
    if (!at || std::strcmp(at, stage) != 0)
        return;
    const std::string line = std::string("iptables-trace: paused at ") + stage + " (ITR_TEST_PAUSE_AT)\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    for (int i = 0; i < 6000 && !stop_requested(); ++i) {
        timespec ts{0, 10 * 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
}

}  // namespace

void note_stop_signal(int sig) noexcept { g_stop_signal = sig; }
bool stop_requested() noexcept { return g_stop_signal != 0; }
int stop_signal() noexcept { return g_stop_signal; }

Status setup_step(const char* stage)
{
    pause_for_test(stage);
    if (stop_requested())
        return Error{std::string("interrupted by signal ") + std::to_string(stop_signal()) + " at set-up step " + stage,
                     ""};
    return ok_status();
}

int poll_readable(int fd, int timeout_ms)
{
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int wait = -1;
        if (timeout_ms >= 0) {
            const int64_t left = deadline - now_ms();
            wait = left > 0 ? int(left) : 0;
        }
        const int r = ::poll(&p, 1, wait);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

}  // namespace itr
