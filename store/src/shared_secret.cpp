// database::shared_secret: secrets every process sharing the database uses
// (table server_secret, migration 7).
#include <hearth/store/database.hpp>

#include <openssl/rand.h>
#include <soci/soci.h>

#include <exception>
#include <string>

#include <hearth/store/error_codes.hpp>

#include "detail/body_codec.hpp"  // to_hex, from_hex
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"

namespace hearth::store {

namespace {

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

}  // namespace

hearth::result<std::string> database::shared_secret(std::string_view name, std::size_t bytes) {
  if (name.empty() || name.size() > 128) return hearth::unexpected(make_error(error_codes::invalid, "bad secret name"));
  if (bytes < 16 || bytes > 64) {
    return hearth::unexpected(make_error(error_codes::invalid, "a shared secret has 16 to 64 bytes"));
  }
  unsigned char drawn[64];
  if (RAND_bytes(drawn, static_cast<int>(bytes)) != 1) {
    return hearth::unexpected(make_error(error_codes::exception, "no randomness for a shared secret"));
  }
  const std::string key(name),
      candidate = detail::to_hex(std::string_view(reinterpret_cast<const char*>(drawn), bytes));
  std::string stored;
  soci::indicator ind = soci::i_null;
  try {
    // The first insert wins; every caller, that one included, then reads the
    // row (a concurrent first caller in another process may have won). A
    // pooled connection: this runs once at start-up, not on the request path.
    soci::session sql(impl_->readers);
    sql << "INSERT INTO server_secret (name, value) VALUES (:name, :value) ON CONFLICT (name) DO NOTHING",
        soci::use(key, "name"), soci::use(candidate, "value");
    sql << "SELECT value FROM server_secret WHERE name = :name", soci::use(key, "name"), soci::into(stored, ind);
  } catch (const std::exception& e) {
    return hearth::unexpected(detail::database_error("reading a shared secret", e));
  }
  if (ind != soci::i_ok) {
    return hearth::unexpected(make_error(error_codes::exception, "the shared secret was not stored"));
  }
  auto raw = detail::from_hex(stored);
  if (!raw || raw->size() != bytes) {
    return hearth::unexpected(
        make_error(error_codes::invalid, "the stored shared secret '" + key + "' is not " + std::to_string(bytes) +
                                             " bytes of hex"));
  }
  return std::move(*raw);
}

}  // namespace hearth::store
