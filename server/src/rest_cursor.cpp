#include "rest_cursor.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

#include <hearth/core/base64.hpp>

namespace hearth::server::rest {

namespace {

constexpr std::size_t key_bytes = 32;    // AES-256
constexpr std::size_t nonce_bytes = 12;  // SP 800-38D 8.2: 96-bit IVs
constexpr std::size_t tag_bytes = 16;    // the full GCM tag
/// Longest sealed cursor opened: the store refuses cursors over 4096 bytes;
/// sealing adds 28 bytes and base64 a third.
constexpr std::size_t max_sealed_bytes = 6000;

/// The process's key, drawn once (thread-safe static initialisation). No
/// randomness at start-up is a broken machine: the process stops rather
/// than seal with a predictable key.
std::string_view process_key() {
  static const std::array<unsigned char, key_bytes> key = [] {
    std::array<unsigned char, key_bytes> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) std::abort();
    return k;
  }();
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

const unsigned char* key_data(std::string_view key) {
  // Callers pass cursor_key(): always key_bytes long.
  if (key.size() != key_bytes) std::abort();
  return reinterpret_cast<const unsigned char*>(key.data());
}

struct ctx_deleter {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter>;

std::string strip_padding(std::string s) {
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

std::string_view cursor_key(const api_options& opts) {
  return opts.cursor_key.size() == key_bytes ? std::string_view(opts.cursor_key) : process_key();
}

std::string seal_cursor(std::string_view key, std::string_view plain) {
  std::string out(nonce_bytes + plain.size() + tag_bytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (!ctx || RAND_bytes(bytes, static_cast<int>(nonce_bytes)) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_data(key), bytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + nonce_bytes, &n, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + nonce_bytes + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes),
                          bytes + nonce_bytes + plain.size()) != 1) {
    std::abort();  // OpenSSL failing to encrypt a few bytes in memory: nothing sensible is left to do
  }
  return strip_padding(base64::encode(out, true));
}

std::optional<std::string> open_cursor(std::string_view key, std::string_view sealed) {
  if (sealed.size() > max_sealed_bytes) return std::nullopt;
  auto raw = base64::decode(sealed, true);
  if (!raw || raw->size() < nonce_bytes + tag_bytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw->data());
  const std::size_t text_bytes = raw->size() - nonce_bytes - tag_bytes;
  std::string plain(text_bytes, '\0');
  std::array<unsigned char, tag_bytes> tag{};
  std::copy(bytes + nonce_bytes + text_bytes, bytes + raw->size(), tag.begin());
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_data(key), bytes) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, bytes + nonce_bytes,
                        static_cast<int>(text_bytes)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &n) != 1) {
    return std::nullopt;  // not ours, or altered: the tag does not verify
  }
  return plain;
}

bool open_cursor_params(std::string_view key, param_list& params) {
  for (auto& [name, value] : params) {
    if (name != "_cursor") continue;
    auto plain = open_cursor(key, value);
    if (!plain) return false;
    value = std::move(*plain);
  }
  return true;
}

}  // namespace hearth::server::rest
