// Every backend this binary has, in the order --backend auto tries them.
#pragma once

#include "iptables_trace/backend.hpp"

namespace itr {

BackendRegistry default_backend_registry();

}  // namespace itr
