// itr_nft_probe: a test driver for itr_nft on the real kernel (host tests),
// until the backends use it.
//   itr_nft_probe index <netns-inode|self>
//       the rule index of that netns: "<family> <table> <chain> <pos> <handle> <nft|ipt> <text or ->"
//       per rule, then "generation N"; notes on stderr
//   itr_nft_probe trace [-n NETNS_PATH] [-c COUNT] [-t SECONDS] [-r READY_FILE]
//       listens to NFNLGRP_NFTRACE in that netns and prints, for each trace
//       message, the fields of its line (decode -> correlate -> rule text ->
//       fields), leaving out the base chain's own end; stops after COUNT
//       lines or SECONDS
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "iptables_trace/netns_exec.hpp"
#include "iptables_trace/nft_fields.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/rules.hpp"
#include "iptables_trace/sys.hpp"

using namespace itr;
using namespace itr::nft;

namespace {

int usage() {
    std::cerr << "usage: itr_nft_probe index <netns|self> | trace [-n NETNS_PATH] [-c COUNT] [-t SECONDS] "
                 "[-r READY_FILE]\n";
    return 2;
}

int fail(const std::string& what) {
    std::cerr << "itr_nft_probe: " << what << "\n";
    return 1;
}

int index_cmd(const std::string& ns) {
    auto src = make_system_nft_source();
    uint32_t netns = src->own_netns();
    if (ns != "self") netns = uint32_t(std::stoul(ns));
    auto snap = src->read(netns);
    if (!snap) return fail(snap.error().what);
    auto listing = parse_nft_listing(snap->listing);
    if (!listing) return fail(listing.error().what);
    RuleIndex idx = build_rule_index(*listing, &snap->order, snap->ipt4, snap->ipt6, snap->generation);
    for (const auto& [tk, table] : idx.tables)
        for (const auto& [name, chain] : table.chains)
            for (const auto& r : chain.rules)
                std::cout << family_to_name(tk.first) << " " << tk.second << " " << name << " " << r.position << " "
                          << r.handle << " " << (r.syntax == TextSyntax::Iptables ? "ipt" : "nft") << " "
                          << (r.text ? escape_rule_text(*r.text) : "-") << "\n";
    std::cout << "generation " << idx.generation << "\n";
    for (const auto& n : idx.notes) std::cerr << "note: " << n << "\n";
    return 0;
}

int trace_cmd(int argc, char** argv) {
    std::string netns_path, ready;
    long count = -1;
    int seconds = 30;
    for (int i = 0; i + 1 < argc; i += 2) {
        std::string opt = argv[i];
        if (opt == "-n") netns_path = argv[i + 1];
        else if (opt == "-c") count = std::stol(argv[i + 1]);
        else if (opt == "-t") seconds = std::stoi(argv[i + 1]);
        else if (opt == "-r") ready = argv[i + 1];
        else return usage();
    }
    if (argc % 2) return usage();
    // The whole probe moves into the netns: the listener must live there, and
    // the rule text of "our own" netns is then that netns's.
    if (!netns_path.empty()) {
        Fd fd(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || ::setns(fd.get(), CLONE_NEWNET) != 0) return fail(netns_path + ": " + std::strerror(errno));
    }
    Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    int group = NFNLGRP_NFTRACE;
    if (!sock || ::bind(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::setsockopt(sock.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
        return fail(std::string("NFNLGRP_NFTRACE: ") + std::strerror(errno));

    auto src = make_system_nft_source();
    const uint32_t netns = src->own_netns();
    NftRuleText text(std::move(src));
    if (auto st = text.prime(netns); !st) std::cerr << "itr_nft_probe: prime: " << st.error().what << "\n";
    for (const auto& d : text.take_diagnostics()) std::cerr << "itr_nft_probe: " << d << "\n";
    if (!ready.empty()) Fd(::open(ready.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));

    TraceCorrelator corr;
    const uint64_t deadline = monotonic_ns() + uint64_t(seconds) * 1000000000ull;
    std::vector<uint8_t> buf(1 << 16);
    long printed = 0, errors = 0;
    while (count < 0 || printed < count) {
        const uint64_t now = monotonic_ns();
        if (now >= deadline) break;
        pollfd p{sock.get(), POLLIN, 0};
        if (::poll(&p, 1, int((deadline - now) / 1000000) + 1) <= 0) continue;
        const ssize_t len = ::recv(sock.get(), buf.data(), buf.size(), 0);
        if (len < 0) {
            if (errno == ENOBUFS) std::cerr << "itr_nft_probe: lost messages (ENOBUFS)\n";
            continue;
        }
        const uint64_t stamp = monotonic_ns();
        for (size_t off = 0; off + sizeof(nlmsghdr) <= size_t(len);) {
            nlmsghdr h;
            std::memcpy(&h, buf.data() + off, sizeof h);
            if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > size_t(len)) break;
            auto msg = decode_trace_message(std::span<const uint8_t>(buf.data() + off, h.nlmsg_len));
            off += NLMSG_ALIGN(h.nlmsg_len);
            if (!msg) {
                ++errors;
                std::cerr << "itr_nft_probe: " << msg.error().what << "\n";
                continue;
            }
            TraceRecord rec = corr.add(std::move(*msg));
            text.lookup(rec, netns, stamp);
            if (rec.base_chain_end) continue;
            NftLineFields f = nft_line_fields(rec);
            std::string line;
            for (const auto& [k, v] : f.fields) line += (line.empty() ? "" : " ") + k + "=" + v;
            if (f.rule) line += std::string(f.rule_stale ? " rule?=\"" : " rule=\"") + *f.rule + "\"";
            std::cout << line << std::endl;
            ++printed;
        }
        for (const auto& d : text.take_diagnostics()) std::cerr << "itr_nft_probe: " << d << "\n";
    }
    const auto& s = text.stats();
    std::cerr << "stats: lines " << printed << " decode errors " << errors << " lookups " << s.lookups << " checks "
              << s.checks << " reads " << s.reads << " changes " << s.changes << " stale " << s.stale << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    if (cmd == "index" && argc == 3) return index_cmd(argv[2]);
    if (cmd == "trace") return trace_cmd(argc - 2, argv + 2);
    return usage();
}
