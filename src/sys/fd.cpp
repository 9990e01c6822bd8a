#include <unistd.h>

#include <cstring>

#include "iptables_trace/sys.hpp"

namespace itr {

std::string errno_text(int err) { return std::strerror(err); }

Fd& Fd::operator=(Fd&& o) noexcept
{
    if (this != &o) {
        reset();
        fd_ = o.release();
    }
    return *this;
}

void Fd::reset() noexcept
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

}  // namespace itr
