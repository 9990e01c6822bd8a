// Helpers for the nf_tables unit tests: a netlink message builder for
// synthesized trace messages, and readers for the captured fixtures under
// tests/unit/data/nft-trace/<kernel>/.
#pragma once

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "iptables_trace/nft_rules.hpp"

namespace itr::nft::testing {

inline std::string nft_data_dir() { return std::string(ITR_TEST_DATA_DIR) + "/nft-trace"; }

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// One message per non-comment line, hex.
inline std::vector<std::vector<uint8_t>> read_hex_messages(const std::string& path) {
    std::vector<std::vector<uint8_t>> out;
    std::istringstream in(read_text(path));
    std::string line;
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<uint8_t> m;
        for (size_t i = 0; i + 1 < line.size(); i += 2) m.push_back(uint8_t(nib(line[i]) << 4 | nib(line[i + 1])));
        out.push_back(std::move(m));
    }
    return out;
}

// "6.12" -> {6, 12}: the kernel series a fixture directory is named after.
inline std::pair<int, int> kernel_series(const std::string& dir) {
    const size_t dot = dir.find('.');
    if (dot == std::string::npos) return {0, 0};
    return {std::stoi(dir.substr(0, dot)), std::stoi(dir.substr(dot + 1))};
}

// True when the directory's kernel is series major.minor or later.
inline bool kernel_at_least(const std::string& dir, int major, int minor) {
    return kernel_series(dir) >= std::pair{major, minor};
}

// Every kernel directory that holds captured traces (5.10, 6.1, ...), oldest
// first: the parameters of the tests that run on each kernel's bytes.
inline std::vector<std::string> kernel_dirs() {
    std::vector<std::string> out;
    for (const auto& k : std::filesystem::directory_iterator(nft_data_dir())) {
        if (!k.is_directory() || k.path().filename().string().starts_with(".")) continue;
        for (const auto& f : std::filesystem::directory_iterator(k.path()))
            if (f.path().string().ends_with(".trace.hex")) {
                out.push_back(k.path().filename().string());
                break;
            }
    }
    std::sort(out.begin(), out.end(),
              [](const std::string& a, const std::string& b) { return kernel_series(a) < kernel_series(b); });
    return out;
}

// gtest names the instances of a kernel-parameterized test "k6_12".
inline std::string kernel_param_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string n = "k" + info.param;
    for (char& c : n)
        if (c == '.') c = '_';
    return n;
}

// <dir>/<kernel>/<name>
inline std::string kernel_file(const std::string& kernel, const std::string& name) {
    return nft_data_dir() + "/" + kernel + "/" + name;
}

// The handle the kernel gave the Nth rule (1-based) of a chain, read from a
// scenario's NFT_MSG_GETRULE dump; 0 when there is none. Handles are the
// kernel's to give: the first iptables-nft rules of a fresh 5.10 guest got 7
// and 8 where 6.18 gave 3 and 4 (likely a batch aborted and replayed while a
// module loaded on demand, the aborted pass having spent handles). Tests name
// those rules by position.
inline uint64_t dumped_handle(const std::string& kernel, const std::string& scenario, uint8_t family,
                              const std::string& table, const std::string& chain, size_t n) {
    size_t seen = 0;
    for (const auto& m : read_hex_messages(kernel_file(kernel, scenario + ".dump.hex"))) {
        auto r = decode_rule_message(m);
        if (r.ok() && r->family == family && r->table == table && r->chain == chain && ++seen == n) return r->handle;
    }
    return 0;
}

// Every captured trace: <dir>/<kernel>/<scenario>.trace.hex, sorted.
inline std::vector<std::filesystem::path> hex_fixtures() {
    std::vector<std::filesystem::path> out;
    for (const auto& k : std::filesystem::directory_iterator(nft_data_dir()))
        if (k.is_directory())
            for (const auto& f : std::filesystem::directory_iterator(k.path()))
                if (f.path().string().ends_with(".trace.hex")) out.push_back(f.path());
    std::sort(out.begin(), out.end());
    return out;
}

// Builds one netlink message attribute by attribute.
class MsgBuilder {
public:
    explicit MsgBuilder(uint8_t family, uint16_t type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE) {
        nlmsghdr h{};
        h.nlmsg_type = type;
        put(&h, sizeof h);
        nfgenmsg g{};
        g.nfgen_family = family;
        g.version = NFNETLINK_V0;
        put(&g, sizeof g);
    }
    MsgBuilder& raw_attr(uint16_t type, const void* p, size_t n) {
        nlattr a{};
        a.nla_len = uint16_t(sizeof a + n);
        a.nla_type = type;
        put(&a, sizeof a);
        put(p, n);
        pad();
        return *this;
    }
    MsgBuilder& str(uint16_t t, const std::string& s) { return raw_attr(t, s.c_str(), s.size() + 1); }
    MsgBuilder& u8(uint16_t t, uint8_t v) { return raw_attr(t, &v, 1); }
    MsgBuilder& be16(uint16_t t, uint16_t v) {
        uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
        return raw_attr(t, b, 2);
    }
    MsgBuilder& be32(uint16_t t, uint32_t v) {
        uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
        return raw_attr(t, b, 4);
    }
    MsgBuilder& be64(uint16_t t, uint64_t v) {
        uint8_t b[8];
        for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (56 - 8 * i));
        return raw_attr(t, b, 8);
    }
    MsgBuilder& bytes(uint16_t t, const std::vector<uint8_t>& v) { return raw_attr(t, v.data(), v.size()); }
    MsgBuilder& nest_begin(uint16_t t) {
        nests_.push_back(b_.size());
        nlattr a{};
        a.nla_type = uint16_t(t | NLA_F_NESTED);
        put(&a, sizeof a);
        return *this;
    }
    MsgBuilder& nest_end() {
        size_t at = nests_.back();
        nests_.pop_back();
        uint16_t len = uint16_t(b_.size() - at);
        std::memcpy(b_.data() + at, &len, 2);
        return *this;
    }
    // The common shape of a trace message.
    MsgBuilder& trace(uint32_t type, uint32_t id, const std::string& table, const std::string& chain) {
        return be32(NFTA_TRACE_NFPROTO, 2).be32(NFTA_TRACE_TYPE, type).be32(NFTA_TRACE_ID, id)
            .str(NFTA_TRACE_CHAIN, chain).str(NFTA_TRACE_TABLE, table);
    }
    MsgBuilder& verdict(int32_t code, const std::string& chain = "") {
        nest_begin(NFTA_TRACE_VERDICT).be32(NFTA_VERDICT_CODE, uint32_t(code));
        if (!chain.empty()) str(NFTA_VERDICT_CHAIN, chain);
        return nest_end();
    }
    std::vector<uint8_t> done() const {
        std::vector<uint8_t> out = b_;
        uint32_t len = uint32_t(out.size());
        std::memcpy(out.data(), &len, 4);
        return out;
    }

private:
    void put(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b_.insert(b_.end(), c, c + n);
    }
    void pad() {
        while (b_.size() % 4) b_.push_back(0);
    }
    std::vector<uint8_t> b_;
    std::vector<size_t> nests_;
};

}  // namespace itr::nft::testing
