#include "table_probes.hpp"

#include <tuple>

namespace itr {
namespace {

// "ipt_do_table in ip_tables BTF" / "ipt_do_table in vmlinux BTF".
std::string where(const char* func, const std::string& btf) { return std::string(func) + " in " + btf + " BTF"; }

std::string module_of(const std::string& func)
{
    return func == "ipt_do_table" ? "ip_tables" : func == "ip6t_do_table" ? "ip6_tables" : "nf_tables";
}

std::string no_btf(const char* func)
{
    return "no BTF for " + std::string(func) + " (neither vmlinux nor /sys/kernel/btf/" + module_of(func) +
           ": a kernel before 5.11, or built without CONFIG_DEBUG_INFO_BTF_MODULES)";
}

}  // namespace

Result<TableProbeChoice> choose_table_probes(const TableProbeFacts& f)
{
    const std::string& want = f.forced;
    if (!want.empty() && want != "auto" && want != "fentry" && want != "kprobes")
        return Error{"ITR_TABLE_PROBES=" + want + ": unknown value", "use auto, fentry or kprobes"};
    TableProbeChoice c;
    c.forced = want == "fentry" || want == "kprobes";
    if (want == "kprobes") {
        c.how = TableProbes::Kprobes;
        c.reason = "ITR_TABLE_PROBES=kprobes";
        return c;
    }
    std::optional<std::string> missing;
    std::string found;
    for (auto [present, btf, func] : {std::tuple{f.ipt, &f.ipt_btf, "ipt_do_table"},
                                      std::tuple{f.ip6t, &f.ip6t_btf, "ip6t_do_table"},
                                      std::tuple{f.nft, &f.nft_btf, "nft_do_chain"}}) {
        if (!present)
            continue;
        if (!*btf) {
            if (!missing)
                missing = no_btf(func);
            continue;
        }
        found += (found.empty() ? "" : ", ") + where(func, **btf);
    }
    if (!f.ipt && !f.ip6t && !f.nft)
        missing = "no table or chain function to follow";
    if (missing) {
        if (want == "fentry")
            return Error{"ITR_TABLE_PROBES=fentry: " + *missing, "unset ITR_TABLE_PROBES to let kprobes serve"};
        c.how = TableProbes::Kprobes;
        c.reason = *missing;
        return c;
    }
    c.how = TableProbes::Fentry;
    c.reason = want == "fentry" ? "ITR_TABLE_PROBES=fentry, " + found : found;
    return c;
}

std::string describe(const TableProbeChoice& c)
{
    if (c.how == TableProbes::Fentry)
        return "table calls via fentry/fexit (" + c.reason + ")";
    return "table calls via kprobes: " + c.reason;
}

TableProbeChoice kprobes_after(const TableProbeChoice& refused, const std::string& what)
{
    TableProbeChoice c;
    c.how = TableProbes::Kprobes;
    c.reason = what + " (" + refused.reason + ")";
    return c;
}

}  // namespace itr
