#pragma once
// FHIR commands of the `hearth` command line.

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth fhirpath EXPRESSION FILE|- [--definitions DIR]`: evaluates a FHIRPath
/// expression on a resource (JSON or XML) and prints the result collection as
/// one JSON array. Returns the process exit status.
int fhirpath_main(const std::vector<std::string>& args);

/// `hearth convert FILE|- --to json|xml [--definitions DIR] [--pretty]`:
/// reads a resource (FHIR JSON or XML) and prints it in the other format (or
/// the same one, re-serialised), after the structural check of
/// resource_check.hpp. Exit status 1 for input that does not read, check or
/// convert (each issue and its element path on stderr), 2 for a usage error.
int convert_main(const std::vector<std::string>& args);

/// `hearth validate FILE|- [--profile URL]... [--package PATH]... [--json]
/// [--definitions DIR]`: validates a resource (JSON or XML) against the R4
/// definitions, its meta.profile and the profiles named, with bindings
/// checked through the terminology registry (issue 8). Prints the issues
/// (or the OperationOutcome with --json). Exit status 1 when there is an
/// error (or the input does not read), 0 otherwise, 2 for a usage error.
int validate_main(const std::vector<std::string>& args);

/// The R4 definitions folder when --definitions does not say:
/// $HEARTH_DEFINITIONS_DIR, else where the build put them.
std::string default_definitions_dir();

}  // namespace hearth::app
