#pragma once
// Paging cursors as they travel in next links (R4 search.html#paging, and
// http.html#history): sealed. The store's cursor holds the sort values of the
// last row of a page (a family name, a birth date...), and a next link ends up
// in browser histories, proxy logs and analytics; sealed, it is an opaque
// token that reveals nothing and cannot be altered. Private to fhir_api.
//
// AES-256-GCM (NIST SP 800-38D) with a key drawn at process start and a
// random 96-bit nonce per cursor. A cursor therefore lasts as long as the
// process: after a restart, or on another process sharing the database, a
// next link is refused ("invalid") and the client searches again.
//
// Thread-safety: both functions may be called from any thread.

#include <optional>
#include <string>
#include <string_view>

#include "rest_target.hpp"

namespace hearth::server::rest {

/// `plain` (a store or operation cursor) sealed, as base64url text.
std::string seal_cursor(std::string_view plain);

/// The cursor `sealed` holds; nullopt when it was not sealed by this process
/// or was altered.
std::optional<std::string> open_cursor(std::string_view sealed);

/// Opens the value of every `_cursor` in `params` in place; false when one
/// does not open (the caller answers 400).
bool open_cursor_params(param_list& params);

}  // namespace hearth::server::rest
