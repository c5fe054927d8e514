// Reading npm FHIR packages (detail/tgz.hpp): gzip through zlib, then the
// tar blocks (POSIX ustar; npm writes ustar with pax headers for long names,
// which are skipped: package/*.json names are short).

#include "detail/tgz.hpp"

#include <cstdio>
#include <cstring>
#include <string_view>

#include <zlib.h>

namespace hearth::profiles::detail {
namespace {

/// Largest archive read (compressed) and largest unpacked content: the R4
/// core package is 4.6 MB compressed and ~60 MB unpacked; US Core ~3 / 40 MB.
/// 256 MB / 1 GB bound memory for a hostile archive (a gzip bomb stops there).
constexpr std::size_t max_compressed = 256u << 20;
constexpr std::size_t max_unpacked = 1u << 30;

hearth::error fail(std::string code, std::string message, const std::filesystem::path& p) {
  return hearth::error{std::move(code), std::move(message), p.string(), hearth::error::npos};
}

/// An octal tar number field (NUL/space terminated).
bool octal(std::string_view f, std::size_t& out) {
  out = 0;
  bool any = false;
  for (char c : f) {
    if (c == '\0' || c == ' ') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7') return false;
    if (out > (SIZE_MAX >> 3)) return false;
    out = out * 8 + static_cast<std::size_t>(c - '0');
    any = true;
  }
  return true;
}

std::string_view field(const char* block, std::size_t offset, std::size_t length) {
  std::string_view f(block + offset, length);
  std::size_t nul = f.find('\0');
  return nul == std::string_view::npos ? f : f.substr(0, nul);
}

}  // namespace

hearth::result<std::vector<std::pair<std::string, std::string>>, hearth::error> read_package_tgz(
    const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return hearth::unexpected(fail("not-found", "no such file", path));
  if (size > max_compressed) return hearth::unexpected(fail("too-long", "the archive is too large", path));
  std::string packed(static_cast<std::size_t>(size), '\0');
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return hearth::unexpected(fail("exception", "cannot open the file", path));
  std::size_t got = std::fread(packed.data(), 1, packed.size(), f);
  std::fclose(f);
  if (got != packed.size()) return hearth::unexpected(fail("exception", "cannot read the file", path));

  // gunzip (windowBits 16 + MAX_WBITS: gzip header).
  std::string tar;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return hearth::unexpected(fail("exception", "zlib failed", path));
  z.next_in = reinterpret_cast<Bytef*>(packed.data());
  z.avail_in = static_cast<uInt>(packed.size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return hearth::unexpected(fail("invalid", "not a gzip archive, or a damaged one", path));
    }
    tar.append(buf, sizeof buf - z.avail_out);
    if (tar.size() > max_unpacked) {
      inflateEnd(&z);
      return hearth::unexpected(fail("too-long", "the archive unpacks to too much data", path));
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return hearth::unexpected(fail("invalid", "the gzip archive is truncated", path));
    }
  }
  inflateEnd(&z);

  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t pos = 0; pos + 512 <= tar.size();) {
    const char* h = tar.data() + pos;
    if (h[0] == '\0') break;  // end of archive (two zero blocks)
    std::size_t length = 0;
    if (!octal(std::string_view(h + 124, 12), length))
      return hearth::unexpected(fail("invalid", "a malformed tar header", path));
    std::string name(field(h, 0, 100));
    if (std::string_view(h + 257, 5) == "ustar") {
      std::string_view prefix = field(h, 345, 155);
      if (!prefix.empty()) name = std::string(prefix) + "/" + name;
    }
    const char type = h[156];
    std::size_t data = pos + 512;
    if (length > tar.size() - data) return hearth::unexpected(fail("invalid", "a truncated tar archive", path));
    if ((type == '0' || type == '\0') && name.starts_with("package/") && name.ends_with(".json")) {
      std::string_view file = std::string_view(name).substr(8);
      if (file.find('/') == std::string_view::npos && file != "package.json" && !file.starts_with("."))
        out.emplace_back(std::string(file), tar.substr(data, length));
    }
    pos = data + (length + 511) / 512 * 512;
  }
  return out;
}

}  // namespace hearth::profiles::detail
