// A one-pass look-up of a few symbols in /proc/kallsyms.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace itr {

class Kallsyms {
public:
    static Kallsyms read(const std::vector<std::string>& wanted);
    bool has(const std::string& name) const { return found_.count(name) != 0; }
    // False when kallsyms could not be read or shows no addresses to us.
    bool readable() const { return readable_; }

private:
    std::set<std::string> found_;
    bool readable_ = false;
};

}  // namespace itr
