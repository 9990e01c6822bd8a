#include <iostream>
#include <variant>

#include "app.hpp"
#include "iptables_trace/options.hpp"

int main(int argc, char** argv)
{
    auto parsed = itr::parse_cli(argc, argv);
    if (auto* exit = std::get_if<itr::CliExit>(&parsed)) {
        (exit->code == 0 ? std::cout : std::cerr) << exit->message << (exit->message.empty() ? "" : "\n");
        return exit->code;
    }
    return itr::run(std::get<itr::Options>(parsed));
}
