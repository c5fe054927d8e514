#include "detail/db_error.hpp"

#include <soci/soci.h>

#include <string>
#include <string_view>

#include <hearth/store/error_codes.hpp>

namespace hearth::store::detail {
namespace {

bool is_detail_field(std::string_view line) noexcept {
  for (std::string_view field : {"DETAIL:", "HINT:", "QUERY:", "CONTEXT:", "LINE ", "STATEMENT:", "WHERE:"}) {
    if (line.substr(0, field.size()) == field) return true;
  }
  return false;
}

}  // namespace

hearth::error database_error(std::string_view what, const std::exception& e) {
  // soci_error::get_error_message() is the backend's message without the
  // "while executing ... with :x=..." context that what() adds.
  const auto* se = dynamic_cast<const soci::soci_error*>(&e);
  const std::string full = se != nullptr ? se->get_error_message() : std::string(e.what());
  // Keep the message lines up to the first of PostgreSQL's detail fields:
  // DETAIL may quote a whole failing row ("Failing row contains (...)"),
  // QUERY/CONTEXT/LINE quote statements. What stays says what failed, and for
  // a connection, why (host and port; libpq never prints passwords).
  std::string message;
  std::size_t start = 0;
  while (start < full.size()) {
    std::size_t end = full.find('\n', start);
    if (end == std::string::npos) end = full.size();
    std::string_view line(full.data() + start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    start = end + 1;
    if (line.empty()) continue;
    if (is_detail_field(line)) break;
    if (!message.empty()) message += ' ';
    message += line;
  }
  return hearth::error{std::string(error_codes::exception), std::string(what) + ": " + message, {},
                       hearth::error::npos};
}

void reconnect_if_lost(soci::session& sql) noexcept {
  try {
    if (!sql.is_connected()) sql.reconnect();
  } catch (...) {
    // Still unreachable: the next use fails and tries again.
  }
}

}  // namespace hearth::store::detail
