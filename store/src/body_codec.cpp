#include "detail/body_codec.hpp"

#include <zstd.h>

#include <memory>
#include <stdexcept>

#include <hearth/store/error_codes.hpp>

namespace hearth::store::detail {
namespace {

// One compression and one decompression context per thread: contexts are
// expensive to create and not thread-safe, and bodies are compressed on the
// writer thread and decompressed on the reader threads.
struct cctx_deleter {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct dctx_deleter {
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

hearth::error corrupt(const char* what) {
  return hearth::error{std::string(error_codes::exception), std::string("stored body: ") + what, {}, hearth::error::npos};
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string compress_body(std::string_view json, int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, cctx_deleter> ctx(ZSTD_createCCtx());
  std::string out(ZSTD_compressBound(json.size()), '\0');
  const std::size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), json.data(), json.size(), level);
  // Compression into a ZSTD_compressBound buffer fails only for a bad level
  // or no memory: both programmer or environment errors, not input errors.
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

hearth::result<std::string> decompress_body(std::string_view frame) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return hearth::unexpected(corrupt("not a zstd frame"));
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return hearth::unexpected(corrupt("zstd frame without content size"));
  if (size > max_body_bytes) return hearth::unexpected(corrupt("zstd frame larger than the body limit"));
  thread_local std::unique_ptr<ZSTD_DCtx, dctx_deleter> ctx(ZSTD_createDCtx());
  std::string out(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) return hearth::unexpected(corrupt("corrupt zstd frame"));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]);
    const int lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string body_to_column(bool postgresql, const std::string& compressed) {
  return postgresql ? to_hex(compressed) : compressed;
}

hearth::result<std::string> body_from_column(bool postgresql, const std::string& column) {
  if (!postgresql) return decompress_body(column);
  const auto bytes = from_hex(column);
  if (!bytes) {
    return hearth::unexpected(
        hearth::error{"exception", "stored body: malformed bytea hex", {}, hearth::error::npos});
  }
  return decompress_body(*bytes);
}

}  // namespace hearth::store::detail
