#include "signals.hpp"

#include <cstring>
#include <initializer_list>

namespace itr {
namespace {

void on_stop(int sig) { note_stop_signal(sig); }

}  // namespace

void install_stop_handlers()
{
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        sigaction(sig, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace itr
