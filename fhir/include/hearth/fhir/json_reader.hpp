#pragma once
// Reading JSON with FHIR's rules (R4 json.html) and limits for untrusted input.

#include <cstddef>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

/// Limits and rules. Each limit bounds the memory or time one document may
/// take; exceeding one is an error, never a truncation or a crash.
struct json_read_options {
  /// Largest document. 64 MiB: a Bundle of a few thousand resources or a
  /// resource with an embedded document fits; the REST layer sets its own,
  /// smaller, body limit.
  std::size_t max_bytes = 64u << 20;
  /// Deepest nesting of arrays and objects. The official R4 examples nest
  /// fewer than 20 levels; 128 leaves room for deep Questionnaires and
  /// contained resources while bounding the work per document.
  std::size_t max_depth = 128;
  /// Longest string (UTF-8 bytes). Attachment.data carries whole documents
  /// in base64, so only the document limit applies by default.
  std::size_t max_string_bytes = 64u << 20;
  /// Most items in one array or members in one object: a Bundle of 100,000
  /// entries is far beyond what one request should carry.
  std::size_t max_items = 100'000;
  /// FHIR JSON rules (R4 json.html): objects, arrays and strings are never
  /// empty, and null appears only inside arrays (to line up primitive values
  /// with their `_name` extensions). Off for plain JSON (OAuth payloads...).
  bool fhir_rules = true;
};

/// Parses one JSON document (RFC 8259): UTF-8 validated, no comments, no
/// NaN/Infinity, no trailing content, duplicate keys rejected. Numbers keep
/// their text. Errors carry an OperationOutcome issue type as code
/// ("structure" for malformed JSON and duplicate keys, "invalid" for what FHIR
/// JSON forbids, "too-costly" for a limit), a message that never quotes the
/// input, the JSON path where it happened (`$.name[0].given[1]`) as location,
/// and the byte offset.
hearth::result<json_value> parse_json(std::string_view text, const json_read_options& opts = {});

}  // namespace hearth::fhir
