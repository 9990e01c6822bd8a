// The system plumbing every part shares: one owner of a file descriptor and
// one way to turn an errno into words.
#pragma once

#include <cstdint>
#include <string>

namespace itr {

inline constexpr uint32_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit

// "Operation not permitted" for EPERM.
std::string errno_text(int err);

// An open file descriptor, closed by the destructor. Move-only.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release()
    {
        const int f = fd_;
        fd_ = -1;
        return f;
    }
    void reset() noexcept;

private:
    int fd_ = -1;
};

}  // namespace itr
