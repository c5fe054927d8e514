#pragma once
// Database failures as hearth::error values (code "exception").

#include <exception>
#include <string_view>

#include <hearth/core/error.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

/// "`what`: <the engine's message>", for a failure while doing `what`. The
/// engine's message is cut before anything that may quote data: SOCI's
/// context (the statement with its bound values: resource content, PHI) and
/// PostgreSQL's DETAIL and later fields; neither may reach a log
/// (SECURITY.md "Logs carry no PHI").
hearth::error database_error(std::string_view what, const std::exception& e);

/// After a failure on `sql`: when its connection is gone (a PostgreSQL server
/// restarted, a network cut), tries once to reconnect, so that the session
/// serves the next request instead of failing for ever. Throws nothing.
void reconnect_if_lost(soci::session& sql) noexcept;

}  // namespace hearth::store::detail
