// The system plumbing every part shares: one owner of a file descriptor and
// one way to turn an errno into words.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace itr {

inline constexpr uint32_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit

// "Operation not permitted" for EPERM.
std::string errno_text(int err);

// A /proc file of any process, whole up to max bytes; nullopt when it
// cannot be opened or read (the process ended). Never throws.
std::optional<std::string> read_small_file(const std::string& path, size_t max = 65536);
// Field 22 of /proc/PID/stat (clock ticks since boot); nullopt when PID is gone.
std::optional<uint64_t> process_start_time(pid_t pid);

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
