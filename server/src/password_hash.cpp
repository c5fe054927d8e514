#include <hearth/server/password_hash.hpp>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <hearth/core/base64.hpp>

namespace hearth::server::auth {

namespace {

constexpr std::size_t salt_bytes = 16;  // RFC 9106 3.1: 16 bytes is recommended for password hashing
constexpr std::size_t hash_bytes = 32;  // RFC 9106 4: a 256-bit tag

hearth::error make_error(std::string code, std::string message) {
  return hearth::error{std::move(code), std::move(message), {}, hearth::error::npos};
}

bool params_in_bounds(std::uint32_t m, std::uint32_t t, std::uint32_t p) noexcept {
  // RFC 9106 3.1: m >= 8 * p KiB, t >= 1, 1 <= p <= 2^24 - 1.
  return p >= 1 && p <= max_hash_parallelism && t >= 1 && t <= max_hash_iterations && m >= 8U * p &&
         m <= max_hash_memory_kib;
}

/// Reads "name=<digits>" at the front of `s`, leaving `s` after the digits.
std::optional<std::uint32_t> read_param(std::string_view& s, std::string_view name) {
  if (!s.starts_with(name) || s.size() <= name.size() || s[name.size()] != '=') return std::nullopt;
  s.remove_prefix(name.size() + 1);
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  // No leading zeros and no sign: one spelling per value (PHC string format).
  if (*s.data() == '0' && end - s.data() > 1) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return v;
}

/// PHC B64: the standard alphabet without padding.
std::optional<std::size_t> b64_length(std::string_view s) {
  if (s.empty() || s.find('=') != std::string_view::npos) return std::nullopt;
  auto bytes = base64::decode(s, false);
  if (!bytes) return std::nullopt;
  return bytes->size();
}

}  // namespace

hearth::result<std::string> hash_password(std::string_view password, const argon2_params& params) {
  if (password.empty() || password.size() > max_password_bytes) {
    return hearth::unexpected(make_error("invalid", "a password must hold 1 to 1024 bytes"));
  }
  if (!params_in_bounds(params.memory_kib, params.iterations, params.parallelism)) {
    return hearth::unexpected(make_error("invalid", "Argon2id parameters out of bounds"));
  }
  std::array<unsigned char, salt_bytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return hearth::unexpected(make_error("internal", "the random generator failed"));
  }
  const std::size_t len = argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism,
                                            salt_bytes, hash_bytes, Argon2_id);
  std::vector<char> encoded(len + 1, '\0');
  const int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism, password.data(),
                                       password.size(), salt.data(), salt.size(), hash_bytes, encoded.data(),
                                       encoded.size());
  OPENSSL_cleanse(salt.data(), salt.size());
  if (rc != ARGON2_OK) {
    // argon2_error_message names the failure ("Memory allocation error"), never the input.
    return hearth::unexpected(make_error("internal", std::string("Argon2id failed: ") + argon2_error_message(rc)));
  }
  return std::string(encoded.data());
}

bool is_password_hash(std::string_view phc) noexcept {
  // $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>
  constexpr std::string_view prefix = "$argon2id$v=19$";
  if (phc.size() > 512 || !phc.starts_with(prefix)) return false;
  std::string_view s = phc.substr(prefix.size());
  try {
    const auto m = read_param(s, "m");
    if (!m || !s.starts_with(',')) return false;
    s.remove_prefix(1);
    const auto t = read_param(s, "t");
    if (!t || !s.starts_with(',')) return false;
    s.remove_prefix(1);
    const auto p = read_param(s, "p");
    if (!p || !s.starts_with('$')) return false;
    s.remove_prefix(1);
    if (!params_in_bounds(*m, *t, *p)) return false;
    const std::size_t dollar = s.find('$');
    if (dollar == std::string_view::npos) return false;
    const auto salt = b64_length(s.substr(0, dollar));
    const auto hash = b64_length(s.substr(dollar + 1));
    return salt && hash && *salt >= 8 && *salt <= 64 && *hash >= 16 && *hash <= 64;
  } catch (...) {  // base64::decode allocates; a failed allocation is "not a hash"
    return false;
  }
}

bool verify_password(std::string_view password, std::string_view phc) noexcept {
  if (password.size() > max_password_bytes || !is_password_hash(phc)) return false;
  try {
    const std::string encoded(phc);  // argon2id_verify wants a NUL-terminated string
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
  } catch (...) {
    return false;
  }
}

}  // namespace hearth::server::auth
