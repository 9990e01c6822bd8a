// Netlink attribute walking for the nf_tables messages we decode (trace
// events, rule dumps, generations). Internal to src/nft.
//
// Our own walk, not libmnl's: mnl_attr_parse() stops quietly at the first
// attribute whose length does not fit and reports success, which would let a
// truncated message pass with attributes missing. Here every attribute must
// fit and the walk must use up exactly the bytes it is given.
#pragma once

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace itr::nft::detail {

using Bytes = std::span<const uint8_t>;

inline uint16_t be16(Bytes b) { return uint16_t((b[0] << 8) | b[1]); }
inline uint32_t be32(Bytes b) { return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3]; }
inline uint64_t be64(Bytes b) { return (uint64_t{be32(b)} << 32) | be32(b.subspan(4)); }

// Calls fn(type, payload) for each attribute of s; fn returns an error text
// or "" to go on. Returns the first error, "" when all of s was walked.
template <typename Fn>
inline std::string walk_attrs(Bytes s, Fn&& fn) {
    size_t off = 0;
    while (off < s.size()) {
        if (s.size() - off < sizeof(nlattr)) return "attribute header truncated at offset " + std::to_string(off);
        uint16_t len = 0, type = 0;
        std::memcpy(&len, s.data() + off, 2);
        std::memcpy(&type, s.data() + off + 2, 2);
        if (len < sizeof(nlattr) || len > s.size() - off)
            return "attribute " + std::to_string(type & NLA_TYPE_MASK) + " has length " + std::to_string(len) +
                   " with " + std::to_string(s.size() - off) + " bytes left";
        std::string err = fn(uint16_t(type & NLA_TYPE_MASK), s.subspan(off + sizeof(nlattr), len - sizeof(nlattr)));
        if (!err.empty()) return err;
        off += std::min<size_t>(NLA_ALIGN(len), s.size() - off);
    }
    return "";
}

inline std::string want_size(Bytes p, size_t n, const char* what) {
    if (p.size() == n) return "";
    return std::string(what) + " has " + std::to_string(p.size()) + " bytes, expected " + std::to_string(n);
}

// A NUL-terminated string attribute; the text is up to the first NUL.
inline std::string get_string(Bytes p, const char* what, std::string& out) {
    const void* nul = std::memchr(p.data(), 0, p.size());
    if (!nul) return std::string(what) + " is not NUL-terminated";
    out.assign(reinterpret_cast<const char*>(p.data()), static_cast<const uint8_t*>(nul) - p.data());
    if (out.empty()) return std::string(what) + " is empty";
    return "";
}

// Checks one nfnetlink message of the given type (nlmsghdr + nfgenmsg, the
// bytes exactly one message long up to its alignment) and gives its nfgenmsg
// and attribute bytes. Returns an error text, "" when it is well framed.
inline std::string split_nfnl_message(Bytes bytes, uint16_t type, const char* type_name, nfgenmsg& nfg,
                                      Bytes& attrs) {
    constexpr size_t head = sizeof(nlmsghdr) + sizeof(nfgenmsg);
    if (bytes.size() < head)
        return std::to_string(bytes.size()) + " bytes, shorter than the headers (" + std::to_string(head) + ")";
    nlmsghdr nlh{};
    std::memcpy(&nlh, bytes.data(), sizeof nlh);
    if (nlh.nlmsg_len < head || nlh.nlmsg_len > bytes.size())
        return "nlmsg_len " + std::to_string(nlh.nlmsg_len) + " with " + std::to_string(bytes.size()) + " bytes";
    if (bytes.size() > NLMSG_ALIGN(nlh.nlmsg_len))
        return std::to_string(bytes.size() - nlh.nlmsg_len) + " bytes after the message";
    if (nlh.nlmsg_type != type)
        return "message type " + std::to_string(nlh.nlmsg_type) + " is not " + type_name;
    std::memcpy(&nfg, bytes.data() + sizeof nlh, sizeof nfg);
    if (nfg.version != NFNETLINK_V0) return "nfnetlink version " + std::to_string(nfg.version);
    attrs = bytes.subspan(head, nlh.nlmsg_len - head);
    return "";
}

}  // namespace itr::nft::detail
