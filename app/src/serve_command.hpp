#pragma once
// hearth serve: the FHIR REST server (issue 5).

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth serve [flags]` (server_config.hpp: flags, HEARTH_* variables, a
/// JSON file). Serves until SIGTERM or SIGINT, then stops gracefully:
/// requests in flight are answered, queued writes committed. Exit status 0
/// after a clean stop, 1 when start-up fails (the reason on stderr), 2 for a
/// usage error.
int serve_main(const std::vector<std::string>& args);

}  // namespace hearth::app
