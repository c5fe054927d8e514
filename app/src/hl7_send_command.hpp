#pragma once
// `hearth hl7 send`.

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth hl7 send FILE... --to HOST:PORT [--tls] [--ca FILE] [--cert FILE
/// --key FILE] [--timeout S]`: sends each message over MLLP and prints each
/// answer. Returns the exit status: 0 every answer AA/CA, 1 otherwise, 2 for
/// usage, input or connection errors.
int hl7_send(const std::vector<std::string>& args);

}  // namespace hearth::app
