// Internal code returns results; only main prints and picks the exit code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace itr {

struct Error {
    std::string what;  // "<what failed>: <why>", printed after "iptables-trace: "
    std::string hint;  // optional fix, printed as "hint: ..."
};

template <typename T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error err) : v_(std::move(err)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    T* operator->() { return &value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace itr
