#pragma once
// FHIR commands of the `hearth` command line.

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth fhirpath EXPRESSION FILE|- [--definitions DIR]`: evaluates a FHIRPath
/// expression on a resource (JSON or XML) and prints the result collection as
/// one JSON array. Returns the process exit status.
int fhirpath_main(const std::vector<std::string>& args);

}  // namespace hearth::app
