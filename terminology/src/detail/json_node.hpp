#pragma once
// A read-only node adapter over hearth::fhir::json_value for compile.hpp.

#include <cstddef>
#include <string_view>

#include <hearth/fhir/json_value.hpp>

namespace hearth::terminology::detail {

/// Views a json_value (or nothing). Copyable; as valid as the value it views.
class json_node {
 public:
  json_node() = default;
  explicit json_node(const fhir::json_value* v) : v_(v) {}

  bool valid() const noexcept { return v_ != nullptr; }
  bool is_object() const noexcept { return v_ && v_->is_object(); }
  bool is_array() const noexcept { return v_ && v_->is_array(); }
  bool is_string() const noexcept { return v_ && v_->is_string(); }
  bool is_bool() const noexcept { return v_ && v_->is_bool(); }
  std::string_view str() const noexcept { return is_string() ? std::string_view(v_->str()) : std::string_view(); }
  bool boolean() const noexcept { return is_bool() && v_->as_bool(); }
  std::size_t size() const noexcept { return is_array() ? v_->items().size() : 0; }
  json_node at(std::size_t i) const { return json_node(&v_->items()[i]); }
  json_node get(std::string_view key) const { return json_node(is_object() ? v_->find(key) : nullptr); }
  fhir::json_value to_json() const { return v_ ? *v_ : fhir::json_value(); }
  template <class F>
  void for_each_member(F&& f) const {
    if (!is_object()) return;
    for (const auto& m : v_->members()) f(std::string_view(m.key), json_node(&m.value));
  }

 private:
  const fhir::json_value* v_ = nullptr;
};

}  // namespace hearth::terminology::detail
