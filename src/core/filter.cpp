#include "iptables_trace/filter.hpp"

#include <algorithm>

#include <arpa/inet.h>

#include <cstring>

namespace itr {
uint8_t proto_number(Proto p) {
    switch (p) {
    case Proto::Tcp: return 6;
    case Proto::Udp: return 17;
    case Proto::Icmp: return 1;
    case Proto::Icmp6: return 58;
    case Proto::Any: break;
    }
    return ITR_PROTO_ANY;
}

Result<itr_config> make_bpf_config(const Options& opts, itr_arg_layout ipt, itr_arg_layout ip6t,
                                   std::optional<uint32_t> resolved_netns) {
    itr_config c;
    std::memset(&c, 0, sizeof c);
    c.ipt = ipt;
    c.ip6t = ip6t;
    c.abi_version = ITR_ABI_VERSION;
    if (opts.addr) {
        c.has_addr = 1;
        c.addr_version = opts.addr->version;
        std::memcpy(c.addr, opts.addr->bytes.data(), opts.addr->version == 4 ? 4 : 16);
    }
    c.proto = proto_number(opts.proto);
    if (opts.port) {
        c.has_port = 1;
        c.port_be = htons(*opts.port);
    }
    if (opts.icmp_id) {
        c.has_icmp_id = 1;
        c.icmp_id_be = htons(*opts.icmp_id);
    }
    if (opts.pid) {
        c.has_pid = 1;
        c.pid = *opts.pid;
    }
    if (opts.netns) {
        std::optional<uint32_t> ino = resolved_netns;
        if (!ino && opts.netns->kind == NetnsSpec::Kind::Inode) ino = opts.netns->number;
        if (!ino)
            return Error{"netns filter '" + opts.netns->text + "': not resolved to a namespace inode",
                         "resolve -N to an inode before building the BPF configuration"};
        c.has_netns = 1;
        c.netns = *ino;
    }
    return c;
}

bool packet_matches_filter(const Options& opts, const Packet& pkt)
{
    if (pkt.ip_version == 0)
        return true;
    if (opts.addr) {
        const size_t n = opts.addr->version == 4 ? 4 : 16;
        if (pkt.ip_version != opts.addr->version)
            return false;
        const auto same = [&](const std::array<uint8_t, 16>& a) {
            return std::equal(a.begin(), a.begin() + n, opts.addr->bytes.begin());
        };
        if (!same(pkt.saddr) && !same(pkt.daddr))
            return false;
    }
    if (opts.proto != Proto::Any && pkt.l4proto != proto_number(opts.proto))
        return false;
    if (opts.port && pkt.sport != opts.port && pkt.dport != opts.port)
        return false;
    if (opts.icmp_id) {
        const bool echo = pkt.has_icmp && (pkt.icmp_type == 0 || pkt.icmp_type == 8 || pkt.icmp_type == 128 ||
                                           pkt.icmp_type == 129);
        if (!echo || pkt.icmp_id != *opts.icmp_id)
            return false;
    }
    return true;
}

}  // namespace itr
