#pragma once
// `hearth hl7 ...` commands.

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth hl7 inspect FILE|-`: prints each message as one line of JSON.
/// Returns the process exit status.
int hl7_inspect(const std::vector<std::string>& args);

/// `hearth hl7 convert FILE|- [--config FILE]`: converts each message to a
/// FHIR transaction Bundle (hearth::mapping::convert), one JSON document per
/// line. Errors go to standard error with the message number, position and
/// table 0357 code, and the status is 1. Returns the process exit status.
int hl7_convert(const std::vector<std::string>& args);

/// `hearth hl7 SUBCOMMAND ...`: runs the subcommand; returns the exit status.
int hl7_main(const std::vector<std::string>& args);

}  // namespace hearth::app
