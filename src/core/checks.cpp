#include "iptables_trace/checks.hpp"

namespace itr {

std::optional<Check> first_fatal(const std::vector<Check>& checks)
{
    for (const auto& c : checks)
        if (!c.ok && c.fatal)
            return c;
    return std::nullopt;
}

void write_checks(std::ostream& out, const std::vector<Check>& checks)
{
    for (const auto& c : checks) {
        out << "  " << (c.ok ? "ok  " : (c.fatal ? "FAIL" : "warn")) << "  " << c.name;
        out << std::string(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ') << c.detail;
        if (!c.ok && !c.hint.empty())
            out << " (hint: " << c.hint << ")";
        out << "\n";
    }
}

}  // namespace itr
