// Small functions of operations.hpp.

#include <hearth/terminology/operations.hpp>

namespace hearth::terminology {

std::string validate_result::message() const {
  std::string out;
  for (const auto& f : findings) {
    if (!out.empty()) out += "; ";
    out += f.text;
  }
  return out;
}

std::string_view to_string(subsumption s) noexcept {
  switch (s) {
    case subsumption::equivalent: return "equivalent";
    case subsumption::subsumes: return "subsumes";
    case subsumption::subsumed_by: return "subsumed-by";
    case subsumption::not_subsumed: return "not-subsumed";
  }
  return "not-subsumed";
}

}  // namespace hearth::terminology
