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
#include <chrono>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <thread>
#include <vector>


namespace itr {
Result<InstanceLock> InstanceLock::acquire(const std::string& path)
{
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd)
        return Error{"cannot open the lock file " + path + ": " + errno_text(errno), ""};
    // The guard of a killed instance holds the lock while it removes what
    // that instance left (a second or less): wait for it (up to 5 s), not
    // for a tracer.
    auto held_by_guard = [&path] {
        std::string pid = read_small_file(path, 32).value_or("");
        while (!pid.empty() && pid.back() == '\n')
            pid.pop_back();
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos)
            return false;
        // A pid that is gone: the new holder has not written its own yet.
        const std::string comm = read_small_file("/proc/" + pid + "/comm", 64).value_or("");
        return comm.empty() || comm == "itr-guard\n";
    };
    for (int tries = 0; ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0; ++tries) {
        if (tries < 200 && held_by_guard()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
            continue;
        }
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

namespace {

// Whether path is a mount point of bpffs (its own superblock, not the
// folder it sits in).
bool is_bpffs_mount(const std::string& path)
{
    struct statfs fs {};
    struct stat here {}, parent {};
    if (::statfs(path.c_str(), &fs) != 0 || fs.f_type != BPF_FS_MAGIC)
        return false;
    if (::lstat(path.c_str(), &here) != 0 || ::stat((path + "/..").c_str(), &parent) != 0)
        return false;
    return here.st_dev != parent.st_dev;
}

}  // namespace

Result<BpffsMount> BpffsMount::create_private(const std::string& path)
{
    // /run is root's: the folder is ours unless a stale instance left it
    // (remove_private_bpffs runs before), so anything odd there is refused.
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return Error{"creating " + path + ": " + errno_text(errno), ""};
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077))
        return Error{path + " is not a private folder of root's", "remove it, then start again"};
    if (::mount("bpf", path.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0) {
        const int e = errno;
        ::rmdir(path.c_str());
        return Error{"mounting a private bpffs at " + path + ": " + errno_text(e), ""};
    }
    BpffsMount m;
    m.path_ = path;
    m.mounted_ = true;
    return m;
}

BpffsMount::~BpffsMount()
{
    if (!mounted_)
        return;
    ::umount2(path_.c_str(), MNT_DETACH);
    ::rmdir(path_.c_str());
}

bool remove_private_bpffs(const std::string& path)
{
    bool found = false;
    while (is_bpffs_mount(path) && ::umount2(path.c_str(), MNT_DETACH) == 0)
        found = true;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::rmdir(path.c_str()) == 0)
        found = true;
    return found;
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

PinDirRemoval remove_pin_dir(const std::string& path, std::span<const char* const> names, std::string* why)
{
    auto refuse = [&](const std::string& reason) {
        if (why)
            *why = path + ": " + reason + "; not ours, left as it is";
        return PinDirRemoval::Refused;
    };
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0)
        return refuse("not a path below a bpffs mount");
    Fd parent(::open(path.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent)
        return PinDirRemoval::Absent;
    const std::string base = path.substr(slash + 1);
    Fd dir(::openat(parent.get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) {
        if (errno == ENOENT)
            return PinDirRemoval::Absent;
        return refuse(errno == ELOOP || errno == ENOTDIR ? "a symlink or not a folder" : errno_text(errno));
    }
    struct statfs fs {};
    struct stat st {};
    if (::fstatfs(dir.get(), &fs) != 0 || fs.f_type != BPF_FS_MAGIC)
        return refuse("not on bpffs");
    if (::fstat(dir.get(), &st) != 0 || st.st_uid != 0)
        return refuse("not owned by root");
    if (st.st_mode & 022)
        return refuse("writable by others");
    for (const char* name : names)
        ::unlinkat(dir.get(), name, 0);  // a pin, or nothing: never a folder
    if (::unlinkat(parent.get(), base.c_str(), AT_REMOVEDIR) != 0)
        return refuse("it holds files that are not our pins");
    return PinDirRemoval::Removed;
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

namespace {

// modprobe as the kernel itself runs it (/proc/sys/kernel/modprobe, which
// only root can change), with a fixed PATH and nothing else from the
// caller's environment: a root tool must not run whatever `modprobe` comes
// first in a PATH someone else set. Its own complaints (an optional module
// that is absent) go to /dev/null: the caller says what matters.
Status run_modprobe(std::initializer_list<const char*> args)
{
    std::string path = "/sbin/modprobe";
    if (std::ifstream in("/proc/sys/kernel/modprobe"); in) {
        std::string p;
        if (std::getline(in, p) && !p.empty() && p[0] == '/')
            path = p;
    }
    std::vector<const char*> argv{"modprobe"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(nullptr);
    static const char* const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, const_cast<char**>(argv.data()),
                                 const_cast<char**>(env));
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return Error{"running " + path + ": " + errno_text(rc), ""};
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ok_status();
}

}  // namespace

Result<ModprobedModule> ModprobedModule::ensure(const std::string& name)
{
    ModprobedModule m;
    m.name_ = name;
    if (module_is_loaded(name))
        return m;
    if (auto st = run_modprobe({"-q", name.c_str()}); !st)
        return st.error();
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
    (void)run_modprobe({"-r", "-q", name_.c_str()});
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
