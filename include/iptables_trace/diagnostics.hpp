// The one channel for what the program has to say besides its data: the
// app owns it and writes it to stderr as "iptables-trace: <line>";
// backends and libraries only speak through it, so they print nothing
// themselves and tests can read what they said.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "iptables_trace/result.hpp"

namespace itr {

class Diagnostics {
public:
    virtual ~Diagnostics() = default;
    // One line, without the program's prefix or a newline.
    virtual void notice(std::string_view line) = 0;
    // A failure: "<what>", then "hint: <hint>" when there is one.
    virtual void error(const Error& e) = 0;
    // A library's own log text (libbpf's), passed on as it is.
    virtual void log(std::string_view text) = 0;
};

// -v: how long each start-up step took, one "start-up: <indent><step> <ms>
// ms" notice per step (start-up time is a measured target). Silent when
// off.
class StepClock {
public:
    // start_ns: CLOCK_MONOTONIC the first step began at; 0 = now.
    StepClock(Diagnostics& diag, bool on, std::string indent = "", int64_t start_ns = 0);
    void mark(std::string_view step);
    // "start-up: ready after <ms> ms", from start_ns.
    void total();
    bool on() const { return on_; }
    static int64_t now_ns();

private:
    Diagnostics& diag_;
    bool on_;
    std::string indent_;
    int64_t t0_, last_;
};

}  // namespace itr
