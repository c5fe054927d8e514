// database::shared_secret: secrets every process sharing the database uses
// (table server_secret, migration 7).
#include <hearth/store/database.hpp>

#include <openssl/rand.h>
#include <soci/soci.h>

#include <exception>
#include <string>

#include <hearth/store/error_codes.hpp>

#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"

namespace hearth::store {

namespace {

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

/// The bytes of lower-case (or upper-case) hex `h`; nullopt when it is not hex.
std::optional<std::string> from_hex(std::string_view h) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (h.size() % 2 != 0) return std::nullopt;
  std::string out(h.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(h[2 * i]), lo = nibble(h[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
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
  const std::string key(name), candidate = to_hex(drawn, bytes);
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
  auto raw = from_hex(stored);
  if (!raw || raw->size() != bytes) {
    return hearth::unexpected(
        make_error(error_codes::invalid, "the stored shared secret '" + key + "' is not " + std::to_string(bytes) +
                                             " bytes of hex"));
  }
  return std::move(*raw);
}

}  // namespace hearth::store
