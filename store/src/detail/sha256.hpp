#pragma once
// SHA-256 (FIPS 180-4): the content hash of stored resources, so that an
// identical update is recognised without reading the stored body back.
// A cryptographic hash because a collision would silently drop an update.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::store::detail {

/// Incremental SHA-256. Plain value; one instance per thread at a time.
class sha256 {
 public:
  sha256() noexcept;
  void update(std::string_view bytes) noexcept;
  /// The digest; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> finish() noexcept;

 private:
  void block(const std::uint8_t* p) noexcept;
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t used_ = 0;       ///< bytes in buf_
  std::uint64_t total_ = 0;    ///< bytes hashed so far
};

/// Lower-case hex of SHA-256(bytes): 64 characters.
std::string sha256_hex(std::string_view bytes);

}  // namespace hearth::store::detail
