// Walking a tool's text output line by line, for the parsers of
// iptables-save and nft listings.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace itr {

// The lines of a text, split at '\n' (the last one may lack it), numbered
// from 1. The views point into the text.
class LineCursor {
public:
    explicit LineCursor(std::string_view text) : text_(text) {}
    // The next line; false at the end.
    bool next(std::string_view& line) {
        if (pos_ >= text_.size()) return false;
        const size_t nl = text_.find('\n', pos_);
        line = text_.substr(pos_, nl == std::string_view::npos ? std::string_view::npos : nl - pos_);
        pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
        ++lineno_;
        return true;
    }
    // The line next() would give, nullopt at the end.
    std::optional<std::string_view> peek() const {
        if (pos_ >= text_.size()) return std::nullopt;
        return text_.substr(pos_, text_.find('\n', pos_) - pos_);
    }
    size_t lineno() const { return lineno_; }  // of the line last given

private:
    std::string_view text_;
    size_t pos_ = 0;
    size_t lineno_ = 0;
};

}  // namespace itr
