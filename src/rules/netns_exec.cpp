// Entering network namespaces by inode and running programs in them (see
// netns_exec.hpp). Moved here from system_source.cpp so that the nftables
// rule-text reader uses the same code.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "iptables_trace/netns_exec.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct NetnsExec::Impl {
    NetnsFinder resolver;
};

NetnsExec::NetnsExec() : impl_(std::make_unique<Impl>()) {}
NetnsExec::~NetnsExec() = default;

uint32_t NetnsExec::own_netns() const { return impl_->resolver.own(); }

Status NetnsExec::run_in(uint32_t netns, const std::function<void()>& fn) {
    if (netns == impl_->resolver.own()) {
        fn();
        return ok_status();
    }
    auto fd = impl_->resolver.open(netns);
    if (!fd) return fd.error();
    int err = 0;
    // An exception escaping a thread would end the process without
    // unwinding (module, pins, nft table left live): carried out instead.
    std::exception_ptr thrown;
    std::thread t([&] {
        if (::setns(fd->get(), CLONE_NEWNET) != 0) {
            err = errno;
            return;
        }
        try {
            fn();
        } catch (...) {
            thrown = std::current_exception();
        }
    });
    t.join();
    if (thrown)
        std::rethrow_exception(thrown);
    if (err) return Error{"enter network namespace " + std::to_string(netns) + ": " + errno_text(err), ""};
    return ok_status();
}

// fork + setns + execve, no shell; stdout and stderr captured with a size
// bound and a deadline; the child is killed on either.
Result<std::string> NetnsExec::run(uint32_t netns, const std::vector<std::string>& argv_in,
                                  const CommandLimits& limits) {
    if (argv_in.empty()) return Error{"run: no program", ""};
    std::string what;
    for (const auto& a : argv_in) what += (what.empty() ? "" : " ") + a;
    what += " in netns " + std::to_string(netns);
    Fd nsfd;
    if (netns != impl_->resolver.own()) {
        auto fd = impl_->resolver.open(netns);
        if (!fd) return fd.error();
        nsfd = std::move(*fd);
    }
    // Everything the child needs is prepared before fork: after it only
    // async-signal-safe calls are allowed.
    std::vector<std::string> args = argv_in;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char env_lc[] = "LC_ALL=C";
    char* envp[] = {env_path, env_lc, nullptr};

    int out_p[2], err_p[2];
    if (::pipe2(out_p, O_CLOEXEC) != 0) return Error{"pipe: " + errno_text(errno), ""};
    Fd out_r(out_p[0]), out_w(out_p[1]);
    if (::pipe2(err_p, O_CLOEXEC) != 0) return Error{"pipe: " + errno_text(errno), ""};
    Fd err_r(err_p[0]), err_w(err_p[1]);
    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));

    pid_t pid = ::fork();
    if (pid < 0) return Error{"fork: " + errno_text(errno), ""};
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (nsfd && ::setns(nsfd.get(), CLONE_NEWNET) != 0) _exit(126);
        if (devnull) ::dup2(devnull.get(), 0);
        if (::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) _exit(126);
        ::execve(argv[0], argv.data(), envp);
        _exit(127);
    }
    out_w.reset();
    err_w.reset();

    std::string out, err;
    bool too_big = false, timed_out = false;
    const uint64_t deadline = monotonic_ns() + uint64_t(limits.timeout.count()) * 1000000ull;
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        uint64_t now = monotonic_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        pollfd pfd[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
        int wait_ms = int((deadline - now) / 1000000ull) + 1;
        int n = ::poll(pfd, 2, wait_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = ::read(pfd[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& dst = i == 0 ? out : err;
            if (i == 1 && dst.size() > 4096) continue;  // keep the start of stderr only
            dst.append(buf, size_t(r));
            if (i == 0 && dst.size() > limits.max_stdout) {
                too_big = true;
                out_open = err_open = false;
            }
        }
    }
    if (timed_out || too_big) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return Error{what + ": timed out", ""};
    if (too_big) return Error{what + ": output larger than " + std::to_string(limits.max_stdout) + " bytes", ""};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return out;
    std::string why;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 126) why = "could not enter the network namespace";
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) why = "could not execute it";
    else if (WIFEXITED(status)) why = "exit status " + std::to_string(WEXITSTATUS(status));
    else why = "killed by signal " + std::to_string(WTERMSIG(status));
    size_t nl = err.find('\n');
    if (!err.empty()) why += ": " + err.substr(0, nl);
    return Error{what + ": " + why, ""};
}

}  // namespace itr
