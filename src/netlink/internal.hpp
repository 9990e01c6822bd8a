// Kernel-facing pieces of the netlink backend, each an RAII owner.
// Internal to src/netlink.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/netlink_decode.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/result.hpp"
#include "iptables_trace/stop.hpp"
#include "iptables_trace/sys.hpp"

struct mnl_socket;

namespace itr::netlink {

inline constexpr const char* kTableName = ITR_OWN_NFT_TABLE;  // the bpf backend's programs know it too
inline constexpr const char* kStateDir = "/run/iptables-trace";

// An owned libmnl socket.
class MnlSocket {
public:
    MnlSocket() = default;
    explicit MnlSocket(mnl_socket* s) : s_(s) {}
    MnlSocket(MnlSocket&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    MnlSocket& operator=(MnlSocket&& o) noexcept;
    ~MnlSocket();
    mnl_socket* get() const { return s_; }
    int fd() const;
    uint32_t portid() const;

private:
    mnl_socket* s_ = nullptr;
};
Result<MnlSocket> open_netfilter_socket();
// mnl_socket_recvfrom, again after EINTR.
ssize_t recv_retrying(mnl_socket* nl, void* buf, size_t len);

// ---- processes -------------------------------------------------------------

// Start time of a process (field 22 of /proc/PID/stat), to tell a live
// owner from a reused pid.
bool process_alive(pid_t pid, uint64_t start_time);

// ---- logger bindings -------------------------------------------------------

// Binds nfnetlink_log as the logger for IPv4 and IPv6 in the current netns,
// remembers the previous binding and puts it back on destruction. The
// sysctl files are kept open: they stay tied to the netns they were opened
// in, so restoring works from any namespace.
class LoggerBinding {
public:
    static Result<LoggerBinding> bind(const std::string& saved2, const std::string& saved10);
    LoggerBinding(LoggerBinding&&) noexcept = default;
    LoggerBinding& operator=(LoggerBinding&&) = delete;
    ~LoggerBinding();

private:
    LoggerBinding() = default;
    struct One {
        Fd fd;
        std::string previous;
        bool changed = false;
    };
    One v4_, v6_;
};
// Current value of /proc/sys/net/netfilter/nf_log/<pf> in the current netns.
Result<std::string> read_nf_log(int pf);
Status write_nf_log(int pf, const std::string& value);

// ---- state file (for recovery after kill -9) -------------------------------

struct StateRecord {
    pid_t pid = 0;
    uint64_t start_time = 0;
    uint64_t netns = 0;
    std::string nf_log2;
    std::string nf_log10;
};
std::string state_path(uint64_t netns_inode);
std::string format_state(const StateRecord& s);
std::optional<StateRecord> parse_state(const std::string& text);
std::optional<StateRecord> read_state(const std::string& path);

class StateFile {
public:
    static Result<StateFile> write(const StateRecord& rec);
    StateFile(StateFile&& o) noexcept : path_(std::exchange(o.path_, {})) {}
    StateFile& operator=(StateFile&&) = delete;
    ~StateFile();

private:
    StateFile() = default;
    std::string path_;
};

// ---- nftables ----------------------------------------------------------------

struct TableInfo {
    bool exists = false;
    bool owned = false;      // NFT_TABLE_F_OWNER: a live socket holds it
    std::string comment;     // "iptables-trace pid=N start=T"
};
Result<TableInfo> query_table(mnl_socket* nl);
Status delete_table(mnl_socket* nl);

// The tool's inet table with its prerouting and output chains at -350 and
// the nftrace-setting rules. Owned by its socket (NFT_TABLE_F_OWNER), so the
// kernel removes it if we die; the destructor deletes it explicitly.
class NftTraceTable {
public:
    static Result<NftTraceTable> create(const std::vector<NftTraceRule>& rules, const std::string& comment);
    NftTraceTable(NftTraceTable&&) noexcept = default;
    NftTraceTable& operator=(NftTraceTable&&) = delete;
    ~NftTraceTable();
    // False on kernels without the owner flag (before 5.12): a kill -9 then
    // leaves the table until the next start removes it.
    bool owned() const { return owned_; }

private:
    NftTraceTable() = default;
    MnlSocket sock_;
    bool owned_ = true;
};

// ---- nfnetlink_log -----------------------------------------------------------

// A NETLINK_NETFILTER socket bound to nfnetlink_log group 0 (where TRACE
// records go), copying packets with sequence numbers.
class NflogGroup {
public:
    // copy_packets false: records carry metadata only (their reader does
    // not decode them).
    static Result<NflogGroup> bind(int rcvbuf_bytes, bool copy_packets = true);
    NflogGroup(NflogGroup&&) noexcept = default;
    NflogGroup& operator=(NflogGroup&&) = delete;
    ~NflogGroup();
    int fd() const { return sock_.fd(); }
    int rcvbuf() const { return rcvbuf_; }

private:
    NflogGroup() = default;
    MnlSocket sock_;
    int rcvbuf_ = 0;
};
// Who holds nfnetlink_log group 0 in the current netns ("ulogd (pid 123)").
std::optional<std::string> group0_holder();

}  // namespace itr::netlink

namespace itr {
class TraceBackend;
class Diagnostics;
struct Check;
struct Options;
}  // namespace itr

namespace itr::netlink {

// What the backend needs of this machine, each checked (--check lists
// them; the first failure is why it cannot run).
std::vector<Check> requirements(const Options& opts);

struct Tuning {
    int rcvbuf_bytes = 8 << 20;  // SO_RCVBUFFORCE; 0 = leave the default
    // False: group 0's TRACE records are not decoded (another backend reads
    // legacy rules from nf_log_trace itself); only nf_tables events pass.
    bool legacy_records = true;
    // False: no logger binding, no nflog group 0, no state file; nf_tables
    // trace events only (the module backend silences legacy TRACE itself).
    bool logger = true;
};
// The backend with explicit tuning (the probe driver uses it to compare
// buffer sizes).
Result<std::unique_ptr<TraceBackend>> make_backend(const Options& opts, const Tuning& tuning, Diagnostics& diag);

}  // namespace itr::netlink
