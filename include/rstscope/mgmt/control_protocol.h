// The control socket's protocol, as pure functions: one request per line, one JSON answer per
// line. Requests are command words; anything else gets a JSON error, never a dropped connection
// without an answer (unless the line is longer than control_max_request bytes).
#pragma once

#include <string>
#include <string_view>

namespace rstscope {

inline constexpr size_t control_max_request = 1024;

enum class ControlCommand { stats, help, version, ping, invalid };

struct ControlRequest {
    ControlCommand command = ControlCommand::invalid;
    std::string error;  // why, when invalid
};

ControlRequest parse_control_request(std::string_view line);
std::string control_help_json();
std::string control_error_json(std::string_view message);

}  // namespace rstscope
