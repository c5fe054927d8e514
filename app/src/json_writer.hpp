#pragma once
// Minimal JSON output for the command line (the fhir/ module will bring the
// real JSON layer; this only writes strings and arrays).

#include <string>
#include <string_view>

namespace hearth::app {

/// Appends `utf8` as a JSON string literal (RFC 8259 section 7): quotes,
/// backslashes and control characters escaped; other UTF-8 copied as is.
void append_json_string(std::string& out, std::string_view utf8);

}  // namespace hearth::app
