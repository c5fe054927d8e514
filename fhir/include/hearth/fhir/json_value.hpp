#pragma once
// hearth::fhir::json_value — a JSON value that keeps what FHIR needs exactly.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hearth::fhir {

class json_value;

/// One member of a JSON object: key and value, in the order they were read.
struct json_member;

/// A number as its JSON text, never converted: FHIR decimal precision is
/// significant (`1.50` is not `1.5`, R4 datatypes.html#decimal) and integers
/// may exceed what a double holds exactly.
struct json_number {
  std::string text;
  friend bool operator==(const json_number&, const json_number&) = default;
};

/// A JSON value: null, boolean, number (as text), string (UTF-8), array, or
/// object with its members in document order (FHIR's XML form and
/// byte-stable output depend on order; R4 json.html). Mutable, so the store can
/// set `meta` and conversions can build resources.
///
/// This is Hearth's own type so that no public header exposes the JSON parser
/// (RapidJSON stays inside fhir/src), as google/fhir hides its JSON library.
/// Thread-safety: a value may be read concurrently; writes need exclusive access.
class json_value {
 public:
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };
  using array_type = std::vector<json_value>;
  using object_type = std::vector<json_member>;

  // Constructors are defined below json_member: a body that may destroy the
  // variant needs every alternative complete (clang checks it in place).
  json_value() noexcept;  ///< null
  json_value(std::nullptr_t) noexcept;   // NOLINT: implicit by design
  json_value(bool b) noexcept;           // NOLINT
  json_value(json_number n) noexcept;    // NOLINT
  json_value(std::string s) noexcept;    // NOLINT
  json_value(std::string_view s);        // NOLINT
  json_value(const char* s);             // NOLINT
  json_value(array_type a) noexcept;     // NOLINT
  json_value(object_type o) noexcept;    // NOLINT

  /// An empty array or object, to fill.
  static json_value array();
  static json_value object();
  /// A number from its text. The text must be a JSON number (RFC 8259 section 6);
  /// the reader checks that for input, callers for what they build.
  static json_value number(std::string text);

  kind type() const noexcept { return static_cast<kind>(v_.index()); }
  bool is_null() const noexcept { return type() == kind::null; }
  bool is_bool() const noexcept { return type() == kind::boolean; }
  bool is_number() const noexcept { return type() == kind::number; }
  bool is_string() const noexcept { return type() == kind::string; }
  bool is_array() const noexcept { return type() == kind::array; }
  bool is_object() const noexcept { return type() == kind::object; }

  /// The value; only for the matching kind (a programmer error otherwise).
  bool as_bool() const { return std::get<bool>(v_); }
  const std::string& number_text() const { return std::get<json_number>(v_).text; }
  const std::string& str() const { return std::get<std::string>(v_); }
  const array_type& items() const { return std::get<array_type>(v_); }
  array_type& items() { return std::get<array_type>(v_); }
  const object_type& members() const { return std::get<object_type>(v_); }
  object_type& members() { return std::get<object_type>(v_); }

  /// Items of an array, members of an object; 0 otherwise.
  std::size_t size() const noexcept;

  /// The member called `key` of an object, or nullptr (also when not an object).
  const json_value* find(std::string_view key) const noexcept;
  json_value* find(std::string_view key) noexcept;
  /// Sets member `key` of an object: replaces its value in place, or appends.
  json_value& set(std::string_view key, json_value value);
  /// Removes member `key`; false when there was none.
  bool erase(std::string_view key);
  /// Appends to an array.
  json_value& push_back(json_value value);

  /// Same kind and value; numbers compare by text, objects by members in order.
  friend bool operator==(const json_value& a, const json_value& b);

 private:
  std::variant<std::nullptr_t, bool, json_number, std::string, array_type, object_type> v_;
};

struct json_member {
  std::string key;
  json_value value;
  friend bool operator==(const json_member&, const json_member&) = default;
};

inline json_value::json_value() noexcept = default;
inline json_value::json_value(std::nullptr_t) noexcept {}
inline json_value::json_value(bool b) noexcept : v_(b) {}
inline json_value::json_value(json_number n) noexcept : v_(std::move(n)) {}
inline json_value::json_value(std::string s) noexcept : v_(std::move(s)) {}
inline json_value::json_value(std::string_view s) : v_(std::string(s)) {}
inline json_value::json_value(const char* s) : v_(std::string(s)) {}
inline json_value::json_value(array_type a) noexcept : v_(std::move(a)) {}
inline json_value::json_value(object_type o) noexcept : v_(std::move(o)) {}
inline json_value json_value::array() { return json_value(array_type{}); }
inline json_value json_value::object() { return json_value(object_type{}); }
inline json_value json_value::number(std::string text) { return json_value(json_number{std::move(text)}); }

}  // namespace hearth::fhir
