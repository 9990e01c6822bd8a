// Translation of the user's filter (-H, --proto, -P, --icmpid) into the
// nftables matches in front of "meta nftrace set 1". Pure.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include "iptables_trace/netlink_decode.hpp"

namespace itr::netlink {

namespace {

NftMatch nfproto(uint8_t family)
{
    return {NftMatch::Kind::NfProto, 0, 0, 1, {}, {family},
            family == NFPROTO_IPV4 ? "meta nfproto ipv4" : "meta nfproto ipv6"};
}

const char* proto_name(uint8_t p)
{
    switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "ipv6-icmp";
    default: return "?";
    }
}

NftMatch l4proto(uint8_t p)
{
    return {NftMatch::Kind::L4Proto, 0, 0, 1, {}, {p}, fmt::format("meta l4proto {}", proto_name(p))};
}

std::string addr_text(const IpAddr& a)
{
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(a.version == 6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
    return buf;
}

NftMatch addr_match(const IpAddr& a, bool source)
{
    NftMatch m;
    m.kind = NftMatch::Kind::Payload;
    m.base = NFT_PAYLOAD_NETWORK_HEADER;
    if (a.version == 6) {
        m.offset = source ? 8 : 24;
        m.len = 16;
    } else {
        m.offset = source ? 12 : 16;
        m.len = 4;
    }
    m.value.assign(a.bytes.begin(), a.bytes.begin() + m.len);
    m.text = fmt::format("{} {} {}", a.version == 6 ? "ip6" : "ip", source ? "saddr" : "daddr", addr_text(a));
    return m;
}

NftMatch th16(uint32_t offset, uint16_t v, std::string text)
{
    return {NftMatch::Kind::Payload, NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2, {},
            {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v & 0xff)}, std::move(text)};
}

// Echo request or reply: ICMP types 0 and 8 (type & 0xf7 == 0), ICMPv6
// types 128 and 129 (type & 0xfe == 0x80).
NftMatch echo_type(uint8_t p)
{
    if (p == IPPROTO_ICMP)
        return {NftMatch::Kind::Payload, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, {0xf7}, {0x00},
                "icmp type { echo-reply, echo-request }"};
    return {NftMatch::Kind::Payload, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, {0xfe}, {0x80},
            "icmpv6 type { echo-request, echo-reply }"};
}

}  // namespace

std::string NftTraceRule::text() const
{
    std::string out;
    for (const auto& m : matches) {
        out += m.text;
        out += ' ';
    }
    out += "meta nftrace set 1";
    return out;
}

bool filter_is_empty(const Options& o)
{
    return !o.addr && o.proto == Proto::Any && !o.port && !o.icmp_id;
}

Result<std::vector<NftTraceRule>> build_trace_rules(const Options& o)
{
    if (o.addr && o.addr->version != 4 && o.addr->version != 6)
        return Error{"bad -H/--ipaddr: unknown address family", ""};
    const int addr_ver = o.addr ? o.addr->version : 0;

    // Transport protocols, one alternative each.
    std::vector<uint8_t> protos;
    switch (o.proto) {
    case Proto::Tcp: protos = {IPPROTO_TCP}; break;
    case Proto::Udp: protos = {IPPROTO_UDP}; break;
    case Proto::Icmp:
        // ICMP of the address family; both ICMP and ICMPv6 without -H.
        if (addr_ver == 4) protos = {IPPROTO_ICMP};
        else if (addr_ver == 6) protos = {IPPROTO_ICMPV6};
        else protos = {IPPROTO_ICMP, IPPROTO_ICMPV6};
        break;
    case Proto::Icmp6:
        if (addr_ver == 4)
            return Error{"--proto icmp6 cannot match the IPv4 address given with -H", ""};
        protos = {IPPROTO_ICMPV6};
        break;
    case Proto::Any:
        if (o.port && o.icmp_id)
            return Error{"-P/--port and --icmpid cannot both match one packet", ""};
        if (o.port)
            protos = {IPPROTO_TCP, IPPROTO_UDP};
        else if (o.icmp_id)
            protos = addr_ver == 4   ? std::vector<uint8_t>{IPPROTO_ICMP}
                     : addr_ver == 6 ? std::vector<uint8_t>{IPPROTO_ICMPV6}
                                     : std::vector<uint8_t>{IPPROTO_ICMP, IPPROTO_ICMPV6};
        break;
    }
    for (uint8_t p : protos) {
        if (o.port && p != IPPROTO_TCP && p != IPPROTO_UDP)
            return Error{"-P/--port needs --proto tcp, udp or any", ""};
        if (o.icmp_id && p != IPPROTO_ICMP && p != IPPROTO_ICMPV6)
            return Error{"--icmpid needs --proto icmp, icmp6 or any", ""};
    }

    // Disjunctions: source or destination address, source or destination port.
    std::vector<std::vector<NftMatch>> addr_alts{{}};
    if (o.addr) {
        const auto fam = nfproto(addr_ver == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
        addr_alts = {{fam, addr_match(*o.addr, true)}, {fam, addr_match(*o.addr, false)}};
    }
    std::vector<std::vector<NftMatch>> l4_alts;
    if (protos.empty())
        l4_alts.push_back({});
    for (uint8_t p : protos) {
        if (o.port) {
            l4_alts.push_back({l4proto(p), th16(0, *o.port, fmt::format("th sport {}", *o.port))});
            l4_alts.push_back({l4proto(p), th16(2, *o.port, fmt::format("th dport {}", *o.port))});
        } else if (o.icmp_id) {
            l4_alts.push_back({l4proto(p), echo_type(p),
                               th16(4, *o.icmp_id, fmt::format("{} id {}",
                                                               p == IPPROTO_ICMP ? "icmp" : "icmpv6",
                                                               *o.icmp_id))});
        } else {
            l4_alts.push_back({l4proto(p)});
        }
    }

    std::vector<NftTraceRule> rules;
    for (const auto& a : addr_alts)
        for (const auto& l : l4_alts) {
            NftTraceRule r;
            r.matches = a;
            r.matches.insert(r.matches.end(), l.begin(), l.end());
            rules.push_back(std::move(r));
        }
    return rules;
}

}  // namespace itr::netlink
