#include "kallsyms.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace itr {

namespace {

// The symbol name of one "ffffffffc0a01234 t ipt_do_table\t[ip_tables]"
// line: after the second space, up to a tab or the end. Empty if malformed.
std::string_view symbol_name(std::string_view line)
{
    const auto a = line.find(' ');
    if (a == std::string_view::npos)
        return {};
    const auto b = line.find(' ', a + 1);
    if (b == std::string_view::npos)
        return {};
    std::string_view name = line.substr(b + 1);
    if (const auto t = name.find_first_of("\t "); t != std::string_view::npos)
        name = name.substr(0, t);
    return name;
}

}  // namespace

// Hand-parsed in large reads: the file has 100 000+ lines and a sscanf per
// line made this the slowest step of start-up in the VMs (about 1 s of 2).
Kallsyms Kallsyms::read(const std::vector<std::string>& wanted)
{
    Kallsyms k;
    const int fd = ::open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return k;
    std::string buf(1 << 20, '\0');
    std::size_t have = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        have += static_cast<std::size_t>(n);
        std::string_view data(buf.data(), have);
        std::size_t start = 0;
        for (;;) {
            const auto nl = data.find('\n', start);
            if (nl == std::string_view::npos)
                break;
            const std::string_view name = symbol_name(data.substr(start, nl - start));
            if (!name.empty()) {
                k.readable_ = true;  // names are listed even when kptr_restrict hides addresses
                for (const auto& w : wanted)
                    if (name.size() == w.size() && name == w)
                        k.found_.insert(w);
            }
            start = nl + 1;
        }
        // Keep the unfinished last line for the next read.
        std::memmove(buf.data(), buf.data() + start, have - start);
        have -= start;
        if (have == buf.size())  // a line longer than the buffer: drop it
            have = 0;
    }
    ::close(fd);
    return k;
}

}  // namespace itr
