#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

#include "iptables_trace/options.hpp"
#include "iptables_trace/registry.hpp"

using namespace itr;

namespace {

const BackendRegistry& backends() {
    static const BackendRegistry r = default_backend_registry();
    return r;
}

std::variant<Options, CliExit> run(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"iptables-trace"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_cli(static_cast<int>(argv.size()), argv.data(), backends());
}

Options ok(std::initializer_list<const char*> args) {
    auto r = run(args);
    if (auto* e = std::get_if<CliExit>(&r)) {
        ADD_FAILURE() << "unexpected exit " << e->code << ": " << e->message;
        return {};
    }
    return std::get<Options>(r);
}

}  // namespace

TEST(Cli, Defaults) {
    Options o = ok({});
    EXPECT_FALSE(o.addr);
    EXPECT_EQ(o.proto, Proto::Any);
    EXPECT_FALSE(o.port);
    EXPECT_FALSE(o.icmp_id);
    EXPECT_FALSE(o.pid);
    EXPECT_FALSE(o.netns);
    EXPECT_EQ(o.catch_count, 0u);
    EXPECT_EQ(o.time_mode, TimeMode::Clock);
    EXPECT_EQ(o.perf_pages, 64u);
    EXPECT_EQ(o.backend, "auto");
    EXPECT_FALSE(o.json);
    EXPECT_FALSE(o.check);
    EXPECT_FALSE(o.cleanup);
    EXPECT_FALSE(o.kmod_path);
    EXPECT_FALSE(o.ready_file);
    EXPECT_FALSE(o.verbose);
}

TEST(Cli, AllFlags) {
    Options o = ok({"-H", "10.0.0.2", "--proto", "tcp", "-P", "22", "-p", "1234", "-N", "4026531840", "-c", "20",
                    "-t", "-B", "256K", "--json", "--kmod", "/tmp/x.ko", "--backend", "module", "--ready-file",
                    "/tmp/ready", "-v"});
    ASSERT_TRUE(o.addr);
    EXPECT_EQ(o.addr->version, 4);
    EXPECT_EQ(o.addr->bytes[0], 10);
    EXPECT_EQ(o.addr->bytes[3], 2);
    EXPECT_EQ(o.addr->bytes[4], 0);
    EXPECT_EQ(o.proto, Proto::Tcp);
    EXPECT_EQ(o.port, 22);
    EXPECT_EQ(o.pid, 1234u);
    ASSERT_TRUE(o.netns);
    EXPECT_EQ(o.netns->text, "4026531840");
    EXPECT_EQ(o.catch_count, 20u);
    EXPECT_EQ(o.time_mode, TimeMode::SinceFirst);
    EXPECT_EQ(o.perf_pages, 64u);
    EXPECT_TRUE(o.json);
    EXPECT_EQ(o.kmod_path, "/tmp/x.ko");
    EXPECT_EQ(o.backend, "module");
    EXPECT_EQ(o.ready_file, "/tmp/ready");
    EXPECT_TRUE(o.verbose);
}

TEST(Cli, LongFormsAndEquals) {
    Options o = ok({"--ipaddr=fd00::1", "--port=443", "--pid=7", "--netns=pid:42", "--catch-count=0", "--time",
                    "--per-cpu-buffer=8", "--backend=module", "--verbose"});
    ASSERT_TRUE(o.addr);
    EXPECT_EQ(o.addr->version, 6);
    EXPECT_EQ(o.addr->bytes[0], 0xfd);
    EXPECT_EQ(o.addr->bytes[15], 1);
    EXPECT_EQ(o.port, 443);
    EXPECT_EQ(o.pid, 7u);
    EXPECT_EQ(o.netns->text, "pid:42");
    EXPECT_EQ(o.catch_count, 0u);
    EXPECT_EQ(o.time_mode, TimeMode::Clock);
    EXPECT_EQ(o.perf_pages, 8u);
    EXPECT_EQ(o.backend, "module");
}

TEST(Cli, Protocols) {
    EXPECT_EQ(ok({"--proto", "udp"}).proto, Proto::Udp);
    EXPECT_EQ(ok({"--proto", "icmp"}).proto, Proto::Icmp);
    EXPECT_EQ(ok({"--proto", "icmp6"}).proto, Proto::Icmp6);
    EXPECT_EQ(ok({"--proto", "any"}).proto, Proto::Any);
}

TEST(Cli, IcmpId) {
    Options o = ok({"--proto", "icmp", "--icmpid", "0"});
    EXPECT_EQ(o.icmp_id, 0);
    EXPECT_EQ(ok({"--icmpid", "65535"}).icmp_id, 65535);
    EXPECT_EQ(ok({"--proto", "icmp6", "--icmpid", "7"}).icmp_id, 7);
}

TEST(Cli, PortBounds) {
    EXPECT_EQ(ok({"-P", "1"}).port, 1);
    EXPECT_EQ(ok({"-P", "65535"}).port, 65535);
    EXPECT_EQ(ok({"--proto", "udp", "-P", "53"}).port, 53);
}

TEST(Cli, NetnsForms) {
    EXPECT_EQ(ok({"-N", "blue"}).netns->text, "blue");
    EXPECT_EQ(ok({"-N", "/proc/1/ns/net"}).netns->text, "/proc/1/ns/net");
    EXPECT_EQ(ok({"-N", "pid:1"}).netns->text, "pid:1");
}

TEST(Cli, BufferSizes) {
    EXPECT_EQ(ok({"-B", "1"}).perf_pages, 1u);
    EXPECT_EQ(ok({"-B", "64"}).perf_pages, 64u);
    EXPECT_EQ(ok({"-B", "65536"}).perf_pages, 65536u);
    EXPECT_EQ(ok({"-B", "4K"}).perf_pages, 1u);
    EXPECT_EQ(ok({"-B", "4KiB"}).perf_pages, 1u);
    EXPECT_EQ(ok({"-B", "256K"}).perf_pages, 64u);
    EXPECT_EQ(ok({"-B", "256k"}).perf_pages, 64u);
    EXPECT_EQ(ok({"-B", "1M"}).perf_pages, 256u);
    EXPECT_EQ(ok({"-B", "1MiB"}).perf_pages, 256u);
    EXPECT_EQ(ok({"-B", "256M"}).perf_pages, 65536u);
}

TEST(Cli, CheckCleanupAndBackends) {
    EXPECT_TRUE(ok({"--check"}).check);
    EXPECT_TRUE(ok({"--cleanup"}).cleanup);
    EXPECT_TRUE(ok({"--cleanup", "-v"}).verbose);
    EXPECT_EQ(ok({"--backend", "auto"}).backend, "auto");
    EXPECT_EQ(ok({"--backend", "netlink"}).backend, "netlink");
}

TEST(Cli, Help) {
    auto r = run({"--help"});
    ASSERT_TRUE(std::holds_alternative<CliExit>(r));
    const auto& e = std::get<CliExit>(r);
    EXPECT_EQ(e.code, 0);
    for (const char* s : {"Examples", "iptables-trace -c 20", "iptables-trace -H 10.0.0.2 --proto tcp -P 22",
                          "iptables-trace --check", "--ipaddr", "--proto", "--icmpid", "--port", "--pid", "--netns",
                          "--catch-count", "--time", "--timestamp", "--per-cpu-buffer", "--json", "--cleanup",
                          "--kmod", "--backend", "--ready-file", "--verbose", "--version"})
        EXPECT_NE(e.message.find(s), std::string::npos) << s;
    auto h = run({"-h"});
    ASSERT_TRUE(std::holds_alternative<CliExit>(h));
    EXPECT_EQ(std::get<CliExit>(h).code, 0);
}

TEST(Cli, Version) {
    auto r = run({"--version"});
    ASSERT_TRUE(std::holds_alternative<CliExit>(r));
    EXPECT_EQ(std::get<CliExit>(r).code, 0);
    EXPECT_EQ(std::get<CliExit>(r).message.rfind("iptables-trace ", 0), 0u);
}

struct BadCase {
    std::vector<const char*> args;
    const char* expect;  // a piece of the message
};

TEST(Cli, EveryInvalidValueIsOneClearLine) {
    const std::vector<BadCase> cases = {
        {{"-H", "10.0.0.256"}, "invalid address '10.0.0.256'"},
        {{"-H", "10.0.0"}, "invalid address"},
        {{"-H", "fd00::1::2"}, "invalid address"},
        {{"-H", "fe80::1%eth0"}, "invalid address"},
        {{"-H", ""}, "invalid address"},
        {{"-H", "example.com"}, "invalid address"},
        {{"--proto", "sctp"}, "unknown protocol 'sctp'"},
        {{"--proto", "TCP"}, "unknown protocol"},
        {{"--proto", ""}, "unknown protocol"},
        {{"--icmpid", "65536"}, "invalid ICMP id '65536'"},
        {{"--icmpid", "-1"}, "invalid ICMP id"},
        {{"--icmpid", "abc"}, "invalid ICMP id"},
        {{"-P", "0"}, "invalid port '0'"},
        {{"-P", "65536"}, "invalid port '65536'"},
        {{"-P", "-5"}, "invalid port"},
        {{"-P", "22x"}, "invalid port"},
        {{"-P", "0x16"}, "invalid port"},
        {{"-P", " 22"}, "invalid port"},
        {{"-P", "+22"}, "invalid port"},
        {{"-P", "99999999999999999999999"}, "invalid port"},
        {{"-p", "0"}, "invalid pid '0'"},
        {{"-p", "4194305"}, "invalid pid"},
        {{"-p", "x"}, "invalid pid"},
        {{"-N", ""}, "empty -N/--netns"},
        {{"-N", "0"}, "invalid netns inode '0'"},
        {{"-N", "4294967296"}, "invalid netns inode"},
        {{"-N", "pid:"}, "invalid pid in 'pid:'"},
        {{"-N", "pid:0"}, "invalid pid in"},
        {{"-N", "pid:abc"}, "invalid pid in"},
        {{"-N", ".."}, "invalid netns name"},
        {{"-N", "a\nb"}, "control character"},
        {{"-c", "-1"}, "invalid count '-1'"},
        {{"-c", "ten"}, "invalid count 'ten'"},
        {{"-c", "1.5"}, "invalid count"},
        {{"-c", ""}, "invalid count"},
        {{"-B", "0"}, "invalid buffer size '0'"},
        {{"-B", "3"}, "3 pages"},
        {{"-B", "131072"}, "invalid buffer size"},
        {{"-B", "6K"}, "not a whole number of 4 KiB pages"},
        {{"-B", "12K"}, "3 pages"},
        {{"-B", "1G"}, "unknown unit 'G'"},
        {{"-B", "256KB"}, "unknown unit 'KB'"},
        {{"-B", "K"}, "invalid buffer size 'K'"},
        {{"-B", "-4"}, "invalid buffer size"},
        {{"-B", "512M"}, "buffer size '512M'"},
        {{"-B", "99999999999999K"}, "too large"},
        {{"--backend", "ebpf"}, "unknown backend 'ebpf' for --backend: want auto, module, bpf or netlink"},
        {{"--kmod", ""}, "empty path for --kmod"},
        {{"--kmod", "/x.ko", "--backend", "netlink"}, "--kmod has no effect"},
        {{"--ready-file", ""}, "empty path for --ready-file"},
        {{"--bogus"}, "--bogus"},
        {{"-x"}, "-x"},
        {{"extra"}, "extra"},
        {{"-c"}, "-c"},
        {{"-c", "1", "-c", "2"}, "-c"},
        {{"-T", "-t"}, "-T/--time and -t/--timestamp exclude each other"},
        {{"--proto", "tcp", "--icmpid", "1"}, "--icmpid needs --proto icmp, icmp6 or any, not tcp"},
        {{"--proto", "udp", "--icmpid", "1"}, "not udp"},
        {{"--proto", "icmp", "-P", "22"}, "-P/--port cannot be used with --proto icmp"},
        {{"--proto", "icmp6", "-P", "22"}, "--proto icmp6"},
        {{"-P", "22", "--icmpid", "1"}, "exclude each other"},
        {{"-H", "10.0.0.1", "--proto", "icmp6"}, "icmp6 cannot match the IPv4 address"},
        {{"-H", "fd00::1", "--proto", "icmp"}, "use icmp6"},
        {{"--check", "--cleanup"}, "--check and --cleanup exclude each other"},
        {{"--cleanup", "-c", "5"}, "--cleanup takes no other option"},
        {{"--cleanup", "--json"}, "--cleanup takes no other option"},
    };
    for (const auto& c : cases) {
        std::vector<const char*> argv{"iptables-trace"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto r = parse_cli(static_cast<int>(argv.size()), argv.data(), backends());
        std::string shown;
        for (auto* a : c.args) shown += std::string(a) + " ";
        ASSERT_TRUE(std::holds_alternative<CliExit>(r)) << shown;
        const auto& e = std::get<CliExit>(r);
        EXPECT_EQ(e.code, 2) << shown;
        EXPECT_EQ(e.message.rfind("iptables-trace: ", 0), 0u) << shown << "-> " << e.message;
        EXPECT_EQ(e.message.find('\n'), std::string::npos) << shown << "-> " << e.message;
        EXPECT_NE(e.message.find(c.expect), std::string::npos) << shown << "-> " << e.message;
        if (getenv("ITR_SHOW_CLI_ERRORS")) printf("%-40s %s\n", shown.c_str(), e.message.c_str());
    }
}

TEST(Cli, FateFlags) {
    Options d = ok({});
    EXPECT_TRUE(d.rule_text);
    EXPECT_FALSE(d.fate);
    EXPECT_FALSE(d.drops_only);

    Options f = ok({"--fate"});
    EXPECT_TRUE(f.fate);
    EXPECT_FALSE(f.drops_only);

    Options dr = ok({"--drops-only", "--json"});
    EXPECT_TRUE(dr.drops_only);
    EXPECT_TRUE(dr.fate) << "--drops-only prints fates, so it implies --fate";
    EXPECT_TRUE(dr.json);

    EXPECT_FALSE(ok({"--no-rule-text"}).rule_text);
}

TEST(Cli, FateNeedsVerdictsTheNetlinkBackendLacks) {
    for (const char* flag : {"--fate", "--drops-only"}) {
        auto r = run({"--backend", "netlink", flag});
        auto* e = std::get_if<CliExit>(&r);
        ASSERT_TRUE(e) << flag;
        EXPECT_EQ(e->code, 2);
        EXPECT_NE(e->message.find(flag), std::string::npos) << e->message;
        const auto nl = e->message.find('\n');
        EXPECT_TRUE(nl == std::string::npos || nl == e->message.size() - 1) << "one line: " << e->message;
    }
    {
        auto r = run({"--backend", "netlink", "-p", "42"});
        auto* e = std::get_if<CliExit>(&r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->code, 2);
        EXPECT_NE(e->message.find("-p/--pid"), std::string::npos) << e->message;
    }
    auto r = run({"--cleanup", "--drops-only"});
    ASSERT_TRUE(std::get_if<CliExit>(&r));
}

TEST(Cli, HelpNamesTheDropFlags) {
    auto r = run({"--help"});
    auto* e = std::get_if<CliExit>(&r);
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("--drops-only"), std::string::npos);
    EXPECT_NE(e->message.find("--fate"), std::string::npos);
    EXPECT_NE(e->message.find("dropped"), std::string::npos);
}

TEST(Cli, TreeViewAndWhatItExcludes) {
    EXPECT_FALSE(ok({}).tree);
    EXPECT_TRUE(ok({"--tree"}).tree);
    EXPECT_TRUE(ok({"--tree", "--backend", "netlink"}).tree) << "every backend has a tree view";
    for (const char* other : {"--json", "--fate", "--drops-only"}) {
        auto r = run({"--tree", other});
        auto* e = std::get_if<CliExit>(&r);
        ASSERT_TRUE(e) << other;
        EXPECT_EQ(e->code, 2);
        EXPECT_NE(e->message.find(other), std::string::npos) << e->message;
    }
    auto r = run({"--cleanup", "--tree"});
    ASSERT_TRUE(std::get_if<CliExit>(&r));
}
