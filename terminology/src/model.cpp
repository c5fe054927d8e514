// Small helpers of the compiled model (detail/model.hpp).

#include "detail/model.hpp"

namespace hearth::terminology::detail {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

const concept_def* code_system::find(std::string_view code) const {
  const auto it = case_sensitive ? index.find(code) : index.find(ascii_lower(code));
  return it == index.end() ? nullptr : &concepts[it->second];
}

}  // namespace hearth::terminology::detail
