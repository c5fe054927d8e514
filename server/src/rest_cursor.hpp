#pragma once
// Paging cursors as they travel in next links (R4 search.html#paging, and
// http.html#history): sealed. The store's cursor holds the sort values of the
// last row of a page (a family name, a birth date...), and a next link ends up
// in browser histories, proxy logs and analytics; sealed, it is an opaque
// token that reveals nothing and cannot be altered. Private to fhir_api.
//
// AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce per cursor and
// the key cursor_key() gives: under `hearth serve`, a secret kept in the
// database (database::shared_secret, api_options::cursor_key), so that a next
// link opens after a restart and on any process sharing the database;
// without one (tests, embedders), a key drawn at process start, and a cursor
// lasts as long as the process. A cursor that does not open is refused
// ("invalid") and the client searches again.
//
// Thread-safety: every function may be called from any thread.

#include <optional>
#include <string>
#include <string_view>

#include <hearth/server/fhir_api.hpp>

#include "rest_target.hpp"

namespace hearth::server::rest {

/// The sealing key: opts.cursor_key when it holds 32 bytes, else the
/// process's own.
std::string_view cursor_key(const api_options& opts);

/// `plain` (a store or operation cursor) sealed with `key` (32 bytes), as
/// base64url text.
std::string seal_cursor(std::string_view key, std::string_view plain);

/// The cursor `sealed` holds; nullopt when it was not sealed with `key` or
/// was altered.
std::optional<std::string> open_cursor(std::string_view key, std::string_view sealed);

/// Opens the value of every `_cursor` in `params` in place; false when one
/// does not open (the caller answers 400).
bool open_cursor_params(std::string_view key, param_list& params);

}  // namespace hearth::server::rest
