#include "iptables_trace/resources.hpp"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

extern char** environ;

namespace itr {
Result<InstanceLock> InstanceLock::acquire(const std::string& path)
{
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd)
        return Error{"cannot open the lock file " + path + ": " + errno_text(errno), ""};
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        std::string pid;
        std::ifstream(path) >> pid;
        return Error{"another iptables-trace is running" + (pid.empty() ? std::string() : " (pid " + pid + ")"),
                     "only one instance can trace at a time; stop the other one first"};
    }
    if (::ftruncate(fd.get(), 0) == 0) {
        std::string pid = std::to_string(::getpid()) + "\n";
        (void)!::write(fd.get(), pid.data(), pid.size());
    }
    InstanceLock l;
    l.fd_ = std::move(fd);
    return l;
}

Result<BpffsMount> BpffsMount::ensure(const std::string& path)
{
    BpffsMount m;
    m.path_ = path;
    struct statfs st {};
    if (::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC)
        return m;
    if (::mount("bpf", path.c_str(), "bpf", 0, "mode=0700") != 0)
        return Error{"mounting bpffs at " + path + ": " + errno_text(errno), "mount -t bpf bpf " + path};
    m.mounted_ = true;
    return m;
}

BpffsMount::~BpffsMount()
{
    if (mounted_)
        ::umount2(path_.c_str(), MNT_DETACH);
}

Result<PinDir> PinDir::create(const std::string& path)
{
    if (::mkdir(path.c_str(), 0700) != 0)
        return Error{"creating the pin folder " + path + ": " + errno_text(errno), ""};
    PinDir d;
    d.path_ = path;
    d.live_ = true;
    return d;
}

Status PinDir::pin(struct bpf_program* prog, const std::string& name)
{
    const std::string p = path_ + "/" + name;
    int err = bpf_program__pin(prog, p.c_str());
    if (err)
        return Error{"pinning " + name + " at " + p + ": " + errno_text(-err), ""};
    pins_.push_back(p);
    return ok_status();
}

PinDir::~PinDir()
{
    if (!live_)
        return;
    for (const auto& p : pins_)
        ::unlink(p.c_str());
    ::rmdir(path_.c_str());
}

bool remove_pin_dir(const std::string& path)
{
    DIR* d = ::opendir(path.c_str());
    if (!d)
        return false;
    while (struct dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0)
            continue;
        ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
    ::rmdir(path.c_str());
    return true;
}

Result<LoadedModule> LoadedModule::insert(std::span<const std::byte> image, const std::string& params,
                                          const std::string& name)
{
    // finit_module on a memfd lets the kernel see a file (signature checks,
    // IMA); init_module on the bytes is the fallback for kernels without memfd.
    int rc = -1;
    int err = 0;
    Fd mfd(static_cast<int>(::syscall(SYS_memfd_create, "iptables_trace.ko", MFD_CLOEXEC)));
    if (mfd) {
        size_t off = 0;
        while (off < image.size()) {
            ssize_t n = ::write(mfd.get(), image.data() + off, image.size() - off);
            if (n <= 0)
                break;
            off += static_cast<size_t>(n);
        }
        if (off == image.size()) {
            rc = static_cast<int>(::syscall(SYS_finit_module, mfd.get(), params.c_str(), 0));
            err = errno;
        }
    }
    if (rc != 0 && (!mfd || err == ENOSYS || err == EBADF)) {
        rc = static_cast<int>(::syscall(SYS_init_module, image.data(), image.size(), params.c_str()));
        err = errno;
    }
    if (rc != 0) {
        switch (err) {
        case EEXIST:
            return Error{"inserting the module: a module named " + name + " is already loaded",
                         "iptables-trace --cleanup removes a stale instance"};
        case ENOEXEC:
            return Error{"inserting the module: the kernel rejected its format (built for another kernel?)",
                         "rebuild against this kernel's headers or pass --kmod PATH"};
        case EPERM:
        case EKEYREJECTED:
            return Error{"inserting the module: not permitted (" + errno_text(err) + ")",
                         "Secure Boot lockdown or module signature enforcement refuses unsigned modules: "
                         "use --backend netlink"};
        case ENOENT:
            return Error{"inserting the module: ipt_do_table not found (ip_tables not loaded)",
                         "modprobe ip_tables"};
        case ENODATA:
            return Error{"inserting the module: a BPF program it needs is not pinned", "see dmesg"};
        case EINVAL:
            return Error{"inserting the module: it refused its parameters (ABI mismatch?)",
                         "see dmesg; the module must come from the same build as the binary"};
        default:
            return Error{"inserting the module: " + errno_text(err), "see dmesg for the module's own message"};
        }
    }
    LoadedModule m;
    m.name_ = name;
    m.live_ = true;
    return m;
}

LoadedModule::~LoadedModule()
{
    if (live_)
        (void)remove_module(name_);
}

bool module_is_loaded(const std::string& name)
{
    struct stat st {};
    return ::stat(("/sys/module/" + name).c_str(), &st) == 0;
}

Status remove_module(const std::string& name)
{
    // Handlers may still hold the module for a moment after the last packet.
    for (int i = 0; i < 50; i++) {
        if (::syscall(SYS_delete_module, name.c_str(), O_NONBLOCK) == 0)
            return ok_status();
        if (errno == ENOENT)
            return ok_status();
        if (errno != EAGAIN && errno != EBUSY && errno != EWOULDBLOCK)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Error{"removing module " + name + ": " + errno_text(errno), "rmmod " + name};
}

Result<ModprobedModule> ModprobedModule::ensure(const std::string& name)
{
    ModprobedModule m;
    m.name_ = name;
    if (module_is_loaded(name))
        return m;
    pid_t pid = -1;
    const char* argv[] = {"modprobe", "-q", name.c_str(), nullptr};
    int rc = ::posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ);
    if (rc != 0)
        return Error{"running modprobe " + name + ": " + errno_text(rc), ""};
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!module_is_loaded(name))
        return Error{"modprobe " + name + " failed", ""};
    m.loaded_by_us_ = true;
    return m;
}

ModprobedModule::~ModprobedModule()
{
    // modprobe -r also drops the dependencies it pulled in (x_tables), and
    // fails harmlessly if a table was created meanwhile.
    if (!loaded_by_us_)
        return;
    pid_t pid = -1;
    const char* argv[] = {"modprobe", "-r", "-q", name_.c_str(), nullptr};
    if (::posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ) == 0) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

bool modules_dep_lists(std::string_view dep, std::string_view name)
{
    auto norm = [](char c) { return c == '-' ? '_' : c; };
    size_t pos = 0;
    while (pos < dep.size()) {
        size_t eol = dep.find('\n', pos);
        if (eol == std::string_view::npos)
            eol = dep.size();
        std::string_view line = dep.substr(pos, eol - pos);
        pos = eol + 1;
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string_view path = line.substr(0, colon);
        const size_t slash = path.rfind('/');
        std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
        const size_t ko = file.find(".ko");
        if (ko == std::string_view::npos || ko != name.size())
            continue;
        const std::string_view rest = file.substr(ko);
        if (rest != ".ko" && rest != ".ko.xz" && rest != ".ko.zst" && rest != ".ko.gz")
            continue;
        bool same = true;
        for (size_t i = 0; i < name.size() && same; i++)
            same = norm(file[i]) == norm(name[i]);
        if (same)
            return true;
    }
    return false;
}

bool kernel_module_available(const std::string& name)
{
    struct utsname u {};
    if (::uname(&u) != 0)
        return false;
    std::ifstream in(std::string("/lib/modules/") + u.release + "/modules.dep");
    if (!in)
        return false;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return modules_dep_lists(text, name);
}

std::string read_module_param(const std::string& name, const std::string& param)
{
    std::ifstream in("/sys/module/" + name + "/parameters/" + param);
    std::string v;
    std::getline(in, v);
    return v;
}

}  // namespace itr
