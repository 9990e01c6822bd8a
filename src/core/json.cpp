#include "iptables_trace/json.hpp"

#include <fmt/format.h>

#include "iptables_trace/format.hpp"

namespace itr {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t i = 0;
    while (i < s.size()) {
        // Runs of characters that need no escaping go in one append: keys
        // and most values are nothing else.
        std::size_t j = i;
        while (j < s.size()) {
            const auto u = static_cast<unsigned char>(s[j]);
            if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\') break;
            ++j;
        }
        if (j > i) {
            out.append(s.data() + i, j - i);
            i = j;
            continue;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        if (c >= 0x80) {
            if (std::size_t n = utf8_sequence_length(s.substr(i))) {
                out.append(s.substr(i, n));
                i += n;
            } else {
                out += "\\ufffd";
                ++i;
            }
            continue;
        }
        switch (c) {
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
            break;
        }
        ++i;
    }
    out.push_back('"');
}

JsonObject::JsonObject(std::string& out) : out_(out) { out_.push_back('{'); }

// Keys are the schema's own plain names: written as they are, one append.
void JsonObject::sep(std::string_view key) {
    char buf[64];
    std::size_t n = 0;
    if (!first_) buf[n++] = ',';
    first_ = false;
    const std::size_t comma = n;
    if (key.size() + 4 > sizeof buf) {
        out_.append(buf, comma);
        append_json_string(out_, key);
        out_.push_back(':');
        return;
    }
    buf[n++] = '"';
    for (char c : key) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\') {  // not a plain key after all
            out_.append(buf, comma);
            append_json_string(out_, key);
            out_.push_back(':');
            return;
        }
        buf[n++] = c;
    }
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
}

JsonObject& JsonObject::str(std::string_view key, std::string_view value) {
    sep(key);
    append_json_string(out_, value);
    return *this;
}

JsonObject& JsonObject::opt_str(std::string_view key, const std::optional<std::string>& value) {
    return value ? str(key, std::string_view(*value)) : null(key);
}

JsonObject& JsonObject::num(std::string_view key, uint64_t value) {
    sep(key);
    append_uint(out_, value);
    return *this;
}

JsonObject& JsonObject::snum(std::string_view key, int64_t value) {
    sep(key);
    fmt::format_to(std::back_inserter(out_), "{}", value);
    return *this;
}

JsonObject& JsonObject::boolean(std::string_view key, bool value) {
    sep(key);
    out_ += value ? "true" : "false";
    return *this;
}

JsonObject& JsonObject::null(std::string_view key) {
    sep(key);
    out_ += "null";
    return *this;
}

JsonObject& JsonObject::raw(std::string_view key, std::string_view json) {
    sep(key);
    out_ += json;
    return *this;
}

std::string& JsonObject::begin_member(std::string_view key) {
    sep(key);
    return out_;
}

void JsonObject::end() { out_.push_back('}'); }

}  // namespace itr
