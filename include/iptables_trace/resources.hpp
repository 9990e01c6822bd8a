// RAII owners of the module backend's kernel resources. Each is move-only,
// releases what it holds in its destructor, and never throws.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iptables_trace/result.hpp"
#include "iptables_trace/sys.hpp"

struct bpf_program;

namespace itr {

// Held for the life of a tracing run, so a second instance is refused and a
// leftover of a killed one can be told from a live one.
class InstanceLock {
public:
    static Result<InstanceLock> acquire(const std::string& path);
    InstanceLock(InstanceLock&&) noexcept = default;
    ~InstanceLock() = default;  // closing the fd drops the flock

private:
    InstanceLock() = default;
    Fd fd_;
};

// bpffs at /sys/fs/bpf; mounted by us (and unmounted at the end) only when
// the system had not mounted it.
class BpffsMount {
public:
    static Result<BpffsMount> ensure(const std::string& path);
    BpffsMount(BpffsMount&& o) noexcept : path_(std::move(o.path_)), mounted_(o.mounted_) { o.mounted_ = false; }
    ~BpffsMount();

private:
    BpffsMount() = default;
    std::string path_;
    bool mounted_ = false;
};

// A private 0700 folder in bpffs and the programs pinned in it.
class PinDir {
public:
    static Result<PinDir> create(const std::string& path);
    PinDir(PinDir&& o) noexcept : path_(std::move(o.path_)), pins_(std::move(o.pins_)), live_(o.live_) { o.live_ = false; }
    ~PinDir();
    Status pin(struct bpf_program* prog, const std::string& name);
    const std::string& path() const { return path_; }

private:
    PinDir() = default;
    std::string path_;
    std::vector<std::string> pins_;
    bool live_ = false;
};

// Removes everything in a pin folder and the folder; true if it existed.
bool remove_pin_dir(const std::string& path);

// Our kernel module, inserted from memory; removed in the destructor.
class LoadedModule {
public:
    static Result<LoadedModule> insert(std::span<const std::byte> image, const std::string& params,
                                       const std::string& name);
    LoadedModule(LoadedModule&& o) noexcept : name_(std::move(o.name_)), live_(o.live_) { o.live_ = false; }
    ~LoadedModule();
    const std::string& name() const { return name_; }

private:
    LoadedModule() = default;
    std::string name_;
    bool live_ = false;
};

bool module_is_loaded(const std::string& name);
// delete_module with a short retry while the module is briefly busy.
Status remove_module(const std::string& name);

// A kernel module we asked modprobe for (ip_tables, ip6_tables), unloaded
// at the end if we loaded it and nothing else uses it by then.
class ModprobedModule {
public:
    // Ok when already loaded or loaded now.
    static Result<ModprobedModule> ensure(const std::string& name);
    ModprobedModule(ModprobedModule&& o) noexcept : name_(std::move(o.name_)), loaded_by_us_(o.loaded_by_us_)
    {
        o.loaded_by_us_ = false;
    }
    ~ModprobedModule();
    bool loaded_by_us() const { return loaded_by_us_; }

private:
    ModprobedModule() = default;
    std::string name_;
    bool loaded_by_us_ = false;
};

// Pure: whether modules.dep's text has an entry for module `name` (a
// "…/name.ko[.xz|.zst|.gz]:" line; '-' and '_' are the same in module names).
bool modules_dep_lists(std::string_view modules_dep, std::string_view name);
// Whether modprobe could load `name` for the running kernel (modules.dep).
bool kernel_module_available(const std::string& name);

// "a b c" of /sys/module/<name>/parameters/<param>, "" if absent.
std::string read_module_param(const std::string& name, const std::string& param);

}  // namespace itr
