// The tool's nftables table, built with libnftnl and sent with libmnl.
#include <libmnl/libmnl.h>
#include <sys/utsname.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <time.h>

#include <cerrno>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "internal.hpp"

namespace itr::netlink {

// 6.0 turned __skb_flow_dissect's WARN_ON_ONCE(!net) into a debug-only
// check; nf_tables computes every traced packet's id with skb_get_hash().
bool trace_id_safe_without_socket()
{
    static const bool safe = [] {
        utsname u{};
        if (uname(&u) != 0)
            return false;
        return kernel_at_least(u.release, 6, 0);
    }();
    return safe;
}

namespace {

constexpr int kChainPriority = -350;  // before raw (-300) and conntrack (-200)

struct TableDel { void operator()(nftnl_table* t) const { nftnl_table_free(t); } };
struct ChainDel { void operator()(nftnl_chain* c) const { nftnl_chain_free(c); } };
struct RuleDel { void operator()(nftnl_rule* r) const { nftnl_rule_free(r); } };
struct UdataDel { void operator()(nftnl_udata_buf* b) const { nftnl_udata_buf_free(b); } };

// Sequence numbers are never reused within the process: the answers to an
// earlier batch that failed (an aborted batch answers each of its messages,
// and we stop reading at the first error) must not be taken for this one's.
uint32_t next_batch_seq(uint32_t count)
{
    static uint32_t next = static_cast<uint32_t>(time(nullptr));
    const uint32_t first = next;
    next += count;
    return first;
}

// Builds a batch of messages, each asking for an ack, and sends it.
class Batch {
public:
    static constexpr uint32_t kMaxMessages = 4096;
    Batch() : buf_(1 << 16), seq_(next_batch_seq(kMaxMessages)), first_seq_(seq_)
    {
        b_ = mnl_nlmsg_batch_start(buf_.data(), buf_.size());
        nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(b_)), seq_++);
        mnl_nlmsg_batch_next(b_);
    }
    ~Batch() { mnl_nlmsg_batch_stop(b_); }
    nlmsghdr* add(uint16_t type, uint16_t flags)
    {
        auto* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(b_)), type, NFPROTO_INET,
                                          flags | NLM_F_ACK, seq_++);
        ++acks_;
        return nlh;
    }
    void next() { mnl_nlmsg_batch_next(b_); }
    Status send(mnl_socket* nl)
    {
        nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(b_)), seq_++);
        mnl_nlmsg_batch_next(b_);
        if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b_), mnl_nlmsg_batch_size(b_)) < 0)
            return Error{"nftables: send: " + errno_text(errno), ""};
        // One ack (or error) per message. An aborted batch may also answer
        // the messages after the one that failed (a chain in the table that
        // was not created: ENOENT): the error reported is that of the
        // earliest message, what actually went wrong. Once an error came,
        // the rest is read as long as it keeps coming without a wait.
        std::vector<char> rbuf(MNL_SOCKET_BUFFER_SIZE);
        int first_err = 0;
        uint32_t first_err_seq = 0;
        const int fd = mnl_socket_get_fd(nl);
        for (int got = 0; got < acks_;) {
            // A signal (Ctrl-C during set-up) is not the kernel's silence:
            // poll_readable waits on; set-up checks the stop flag after.
            const int pr = poll_readable(fd, first_err ? 50 : 3000);
            if (pr <= 0 && first_err)
                break;
            if (pr < 0)
                return Error{"nftables: poll: " + errno_text(errno), ""};
            if (pr == 0)
                return Error{"nftables: no answer from the kernel", ""};
            const ssize_t n = recv_retrying(nl, rbuf.data(), rbuf.size());
            if (n < 0)
                return Error{"nftables: receive: " + errno_text(errno), ""};
            int len = static_cast<int>(n);
            for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rbuf.data()); mnl_nlmsg_ok(nlh, len);
                 nlh = mnl_nlmsg_next(nlh, &len)) {
                if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq - first_seq_ >= seq_ - first_seq_)
                    continue;  // not an answer to this batch
                const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
                ++got;
                if (e->error != 0 && (first_err == 0 || nlh->nlmsg_seq - first_seq_ < first_err_seq - first_seq_)) {
                    first_err = -e->error;
                    first_err_seq = nlh->nlmsg_seq;
                }
            }
        }
        if (first_err) {
            errno_ = first_err;
            return Error{"nftables: " + errno_text(first_err), ""};
        }
        return ok_status();
    }
    // The kernel's error for the batch after a failed send (0 if none).
    int error_number() const { return errno_; }

private:
    std::vector<char> buf_;
    mnl_nlmsg_batch* b_ = nullptr;
    uint32_t seq_;
    uint32_t first_seq_;
    int acks_ = 0;
    int errno_ = 0;
};

void add_expr(nftnl_rule* r, nftnl_expr* e) { nftnl_rule_add_expr(r, e); }

nftnl_expr* meta_load(uint32_t key)
{
    nftnl_expr* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    return e;
}

nftnl_expr* cmp_eq(const std::vector<uint8_t>& v)
{
    nftnl_expr* e = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, v.data(), static_cast<uint32_t>(v.size()));
    return e;
}

void add_match(nftnl_rule* r, const NftMatch& m)
{
    switch (m.kind) {
    case NftMatch::Kind::NfProto:
        add_expr(r, meta_load(NFT_META_NFPROTO));
        break;
    case NftMatch::Kind::L4Proto:
        add_expr(r, meta_load(NFT_META_L4PROTO));
        break;
    case NftMatch::Kind::Payload: {
        nftnl_expr* e = nftnl_expr_alloc("payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, m.base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, m.offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, m.len);
        add_expr(r, e);
        if (!m.mask.empty()) {
            const std::vector<uint8_t> zero(m.mask.size(), 0);
            nftnl_expr* b = nftnl_expr_alloc("bitwise");
            nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
            nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
            nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_LEN, m.len);
            nftnl_expr_set(b, NFTNL_EXPR_BITWISE_MASK, m.mask.data(), static_cast<uint32_t>(m.mask.size()));
            nftnl_expr_set(b, NFTNL_EXPR_BITWISE_XOR, zero.data(), static_cast<uint32_t>(zero.size()));
            add_expr(r, b);
        }
        break;
    }
    }
    add_expr(r, cmp_eq(m.value));
}

void add_set_nftrace(nftnl_rule* r)
{
    const uint8_t one = 1;
    nftnl_expr* imm = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
    nftnl_expr_set(imm, NFTNL_EXPR_IMM_DATA, &one, sizeof one);
    add_expr(r, imm);
    nftnl_expr* set = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(set, NFTNL_EXPR_META_KEY, NFT_META_NFTRACE);
    nftnl_expr_set_u32(set, NFTNL_EXPR_META_SREG, NFT_REG_1);
    add_expr(r, set);
}

int table_cb(const nlmsghdr* nlh, void* data)
{
    auto* info = static_cast<TableInfo*>(data);
    std::unique_ptr<nftnl_table, TableDel> t(nftnl_table_alloc());
    if (!t || nftnl_table_nlmsg_parse(nlh, t.get()) < 0)
        return MNL_CB_OK;
    const char* name = nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME);
    if (!name || std::string(name) != kTableName)
        return MNL_CB_OK;
    info->exists = true;
    if (nftnl_table_is_set(t.get(), NFTNL_TABLE_FLAGS))
        info->owned = (nftnl_table_get_u32(t.get(), NFTNL_TABLE_FLAGS) & NFT_TABLE_F_OWNER) != 0;
    uint32_t len = 0;
    if (const void* ud = nftnl_table_get_data(t.get(), NFTNL_TABLE_USERDATA, &len); ud && len) {
        nftnl_udata_parse(
            ud, len,
            [](const nftnl_udata* attr, void* d) -> int {
                if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
                    const char* s = static_cast<const char*>(nftnl_udata_get(attr));
                    static_cast<std::string*>(d)->assign(s, strnlen(s, nftnl_udata_len(attr)));
                }
                return 0;
            },
            &info->comment);
    }
    return MNL_CB_OK;
}

}  // namespace

Result<TableInfo> query_table(mnl_socket* nl)
{
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    const uint32_t seq = static_cast<uint32_t>(time(nullptr));
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_DUMP, seq);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return Error{"nftables: list tables: " + errno_text(errno), ""};
    TableInfo info;
    const uint32_t portid = mnl_socket_get_portid(nl);
    for (;;) {
        const int pr = poll_readable(mnl_socket_get_fd(nl), 3000);
        if (pr < 0)
            return Error{"nftables: list tables: poll: " + errno_text(errno), ""};
        if (pr == 0)
            return Error{"nftables: list tables: no answer", ""};
        const ssize_t n = recv_retrying(nl, buf.data(), buf.size());
        if (n < 0)
            return Error{"nftables: list tables: " + errno_text(errno), ""};
        const int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, table_cb, &info);
        if (r < 0)
            return Error{"nftables: list tables: " + errno_text(errno),
                         errno == EOPNOTSUPP || errno == EPROTONOSUPPORT ? "is nf_tables built?" : ""};
        if (r == MNL_CB_STOP)
            break;
    }
    return info;
}

Status delete_table(mnl_socket* nl)
{
    std::unique_ptr<nftnl_table, TableDel> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTableName);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    Batch b;
    nftnl_table_nlmsg_build_payload(b.add(NFT_MSG_DELTABLE, 0), t.get());
    b.next();
    return b.send(nl);
}

namespace {

// One batch: the table (with or without the owner flag), its two chains and
// the marking rules. The batch is atomic: on error nothing is left.
Status send_table_batch(mnl_socket* nl, const std::vector<NftTraceRule>& rules, const std::string& comment,
                        uint32_t table_flags, int* kernel_errno)
{
    std::unique_ptr<nftnl_table, TableDel> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTableName);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, table_flags);
    std::unique_ptr<nftnl_udata_buf, UdataDel> ud(nftnl_udata_buf_alloc(256));
    nftnl_udata_put_strz(ud.get(), NFTNL_UDATA_TABLE_COMMENT, comment.c_str());
    nftnl_table_set_data(t.get(), NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud.get()),
                         nftnl_udata_buf_len(ud.get()));

    Batch b;
    nftnl_table_nlmsg_build_payload(b.add(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL), t.get());
    b.next();

    struct ChainSpec {
        const char* name;
        uint32_t hook;
    };
    std::vector<std::unique_ptr<nftnl_rule, RuleDel>> keep;
    for (const ChainSpec cs : {ChainSpec{"prerouting", NF_INET_PRE_ROUTING}, ChainSpec{"output", NF_INET_LOCAL_OUT}}) {
        std::unique_ptr<nftnl_chain, ChainDel> c(nftnl_chain_alloc());
        nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kTableName);
        nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, cs.name);
        nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, cs.hook);
        nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, kChainPriority);
        nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
        nftnl_chain_nlmsg_build_payload(b.add(NFT_MSG_NEWCHAIN, NLM_F_CREATE), c.get());
        b.next();
        for (const auto& tr : rules) {
            std::unique_ptr<nftnl_rule, RuleDel> r(nftnl_rule_alloc());
            nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kTableName);
            nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, cs.name);
            nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
            // Before 6.0 the trace id of a packet with neither socket nor
            // device (a REJECT's reply) trips a WARN_ON in the flow
            // dissector: in OUTPUT mark only packets that have a socket.
            // The cgroup classid load breaks the rule without a full socket
            // and, unlike the socket uid, needs no file (the kernel's own
            // ICMP and TCP control sockets have none).
            if (cs.hook == NF_INET_LOCAL_OUT && !trace_id_safe_without_socket())
                add_expr(r.get(), meta_load(NFT_META_CGROUP));
            for (const auto& m : tr.matches)
                add_match(r.get(), m);
            add_set_nftrace(r.get());
            nftnl_rule_nlmsg_build_payload(b.add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), r.get());
            b.next();
            keep.push_back(std::move(r));
        }
    }
    auto st = b.send(nl);
    *kernel_errno = b.error_number();
    return st;
}

}  // namespace

Result<NftTraceTable> NftTraceTable::create(const std::vector<NftTraceRule>& rules, const std::string& comment)
{
    auto sock = open_netfilter_socket();
    if (!sock)
        return sock.error();
    mnl_socket* nl = sock->get();

    // The owner flag (5.12+) ties the table to our socket, so the kernel
    // removes it when we die. Older kernels refuse the unknown flag with
    // EINVAL (EOPNOTSUPP on some): then the table is unowned and a later
    // start removes it by the owner comment (recover_here).
    int err = 0;
    bool owned = true;
    auto st = send_table_batch(nl, rules, comment, NFT_TABLE_F_OWNER, &err);
    if (!st && (err == EINVAL || err == EOPNOTSUPP)) {
        owned = false;
        st = send_table_batch(nl, rules, comment, 0, &err);
    }
    if (!st) {
        Error e = st.error();
        if (err == EEXIST)
            e.hint = "another iptables-trace is tracing this netns (see nft list table inet iptables_trace)";
        e.what = "create nft table inet " + std::string(kTableName) + ": " + e.what;
        return e;
    }
    NftTraceTable out;
    out.sock_ = std::move(*sock);
    out.owned_ = owned;
    return out;
}

NftTraceTable::~NftTraceTable()
{
    if (sock_.get())
        (void)delete_table(sock_.get());  // closing the socket would remove it too
}

}  // namespace itr::netlink
