// Diagnostics a long-lived helper queues for the app to print on stderr:
// each distinct one once, at most `max` of them, then one line saying the
// rest are suppressed.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace itr {

class OnceDiagnostics {
public:
    OnceDiagnostics(size_t max, std::string suppressed) : max_(max), suppressed_(std::move(suppressed)) {}
    // key: what makes two diagnostics the same (often the message itself).
    void add(const std::string& key, const std::string& msg) {
        if (keys_.count(key)) return;
        if (keys_.size() >= max_) {
            if (!suppressed_said_) queued_.push_back(suppressed_);
            suppressed_said_ = true;
            return;
        }
        keys_.insert(key);
        queued_.push_back(msg);
    }
    void add(const std::string& msg) { add(msg, msg); }
    // The diagnostics queued since the last call.
    std::vector<std::string> take() {
        std::vector<std::string> out;
        out.swap(queued_);
        return out;
    }

private:
    size_t max_;
    std::string suppressed_;
    bool suppressed_said_ = false;
    std::set<std::string> keys_;
    std::vector<std::string> queued_;
};

}  // namespace itr
