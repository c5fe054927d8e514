#pragma once
// Writing JSON: numbers exactly as held, members in order, UTF-8 kept.

#include <string>
#include <string_view>

#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

/// How to write.
struct json_write_options {
  /// Indent with two spaces and put members and items on lines of their own
  /// (FHIR `_pretty=true`); compact otherwise.
  bool pretty = false;
};

/// Appends `v` as JSON (RFC 8259) to `out`: quotes, backslashes and control
/// characters escaped; other UTF-8 written as is; numbers as their text.
void write_json(std::string& out, const json_value& v, const json_write_options& opts = {});

/// Appends `utf8` as a JSON string literal (RFC 8259 section 7), escaped as
/// write_json escapes strings. For callers that stream JSON without a tree.
void write_json_string(std::string& out, std::string_view utf8);

/// write_json into a new string.
std::string to_json(const json_value& v, const json_write_options& opts = {});

}  // namespace hearth::fhir
