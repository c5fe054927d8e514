#pragma once
// Base64 (RFC 4648 section 4) and base64url (section 5): FHIR base64Binary
// (R4 datatypes.html#base64Binary), Binary.data, FHIRPath encode()/decode().
// Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace hearth::base64 {

/// `bytes` encoded, padded with '='.
std::string encode(std::string_view bytes, bool url = false);

/// The bytes `text` encodes. Padding is optional; whitespace is not allowed;
/// anything after the padding, a character outside the alphabet, or a length
/// that no encoding has (one character left over) gives nullopt.
std::optional<std::string> decode(std::string_view text, bool url = false);

}  // namespace hearth::base64
