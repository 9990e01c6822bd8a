// Reading another process's /proc files. With read(2), not iostreams: a
// process that ends between open and read makes read fail with ESRCH, and
// libstdc++'s filebuf turns a read error into an exception (seen: the guard
// died of "basic_filebuf::underflow error reading the file: No such process"
// while waiting for its owner to be reaped).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "iptables_trace/sys.hpp"

namespace itr {

std::optional<std::string> read_small_file(const std::string& path, size_t max)
{
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string out;
    char buf[4096];
    while (out.size() < max) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    if (out.size() > max)
        out.resize(max);
    return out;
}

std::optional<uint64_t> process_start_time(pid_t pid)
{
    if (pid <= 0)
        return std::nullopt;
    const auto text = read_small_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!text)
        return std::nullopt;
    // comm may hold spaces and parentheses: fields resume after the last ')'.
    const auto rp = text->rfind(')');
    if (rp == std::string::npos)
        return std::nullopt;
    size_t pos = rp + 1;
    // Fields after comm start at 3 (state); starttime is field 22.
    for (int field = 3;; ++field) {
        while (pos < text->size() && (*text)[pos] == ' ')
            ++pos;
        const size_t end = text->find(' ', pos);
        if (pos >= text->size())
            return std::nullopt;
        if (field == 22) {
            const std::string v = text->substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            char* stop = nullptr;
            errno = 0;
            const unsigned long long n = std::strtoull(v.c_str(), &stop, 10);
            if (errno || stop == v.c_str() || (*stop && *stop != '\n'))
                return std::nullopt;
            return n;
        }
        if (end == std::string::npos)
            return std::nullopt;
        pos = end;
    }
}

}  // namespace itr
