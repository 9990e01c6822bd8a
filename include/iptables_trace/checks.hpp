// One requirement of a backend, checked: what --check lists and what a
// backend's probe gives as its reason when it cannot run.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace itr {

struct Check {
    std::string name;     // "root", "btf", "kprobes", ...
    bool ok = false;
    bool fatal = false;   // the backend cannot run when this fails
    std::string detail;   // what was found
    std::string hint;     // how to fix, may be empty
};

// The first fatal failure, if any.
std::optional<Check> first_fatal(const std::vector<Check>& checks);

// "  ok    root          running as root", "  FAIL  kprobes ... (hint: ...)".
void write_checks(std::ostream& out, const std::vector<Check>& checks);

}  // namespace itr
