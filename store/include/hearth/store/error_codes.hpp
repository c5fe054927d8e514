#pragma once
// The error codes of the store: OperationOutcome issue types (R4
// valueset-issue-type), each with the HTTP status the REST layer gives it.

#include <string_view>

namespace hearth::store::error_codes {

/// 404: no resource with this type and id (or no such version).
inline constexpr std::string_view not_found = "not-found";
/// 410: read of a resource whose current version is a tombstone
/// (R4 http.html#delete: "a subsequent read ... returns 410 Gone").
inline constexpr std::string_view deleted = "deleted";
/// 409/412: the expected version (If-Match) is not the current one, detected
/// inside the writing transaction (R4 http.html#concurrency; R4 answers a
/// failed If-Match with 412 Precondition Failed, a concurrent change with 409).
inline constexpr std::string_view conflict = "conflict";
/// 400: a bad type, id, cursor or body (not a resource of that type, id
/// mismatch).
inline constexpr std::string_view invalid = "invalid";
/// 400: a request beyond a limit (_count above the maximum).
inline constexpr std::string_view too_costly = "too-costly";
/// 500: the database failed (connection lost, disk full, store stopped);
/// the message carries no resource content.
inline constexpr std::string_view exception = "exception";
/// Refused at open: the database schema is newer than this binary knows.
inline constexpr std::string_view not_supported = "not-supported";

}  // namespace hearth::store::error_codes
