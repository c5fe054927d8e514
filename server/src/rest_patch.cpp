// PATCH: JSON Patch (RFC 6902, RFC 6901), FHIRPath Patch (R4 fhirpatch.html)
// and the patch interactions (R4 http.html#patch).

#include "rest_patch.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/store/error_codes.hpp>

#include "rest_auth.hpp"
#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

using fhir::json_value;

template <class T = void>
using patch_result = hearth::result<T, patch_error>;

/// The document is wrong (400).
hearth::unexpected<patch_error> malformed(std::string code, std::string message, std::string location) {
  return hearth::unexpected(
      patch_error{true, hearth::error{std::move(code), std::move(message), std::move(location)}});
}

/// The document cannot be applied to this resource (422).
hearth::unexpected<patch_error> unprocessable(std::string code, std::string message, std::string location) {
  return hearth::unexpected(
      patch_error{false, hearth::error{std::move(code), std::move(message), std::move(location)}});
}

// ---------------------------------------------------------------- limits

/// The size and depth of a JSON value.
struct measure {
  /// Estimated bytes of compact JSON: strings, numbers and keys with their
  /// quotes and punctuation.
  std::size_t bytes = 0;
  /// Levels of objects and arrays: 0 for a scalar, 1 for `[1]`.
  std::size_t depth = 0;
};

/// Measures `v`. Recursive: every value measured here came from parse_json
/// (max_depth 128) or is kept within max_patched_depth.
measure measure_of(const json_value& v) {
  measure m;
  switch (v.type()) {
    case json_value::kind::null: m.bytes = 4; break;
    case json_value::kind::boolean: m.bytes = 5; break;
    case json_value::kind::number: m.bytes = v.number_text().size(); break;
    case json_value::kind::string: m.bytes = v.str().size() + 2; break;
    case json_value::kind::array:
      m.bytes = 2;
      for (const json_value& item : v.items()) {
        const measure c = measure_of(item);
        m.bytes += c.bytes + 1;
        m.depth = std::max(m.depth, c.depth);
      }
      m.depth += 1;
      break;
    case json_value::kind::object:
      m.bytes = 2;
      for (const fhir::json_member& member : v.members()) {
        const measure c = measure_of(member.value);
        m.bytes += member.key.size() + 4 + c.bytes;
        m.depth = std::max(m.depth, c.depth);
      }
      m.depth += 1;
      break;
  }
  return m;
}

/// The work one patch document has done so far (max_patch_work). Plain
/// value, one per document.
struct budget {
  std::size_t work = 0;

  /// Measures `v` and counts the bytes as work. Errors: "too-costly" once
  /// the document has done more than max_patch_work.
  patch_result<measure> weigh(const json_value& v, const std::string& location) {
    const measure m = measure_of(v);
    work += m.bytes;
    if (work > max_patch_work) {
      return unprocessable("too-costly", "the patch does more work than the server allows", location);
    }
    return m;
  }
};

// ---------------------------------------------------------------- JSON Patch

/// The reference tokens of a JSON Pointer (RFC 6901 sections 3 and 4): ""
/// is the whole document (no tokens); otherwise each '/' starts a token, in
/// which "~1" stands for '/' and "~0" for '~' (decoded in one pass, so "~01"
/// is "~1"). nullopt: not a JSON Pointer (no leading '/', a '~' followed by
/// anything else).
std::optional<std::vector<std::string>> parse_pointer(std::string_view p) {
  std::vector<std::string> tokens;
  if (p.empty()) return tokens;
  if (p.front() != '/') return std::nullopt;
  std::string token;
  for (std::size_t i = 1; i < p.size(); ++i) {
    const char ch = p[i];
    if (ch == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (ch == '~') {
      if (i + 1 == p.size()) return std::nullopt;
      const char escaped = p[++i];
      if (escaped == '0') token += '~';
      else if (escaped == '1') token += '/';
      else return std::nullopt;
    } else {
      token += ch;
    }
  }
  tokens.push_back(std::move(token));
  return tokens;
}

/// An array index token (RFC 6901 section 4: "0", or digits without a
/// leading zero); nullopt for anything else, "-" included.
std::optional<std::size_t> array_index(std::string_view token) {
  if (token.empty() || (token.size() > 1 && token.front() == '0')) return std::nullopt;
  std::size_t n = 0;
  const auto r = std::from_chars(token.data(), token.data() + token.size(), n);
  if (r.ec != std::errc() || r.ptr != token.data() + token.size()) return std::nullopt;
  return n;
}

/// The value the first `count` tokens point to, or nullptr when it does not
/// exist (RFC 6901 section 4: a missing member, an index that is not one or
/// is past the end, "-", a scalar on the way).
json_value* resolve_pointer(json_value& doc, const std::vector<std::string>& tokens, std::size_t count) {
  json_value* at = &doc;
  for (std::size_t i = 0; i < count; ++i) {
    if (at->is_object()) {
      at = at->find(tokens[i]);
      if (at == nullptr) return nullptr;
    } else if (at->is_array()) {
      const auto n = array_index(tokens[i]);
      if (!n || *n >= at->items().size()) return nullptr;
      at = &at->items()[*n];
    } else {
      return nullptr;
    }
  }
  return at;
}

/// RFC 6902 section 4.6 equality of numbers: the same value, whatever the
/// notation (1, 1.0, 10e-1). Compares the significant digits and the decimal
/// exponent; falls back to the text when an exponent is absurdly large.
bool numbers_equal(std::string_view a, std::string_view b) {
  struct decimal_form {
    bool negative = false;
    std::string digits;     ///< no leading or trailing zeros; empty for zero
    std::int64_t exponent = 0;
  };
  const auto normalise = [](std::string_view t) -> std::optional<decimal_form> {
    decimal_form f;
    std::size_t i = 0;
    if (i < t.size() && t[i] == '-') {
      f.negative = true;
      ++i;
    }
    std::int64_t fraction_digits = 0;
    bool in_fraction = false;
    for (; i < t.size() && t[i] != 'e' && t[i] != 'E'; ++i) {
      if (t[i] == '.') {
        in_fraction = true;
        continue;
      }
      f.digits += t[i];
      if (in_fraction) ++fraction_digits;
    }
    std::int64_t e = 0;
    if (i < t.size()) {
      std::string_view exp = t.substr(i + 1);
      if (!exp.empty() && exp.front() == '+') exp.remove_prefix(1);
      // 15 digits keep the sums below in range of 64 bits.
      if (exp.size() > 16) return std::nullopt;
      const auto r = std::from_chars(exp.data(), exp.data() + exp.size(), e);
      if (r.ec != std::errc() || r.ptr != exp.data() + exp.size()) return std::nullopt;
    }
    const std::size_t first = f.digits.find_first_not_of('0');
    if (first == std::string::npos) return decimal_form{};  // zero, -0 included
    f.digits.erase(0, first);
    const std::size_t last = f.digits.find_last_not_of('0');
    const auto trailing = static_cast<std::int64_t>(f.digits.size() - 1 - last);
    f.digits.resize(last + 1);
    f.exponent = e - fraction_digits + trailing;
    return f;
  };
  const auto x = normalise(a);
  const auto y = normalise(b);
  if (!x || !y) return a == b;
  return x->negative == y->negative && x->digits == y->digits && x->exponent == y->exponent;
}

/// RFC 6902 section 4.6 equality: same type; numbers by value; strings by
/// code points (UTF-8 bytes); arrays item by item in order; objects by the
/// same members in any order.
bool json_equal(const json_value& a, const json_value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json_value::kind::null: return true;
    case json_value::kind::boolean: return a.as_bool() == b.as_bool();
    case json_value::kind::number: return numbers_equal(a.number_text(), b.number_text());
    case json_value::kind::string: return a.str() == b.str();
    case json_value::kind::array: {
      if (a.items().size() != b.items().size()) return false;
      for (std::size_t i = 0; i < a.items().size(); ++i) {
        if (!json_equal(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case json_value::kind::object: {
      if (a.members().size() != b.members().size()) return false;
      // Sorted views of b's members: each lookup is a binary search, so a
      // large object is not compared in quadratic time.
      std::vector<const fhir::json_member*> sorted;
      sorted.reserve(b.members().size());
      for (const auto& m : b.members()) sorted.push_back(&m);
      std::sort(sorted.begin(), sorted.end(), [](const auto* x, const auto* y) { return x->key < y->key; });
      for (const auto& m : a.members()) {
        const auto it = std::lower_bound(sorted.begin(), sorted.end(), m.key,
                                         [](const auto* x, const std::string& k) { return x->key < k; });
        if (it == sorted.end() || (*it)->key != m.key || !json_equal(m.value, (*it)->value)) return false;
      }
      return true;
    }
  }
  return false;
}

/// One JSON Patch document being applied to one resource. Not thread-safe;
/// lives for one apply_json_patch call and refers to the document it patches.
class json_patcher {
 public:
  explicit json_patcher(json_value& doc) : doc_(doc) {}

  /// Measures the document before the first operation.
  patch_result<void> start() {
    auto m = budget_.weigh(doc_, "$");
    if (!m) return hearth::unexpected(std::move(m).error());
    bytes_ = m->bytes;
    return {};
  }

  /// RFC 6902 section 4.1 add: the whole document (no tokens), a member of
  /// an object (added, or replaced when there), an array item at an index up
  /// to the length, or "-" for the end. The parent must exist.
  patch_result<void> add(const std::vector<std::string>& tokens, json_value value, const std::string& loc) {
    auto m = admit(tokens.size(), value, loc);
    if (!m) return hearth::unexpected(std::move(m).error());
    if (tokens.empty()) {
      doc_ = std::move(value);
      bytes_ = m->bytes;
      return {};
    }
    json_value* parent = resolve_pointer(doc_, tokens, tokens.size() - 1);
    if (parent == nullptr) return unprocessable("processing", "the parent of the target location does not exist", loc);
    const std::string& last = tokens.back();
    if (parent->is_object()) {
      if (json_value* old = parent->find(last)) {
        if (auto r = drop(*old, loc); !r) return r;
        *old = std::move(value);
      } else {
        bytes_ += last.size() + 4;
        parent->set(last, std::move(value));
      }
    } else if (parent->is_array()) {
      auto& items = parent->items();
      std::size_t at = items.size();
      if (last != "-") {
        const auto n = array_index(last);
        if (!n || *n > items.size()) {
          return unprocessable("processing", "the array index is not an index or is past the end of the array", loc);
        }
        at = *n;
      }
      items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), std::move(value));
      bytes_ += 1;
    } else {
      return unprocessable("processing", "the parent of the target location is neither an object nor an array", loc);
    }
    return grow(m->bytes, loc);
  }

  /// RFC 6902 section 4.2 remove (and the first half of move): takes the
  /// value out. The target must exist; the whole document cannot be removed
  /// (a resource must remain).
  patch_result<json_value> take(const std::vector<std::string>& tokens, const std::string& loc) {
    if (tokens.empty()) return unprocessable("processing", "the whole resource cannot be removed", loc);
    json_value* parent = resolve_pointer(doc_, tokens, tokens.size() - 1);
    json_value out;
    if (parent != nullptr && parent->is_object()) {
      json_value* v = parent->find(tokens.back());
      if (v == nullptr) return unprocessable("processing", "the target location does not exist", loc);
      out = std::move(*v);
      parent->erase(tokens.back());
    } else if (parent != nullptr && parent->is_array()) {
      auto& items = parent->items();
      const auto n = array_index(tokens.back());
      if (!n || *n >= items.size()) return unprocessable("processing", "the target location does not exist", loc);
      out = std::move(items[*n]);
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(*n));
    } else {
      return unprocessable("processing", "the target location does not exist", loc);
    }
    if (auto r = drop(out, loc); !r) return hearth::unexpected(std::move(r).error());
    return out;
  }

  /// RFC 6902 section 4.3 replace: the target must exist; it keeps its place.
  patch_result<void> replace(const std::vector<std::string>& tokens, json_value value, const std::string& loc) {
    json_value* target = resolve_pointer(doc_, tokens, tokens.size());
    if (target == nullptr) return unprocessable("processing", "the target location does not exist", loc);
    auto m = admit(tokens.size(), value, loc);
    if (!m) return hearth::unexpected(std::move(m).error());
    if (tokens.empty()) {
      doc_ = std::move(value);
      bytes_ = m->bytes;
      return {};
    }
    if (auto r = drop(*target, loc); !r) return r;
    *target = std::move(value);
    return grow(m->bytes, loc);
  }

  /// The value at `tokens`, or nullptr.
  const json_value* get(const std::vector<std::string>& tokens) { return resolve_pointer(doc_, tokens, tokens.size()); }

  /// Counts the bytes of a value compared or copied as work.
  patch_result<void> charge(const json_value& v, const std::string& loc) {
    auto m = budget_.weigh(v, loc);
    if (!m) return hearth::unexpected(std::move(m).error());
    return {};
  }

 private:
  /// Measures a value about to be placed below `levels` containers: its
  /// depth there must stay within max_patched_depth.
  patch_result<measure> admit(std::size_t levels, const json_value& value, const std::string& loc) {
    auto m = budget_.weigh(value, loc);
    if (!m) return m;
    if (levels + m->depth > max_patched_depth) {
      return unprocessable("too-costly", "the result would nest objects and arrays deeper than the server allows", loc);
    }
    return m;
  }

  /// Accounts for a value placed; the result must stay within max_patched_bytes.
  patch_result<void> grow(std::size_t bytes, const std::string& loc) {
    bytes_ += bytes;
    if (bytes_ > max_patched_bytes) {
      return unprocessable("too-costly", "the patched resource would be larger than the server allows", loc);
    }
    return {};
  }

  /// Accounts for a value leaving the document.
  patch_result<void> drop(const json_value& v, const std::string& loc) {
    auto m = budget_.weigh(v, loc);
    if (!m) return hearth::unexpected(std::move(m).error());
    bytes_ -= std::min(bytes_, m->bytes);
    return {};
  }

  json_value& doc_;
  budget budget_;
  std::size_t bytes_ = 0;  ///< estimated size of doc_
};

/// True when the tokens of `prefix` start those of `path` and are fewer
/// (RFC 6902 section 4.4: a location cannot be moved into one of its children).
bool proper_prefix(const std::vector<std::string>& prefix, const std::vector<std::string>& path) {
  return prefix.size() < path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

// ---------------------------------------------------------------- FHIRPath Patch: values

/// The value an operation (or one of its parts) gives (R4 fhirpatch.html
/// "value (Datatype)"): a value[x], a resource, or, for types Parameters
/// cannot carry and anonymous elements, parts naming the value's elements.
struct given_value {
  json_value json;  ///< the value; null for a primitive that has only extensions
  json_value ext;   ///< the `_value[x]` object of a primitive (id, extensions), or null
  std::string type;  ///< its FHIR type: "date", "HumanName", "Patient"; empty for parts
  const json_value* parts = nullptr;  ///< the `part` array for the parts form, else nullptr
};

/// "valueDate" -> "date", "valueHumanName" -> "HumanName": the FHIR type a
/// value[x] name carries (R4 formats.html#choice); empty when none.
std::string type_of_suffix(std::string_view suffix, const fhir::definitions& defs) {
  if (suffix.empty()) return {};
  std::string primitive(suffix);
  primitive[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(primitive[0])));
  if (defs.is_primitive_type(primitive)) return primitive;
  const fhir::type_definition* t = defs.find_type(suffix);
  if (t != nullptr && t->kind != fhir::type_kind::primitive_type) return std::string(suffix);
  return {};
}

/// The value of a Parameters part (or parameter): exactly one of value[x]
/// (with its `_value[x]`), resource, or part. Errors (malformed): none or
/// more than one.
patch_result<given_value> given_value_of(const json_value& part, const fhir::definitions& defs,
                                         const std::string& loc) {
  given_value g;
  int forms = 0;
  std::string value_key;
  for (const fhir::json_member& m : part.members()) {
    const std::string_view key = m.key;
    if (key == "resource") {
      ++forms;
      const json_value* rt = m.value.is_object() ? m.value.find("resourceType") : nullptr;
      if (rt == nullptr || !rt->is_string()) return malformed("structure", "a resource value has no resourceType", loc);
      g.json = m.value;
      g.type = rt->str();
    } else if (key == "part") {
      ++forms;
      if (!m.value.is_array()) return malformed("structure", "part must be an array", loc);
      g.parts = &m.value;
    } else if (key.size() > 5 && key.starts_with("value") && std::isupper(static_cast<unsigned char>(key[5]))) {
      ++forms;
      g.json = m.value;
      g.type = type_of_suffix(key.substr(5), defs);
      value_key = m.key;
      if (g.type.empty()) return malformed("structure", "value[x] names no FHIR type", loc);
    } else if (key.size() > 6 && key.starts_with("_value")) {
      g.ext = m.value;
      if (value_key.empty()) value_key = m.key.substr(1);
    }
  }
  if (!g.ext.is_null() && g.type.empty() && g.parts == nullptr) {
    // A primitive with only its `_value[x]` part: no value, extensions only.
    ++forms;
    g.type = type_of_suffix(std::string_view(value_key).substr(5), defs);
    if (g.type.empty()) return malformed("structure", "value[x] names no FHIR type", loc);
  }
  if (forms != 1) return malformed("structure", "a value is given as exactly one of value[x], resource or part", loc);
  return g;
}

/// A value ready to be written under an element.
struct placed_value {
  json_value json;     ///< the value, or null
  json_value ext;      ///< its `_name` companion, or null
  std::string suffix;  ///< for a choice element, the type part of its JSON name ("Quantity")
};

/// `type` is `ancestor` or specialises it (type_definition::base).
bool is_a(const fhir::definitions& defs, std::string_view type, std::string_view ancestor) {
  // R4's deepest chain (e.g. positiveInt, integer, Element, ...) is a handful
  // of levels; the guard only stops a cycle in bad definitions.
  for (int guard = 0; guard < 16 && !type.empty(); ++guard) {
    if (type == ancestor) return true;
    const fhir::type_definition* t = defs.find_type(type);
    if (t == nullptr) return false;
    type = t->base;
  }
  return false;
}

/// Whether a value of type `value` may stand where the element allows type
/// `allowed` (fhirpatch.html: "The type of the value must be correct for the
/// place at which it will be added/inserted"): the same type; a
/// specialisation of it (Age for Quantity, any resource for Resource); for
/// primitives also the reverse, since both are written alike and the
/// lexical rules of the element's type are checked afterwards (a string for
/// a code).
bool type_fits(const fhir::definitions& defs, std::string_view value, std::string_view allowed) {
  if (value == allowed) return true;
  // Parameters cannot carry xhtml (not an R4 open type): Narrative.div is
  // given as a string, and check_resource checks it as a div afterwards.
  if (allowed == "xhtml" && value == "string") return true;
  if (defs.is_primitive_type(value) && defs.is_primitive_type(allowed)) {
    return is_a(defs, value, allowed) || is_a(defs, allowed, value);
  }
  return is_a(defs, value, allowed);
}

/// The type of the objects an element holds: a backbone element's own path,
/// a content reference's target, or its one type; empty for a choice.
std::string_view object_type_of(const fhir::element_definition& el) {
  if (el.content_target != nullptr) return el.content_target->path;
  if (!el.children.empty()) return el.path;
  if (el.types.size() == 1) return el.types.front().code;
  return {};
}

/// The element called `name` (as FHIRPath names it: "value" for value[x]) of
/// a type, a backbone element or a primitive; nullptr when there is none.
const fhir::element_definition* element_named(const fhir::definitions& defs, std::string_view type,
                                              std::string_view name) {
  const fhir::type_definition* t = defs.find_type(type);
  if (t == nullptr) return nullptr;
  for (const fhir::element_definition* c : t->children()) {
    if (c->name == name) return c;
    if (c->is_choice() && c->name.size() == name.size() + 3 && c->name.starts_with(name)) return c;
  }
  return nullptr;
}

/// The JSON name of an element without a choice's type: "value" for value[x].
std::string base_name(const fhir::element_definition& el) {
  std::string_view n = el.name;
  if (el.is_choice()) n.remove_suffix(3);
  return std::string(n);
}

/// Whether `obj`, of type `type`, holds element `el` already (under any of a
/// choice's names, or as a `_name` companion only).
bool has_element(const json_value& obj, std::string_view type, const fhir::element_definition* el,
                 const fhir::definitions& defs) {
  for (const fhir::json_member& m : obj.members()) {
    std::string_view key = m.key;
    if (key.size() > 1 && key.front() == '_') key.remove_prefix(1);
    if (defs.find_child(type, key).element == el) return true;
  }
  return false;
}

/// A repeating element's occurrences, each its value and its `_name`
/// companion (either may be null: R4 json.html#primitive).
using occurrence_list = std::vector<std::pair<json_value, json_value>>;

/// Moves the occurrences of `key` out of `obj` (its members stay, emptied,
/// for put_list to refill in place). Errors: the element is not a list.
patch_result<occurrence_list> take_list(json_value& obj, const std::string& key, const std::string& loc) {
  json_value* values = obj.find(key);
  json_value* exts = obj.find("_" + key);
  if ((values != nullptr && !values->is_array()) || (exts != nullptr && !exts->is_array())) {
    return unprocessable("processing", "the element is not a list", loc);
  }
  const std::size_t n =
      std::max(values != nullptr ? values->items().size() : 0, exts != nullptr ? exts->items().size() : 0);
  occurrence_list list(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (values != nullptr && i < values->items().size()) list[i].first = std::move(values->items()[i]);
    if (exts != nullptr && i < exts->items().size()) list[i].second = std::move(exts->items()[i]);
  }
  return list;
}

/// Writes occurrences back as `key` and, when any has one, `_key`, aligned
/// with null where an occurrence has no value or no companion (R4
/// json.html#primitive); an occurrence with neither is dropped, an empty
/// list removes the element.
void put_list(json_value& obj, const std::string& key, occurrence_list list) {
  std::erase_if(list, [](const auto& o) { return o.first.is_null() && o.second.is_null(); });
  const bool any_value = std::any_of(list.begin(), list.end(), [](const auto& o) { return !o.first.is_null(); });
  const bool any_ext = std::any_of(list.begin(), list.end(), [](const auto& o) { return !o.second.is_null(); });
  json_value values = json_value::array();
  json_value exts = json_value::array();
  for (auto& [value, ext] : list) {
    values.push_back(std::move(value));
    exts.push_back(std::move(ext));
  }
  if (any_value) obj.set(key, std::move(values));
  else obj.erase(key);
  if (any_ext) obj.set("_" + key, std::move(exts));
  else obj.erase("_" + key);
}

/// Appends one occurrence to a repeating element, `key` and `_key` kept
/// aligned (R4 json.html#primitive; tidy() removes a list of nulls later).
/// In place, so that appending n parts costs O(n), not O(n^2). Errors: the
/// element is not a list.
patch_result<void> append_occurrence(json_value& obj, const std::string& key, json_value value, json_value ext,
                                     const std::string& loc) {
  const std::string companion = "_" + key;
  const json_value* old_values = obj.find(key);
  const json_value* old_exts = obj.find(companion);
  if ((old_values != nullptr && !old_values->is_array()) || (old_exts != nullptr && !old_exts->is_array())) {
    return unprocessable("processing", "the element is not a list", loc);
  }
  const std::size_t n = std::max(old_values != nullptr ? old_values->items().size() : 0,
                                 old_exts != nullptr ? old_exts->items().size() : 0);
  // Both members exist before either is used: set() may move the others.
  if (old_values == nullptr) obj.set(key, json_value::array());
  if (old_exts == nullptr && !ext.is_null()) obj.set(companion, json_value::array());
  json_value& values = *obj.find(key);
  json_value* exts = obj.find(companion);
  while (values.items().size() < n) values.push_back(nullptr);
  values.push_back(std::move(value));
  if (exts != nullptr) {
    while (exts->items().size() < n) exts->push_back(nullptr);
    exts->push_back(std::move(ext));
  }
  return {};
}

/// Sets a non-repeating element: removes `old_key` and its companion (a
/// choice may change its name: deceasedBoolean to deceasedDateTime) and puts
/// `new_key` with the value's companion where the old one stood.
void set_single(json_value& obj, const std::string& old_key, const std::string& new_key, placed_value v) {
  auto& members = obj.members();
  std::size_t at = members.size();
  if (!old_key.empty()) {
    const std::string companion = "_" + old_key;
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (members[i].key == old_key || members[i].key == companion) {
        at = i;
        break;
      }
    }
    std::erase_if(members, [&](const fhir::json_member& m) { return m.key == old_key || m.key == companion; });
    at = std::min(at, members.size());
  }
  std::vector<fhir::json_member> added;
  if (!v.json.is_null()) added.push_back(fhir::json_member{new_key, std::move(v.json)});
  if (!v.ext.is_null()) added.push_back(fhir::json_member{"_" + new_key, std::move(v.ext)});
  members.insert(members.begin() + static_cast<std::ptrdiff_t>(at), std::make_move_iterator(added.begin()),
                 std::make_move_iterator(added.end()));
}

/// Turns given values into JSON for an element, checking their types.
/// Stateless but for the definitions it refers to, which must outlive it.
class value_builder {
 public:
  explicit value_builder(const fhir::definitions& defs) : defs_(defs) {}

  /// The value for element `el`: its type must fit (type_fits), the parts
  /// form needs an element of a complex type that is not a choice.
  patch_result<placed_value> place(given_value g, const fhir::element_definition& el, const std::string& loc) const {
    if (g.parts != nullptr) {
      if (el.is_choice()) {
        return unprocessable("not-supported", "a choice element takes its value as value[x], not as parts", loc);
      }
      const std::string_view type = object_type_of(el);
      const fhir::type_definition* t = defs_.find_type(type);
      if (t == nullptr || t->kind == fhir::type_kind::primitive_type) {
        return unprocessable("invalid", "parts give a value only to an element of a complex type", loc);
      }
      auto obj = build(*g.parts, type, loc);
      if (!obj) return hearth::unexpected(std::move(obj).error());
      return placed_value{std::move(*obj), json_value(), {}};
    }
    if (el.content_target != nullptr || !el.children.empty()) {
      // fhirpatch.html: anonymous elements (Observation.component) are given as parts.
      return unprocessable("invalid", "a backbone element takes its value as parts", loc);
    }
    // A choice is named after the allowed type the value has: its own type
    // when allowed (a string in Extension.value[x] is valueString, not the
    // valueCode a looser match would give), else one it specialises, else
    // a primitive written alike.
    const fhir::type_ref* chosen = nullptr;
    for (int pass = 0; pass < 3 && chosen == nullptr; ++pass) {
      for (const fhir::type_ref& t : el.types) {
        const bool fits = pass == 0   ? g.type == t.code
                          : pass == 1 ? is_a(defs_, g.type, t.code)
                                      : type_fits(defs_, g.type, t.code);
        if (fits) {
          chosen = &t;
          break;
        }
      }
    }
    if (chosen == nullptr) {
      return unprocessable("invalid", "the type of the value is not allowed for this element", loc);
    }
    std::string suffix;
    if (el.is_choice()) {
      suffix = std::string(chosen->code);
      suffix[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    }
    return placed_value{std::move(g.json), std::move(g.ext), std::move(suffix)};
  }

  /// An object of type `type` from parts, each naming one of its elements
  /// and giving its value (fhirpatch.html, the Patient.contact example).
  patch_result<json_value> build(const json_value& parts, std::string_view type, const std::string& loc) const {
    json_value obj = json_value::object();
    for (std::size_t i = 0; i < parts.items().size(); ++i) {
      const json_value& part = parts.items()[i];
      const std::string ploc = loc + ".part[" + std::to_string(i) + "]";
      const json_value* name = part.is_object() ? part.find("name") : nullptr;
      if (name == nullptr || !name->is_string()) return malformed("required", "a part has no name", ploc);
      auto g = given_value_of(part, defs_, ploc);
      if (!g) return hearth::unexpected(std::move(g).error());
      const fhir::element_definition* el = element_named(defs_, type, name->str());
      if (el == nullptr) return unprocessable("invalid", "a part names no element of the value's type", ploc);
      auto v = place(std::move(*g), *el, ploc);
      if (!v) return hearth::unexpected(std::move(v).error());
      const std::string key = base_name(*el) + v->suffix;
      if (el->is_array()) {
        if (auto r = append_occurrence(obj, key, std::move(v->json), std::move(v->ext), ploc); !r) {
          return hearth::unexpected(std::move(r).error());
        }
      } else {
        if (has_element(obj, type, el, defs_)) {
          return unprocessable("invalid", "a part gives a non-repeating element twice", ploc);
        }
        set_single(obj, {}, key, std::move(*v));
      }
    }
    return obj;
  }

 private:
  const fhir::definitions& defs_;
};

// ---------------------------------------------------------------- FHIRPath Patch: finding nodes

/// One step from an object down to a child object: member `key` (as written,
/// a `_name` companion included), item `index` when it is an array.
struct step {
  std::string key;
  std::optional<std::size_t> index;
};

/// Where a node the evaluator selected lies in the tree: element `key` (its
/// JSON name, no '_') of the object `owner`, item `index` when the element
/// repeats, `trail` leading from the resource to `owner`. The node may be
/// the value, its `_key` companion or both: an operation on the slot acts on
/// both. `owner` is nullptr for the resource itself.
struct slot {
  json_value* owner = nullptr;
  std::string key;
  std::optional<std::size_t> index;
  std::vector<step> trail;
};

/// Depth-first search for the object member or array item at address
/// `target` (the evaluator's nodes point into the very tree it was given).
/// Recursion is bounded by max_patched_depth.
bool find_node(json_value& obj, const json_value* target, std::vector<step>& trail, slot& out) {
  for (fhir::json_member& m : obj.members()) {
    std::string_view bare = m.key;
    if (bare.size() > 1 && bare.front() == '_') bare.remove_prefix(1);
    if (&m.value == target) {
      out = slot{&obj, std::string(bare), std::nullopt, trail};
      return true;
    }
    if (m.value.is_array()) {
      auto& items = m.value.items();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (&items[i] == target) {
          out = slot{&obj, std::string(bare), i, trail};
          return true;
        }
        if (items[i].is_object()) {
          trail.push_back(step{m.key, i});
          if (find_node(items[i], target, trail, out)) return true;
          trail.pop_back();
        }
      }
    } else if (m.value.is_object()) {
      trail.push_back(step{m.key, std::nullopt});
      if (find_node(m.value, target, trail, out)) return true;
      trail.pop_back();
    }
  }
  return false;
}

/// The type of a child object reached through element match `m` (as the
/// evaluator types it): a resource's own type, a choice's type, a content
/// reference's or backbone element's path, or the element's one type.
std::string_view child_type_of(const fhir::child_match& m, const json_value& child, const fhir::definitions& defs) {
  if (child.is_object()) {
    if (const json_value* rt = child.find("resourceType"); rt != nullptr && rt->is_string()) {
      const fhir::type_definition* t = defs.find_type(rt->str());
      return t != nullptr ? t->name : std::string_view();
    }
  }
  if (m.type != nullptr) return m.type->code;
  if (m.element->content_target != nullptr) return m.element->content_target->path;
  if (!m.element->children.empty()) return m.element->path;
  if (!m.element->types.empty()) return m.element->types.front().code;
  return {};
}

/// The FHIR type of the resource (a view into the definitions), or empty.
std::string_view resource_type_of(const json_value& resource, const fhir::definitions& defs) {
  const json_value* rt = resource.is_object() ? resource.find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) return {};
  const fhir::type_definition* t = defs.find_type(rt->str());
  return t != nullptr ? t->name : std::string_view();
}

/// The FHIR type of the object `trail` leads to from the resource; empty
/// when a step is not an element. A `_name` companion object has the
/// primitive's type, whose elements are id and extension.
std::string_view type_along(const json_value& resource, const std::vector<step>& trail, const fhir::definitions& defs) {
  std::string_view type = resource_type_of(resource, defs);
  const json_value* at = &resource;
  for (const step& s : trail) {
    if (type.empty()) return {};
    const json_value* member = at->find(s.key);
    if (member == nullptr) return {};
    if (s.index) {
      if (!member->is_array() || *s.index >= member->items().size()) return {};
      member = &member->items()[*s.index];
    }
    const bool companion = s.key.size() > 1 && s.key.front() == '_';
    const fhir::child_match m = defs.find_child(type, companion ? std::string_view(s.key).substr(1) : s.key);
    if (!m) return {};
    if (!companion) type = child_type_of(m, *member, defs);
    else if (m.type != nullptr) type = m.type->code;
    else type = m.element->types.empty() ? std::string_view() : m.element->types.front().code;
    at = member;
  }
  return type;
}

/// An object an operation adds to, inserts into or moves within.
struct container {
  json_value* obj = nullptr;
  std::string type;  ///< its FHIR type
  /// The object is a primitive's `_name` companion: only id and extension live there.
  bool primitive = false;
};

/// One FHIRPath Patch document being applied to one resource. Not
/// thread-safe; lives for one apply_fhirpath_patch call and refers to the
/// resource and the definitions. The nodes an evaluation returns point into
/// the resource: each operation finds them in the tree before it changes
/// anything, and never uses them afterwards.
class fhirpath_patcher {
 public:
  fhirpath_patcher(json_value& resource, const fhir::definitions& defs) : res_(resource), defs_(defs), values_(defs) {}

  /// The nodes `path` selects. Errors: a path that does not parse
  /// (malformed), one that cannot be evaluated.
  patch_result<fhir::fhirpath::collection> select(std::string_view path, const std::string& loc) const {
    auto expr = fhir::fhirpath::parse(path);
    if (!expr) return malformed(expr.error().code, "the path is not FHIRPath: " + expr.error().message, loc);
    fhir::fhirpath::context ctx;
    ctx.max_items = fhirpath_patch_max_items;
    auto r = fhir::fhirpath::evaluate(*expr, res_, defs_, ctx);
    if (!r) return unprocessable(r.error().code, "the path cannot be evaluated: " + r.error().message, loc);
    return std::move(*r);
  }

  /// Where a selected node lies. Errors: a value FHIRPath computed, or a node
  /// outside the resource.
  patch_result<slot> locate(const fhir::fhirpath::value& v, const std::string& loc) const {
    if (v.k != fhir::fhirpath::value::kind::node) {
      return unprocessable("processing", "the path selects a computed value, not an element of the resource", loc);
    }
    const json_value* target = v.json != nullptr ? v.json : v.ext;
    slot s;
    if (target == &res_) return s;
    std::vector<step> trail;
    if (target == nullptr || !find_node(res_, target, trail, s)) {
      // fhirpatch.html: resolve() only to contained resources of the resource patched.
      return unprocessable("processing", "the path selects something outside the resource", loc);
    }
    return s;
  }

  /// The object a selected node is, to add to; for a primitive, its `_name`
  /// companion (made when absent; tidy() drops it if it stays empty).
  patch_result<container> container_of(const fhir::fhirpath::value& v, const std::string& loc) {
    auto s = locate(v, loc);
    if (!s) return hearth::unexpected(std::move(s).error());
    if (s->owner == nullptr) return container{&res_, std::string(resource_type_of(res_, defs_)), false};
    container c;
    c.type = std::string(v.fhir_type);
    if (c.type.empty() || defs_.find_type(c.type) == nullptr) {
      return unprocessable("processing", "the path selects an element of unknown type", loc);
    }
    json_value* owner = s->owner;
    if (v.json != nullptr && v.json->is_object()) {
      json_value* n = owner->find(s->key);
      if (n != nullptr && s->index) n = &n->items()[*s->index];
      c.obj = n;
      return c;
    }
    c.primitive = true;
    const std::string companion = "_" + s->key;
    json_value* ext = owner->find(companion);
    if (!s->index) {
      if (ext == nullptr || !ext->is_object()) ext = &owner->set(companion, json_value::object());
      c.obj = ext;
      return c;
    }
    const json_value* values = owner->find(s->key);
    const std::size_t n = std::max(values != nullptr && values->is_array() ? values->items().size() : 0, *s->index + 1);
    if (ext == nullptr || !ext->is_array()) ext = &owner->set(companion, json_value::array());
    while (ext->items().size() < n) ext->push_back(nullptr);
    json_value& item = ext->items()[*s->index];
    if (!item.is_object()) item = json_value::object();
    c.obj = &item;
    return c;
  }

  /// The object that holds the list a path of insert or move names
  /// ("Patient.identifier": the Patient; fhirpatch.html "Path of the
  /// collection"), and the list's element name.
  patch_result<std::pair<container, std::string>> list_of(const std::string& path, const std::string& loc) {
    auto expr = fhir::fhirpath::parse(path);
    if (!expr) return malformed(expr.error().code, "the path is not FHIRPath: " + expr.error().message, loc);
    const fhir::fhirpath::node& last = expr->at(expr->root());
    if (last.kind != fhir::fhirpath::node_kind::member) {
      return unprocessable("processing", "the path of insert and move must end in the name of a list element", loc);
    }
    if (last.focus == fhir::fhirpath::no_node) {
      return std::pair{container{&res_, std::string(resource_type_of(res_, defs_)), false}, last.text};
    }
    // The owner is the text before the '.' that precedes the name.
    std::string_view owner = std::string_view(path).substr(0, last.offset);
    while (!owner.empty() && std::isspace(static_cast<unsigned char>(owner.back()))) owner.remove_suffix(1);
    if (owner.empty() || owner.back() != '.') {
      return unprocessable("processing", "the path of insert and move must end in the name of a list element", loc);
    }
    owner.remove_suffix(1);
    auto nodes = select(owner, loc);
    if (!nodes) return hearth::unexpected(std::move(nodes).error());
    if (nodes->size() != 1) return selects_wrong_count(nodes->size(), loc);
    auto c = container_of(nodes->front(), loc);
    if (!c) return hearth::unexpected(std::move(c).error());
    return std::pair{std::move(*c), last.text};
  }

  /// fhirpatch.html: "The FHIRPath statement must return a single element".
  static hearth::unexpected<patch_error> selects_wrong_count(std::size_t n, const std::string& loc) {
    return unprocessable("processing",
                         "the path must select exactly one element; it selects " + std::to_string(n), loc);
  }

  /// add: "The content will be appended to the element identified in the
  /// path, using the name specified. Add can used for non-repeating elements
  /// as long as they do not already exist."
  patch_result<void> add(const std::string& path, const std::string& name, given_value g, const std::string& loc) {
    auto nodes = select(path, loc);
    if (!nodes) return hearth::unexpected(std::move(nodes).error());
    if (nodes->size() != 1) return selects_wrong_count(nodes->size(), loc);
    auto c = container_of(nodes->front(), loc);
    if (!c) return hearth::unexpected(std::move(c).error());
    const fhir::element_definition* el = element_named(defs_, c->type, name);
    if (el == nullptr) return unprocessable("invalid", "the element to add is not an element of its parent", loc);
    if (c->primitive && el->name != "id" && el->name != "extension") {
      return unprocessable("invalid", "a primitive takes only id and extension; replace its value instead", loc);
    }
    auto v = values_.place(std::move(g), *el, loc);
    if (!v) return hearth::unexpected(std::move(v).error());
    const std::string key = base_name(*el) + v->suffix;
    if (el->is_array()) return append_occurrence(*c->obj, key, std::move(v->json), std::move(v->ext), loc);
    if (has_element(*c->obj, c->type, el, defs_)) {
      return unprocessable("processing", "the element exists already and does not repeat: use replace", loc);
    }
    set_single(*c->obj, {}, key, std::move(*v));
    return {};
  }

  /// insert: "The content will be inserted into the nominated list at the
  /// index specified (0 based). The index is mandatory and must be equal or
  /// less than the number of elements in the list."
  patch_result<void> insert(const std::string& path, std::int64_t index, given_value g, const std::string& loc) {
    auto target = list_of(path, loc);
    if (!target) return hearth::unexpected(std::move(target).error());
    auto& [c, name] = *target;
    auto el = list_element(c, name, loc);
    if (!el) return hearth::unexpected(std::move(el).error());
    auto v = values_.place(std::move(g), **el, loc);
    if (!v) return hearth::unexpected(std::move(v).error());
    auto list = take_list(*c.obj, name, loc);
    if (!list) return hearth::unexpected(std::move(list).error());
    if (index < 0 || static_cast<std::uint64_t>(index) > list->size()) {
      return unprocessable("processing", "the index is past the end of the list", loc);
    }
    list->insert(list->begin() + static_cast<std::ptrdiff_t>(index), {std::move(v->json), std::move(v->ext)});
    put_list(*c.obj, name, std::move(*list));
    return {};
  }

  /// move: "Move an element within a single list", from index `source` to
  /// index `destination` (both within the list).
  patch_result<void> move(const std::string& path, std::int64_t source, std::int64_t destination,
                          const std::string& loc) {
    auto target = list_of(path, loc);
    if (!target) return hearth::unexpected(std::move(target).error());
    auto& [c, name] = *target;
    auto el = list_element(c, name, loc);
    if (!el) return hearth::unexpected(std::move(el).error());
    auto list = take_list(*c.obj, name, loc);
    if (!list) return hearth::unexpected(std::move(list).error());
    const auto n = static_cast<std::int64_t>(list->size());
    if (source < 0 || source >= n || destination < 0 || destination >= n) {
      return unprocessable("processing", "source and destination must be indexes within the list", loc);
    }
    auto item = std::move((*list)[static_cast<std::size_t>(source)]);
    list->erase(list->begin() + static_cast<std::ptrdiff_t>(source));
    list->insert(list->begin() + static_cast<std::ptrdiff_t>(destination), std::move(item));
    put_list(*c.obj, name, std::move(*list));
    return {};
  }

  /// delete: "Path of the element to delete (if found)"; "Only a single
  /// element can be deleted". A primitive goes with its `_name` companion.
  patch_result<void> remove(const std::string& path, const std::string& loc) {
    auto nodes = select(path, loc);
    if (!nodes) return hearth::unexpected(std::move(nodes).error());
    if (nodes->empty()) return {};
    if (nodes->size() > 1) return selects_wrong_count(nodes->size(), loc);
    auto s = locate(nodes->front(), loc);
    if (!s) return hearth::unexpected(std::move(s).error());
    if (s->owner == nullptr) return unprocessable("processing", "a patch cannot delete the resource itself", loc);
    if (s->index) {
      auto list = take_list(*s->owner, s->key, loc);
      if (!list) return hearth::unexpected(std::move(list).error());
      list->erase(list->begin() + static_cast<std::ptrdiff_t>(*s->index));
      put_list(*s->owner, s->key, std::move(*list));
    } else {
      s->owner->erase(s->key);
      s->owner->erase("_" + s->key);
    }
    return {};
  }

  /// replace: the element (value, id and extensions) is replaced by the
  /// value; a choice element takes the name of the new value's type.
  patch_result<void> replace(const std::string& path, given_value g, const std::string& loc) {
    auto nodes = select(path, loc);
    if (!nodes) return hearth::unexpected(std::move(nodes).error());
    if (nodes->size() != 1) return selects_wrong_count(nodes->size(), loc);
    auto s = locate(nodes->front(), loc);
    if (!s) return hearth::unexpected(std::move(s).error());
    if (s->owner == nullptr) return unprocessable("processing", "a patch cannot replace the resource itself", loc);
    const std::string_view owner_type = type_along(res_, s->trail, defs_);
    const fhir::child_match m = owner_type.empty() ? fhir::child_match{} : defs_.find_child(owner_type, s->key);
    if (!m) return unprocessable("processing", "the path selects an element of unknown type", loc);
    auto v = values_.place(std::move(g), *m.element, loc);
    if (!v) return hearth::unexpected(std::move(v).error());
    if (s->index) {
      auto list = take_list(*s->owner, s->key, loc);
      if (!list) return hearth::unexpected(std::move(list).error());
      (*list)[*s->index] = {std::move(v->json), std::move(v->ext)};
      put_list(*s->owner, s->key, std::move(*list));
      return {};
    }
    const std::string key = m.element->is_choice() ? base_name(*m.element) + v->suffix : s->key;
    set_single(*s->owner, s->key, key, std::move(*v));
    return {};
  }

 private:
  /// The repeating element `name` of a container, for insert and move.
  patch_result<const fhir::element_definition*> list_element(const container& c, const std::string& name,
                                                             const std::string& loc) const {
    const fhir::element_definition* el = element_named(defs_, c.type, name);
    if (el == nullptr || !el->is_array() || el->is_choice() || (c.primitive && el->name != "extension")) {
      return unprocessable("processing", "the path of insert and move must name a list (a repeating element)", loc);
    }
    return el;
  }

  json_value& res_;
  const fhir::definitions& defs_;
  value_builder values_;
};

/// Removes what R4 json.html forbids and a delete, move or `_name`
/// companion made for nothing may leave: empty objects and arrays (but never
/// the resource itself), occurrences of a primitive list with neither value
/// nor companion, companion lists holding only null, value lists holding
/// only null with no companion. Recursion is bounded by max_patched_depth.
void tidy(json_value& obj) {
  auto& members = obj.members();
  for (fhir::json_member& m : members) {
    if (m.value.is_object()) {
      tidy(m.value);
    } else if (m.value.is_array()) {
      auto& items = m.value.items();
      for (json_value& item : items) {
        if (item.is_object()) tidy(item);
      }
      if (m.key.starts_with('_')) {
        // A companion list keeps its length: an empty companion is null.
        for (json_value& item : items) {
          if (item.is_object() && item.members().empty()) item = nullptr;
        }
      } else {
        std::erase_if(items, [](const json_value& item) { return item.is_object() && item.members().empty(); });
      }
    }
  }
  // Occurrences of a primitive list with neither value nor companion.
  for (fhir::json_member& m : members) {
    if (m.key.starts_with('_') || !m.value.is_array()) continue;
    json_value* companion = obj.find("_" + m.key);
    if (companion == nullptr || !companion->is_array()) continue;
    auto& values = m.value.items();
    auto& exts = companion->items();
    if (values.size() != exts.size()) continue;  // misaligned already: check_resource says so
    std::size_t kept = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i].is_null() && exts[i].is_null()) continue;
      if (kept != i) {
        values[kept] = std::move(values[i]);
        exts[kept] = std::move(exts[i]);
      }
      ++kept;
    }
    values.resize(kept);
    exts.resize(kept);
  }
  const auto all_null = [](const json_value& v) {
    return std::all_of(v.items().begin(), v.items().end(), [](const json_value& i) { return i.is_null(); });
  };
  std::erase_if(members, [&](const fhir::json_member& m) {
    if (m.value.is_null()) return true;
    if (m.value.is_object()) return m.value.members().empty();
    if (m.value.is_array()) return m.value.items().empty() || (m.key.starts_with('_') && all_null(m.value));
    return false;
  });
  std::vector<std::string> orphans;
  for (const fhir::json_member& m : members) {
    if (!m.key.starts_with('_') && m.value.is_array() && all_null(m.value) && obj.find("_" + m.key) == nullptr) {
      orphans.push_back(m.key);
    }
  }
  for (const std::string& k : orphans) obj.erase(k);
}

/// One `operation` parameter of a FHIRPath Patch (fhirpatch.html, "The
/// FHIRPath patch operations are encoded in a Parameters resource").
struct fhirpath_operation {
  std::string type;
  std::string path;
  std::optional<std::string> name;
  std::optional<given_value> value;
  std::optional<std::int64_t> index;
  std::optional<std::int64_t> source;
  std::optional<std::int64_t> destination;
  std::string location;  ///< "Parameters.parameter[i]"
};

/// The operations of a FHIRPath Patch document. Errors (malformed): not a
/// Parameters, a parameter that is not an operation, a part missing, given
/// twice or unknown, an unknown type.
patch_result<std::vector<fhirpath_operation>> read_operations(const json_value& parameters,
                                                              const fhir::definitions& defs) {
  const json_value* rt = parameters.is_object() ? parameters.find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string() || rt->str() != "Parameters") {
    return malformed("structure", "a FHIRPath Patch is a Parameters resource", "");
  }
  std::vector<fhirpath_operation> ops;
  const json_value* params = parameters.find("parameter");
  if (params == nullptr) return ops;  // no operations: nothing changes
  if (!params->is_array()) return malformed("structure", "Parameters.parameter must be an array", "Parameters");
  if (params->items().size() > max_fhirpath_patch_operations) {
    return malformed("too-costly", "the patch has more operations than the server allows", "Parameters");
  }
  for (std::size_t i = 0; i < params->items().size(); ++i) {
    const json_value& p = params->items()[i];
    fhirpath_operation op;
    op.location = "Parameters.parameter[" + std::to_string(i) + "]";
    const json_value* name = p.is_object() ? p.find("name") : nullptr;
    if (name == nullptr || !name->is_string() || name->str() != "operation") {
      return malformed("invalid", "every parameter of a FHIRPath Patch is an operation", op.location);
    }
    const json_value* parts = p.find("part");
    if (parts == nullptr || !parts->is_array()) return malformed("required", "an operation has no parts", op.location);
    std::vector<std::string> seen;
    for (std::size_t j = 0; j < parts->items().size(); ++j) {
      const json_value& part = parts->items()[j];
      const std::string ploc = op.location + ".part[" + std::to_string(j) + "]";
      const json_value* pname = part.is_object() ? part.find("name") : nullptr;
      if (pname == nullptr || !pname->is_string()) return malformed("required", "a part has no name", ploc);
      const std::string& n = pname->str();
      if (std::find(seen.begin(), seen.end(), n) != seen.end()) {
        return malformed("structure", "an operation gives a part twice", ploc);
      }
      seen.push_back(n);
      const auto string_of = [&](std::string_view key) -> const json_value* {
        const json_value* v = part.find(key);
        return v != nullptr && v->is_string() ? v : nullptr;
      };
      if (n == "type" || n == "path" || n == "name") {
        const json_value* v = string_of(n == "type" ? "valueCode" : "valueString");
        if (v == nullptr) {
          return malformed("structure", n == "type" ? "the type part is a valueCode" : "this part is a valueString",
                           ploc);
        }
        if (n == "type") op.type = v->str();
        else if (n == "path") op.path = v->str();
        else op.name = v->str();
      } else if (n == "index" || n == "source" || n == "destination") {
        const json_value* v = part.find("valueInteger");
        std::int64_t x = 0;
        if (v == nullptr || !v->is_number()) return malformed("structure", "this part is a valueInteger", ploc);
        const std::string& t = v->number_text();
        const auto r = std::from_chars(t.data(), t.data() + t.size(), x);
        if (r.ec != std::errc() || r.ptr != t.data() + t.size()) {
          return malformed("structure", "this part is a valueInteger", ploc);
        }
        (n == "index" ? op.index : n == "source" ? op.source : op.destination) = x;
      } else if (n == "value") {
        auto g = given_value_of(part, defs, ploc);
        if (!g) return hearth::unexpected(std::move(g).error());
        op.value = std::move(*g);
      } else {
        return malformed("structure",
                         "unknown part (fhirpatch.html: type, path, name, value, index, source, destination)", ploc);
      }
    }
    const auto need = [&](bool present, const char* what) -> patch_result<void> {
      if (present) return {};
      return malformed("required", std::string("this operation needs the part ") + what, op.location);
    };
    patch_result<void> ok;
    if (op.type.empty()) ok = need(false, "type");
    else if (op.path.empty()) ok = need(false, "path");
    else if (op.type == "add") ok = op.name ? need(op.value.has_value(), "value") : need(false, "name");
    else if (op.type == "insert") ok = op.value ? need(op.index.has_value(), "index") : need(false, "value");
    else if (op.type == "replace") ok = need(op.value.has_value(), "value");
    else if (op.type == "move") ok = op.source ? need(op.destination.has_value(), "destination")
                                               : need(false, "source");
    else if (op.type != "delete") {
      return malformed("value", "unknown operation type (add, insert, delete, replace, move)", op.location);
    }
    if (!ok) return hearth::unexpected(std::move(ok).error());
    ops.push_back(std::move(op));
  }
  return ops;
}

// ---------------------------------------------------------------- the interaction

/// How many times a patch without If-Match is read, applied and stored
/// again when another write lands between its read and its update (the
/// store answers "conflict"). Each retry re-applies the patch to the newer
/// version, as the client would; 3 bounds the work under heavy contention.
constexpr int max_patch_attempts = 3;

/// RFC 6902 section 6 / R4 http.html#patch: application/json-patch+json.
bool is_json_patch(std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  return text::iequals(text::trim(content_type->substr(0, content_type->find(';'))), "application/json-patch+json");
}

/// A parsed patch document of either format.
struct patch_document {
  bool json_patch = false;
  json_value body;
};

/// Reads the request body as a patch document, or answers 415 / 400.
std::optional<http_response> read_patch_document(const context& c, patch_document& doc) {
  const auto ct = c.req.header("Content-Type");
  if (is_json_patch(ct)) {
    // A JSON Patch is plain JSON (RFC 6902): null values and empty objects
    // or arrays are allowed in it; the patched resource is checked instead.
    fhir::json_read_options o;
    o.fhir_rules = false;
    auto parsed = fhir::parse_json(c.req.body, o);
    if (!parsed) return error_response(400, parsed.error(), c.fmt, c.defs);
    doc.json_patch = true;
    doc.body = std::move(*parsed);
    return std::nullopt;
  }
  const auto f = format_of_content_type(ct);
  if (!f) {
    // R4 http.html#patch; RFC 9110 15.5.16.
    return error_response(415, "not-supported",
                          "a patch is application/json-patch+json, or a FHIRPath Patch Parameters resource in "
                          "application/fhir+json or application/fhir+xml",
                          c.fmt, c.defs);
  }
  auto parsed = read_body(c.req.body, *f, c.defs);
  if (!parsed) return error_response(400, parsed.error(), c.fmt, c.defs);
  const json_value* rt = parsed->is_object() ? parsed->find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string() || rt->str() != "Parameters") {
    return error_response(400, "structure", "a FHIRPath Patch is a Parameters resource (R4 fhirpatch.html)", c.fmt,
                          c.defs);
  }
  const fhir::issue_list issues = fhir::check_resource(*parsed, c.defs);
  if (fhir::has_errors(issues)) return outcome_response(400, issues, c.fmt, c.defs);
  doc.body = std::move(*parsed);
  return std::nullopt;
}

/// The string member `key` of a resource, or nullptr.
const std::string* string_member(const json_value& v, std::string_view key) {
  const json_value* m = v.is_object() ? v.find(key) : nullptr;
  return m != nullptr && m->is_string() ? &m->str() : nullptr;
}

}  // namespace

hearth::result<void, patch_error> apply_json_patch(json_value& resource, const json_value& patch) {
  if (!patch.is_array()) {
    return malformed("structure", "a JSON Patch document is an array of operations (RFC 6902 section 3)", "$");
  }
  if (patch.items().size() > max_json_patch_operations) {
    return malformed("too-costly", "the patch has more operations than the server allows", "$");
  }
  json_patcher p(resource);
  if (auto r = p.start(); !r) return r;
  for (std::size_t i = 0; i < patch.items().size(); ++i) {
    const json_value& op = patch.items()[i];
    const std::string loc = "$[" + std::to_string(i) + "]";
    if (!op.is_object()) return malformed("structure", "an operation is a JSON object (RFC 6902 section 4)", loc);
    const json_value* name = op.find("op");
    if (name == nullptr || !name->is_string()) return malformed("required", "the operation has no op", loc);
    const std::string& kind = name->str();
    // Members an operation does not define are ignored (RFC 6902 section 4).
    const auto pointer_of = [&](std::string_view member) -> patch_result<std::vector<std::string>> {
      const json_value* v = op.find(member);
      if (v == nullptr || !v->is_string()) {
        return malformed("required", "the operation has no " + std::string(member) + " string", loc);
      }
      auto tokens = parse_pointer(v->str());
      if (!tokens) return malformed("structure", std::string(member) + " is not a JSON Pointer (RFC 6901)", loc);
      return std::move(*tokens);
    };
    const json_value* value = op.find("value");
    const bool needs_value = kind == "add" || kind == "replace" || kind == "test";
    const bool needs_from = kind == "move" || kind == "copy";
    if (!needs_value && !needs_from && kind != "remove") {
      return malformed("structure", "unknown op (RFC 6902: add, remove, replace, move, copy, test)", loc);
    }
    auto path = pointer_of("path");
    if (!path) return hearth::unexpected(std::move(path).error());
    if (needs_value && value == nullptr) return malformed("required", "the operation has no value", loc);
    std::vector<std::string> from;
    if (needs_from) {
      auto f = pointer_of("from");
      if (!f) return hearth::unexpected(std::move(f).error());
      from = std::move(*f);
    }

    patch_result<void> r;
    if (kind == "add") {
      r = p.add(*path, *value, loc);
    } else if (kind == "remove") {
      auto taken = p.take(*path, loc);
      if (!taken) r = hearth::unexpected(std::move(taken).error());
    } else if (kind == "replace") {
      r = p.replace(*path, *value, loc);
    } else if (kind == "move") {
      // RFC 6902 section 4.4: from must exist and not be a proper prefix of path.
      if (proper_prefix(from, *path)) {
        return unprocessable("processing", "a location cannot be moved into one of its own children", loc);
      }
      if (p.get(from) == nullptr) return unprocessable("processing", "the from location does not exist", loc);
      if (from != *path) {
        auto taken = p.take(from, loc);
        if (!taken) return hearth::unexpected(std::move(taken).error());
        r = p.add(*path, std::move(*taken), loc);
      }
    } else if (kind == "copy") {
      const json_value* source = p.get(from);
      if (source == nullptr) return unprocessable("processing", "the from location does not exist", loc);
      json_value copy = *source;
      r = p.add(*path, std::move(copy), loc);
    } else {  // test, RFC 6902 section 4.6
      const json_value* target = p.get(*path);
      if (target == nullptr) return unprocessable("processing", "the target location does not exist", loc);
      if (auto charged = p.charge(*value, loc); !charged) return charged;
      if (!json_equal(*target, *value)) {
        return unprocessable("processing", "test failed: the value at the target location differs", loc);
      }
    }
    if (!r) return r;
  }
  return {};
}

hearth::result<void, patch_error> apply_fhirpath_patch(json_value& resource, const json_value& parameters,
                                                       const fhir::definitions& defs) {
  auto ops = read_operations(parameters, defs);
  if (!ops) return hearth::unexpected(std::move(ops).error());
  if (resource_type_of(resource, defs).empty()) {
    return unprocessable("processing", "the target is not a resource of a known type", "");
  }
  fhirpath_patcher p(resource, defs);
  budget work;
  for (fhirpath_operation& op : *ops) {
    const std::string& loc = op.location;
    patch_result<void> r;
    if (op.type == "add") r = p.add(op.path, *op.name, std::move(*op.value), loc);
    else if (op.type == "insert") r = p.insert(op.path, *op.index, std::move(*op.value), loc);
    else if (op.type == "delete") r = p.remove(op.path, loc);
    else if (op.type == "replace") r = p.replace(op.path, std::move(*op.value), loc);
    else r = p.move(op.path, *op.source, *op.destination, loc);
    if (!r) return r;
    tidy(resource);
    // One pass over the resource per operation is counted as its work; the
    // result is kept within the size and depth limits after each.
    auto m = work.weigh(resource, loc);
    if (!m) return hearth::unexpected(std::move(m).error());
    if (m->depth > max_patched_depth) {
      return unprocessable("too-costly", "the result would nest objects and arrays deeper than the server allows", loc);
    }
    if (m->bytes > max_patched_bytes) {
      return unprocessable("too-costly", "the patched resource would be larger than the server allows", loc);
    }
  }
  return {};
}

http_response patch(const context& c, const std::string& type, const std::string& id) {
  // SMART u (rest_auth.hpp): the version patched and the result must both be
  // reached by the grant.
  const access a = authorize(c, auth::interaction::patch, type);
  if (!a.allowed) return forbidden(c, a);
  bool bad_if_match = false;
  const auto expected = if_match_of(c, bad_if_match);
  if (bad_if_match) {
    return error_response(400, "invalid", "If-Match must be a version ETag such as W/\"1\"", c.fmt, c.defs);
  }
  patch_document doc;
  if (auto answer = read_patch_document(c, doc)) return std::move(*answer);

  for (int attempt = 1;; ++attempt) {
    auto current = c.store.read(type, id);
    if (!current) return store_failure(c, current.error());  // 404, 410 (R4 http.html#read)
    if (auto ok = reaches(c, a, *current); !ok || !*ok) {
      // Not the token's to see: answered as a patch of an absent id (404).
      return ok ? hidden_write(hidden(c, false)) : store_failure(c, ok.error());
    }
    if (expected && *expected != current->version_id) {
      // R4 http.html#concurrency: the client's version is not the current one.
      return error_response(412, "conflict", "If-Match does not name the current version", c.fmt, c.defs);
    }
    auto resource = fhir::parse_json(current->json);
    if (!resource) return internal_error(c.req.request_id, c.fmt, c.defs);  // stored bodies were checked when written

    auto applied = doc.json_patch ? apply_json_patch(*resource, doc.body)
                                  : apply_fhirpath_patch(*resource, doc.body, c.defs);
    if (!applied) {
      // RFC 5789 section 2.2: a malformed document 400, one that cannot be applied 422.
      return error_response(applied.error().malformed ? 400 : 422, applied.error().error, c.fmt, c.defs);
    }
    const std::string* rt = string_member(*resource, "resourceType");
    const std::string* new_id = string_member(*resource, "id");
    if (rt == nullptr || *rt != type || new_id == nullptr || *new_id != id) {
      return error_response(422, "processing", "a patch cannot change the resource type or the id", c.fmt, c.defs);
    }
    // fhirpatch.html: "Servers SHALL return an error if the outcome of the
    // patch operation is a not a valid resource"; likewise for JSON Patch.
    const fhir::issue_list issues = fhir::check_resource(*resource, c.defs);
    if (fhir::has_errors(issues)) return outcome_response(422, issues, c.fmt, c.defs);
    write_validation validated = validate_write(c, *resource);
    if (validated.refusal) return std::move(*validated.refusal);
    if (!reaches_content(c, a, *resource)) {
      return forbidden(c, a, "the patched resource would be outside what the granted scopes reach");
    }

    store::update_options o;
    o.expected_version = current->version_id;  // the version patched; If-Match equals it when given
    o.allow_create = false;
    auto w = c.store.update(type, id, std::move(*resource), o, write_hook_of(c));
    if (!w) {
      if (w.error().code == store::error_codes::conflict && !expected && attempt < max_patch_attempts) continue;
      return write_failure(c, w.error(), expected.has_value());
    }
    // Write does not imply read (SMART App Launch 2.2): the patched resource
    // holds what the request did not send, so it is returned only to a
    // token that may read it; otherwise the answer is as return=minimal.
    auto readable = may_read(c, w->version);
    if (!readable) return store_failure(c, readable.error());
    if (!*readable && c.return_pref == return_preference::representation) {
      context minimal = c;
      minimal.return_pref = return_preference::minimal;
      return with_validation_note(write_response(minimal, 200, w->version, "patched"), validated.note);
    }
    return with_validation_note(write_response(c, 200, w->version, "patched"), validated.note);
  }
}

http_response conditional_patch(const context& c, const std::string& type) {
  const access a = authorize(c, auth::interaction::patch, type);
  if (!a.allowed) return forbidden(c, a);
  const bool has_criteria = std::any_of(c.params.begin(), c.params.end(), [](const auto& p) {
    return p.first != "_format" && p.first != "_pretty";
  });
  if (!has_criteria) {
    return error_response(400, "invalid", "conditional patch needs search parameters", c.fmt, c.defs);
  }
  auto m = resolve_conditional(c, type, join_params(c.params));
  if (!m) return store_failure(c, m.error());
  // R4 http.html#patch: conditional patch as conditional update: none 404, several 412.
  if (m->count == 0) return error_response(404, "not-found", "no resource matches the condition", c.fmt, c.defs);
  if (m->count > 1) {
    return error_response(412, "duplicate", "the condition matches more than one resource", c.fmt, c.defs);
  }
  return patch(c, type, m->match->id);
}

}  // namespace hearth::server::rest
