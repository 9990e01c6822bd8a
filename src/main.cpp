#include <time.h>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string_view>
#include <variant>

#include "app.hpp"
#include "signals.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/registry.hpp"

int main(int argc, char** argv)
{
    // First: a stop asked for while the command line is read must not kill
    // the process with the default action, but end it as a stop does.
    itr::install_stop_handlers();
    struct timespec t0 {};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const itr::BackendRegistry backends = itr::default_backend_registry();
    if (argc > 1 && std::string_view(argv[1]) == itr::kGuardArg) {
        auto args = itr::parse_guard_args(argc, argv);
        if (!args) {
            std::cerr << "iptables-trace: " << itr::kGuardArg << " is internal: not for use by hand\n";
            return 2;
        }
        try {
            return itr::run_guard(*args, backends);
        } catch (const std::exception& e) {
            std::cerr << "iptables-trace: guard: internal error: " << e.what() << "\n";
        } catch (...) {
            std::cerr << "iptables-trace: guard: internal error\n";
        }
        return 1;
    }
    auto parsed = itr::parse_cli(argc, argv, backends);
    if (auto* exit = std::get_if<itr::CliExit>(&parsed)) {
        (exit->code == 0 ? std::cout : std::cerr) << exit->message << (exit->message.empty() ? "" : "\n");
        return exit->code;
    }
    auto& opts = std::get<itr::Options>(parsed);
    opts.main_start_ns = int64_t(t0.tv_sec) * 1000000000LL + t0.tv_nsec;
    // Whatever throws unwinds through run()'s owners (module, pins, nft
    // table, logger bindings) before the process ends: never std::terminate.
    try {
        return itr::run(opts, backends);
    } catch (const std::exception& e) {
        std::cerr << "iptables-trace: internal error: " << e.what() << "\n";
    } catch (...) {
        std::cerr << "iptables-trace: internal error\n";
    }
    return 1;
}
