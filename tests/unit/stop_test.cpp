// Stopping during set-up (issue 13, item 10): the set-up step check and
// waits that a signal does not turn into "no answer".
#include <gtest/gtest.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "iptables_trace/stop.hpp"
#include "iptables_trace/sys.hpp"

using namespace itr;

namespace {

std::atomic<int> g_usr1{0};
void on_usr1(int) { ++g_usr1; }

// SIGUSR1 without SA_RESTART, as the stop handlers are installed.
struct Usr1Handler {
    struct sigaction old {};
    Usr1Handler()
    {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, &old);
    }
    ~Usr1Handler() { sigaction(SIGUSR1, &old, nullptr); }
};

// Signals the calling thread after 30 ms, then makes fds[1] readable at 150 ms.
std::thread signal_then_write(int fd)
{
    const pthread_t target = pthread_self();
    return std::thread([target, fd] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        pthread_kill(target, SIGUSR1);
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        (void)!::write(fd, "x", 1);
    });
}

}  // namespace

TEST(Stop, SetupStepPassesUntilAStopIsAsked) {
    // In a child: the flag is process-wide and must not leak into other tests.
    EXPECT_EXIT(
        {
            const bool before = setup_step("probe").ok();
            note_stop_signal(SIGTERM);
            auto after = setup_step("probe");
            const bool said = !after.ok() && after.error().what.find("interrupted") != std::string::npos &&
                              after.error().what.find("probe") != std::string::npos;
            std::exit(before && said && stop_signal() == SIGTERM ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST(Stop, PollReadableWaitsThroughASignal) {
    Usr1Handler h;
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    Fd a(fds[0]), b(fds[1]);

    // What the ACK waits did: a plain poll reads the signal as an error.
    const int before = g_usr1.load();
    std::thread t1 = signal_then_write(b.get());
    pollfd p{a.get(), POLLIN, 0};
    const int plain = ::poll(&p, 1, 2000);
    const int plain_errno = errno;
    t1.join();
    ASSERT_GT(g_usr1.load(), before);
    EXPECT_EQ(plain, -1);
    EXPECT_EQ(plain_errno, EINTR);
    char c;
    ASSERT_EQ(::read(a.get(), &c, 1), 1);

    // poll_readable waits on and sees the answer.
    const int before2 = g_usr1.load();
    std::thread t2 = signal_then_write(b.get());
    const auto start = std::chrono::steady_clock::now();
    const int r = poll_readable(a.get(), 2000);
    const auto took = std::chrono::steady_clock::now() - start;
    t2.join();
    EXPECT_GT(g_usr1.load(), before2);
    EXPECT_EQ(r, 1);
    EXPECT_GE(took, std::chrono::milliseconds(100));
    ASSERT_EQ(::read(a.get(), &c, 1), 1);
    // And its timeout still holds across signals.
    std::thread t3([target = pthread_self()] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        pthread_kill(target, SIGUSR1);
    });
    const auto s3 = std::chrono::steady_clock::now();
    EXPECT_EQ(poll_readable(a.get(), 200), 0);
    const auto took3 = std::chrono::steady_clock::now() - s3;
    t3.join();
    EXPECT_GE(took3, std::chrono::milliseconds(190));
    EXPECT_LT(took3, std::chrono::milliseconds(1500));
}
