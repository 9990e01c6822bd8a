// Loads the iptables-trace BPF object through the running kernel's verifier
// under a matrix of configurations. .rodata is frozen at load, so the
// verifier prunes branches on the configuration: every realistic config has
// to be verified on its own, not just zeros.
//
// One line per case; exit status 1 if any case fails to load, 77 if BPF
// loading is not permitted here (not root), 0 otherwise.
// Usage: itr_verifier_matrix [-v] [--btf FILE]
//   -v          libbpf debug log (with the verifier's statistics)
//   --btf FILE  resolve CO-RE relocations against FILE (raw BTF or an ELF
//               vmlinux with .BTF, e.g. a VM kernel's) instead of the running
//               kernel's BTF. The running kernel still verifies, so this checks
//               that another kernel's relocations (type/field existence, sizes)
//               give an object this verifier accepts; module BTF is not
//               consulted then, as on 5.10.

#include "iptables_trace/event.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "iptables_trace.skel.h"

namespace {

bool g_verbose = false;

int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !g_verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

struct SkelDeleter {
	void operator()(iptables_trace_bpf *s) const { iptables_trace_bpf__destroy(s); }
};
using Skel = std::unique_ptr<iptables_trace_bpf, SkelDeleter>;

struct Case {
	std::string name;
	std::function<void(itr_config &)> set;
	bool nft = true; // autoload the nft programs (off: as on 5.10)
	bool fentry = false; // bpf backend: fentry/fexit table programs instead of kprobe_*_all
};

// The running kernel's BTF has `func` (vmlinux, or module BTF of `module`):
// fentry programs on it can be loaded.
bool kernel_btf_has(const char *func, const char *module)
{
	btf *vm = btf__load_vmlinux_btf();
	if (!vm)
		return false;
	bool found = btf__find_by_name_kind(vm, func, BTF_KIND_FUNC) > 0;
	if (!found) {
		if (btf *m = btf__load_module_btf(module, vm)) {
			found = btf__find_by_name_kind(m, func, BTF_KIND_FUNC) > 0;
			btf__free(m);
		}
	}
	btf__free(vm);
	return found;
}

itr_arg_layout layout_old() { return {0, 1, 2, 1}; } // skb, state, table (< 5.16)
itr_arg_layout layout_new() { return {1, 2, 0, 1}; } // priv = table first (>= 5.16)

void addr4(itr_config &c, const char *a)
{
	c.has_addr = 1;
	c.addr_version = 4;
	std::memset(c.addr, 0, sizeof(c.addr));
	inet_pton(AF_INET, a, c.addr);
}

void addr6(itr_config &c, const char *a)
{
	c.has_addr = 1;
	c.addr_version = 6;
	inet_pton(AF_INET6, a, c.addr);
}

uint32_t self_netns()
{
	struct stat st {};
	if (stat("/proc/self/ns/net", &st) != 0)
		return 4026531840u;
	return static_cast<uint32_t>(st.st_ino);
}

std::vector<Case> filter_cases()
{
	auto pid = static_cast<uint32_t>(getpid());
	auto ns = self_netns();
	std::vector<Case> v;
	v.push_back({"none", [](itr_config &) {}});
	v.push_back({"addr4", [](itr_config &c) { addr4(c, "192.0.2.1"); }});
	v.push_back({"addr6", [](itr_config &c) { addr6(c, "2001:db8::1"); }});
	v.push_back({"proto-tcp", [](itr_config &c) { c.proto = IPPROTO_TCP; }});
	v.push_back({"proto-udp", [](itr_config &c) { c.proto = IPPROTO_UDP; }});
	v.push_back({"proto-icmp", [](itr_config &c) { c.proto = IPPROTO_ICMP; }});
	v.push_back({"proto-icmpv6", [](itr_config &c) { c.proto = IPPROTO_ICMPV6; }});
	v.push_back({"port", [](itr_config &c) { c.has_port = 1; c.port_be = htons(22); }});
	v.push_back({"icmp-id", [](itr_config &c) { c.has_icmp_id = 1; c.icmp_id_be = htons(0x1234); }});
	v.push_back({"pid", [pid](itr_config &c) { c.has_pid = 1; c.pid = pid; }});
	v.push_back({"netns", [ns](itr_config &c) { c.has_netns = 1; c.netns = ns; }});
	v.push_back({"all4", [pid, ns](itr_config &c) {
		addr4(c, "10.1.2.3");
		c.proto = IPPROTO_TCP;
		c.has_port = 1; c.port_be = htons(443);
		c.has_icmp_id = 1; c.icmp_id_be = htons(7);
		c.has_pid = 1; c.pid = pid;
		c.has_netns = 1; c.netns = ns;
	}});
	v.push_back({"all6", [pid, ns](itr_config &c) {
		addr6(c, "fe80::1:2:3:4");
		c.proto = IPPROTO_ICMPV6;
		c.has_port = 1; c.port_be = htons(53);
		c.has_icmp_id = 1; c.icmp_id_be = htons(0xbeef);
		c.has_pid = 1; c.pid = pid;
		c.has_netns = 1; c.netns = ns;
	}});
	return v;
}

struct ProgStat {
	std::string name;
	uint32_t verified = 0; // verifier-processed instructions (5.16+; 0 if unknown)
	uint32_t xlated = 0;   // translated instructions
};

std::vector<ProgStat> prog_stats(iptables_trace_bpf *skel)
{
	std::vector<ProgStat> out;
	bpf_program *prog;
	bpf_object__for_each_program(prog, skel->obj) {
		int fd = bpf_program__fd(prog);
		if (fd < 0)
			continue;
		bpf_prog_info info {};
		uint32_t len = sizeof(info);
		ProgStat s;
		s.name = bpf_program__name(prog);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			s.verified = info.verified_insns;
			s.xlated = info.xlated_prog_len / 8;
		}
		out.push_back(s);
	}
	return out;
}

} // namespace

int main(int argc, char **argv)
{
	const char *btf_path = nullptr;
	for (int i = 1; i < argc; i++) {
		if (std::strcmp(argv[i], "-v") == 0) {
			g_verbose = true;
		} else if (std::strcmp(argv[i], "--btf") == 0 && i + 1 < argc) {
			btf_path = argv[++i];
		} else {
			std::fprintf(stderr, "usage: %s [-v] [--btf FILE]\n", argv[0]);
			return 2;
		}
	}
	if (btf_path)
		std::printf("CO-RE target BTF: %s\n", btf_path);
	libbpf_set_print(print_libbpf);

	struct Layout {
		const char *name;
		itr_arg_layout l;
	};
	const Layout layouts[] = {{"old", layout_old()}, {"new", layout_new()}};

	std::vector<Case> cases;
	for (const auto &lay : layouts) {
		for (auto fc : filter_cases()) {
			auto l = lay.l;
			auto set = fc.set;
			cases.push_back({std::string(lay.name) + "/" + fc.name, [l, set](itr_config &c) {
						 c.ipt = l;
						 c.ip6t = l;
						 set(c);
					 }});
		}
	}
	// Partial kernels: no ip6_tables; no nf_tables BTF (5.10: nft programs
	// not loaded); no legacy xtables at all (6.17+ without XTABLES_LEGACY).
	cases.push_back({"new/no-ip6t", [](itr_config &c) {
				 c.ipt = layout_new();
				 c.ip6t = {};
			 }});
	cases.push_back({"old/no-nft", [](itr_config &c) {
				 c.ipt = layout_old();
				 c.ip6t = layout_old();
				 c.has_port = 1;
				 c.port_be = htons(80);
			 }, false});
	cases.push_back({"none/no-xtables", [](itr_config &c) {
				 c.ipt = {};
				 c.ip6t = {};
				 c.proto = IPPROTO_UDP;
			 }});

	// The bpf backend: the same configurations with no module
	// (ITR_MODE_KPROBES prunes other branches) and always one netns.
	for (size_t i = 0, n = cases.size(); i < n; i++) {
		Case k = cases[i];
		k.name += "/kp";
		k.set = [set = cases[i].set](itr_config &c) {
			set(c);
			c.mode = ITR_MODE_KPROBES;
			c.has_netns = 1;
			c.netns = 4026531840u;
		};
		cases.push_back(k);
	}
	// The bpf backend with fentry/fexit on the table functions, where this
	// kernel's BTF has them (the attach target is resolved at load).
	const bool fe4 = kernel_btf_has("ipt_do_table", "ip_tables");
	const bool fe6 = kernel_btf_has("ip6t_do_table", "ip6_tables");
	const bool fe_nft = kernel_btf_has("nft_do_chain", "nf_tables");
	if (!fe4 || !fe6)
		std::printf("note: no fentry cases: no BTF for %s on this kernel\n", fe4 ? "ip6t_do_table" : "ipt_do_table");
	for (size_t i = 0, n = cases.size(); fe4 && fe6 && i < n; i++) {
		if (cases[i].name.size() < 3 || cases[i].name.compare(cases[i].name.size() - 3, 3, "/kp") != 0)
			continue;
		Case k = cases[i];
		k.name.replace(k.name.size() - 3, 3, "/fe");
		k.fentry = true;
		// Kernels with fentry are 6.x: the marking covers every filtered
		// packet there, and the programs stop at an unmarked skb.
		k.set = [set = cases[i].set](itr_config &c) {
			set(c);
			c.marked_only = 1;
		};
		cases.push_back(k);
	}

	int failed = 0;
	bool fentry_refused = false;
	std::map<std::string, uint32_t> max_verified;
	for (const auto &tc : cases) {
		LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
		Skel skel(iptables_trace_bpf__open_opts(&opts));
		if (!skel) {
			int err = errno;
			std::printf("FAIL %-22s open: %s\n", tc.name.c_str(), std::strerror(err));
			failed++;
			continue;
		}
		itr_config cfg {};
		cfg.abi_version = ITR_ABI_VERSION;
		tc.set(cfg);
		skel->rodata->itr_cfg = cfg;
		auto *p = &skel->progs;
		for (auto *prog : {p->kprobe_ipt_do_table_all, p->kretprobe_ipt_do_table_all,
				   p->kprobe_ip6t_do_table_all, p->kretprobe_ip6t_do_table_all})
			bpf_program__set_autoload(prog, !tc.fentry);
		bpf_program__set_autoload(p->fentry_ipt_do_table, tc.fentry && cfg.ipt.valid);
		bpf_program__set_autoload(p->fexit_ipt_do_table, tc.fentry && cfg.ipt.valid);
		bpf_program__set_autoload(p->fentry_ip6t_do_table, tc.fentry && cfg.ip6t.valid);
		bpf_program__set_autoload(p->fexit_ip6t_do_table, tc.fentry && cfg.ip6t.valid);
		bpf_program__set_autoload(p->kprobe_nft_do_chain, tc.nft && !tc.fentry);
		bpf_program__set_autoload(p->kretprobe_nft_do_chain, tc.nft && !tc.fentry);
		bpf_program__set_autoload(p->fentry_nft_do_chain, tc.nft && tc.fentry && fe_nft);
		bpf_program__set_autoload(p->fexit_nft_do_chain, tc.nft && tc.fentry && fe_nft);
		if (tc.fentry && fentry_refused) {
			std::printf("skip %-22s this kernel refuses fentry programs at load (EPERM)\n", tc.name.c_str());
			continue;
		}
		int err = iptables_trace_bpf__load(skel.get());
		// EPERM as root, before any verifier log: the kernel (or a security
		// module) refuses tracing programs here. Not a verifier verdict.
		if (err == -EPERM && tc.fentry && geteuid() == 0) {
			fentry_refused = true;
			std::printf("skip %-22s this kernel refuses fentry programs at load (EPERM)\n", tc.name.c_str());
			continue;
		}
		if (err) {
			if ((err == -EPERM || err == -EACCES) && geteuid() != 0) {
				std::printf("skipped: loading BPF programs needs root (%s)\n", std::strerror(-err));
				return 77;
			}
			std::printf("FAIL %-22s load: %s\n", tc.name.c_str(), std::strerror(-err));
			failed++;
			continue;
		}
		std::string line;
		for (const auto &s : prog_stats(skel.get())) {
			char buf[96];
			std::snprintf(buf, sizeof(buf), " %s=%u/%u", s.name.c_str(), s.verified, s.xlated);
			line += buf;
			auto &m = max_verified[s.name];
			m = std::max(m, s.verified);
		}
		std::printf("ok   %-22s%s\n", tc.name.c_str(), line.c_str());
	}
	std::printf("max verified insns:");
	for (const auto &[name, n] : max_verified)
		std::printf(" %s=%u", name.c_str(), n);
	std::printf("\n%zu cases, %d failed (figures: verified/xlated instructions)\n", cases.size(), failed);
	return failed ? 1 : 0;
}
