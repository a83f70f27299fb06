// SPDX-License-Identifier: BSD-3-Clause
// The service manager's view of the run (systemd's sd_notify protocol): READY=1 once packets flow,
// STOPPING=1 when the shutdown starts, so a Type=notify unit orders what needs rstscope after its
// readiness rather than after its fork. Management thread; one datagram per state change.
#pragma once

namespace rstscope {

// Sends `state` to $NOTIFY_SOCKET. False when there is none (not run by a service manager) or
// when rstscope was built without libsystemd (meson says so at configure time).
bool notify_service_manager(const char* state) noexcept;

}  // namespace rstscope
