#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "iptables_trace/module_backend.hpp"

namespace itr {

Result<uint32_t> resolve_netns_inode(const NetnsSpec& spec)
{
    const std::string& t = spec.text;
    if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos)
        return static_cast<uint32_t>(std::stoul(t));
    std::string path;
    if (t.rfind("pid:", 0) == 0)
        path = "/proc/" + t.substr(4) + "/ns/net";
    else if (t.find('/') != std::string::npos)
        path = t;
    else
        path = "/var/run/netns/" + t;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return Error{"-N " + t + ": " + path + ": " + std::strerror(errno),
                     "give a netns inode, pid:PID, a name from `ip netns list`, or a path"};
    return static_cast<uint32_t>(st.st_ino);
}

}  // namespace itr
