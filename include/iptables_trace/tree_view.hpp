// The tree view (--tree): one block per packet and hook instead of one line
// per event. Pure: consumes the event stream a Sink gets and writes whole
// blocks to an injected std::ostream; the time comes from the events and
// from tick(), never from a clock of its own.
//
//   09:53:15.000001 PREROUTING PF_INET T_SYN:192.168.99.7:51000->192.168.10.1:22 len=60 in=eth0 mac=52:54:00:12:34:56 netns=4026531840 skb=0xffff8df50291d400 cpu=0
//     raw -> ACCEPT 1.32µs
//       PREROUTING
//         policy ACCEPT  <- ACCEPT
//   09:53:15.000009 INPUT PF_INET T_SYN:192.168.99.7:51000->192.168.10.1:22 len=60 in=eth0 mac=52:54:00:12:34:56 netns=4026531840 skb=0xffff8df50291d400 cpu=0
//     filter -> DROP 9.876µs
//       INPUT
//         rule 1: -A INPUT -j LOG --log-prefix "in "
//         rule 3: -A INPUT -p tcp -m tcp --dport 22 -j SSH_GUARD
//         SSH_GUARD
//           rule 1: -A SSH_GUARD -s 192.168.99.0/24 -j DROP  <- DROP
//     => DROP by filter/SSH_GUARD rule 1: -A SSH_GUARD -s 192.168.99.0/24 -j DROP
//
// The header: time of the walk's first event, hook, family, the packet as in
// PKT_INFO, then len=, the hook's devices in= / out= (from Rule events; dev=
// the skb's device when there are none), mac=, netns=, skb=, cpu=, and
// nested=<depth> for a walk inside another table call; fields the backend
// does not know are left out. Per table call: "<table> -> <verdict> <cost>",
// "nft <family> <table>/<chain> -> ..." for an nf_tables base chain, or
// "(no verdict seen)"; under it the chains entered and the entries, indented
// by jump depth: "rule N: <text>" ("rule? N:" when the text may be stale,
// "rule N" without text), "return", "policy DROP".
//
// Blocks. A block is one packet's walk through one hook: every table call
// (xtables) and nf_tables base chain of that hook, in order. A packet seen at
// PREROUTING, then INPUT, gives two blocks. The walk is keyed on
// (packet, family, hook):
//   packet  the skb address when the backend knows it (module backend);
//           else (netlink, skb 0) the packet's identity: netns, IP version,
//           protocol, addresses, ports, ip_len, TCP flags, ICMP type, code,
//           id and seq. (NAT inside one hook changes the identity: the
//           tables after the NAT then start a block of their own.)
//   family  4 or 6 for PF_INET / PF_INET6 tables and inet / ip / ip6
//           nf_tables chains alike (an inet chain and the iptables tables of
//           an IPv4 packet share the hook); other families (arp, bridge,
//           netdev) are their own.
//   hook    NF_INET_* number.
// Nested calls: a REJECT's reply (another skb) walks OUTPUT inside the INPUT
// call of the packet it answers. It is another packet, so it gets a block of
// its own, marked nested=<depth>, printed before the block of the packet it
// answers (its walk ends first).
//
// Chains inside a table call: the Rule events of one call are the rules whose
// target ran, in order. A rule in a chain that is not on the current chain
// stack was reached by a jump from the line before: the chain opens one level
// deeper. A "return" event closes its chain; an event in a chain lower on the
// stack (after an explicit RETURN, or a goto) pops back to it.
//
// The decision: FateTracker (fate.hpp) names the deciding entry of each table
// call; that line gets "<- VERDICT". A call that ended the hook's walk (DROP,
// STOLEN, QUEUE, STOP) adds its format_fate() statement as a "=>" line at
// the end of the block.
//
// When a block is printed (whole, in one write; blocks never interleave):
//   - at once when the walk cannot go on: all its calls have returned and the
//     last verdict is DROP, STOLEN, QUEUE or STOP;
//   - when the same packet shows up at another hook or family (it moved on);
//   - when an event of another walk arrives on the same CPU at the same or a
//     lower nesting depth while all of this walk's calls have returned (a CPU
//     runs one hook walk at a time, and its events arrive in order);
//   - when the same table (or nf_tables chain) starts again for the same key
//     (a reused skb, or a new packet with the same identity): the old block
//     first;
//   - by tick(now) once delay_ns has passed since the walk's last event
//     came (measured on the view's clock: the latest of the event stamps and
//     tick() times seen, so a late batch of old events still waits): the
//     last table of an accepted walk, a backend without table verdicts
//     (netlink), a return that never came. A table call whose verdict was not
//     seen says "(no verdict seen)";
//   - when more than max_open blocks are open: the oldest, with a note;
//   - by finish(), all of them (at exit).
// Memory: at most max_open blocks of at most max_lines lines each, the
// FateTracker's own cap (FateOptions), and a few printed blocks kept for
// reuse.
// Lost events are noted in every block open at the time on that CPU ("may be
// incomplete"); nothing else goes to the stream for them (the app reports
// losses on stderr).
//
// Colour (TreeOptions::colour): ANSI SGR codes. Header bold, chain names
// cyan, ACCEPT green, DROP red, other verdicts and notes yellow, the deciding
// marker bold. Plain text otherwise, and the same text without the codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string_view>

#include "iptables_trace/fate.hpp"
#include "iptables_trace/model.hpp"
#include "iptables_trace/sink.hpp"

namespace itr {

struct TreeOptions {
    // Time mode and the offsets of the header's time (the header flag is not
    // used). Clock: local HH:MM:SS.uuuuuu; SinceFirst: S.uuuuuu since the
    // view's first event.
    SinkOptions sink;
    bool colour = false;
    // How long a block waits, after its walk's last event, for more of it
    // (tick() prints it then).
    uint64_t delay_ns = 200'000'000;
    // Open blocks at most; opening one more prints the oldest first.
    std::size_t max_open = 1024;
    // Rule lines kept per block; further events are counted, not stored.
    std::size_t max_lines = 512;
};

// Colour when stdout is a terminal and NO_COLOR is unset or empty
// (https://no-color.org: "present and not an empty string" disables it).
bool want_colour(bool is_tty, const char* no_color_env);

class TreeView final : public Sink {
public:
    TreeView(std::ostream& out, TreeOptions opts);
    ~TreeView() override;  // prints nothing: call finish() first
    TreeView(const TreeView&) = delete;
    TreeView& operator=(const TreeView&) = delete;

    void event(const TraceEvent& ev) override;
    // Adds to lost_total() and notes the loss in the open blocks of that CPU
    // (every open block when cpu < 0).
    void lost(uint64_t count, int cpu) override;
    // Nothing: the view runs its own FateTracker over the events it gets and
    // marks every table call's deciding entry, so a --fate statement would
    // say again what the block shows.
    void fate(const Fate& f, std::string_view statement) override;
    // Flushes the stream. Blocks still waiting for their walk stay open (the
    // walk may go on in the next batch of events).
    void flush() override;
    uint64_t lost_total() const override { return lost_; }

    // CLOCK_MONOTONIC now: prints the blocks whose walk has been quiet for
    // delay_ns. Call it after every poll, also one that brought no event.
    void tick(uint64_t now_mono_ns) override;
    // Prints every open block (oldest first) and flushes: at exit.
    void finish() override;

    std::size_t open_blocks() const;
    // Blocks printed early because more than max_open were open.
    uint64_t printed_early() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    uint64_t lost_ = 0;
};

}  // namespace itr
