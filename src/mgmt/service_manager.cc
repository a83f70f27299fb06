// SPDX-License-Identifier: BSD-3-Clause
#include "service_manager.h"

#ifdef RSTSCOPE_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace rstscope {

bool notify_service_manager(const char* state) noexcept {
#ifdef RSTSCOPE_HAVE_LIBSYSTEMD
    return sd_notify(0, state) > 0;
#else
    (void)state;
    return false;
#endif
}

}  // namespace rstscope
