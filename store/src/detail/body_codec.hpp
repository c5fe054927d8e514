#pragma once
// Resource bodies at rest: zstd-compressed JSON (issue 4 "Bodies stored
// compressed"), and the hex form PostgreSQL's bytea travels in through SOCI.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::store::detail {

/// Largest body decompressed: 64 MiB, the JSON reader's document limit
/// (fhir::json_read_options::max_bytes). A stored frame claiming more is
/// treated as corrupt rather than allocated.
inline constexpr std::size_t max_body_bytes = 64u << 20;

/// One zstd frame holding `json`, with its content size recorded.
std::string compress_body(std::string_view json, int level);

/// The JSON of a stored frame. Errors ("exception"): not a zstd frame, no or
/// too large a content size, corrupt data.
hearth::result<std::string> decompress_body(std::string_view frame);

/// A compressed body as its column takes it: the bytes on SQLite, hex text
/// on PostgreSQL (bound as decode(:body, 'hex')).
std::string body_to_column(bool postgresql, const std::string& compressed);
/// The JSON of a body column as read (PostgreSQL: encode(body, 'hex')).
/// Errors ("exception"): malformed hex, or those of decompress_body.
hearth::result<std::string> body_from_column(bool postgresql, const std::string& column);

/// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);
/// The bytes of a hex string (either case); nullopt when malformed.
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace hearth::store::detail
