#include <hearth/terminology/verdict.hpp>

namespace hearth::terminology {

std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::valid: return "valid";
    case verdict::invalid: return "invalid";
    case verdict::cannot_tell: return "cannot-tell";
  }
  return "cannot-tell";
}

}  // namespace hearth::terminology
