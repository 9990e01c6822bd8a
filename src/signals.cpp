#include "signals.hpp"

#include <cstring>
#include <initializer_list>

namespace itr {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop(int sig) { g_stop_signal = sig; }

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

bool stop_requested() { return g_stop_signal != 0; }
int stop_signal() { return g_stop_signal; }

}  // namespace itr
