#pragma once
// `hearth hl7 send`.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::app {

/// `hearth hl7 send FILE... --to HOST:PORT [--tls] [--ca FILE] [--cert FILE
/// --key FILE] [--timeout S]`: sends each message over MLLP and prints each
/// answer. Returns the exit status: 0 every answer AA/CA, 1 otherwise, 2 for
/// usage, input or connection errors.
int hl7_send(const std::vector<std::string>& args);

/// "HOST:PORT", or "[IPv6]:PORT", taken apart; false when malformed (port
/// 1..65535). Shared with `hearth conformance --mllp`.
bool parse_host_port(std::string_view to, std::string& host, std::uint16_t& port);

}  // namespace hearth::app
