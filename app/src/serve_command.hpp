#pragma once
// hearth serve: the FHIR REST server (issue 5).

#include <string>
#include <string_view>
#include <vector>

namespace hearth::app {

/// `hearth serve [flags]` (server_config.hpp: flags, HEARTH_* variables, a
/// JSON file). Serves until SIGTERM or SIGINT, then stops gracefully:
/// requests in flight are answered, queued writes committed. Exit status 0
/// after a clean stop, 1 when start-up fails (the reason on stderr), 2 for a
/// usage error.
///
/// Authorisation is on by default: every FHIR request needs a bearer token
/// signed by the key in `<data>/auth/signing-key.pem` (created at the first
/// start) for the server's base URL. `--insecure-no-auth` turns it off, and
/// is refused (exit 2) unless the listener binds a loopback address.
int serve_main(const std::vector<std::string>& args);

/// 127.0.0.0/8, ::1 (bracketed or not), or "localhost" (any case).
bool is_loopback_host(std::string_view host);

}  // namespace hearth::app
