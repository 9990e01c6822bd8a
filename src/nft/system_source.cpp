// The real NftRulesetSource: in the packet's netns (entered with itr_rules'
// NetnsExec) it asks nf_tables for the generation and a dump of every rule
// over NETLINK_NETFILTER, and runs `nft -a -s list ruleset` and, when
// iptables-nft's tables are there, iptables-nft-save / ip6tables-nft-save.
// The generation is read before and after; a snapshot whose parts may come
// from two generations is read again.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "iptables_trace/netns_exec.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/sys.hpp"

namespace itr::nft {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// One request on a NETLINK_NETFILTER socket of the calling thread's netns;
// on_msg is called for each reply message (not for DONE / ACK). The reply
// ends at NLMSG_DONE for a dump and after the first message otherwise.
// interrupted is set when the kernel flags the dump as inconsistent (the
// ruleset changed while it was being dumped).
Status nfnl_request(uint16_t msg_type, bool dump, const std::function<Status(std::span<const uint8_t>)>& on_msg,
                    bool& interrupted) {
    Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (!sock) return Error{"netlink socket: " + errno_text(errno), ""};
    timeval tv{5, 0};
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        return Error{"netlink bind: " + errno_text(errno), ""};
    struct {
        nlmsghdr nlh;
        nfgenmsg nfg;
    } req{};
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = uint16_t((NFNL_SUBSYS_NFTABLES << 8) | msg_type);
    req.nlh.nlmsg_flags = uint16_t(NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0));
    req.nlh.nlmsg_seq = 1;
    req.nfg.nfgen_family = AF_UNSPEC;
    req.nfg.version = NFNETLINK_V0;
    if (::send(sock.get(), &req, sizeof req, 0) != ssize_t(sizeof req))
        return Error{"netlink send: " + errno_text(errno), ""};
    std::vector<uint8_t> buf(size_t{1} << 17);
    for (;;) {
        const ssize_t len = ::recv(sock.get(), buf.data(), buf.size(), 0);
        if (len < 0) {
            if (errno == EINTR) continue;
            return Error{"netlink recv: " + errno_text(errno), ""};
        }
        size_t off = 0;
        while (off + sizeof(nlmsghdr) <= size_t(len)) {
            nlmsghdr h;
            std::memcpy(&h, buf.data() + off, sizeof h);
            if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > size_t(len))
                return Error{"netlink: malformed reply", ""};
            if (h.nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
            if (h.nlmsg_type == NLMSG_DONE) return ok_status();
            if (h.nlmsg_type == NLMSG_ERROR) {
                nlmsgerr e{};
                if (h.nlmsg_len >= sizeof h + sizeof e) std::memcpy(&e, buf.data() + off + sizeof h, sizeof e);
                if (e.error == 0) return ok_status();
                return Error{"netlink: " + errno_text(-e.error), ""};
            }
            if (auto st = on_msg(std::span<const uint8_t>(buf.data() + off, h.nlmsg_len)); !st) return st;
            if (!dump) return ok_status();
            off += NLMSG_ALIGN(h.nlmsg_len);
        }
    }
}

Result<uint32_t> generation_here() {
    std::optional<uint32_t> gen;
    bool intr = false;
    auto st = nfnl_request(NFT_MSG_GETGEN, false, [&](std::span<const uint8_t> m) -> Status {
        auto g = decode_gen_message(m);
        if (!g) return g.error();
        gen = *g;
        return ok_status();
    }, intr);
    if (!st) return Error{"nftables generation: " + st.error().what, ""};
    if (!gen) return Error{"nftables generation: no answer", ""};
    return *gen;
}

Result<KernelRuleOrder> rules_here(bool& interrupted) {
    KernelRuleOrder order;
    auto st = nfnl_request(NFT_MSG_GETRULE, true, [&](std::span<const uint8_t> m) -> Status {
        auto r = decode_rule_message(m);
        if (!r) return r.error();
        order.add(*r);
        return ok_status();
    }, interrupted);
    if (!st) return Error{"nftables rule dump: " + st.error().what, ""};
    return order;
}

std::optional<std::string> find_program(const std::string& name, const std::string& override_path) {
    if (!override_path.empty()) return override_path;
    for (const char* d : {"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"}) {
        std::string p = std::string(d) + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return std::nullopt;
}

class SystemNftSource final : public NftRulesetSource {
public:
    explicit SystemNftSource(NftSourceOptions o) : opts_(std::move(o)) {}

    uint64_t now_ns() override { return monotonic_ns(); }
    uint32_t own_netns() override { return exec_.own_netns(); }

    Result<uint32_t> generation(uint32_t netns) override {
        Result<uint32_t> out = Error{"not run", ""};
        if (auto st = exec_.run_in(netns, [&] { out = generation_here(); }); !st) return st.error();
        return out;
    }

    Result<NftSnapshot> read(uint32_t netns) override {
        auto nft = find_program("nft", opts_.nft_program);
        if (!nft) return Error{"nft not found", "install nftables to see the text of nftables rules"};
        const CommandLimits limits{opts_.timeout, opts_.max_output};
        for (int attempt = 0; attempt < 3; ++attempt) {
            NftSnapshot snap;
            Result<uint32_t> g1 = Error{"not run", ""};
            Result<KernelRuleOrder> order = Error{"not run", ""};
            bool interrupted = false;
            if (auto st = exec_.run_in(netns, [&] {
                    g1 = generation_here();
                    if (g1) order = rules_here(interrupted);
                });
                !st)
                return st.error();
            if (!g1) return g1.error();
            if (!order) return order.error();
            auto listing = exec_.run(netns, {*nft, "-a", "-s", "list", "ruleset"}, limits);
            if (!listing) return listing.error();
            // iptables-nft-save only where iptables-nft's tables are.
            bool want[2] = {false, false};
            if (auto parsed = parse_nft_listing(*listing))
                for (const auto& t : parsed->tables)
                    if (is_xtables_table(t.family, t.name)) want[t.family == 2 ? 0 : 1] = true;
            const char* names[2] = {"iptables-nft-save", "ip6tables-nft-save"};
            const std::string* overrides[2] = {&opts_.ipt4_save_program, &opts_.ipt6_save_program};
            for (int i = 0; i < 2; ++i) {
                if (!want[i]) continue;
                SaveText& s = i == 0 ? snap.ipt4 : snap.ipt6;
                auto prog = find_program(names[i], *overrides[i]);
                if (!prog) {
                    s.error = std::string(names[i]) + " not found";
                    continue;
                }
                auto text = exec_.run(netns, {*prog}, limits);
                if (text) s.text = std::move(*text);
                else s.error = text.error().what;
            }
            auto g2 = generation(netns);
            if (!g2) return g2.error();
            if (*g1 != *g2 || interrupted) continue;  // changed while being read
            snap.generation = *g1;
            snap.listing = std::move(*listing);
            snap.order = std::move(*order);
            return snap;
        }
        return Error{"the nftables ruleset of netns " + std::to_string(netns) + " kept changing while being read", ""};
    }

private:
    NftSourceOptions opts_;
    NetnsExec exec_;
};

}  // namespace

std::unique_ptr<NftRulesetSource> make_system_nft_source(const NftSourceOptions& opts) {
    return std::make_unique<SystemNftSource>(opts);
}

}  // namespace itr::nft
