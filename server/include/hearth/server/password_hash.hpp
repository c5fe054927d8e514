#pragma once
// hearth::server::auth — password hashes for the users of the built-in
// authorisation server (auth_server.hpp): Argon2id (RFC 9106) in the PHC
// string format ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), over the
// reference implementation (libargon2; it stays in password_hash.cpp).
//
// Parameters follow OWASP's Password Storage Cheat Sheet for Argon2id:
// m = 19 MiB, t = 2, p = 1, a 16-byte random salt, a 32-byte hash.
//
// Public so that a command (`hearth passwd`, to come) and scripts can make
// the hashes the configuration file holds; needs nothing else of Hearth.
//
// Pure functions, thread-safe. Passwords are never logged, copied into an
// error, or kept beyond the call.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::server::auth {

/// Argon2id cost parameters.
struct argon2_params {
  std::uint32_t memory_kib = 19 * 1024;  ///< m: 19 MiB (OWASP)
  std::uint32_t iterations = 2;          ///< t (OWASP)
  std::uint32_t parallelism = 1;         ///< p (OWASP)
};

/// Longest password taken. Argon2 hashes any length in linear time; 1 KiB
/// bounds the work a login form can ask for and is far beyond a passphrase.
inline constexpr std::size_t max_password_bytes = 1024;

/// Bounds on the parameters of a stored hash, checked before a hash is used
/// (is_password_hash): each login costs `m` KiB of memory and `t` passes, so
/// a configuration typo ("m=19456000") must not turn every login into a
/// 19 GiB allocation. 256 MiB, 10 passes and 8 lanes are well above any
/// recommendation (RFC 9106 4: 2 GiB is the "first recommended option" for
/// dedicated hardware, 64 MiB the second).
inline constexpr std::uint32_t max_hash_memory_kib = 256 * 1024;
inline constexpr std::uint32_t max_hash_iterations = 10;
inline constexpr std::uint32_t max_hash_parallelism = 8;

/// A new PHC string for `password`, with a fresh 16-byte salt from OpenSSL's
/// random generator. Errors: "invalid" (password empty or beyond
/// max_password_bytes, parameters beyond the bounds above), "internal"
/// (libargon2 or the random generator failed; the message names the step).
hearth::result<std::string> hash_password(std::string_view password, const argon2_params& params = {});

/// Whether `phc` is an Argon2id PHC string (version 19) whose parameters are
/// within the bounds above, with a salt of 8 to 64 bytes and a hash of 16 to
/// 64 bytes (base64 without padding). Checks the form only.
bool is_password_hash(std::string_view phc) noexcept;

/// Whether `password` matches `phc`. False for a malformed hash
/// (is_password_hash false), a password beyond max_password_bytes, or a
/// mismatch; libargon2 compares the hashes in constant time.
bool verify_password(std::string_view password, std::string_view phc) noexcept;

}  // namespace hearth::server::auth
