#pragma once
// `hearth conformance` (issue 9).

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth conformance --fhir URL [--token T | --client-id ID --key FILE]
/// [--mllp HOST:PORT [--tls]] [--suite NAME]... [--report FILE]...`: runs
/// the conformance suites (tests/conformance: FHIR TestScripts and MLLP
/// suites) against a FHIR server and/or an MLLP endpoint. Returns the exit
/// status: 0 nothing failed, 1 a case failed or a suite could not run, 2 for
/// usage errors, unreadable inputs, or no token obtainable.
int conformance_main(const std::vector<std::string>& args);

}  // namespace hearth::app
