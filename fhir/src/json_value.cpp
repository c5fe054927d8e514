#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

std::size_t json_value::size() const noexcept {
  if (const auto* a = std::get_if<array_type>(&v_)) return a->size();
  if (const auto* o = std::get_if<object_type>(&v_)) return o->size();
  return 0;
}

const json_value* json_value::find(std::string_view key) const noexcept {
  const auto* o = std::get_if<object_type>(&v_);
  if (o == nullptr) return nullptr;
  for (const json_member& m : *o) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

json_value* json_value::find(std::string_view key) noexcept {
  return const_cast<json_value*>(static_cast<const json_value*>(this)->find(key));
}

json_value& json_value::set(std::string_view key, json_value value) {
  if (json_value* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  auto& o = std::get<object_type>(v_);
  o.push_back(json_member{std::string(key), std::move(value)});
  return o.back().value;
}

bool json_value::erase(std::string_view key) {
  auto* o = std::get_if<object_type>(&v_);
  if (o == nullptr) return false;
  for (auto it = o->begin(); it != o->end(); ++it) {
    if (it->key == key) {
      o->erase(it);
      return true;
    }
  }
  return false;
}

json_value& json_value::push_back(json_value value) {
  auto& a = std::get<array_type>(v_);
  a.push_back(std::move(value));
  return a.back();
}

bool operator==(const json_value& a, const json_value& b) { return a.v_ == b.v_; }

}  // namespace hearth::fhir
