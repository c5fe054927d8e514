#include <hearth/hl7v2/encoding.hpp>

namespace hearth::hl7v2 {

std::string encoding::msh2() const {
  std::string s{component, repetition, escape, subcomponent};
  if (truncation != '\0') s.push_back(truncation);
  return s;
}

}  // namespace hearth::hl7v2
