#include "guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace itr {

Result<Guard> Guard::spawn()
{
    int done[2], execd[2];
    if (::pipe2(done, O_CLOEXEC) != 0)
        return Error{"guard: pipe: " + errno_text(errno), ""};
    Fd done_r(done[0]), done_w(done[1]);
    // Tells an exec that failed (errno) from one that worked (end of file).
    if (::pipe2(execd, O_CLOEXEC) != 0)
        return Error{"guard: pipe: " + errno_text(errno), ""};
    Fd execd_r(execd[0]), execd_w(execd[1]);
    Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null)
        return Error{"guard: /dev/null: " + errno_text(errno), ""};

    // Everything the child needs is made before fork: after it, only
    // async-signal-safe calls (a thread of ours may hold the allocator).
    const pid_t owner = ::getpid();
    std::string a_fd = std::to_string(done_r.get());
    std::string a_pid = std::to_string(owner);
    std::string a_start = std::to_string(process_start_time(owner).value_or(0));
    std::string a0 = kGuardComm, a1 = kGuardArg;
    char* argv[] = {a0.data(), a1.data(), a_fd.data(), a_pid.data(), a_start.data(), nullptr};

    const pid_t pid = ::fork();
    if (pid < 0)
        return Error{"guard: fork: " + errno_text(errno), ""};
    if (pid == 0) {
        ::setsid();
        // stdin and stdout: not a reader's pipe held open by the guard.
        ::dup2(null.get(), STDIN_FILENO);
        ::dup2(null.get(), STDOUT_FILENO);
        const int fl = ::fcntl(done_r.get(), F_GETFD);
        ::fcntl(done_r.get(), F_SETFD, fl & ~FD_CLOEXEC);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv("/proc/self/exe", argv);
        const int e = errno;
        (void)!::write(execd_w.get(), &e, sizeof e);
        ::_exit(127);
    }
    execd_w.reset();
    int e = 0;
    ssize_t n;
    while ((n = ::read(execd_r.get(), &e, sizeof e)) < 0 && errno == EINTR) {
    }
    if (n == static_cast<ssize_t>(sizeof e))
        return Error{"guard: exec /proc/self/exe: " + std::string(std::strerror(e)), ""};
    Guard g;
    g.done_ = std::move(done_w);
    g.pid_ = pid;
    return g;
}

Guard::~Guard()
{
    if (!done_)
        return;
    const char released = 'R';
    (void)!::write(done_.get(), &released, 1);
}

std::optional<GuardArgs> parse_guard_args(int argc, char** argv)
{
    if (argc != 5 || std::strcmp(argv[1], kGuardArg) != 0)
        return std::nullopt;
    auto num = [](const char* s, unsigned long long max) -> std::optional<unsigned long long> {
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || v > max)
            return std::nullopt;
        return v;
    };
    const auto fd = num(argv[2], 1 << 20), pid = num(argv[3], 1 << 22), start = num(argv[4], ~0ull);
    if (!fd || !pid || !start || *pid == 0)
        return std::nullopt;
    return GuardArgs{static_cast<int>(*fd), static_cast<pid_t>(*pid), *start};
}

OwnerEnd wait_for_owner(const GuardArgs& a)
{
    char c = 0;
    for (;;) {
        const ssize_t n = ::read(a.fd, &c, 1);
        if (n == 1)
            return OwnerEnd::Released;
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    // Its parent reaps it at once (a shell, sudo); until then it is a zombie
    // that the leftover checks would count as alive. Bounded: 10 s.
    for (int i = 0; i < 500; ++i) {
        const auto st = process_start_time(a.owner);
        if (!st || (a.owner_start && *st != a.owner_start))
            break;
        ::usleep(20'000);
    }
    return OwnerEnd::Died;
}

}  // namespace itr
