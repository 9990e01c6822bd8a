// The running kernel's BTF, parsed once per process and shared by the
// start-up steps that need it (kernel facts, table-function signatures):
// under an emulated CPU each parse of vmlinux BTF costs a tenth of a second
// or more, and /proc/kallsyms, which it replaces for the common questions,
// costs three times that.
#pragma once

#include <bpf/btf.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace itr {

// A FUNC found in kernel BTF: which BTF holds it and its type id there.
struct BtfFunc {
    const struct btf* btf = nullptr;
    uint32_t id = 0;
    std::string where;  // "vmlinux" or the module's name
};

class KernelBtf {
public:
    // The process's copy; vmlinux is parsed on first use.
    static KernelBtf& shared();
    // Set-up is over: give the memory (several MB) back.
    static void release_shared();

    bool has_vmlinux();
    // FUNC `name` in vmlinux BTF, else in /sys/kernel/btf/<module> when
    // `module` is not empty and that module is loaded with BTF.
    std::optional<BtfFunc> find_func(const std::string& name, const std::string& module = {});
    // /sys/kernel/btf/<module> exists (the module is loaded and has BTF).
    static bool module_has_btf(const std::string& module);

private:
    struct BtfDeleter {
        void operator()(struct btf* b) const { btf__free(b); }
    };
    using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

    const struct btf* vmlinux();
    const struct btf* module(const std::string& name);
    std::optional<uint32_t> vmlinux_func(const std::string& name);

    BtfPtr vmlinux_;
    bool vmlinux_tried_ = false;
    // Names of every FUNC in vmlinux we were asked about, from one scan.
    std::map<std::string, uint32_t> vmlinux_funcs_;
    bool scanned_ = false;  // vmlinux_funcs_ holds the one scan's results
    // Module BTF is cached only once found: a module may be loaded later.
    std::map<std::string, BtfPtr> modules_;
};

}  // namespace itr
