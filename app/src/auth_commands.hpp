#pragma once
// Authorisation commands of the `hearth` command line (issue 6).

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth token --scope "SCOPES" [--data DIR] [--patient ID] [--encounter ID]
/// [--fhir-user REF] [--client ID] [--subject S] [--ttl SECONDS]
/// [--base-url URL] [--definitions DIR]`: mints an access token with the
/// data directory's signing key (the one `hearth serve` verifies with;
/// created when absent) and prints it, and only it, on stdout. The scopes
/// are parsed strictly (SMART App Launch 2.x); `--base-url` must equal the
/// base URL of the server the token is for (its iss and aud). Defaults, as
/// `hearth serve` computes them from the same environment (HEARTH_* and
/// HEARTH_CONFIG): --data its data directory (./data), --base-url its base
/// URL (http://127.0.0.1:8080). Exit status 0, 1 when the key or the
/// definitions cannot be read, 2 for a usage error (a malformed scope
/// among them).
int token_main(const std::vector<std::string>& args);

}  // namespace hearth::app
