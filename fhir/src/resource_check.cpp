// Structural checks of FHIR JSON resources against the R4 definitions (see
// resource_check.hpp). One recursive walk, driven by the registry as the
// XML reader's conversion is: each JSON property is looked up among the
// elements of its parent type, its value checked against the element's
// cardinality and type, and its content walked with the element's type (a
// data type, a backbone element, a content reference or a resource).

#include <hearth/fhir/resource_check.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>

#include <hearth/core/utf8.hpp>
#include <hearth/fhir/narrative_check.hpp>

namespace hearth::fhir {
namespace {

// OperationOutcome issue types (R4 valueset-issue-type.html).
constexpr std::string_view code_structure = "structure";  // wrong shape: unknown property, array or not, JSON kind
constexpr std::string_view code_required = "required";    // a min >= 1 element is missing
constexpr std::string_view code_value = "value";          // a primitive's lexical form or range
constexpr std::string_view code_invalid = "invalid";      // FHIR JSON rules: empty, null, ele-1
constexpr std::string_view code_invariant = "invariant";  // dom-2..5, ext-1, txt-1, txt-2
constexpr std::string_view code_not_supported = "not-supported";
constexpr std::string_view code_too_long = "too-long";
constexpr std::string_view code_too_costly = "too-costly";

/// Longest FHIR string, in characters: string.value maxLength in the R4
/// definitions ("FHIR strings SHALL NOT exceed 1MB", R4 datatypes.html#string).
constexpr std::size_t max_string_chars = 1024 * 1024;

/// The longest unknown property name written into an expression. R4 element
/// names with their type suffix stay under 50 characters; a longer, or oddly
/// spelt, property is not named at all (the expression stops at its parent).
constexpr std::size_t max_name_in_expression = 64;

// --- lexical forms (R4 datatypes.html#primitive) ------------------------------

// The regular expressions of the R4 definitions (profiles-types.json, the
// regex extension on each primitive's value), verbatim, for the forms that
// use neither \s nor \S. Those two mean [ \t\n\r] and its complement in the
// XML Schema regex dialect FHIR uses, but RE2 counts \f as a space too: the
// types whose patterns use them (code, uri, url, canonical, base64Binary,
// string, markdown) are checked by hand below, with the XML Schema meaning.
enum class pattern : std::uint8_t { date, date_time, instant, time, id, oid, uuid, decimal };
constexpr std::array<std::string_view, 8> pattern_text{
    // date
    R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?)",
    // dateTime
    R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?)",
    // instant
    R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))",
    // time
    R"(([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?)",
    // id
    R"([A-Za-z0-9\-\.]{1,64})",
    // oid
    R"(urn:oid:[0-2](\.(0|[1-9][0-9]*))+)",
    // uuid
    R"(urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
    // decimal
    R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)",
};

/// Whether `s` matches pattern `p` in full. The patterns are compiled once, on
/// first use (thread-safe static initialisation); RE2 objects may be used by
/// any number of threads at once, and match in time linear in `s`.
bool matches(pattern p, std::string_view s) {
  static const std::array<std::unique_ptr<const RE2>, pattern_text.size()> compiled = [] {
    RE2::Options o;
    o.set_log_errors(false);
    std::array<std::unique_ptr<const RE2>, pattern_text.size()> out;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::make_unique<const RE2>(pattern_text[i], o);
    return out;
  }();
  return RE2::FullMatch(s, *compiled[static_cast<std::size_t>(p)]);
}

/// White space as XML Schema regular expressions (and FHIR's patterns) mean \s.
bool is_xsd_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool has_xsd_space(std::string_view s) noexcept { return std::any_of(s.begin(), s.end(), is_xsd_space); }

/// Characters below U+0020 other than tab, line feed and carriage return.
bool has_control_chars(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 && !is_xsd_space(c); });
}

/// Characters (code points) in valid UTF-8: the bytes that start one.
std::size_t code_points(std::string_view s) noexcept {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// code: "at least one character and no leading or trailing whitespace, and
// where there is no whitespace other than single spaces in the contents" (R4
// datatypes.html#code). The pattern of the definitions, [^\s]+(\s[^\s]+)*,
// would let a single tab or line break through; the text does not.
bool is_code(std::string_view s) noexcept {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' ? s[i - 1] == ' ' : is_xsd_space(s[i])) return false;
  }
  return true;
}

// base64Binary: (\s*([0-9a-zA-Z\+/=]){4}\s*)+ — groups of four characters of
// the alphabet, white space only between groups.
bool is_base64(std::string_view s) noexcept {
  const auto alphabet = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '/' ||
           c == '=';
  };
  std::size_t i = 0;
  std::size_t groups = 0;
  while (true) {
    while (i < s.size() && is_xsd_space(s[i])) ++i;
    if (i == s.size()) return groups > 0;
    if (s.size() - i < 4) return false;
    for (std::size_t k = 0; k < 4; ++k, ++i) {
      if (!alphabet(s[i])) return false;
    }
    ++groups;
  }
}

/// For a value the date patterns accepted: when it has a day, that the day
/// exists in its month ("Dates SHALL be valid dates", R4 datatypes.html#date).
bool is_real_day(std::string_view s) noexcept {
  if (s.size() < 10) return true;  // a year or a year and month
  const auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  const int year = num(0, 4);
  const int month = num(5, 2);
  const int day = num(8, 2);
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
}

/// A property name that can stand in a FHIRPath expression as it is.
bool is_plain_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > max_name_in_expression) return false;
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  return letter(s[0]) &&
         std::all_of(s.begin(), s.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

/// The name an element has in FHIRPath: "value" for "value[x]".
std::string_view fhirpath_name(const element_definition& e) noexcept {
  return e.is_choice() ? e.name.substr(0, e.name.size() - 3) : e.name;
}

/// Restores a path to its length at construction.
class path_mark {
 public:
  explicit path_mark(std::string& path) : path_(path), length_(path.size()) {}
  ~path_mark() { path_.resize(length_); }
  path_mark(const path_mark&) = delete;
  path_mark& operator=(const path_mark&) = delete;

 private:
  std::string& path_;
  std::size_t length_;
};

/// One more level of nesting for as long as it lives.
class nesting {
 public:
  explicit nesting(std::size_t& depth) : depth_(depth) { ++depth_; }
  ~nesting() { --depth_; }
  nesting(const nesting&) = delete;
  nesting& operator=(const nesting&) = delete;

 private:
  std::size_t& depth_;
};

/// One check_resource call. Not thread-safe; lives for one call and refers
/// to the resource and the registry, which outlive it.
class checker {
 public:
  checker(const definitions& defs, const check_options& opts) : defs_(defs), opts_(opts) {}

  issue_list run(const json_value& root) {
    resource(root, false);
    if (dropped_ > 0) {
      // The list stops at max_issues; the rest are counted, and this last
      // issue carries the severity of the worst of them.
      issues_.push_back(issue{dropped_worst_, std::string(code_too_costly),
                              std::to_string(dropped_) + " more issues not listed (the list stops at " +
                                  std::to_string(opts_.max_issues) + ")",
                              ""});
    }
    return std::move(issues_);
  }

 private:
  /// What kind of object is being walked.
  enum class role : std::uint8_t {
    resource,             ///< a resource: resourceType, no ele-1
    element,              ///< a data type or backbone element
    primitive_extension,  ///< a `_name` object: id and extension only
  };

  /// How an element's value is checked.
  enum class shape : std::uint8_t { primitive, complex, resource };

  /// What one object holds of one element, for duplicates, choices and "required".
  struct presence {
    const element_definition* element;
    std::string_view name;  ///< the JSON name used ("valueQuantity")
    bool value = false;     ///< `name` was seen
    bool ext = false;       ///< `_name` was seen
    std::size_t count = 0;  ///< occurrences
  };

  /// A contained resource, for dom-3.
  struct contained_resource {
    std::string path;
    std::string_view id;              ///< empty when it has none
    bool refers_to_container = false;  ///< holds a reference "#"
  };

  /// One resource that is not contained (the root, an entry in a Bundle or
  /// Parameters) and what dom-3 needs of it: the local references ("#id",
  /// without the '#') found anywhere in it, its contained resources included
  /// (FHIRPath %resource.descendants()).
  struct resource_scope {
    std::vector<std::string_view> local_refs;
    std::vector<contained_resource> contained;
  };

  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  // --- issues ---------------------------------------------------------------

  void report(issue_severity severity, std::string_view code, std::string message, std::string_view where) {
    if (issues_.size() < opts_.max_issues) {
      issues_.push_back(issue{severity, std::string(code), std::move(message), std::string(where)});
      return;
    }
    if (dropped_ == 0 || severity < dropped_worst_) dropped_worst_ = severity;
    ++dropped_;
  }
  void error(std::string_view code, std::string message) {
    report(issue_severity::error, code, std::move(message), path_);
  }
  void warning(std::string_view code, std::string message) {
    report(issue_severity::warning, code, std::move(message), path_);
  }

  /// False (and an issue) when depth_ is past the limit.
  bool within_depth() {
    if (depth_ <= opts_.max_depth) return true;
    error(code_too_costly, "nesting deeper than the limit of " + std::to_string(opts_.max_depth) +
                               " levels; the content below was not checked");
    return false;
  }

  // --- resources ------------------------------------------------------------

  void resource(const json_value& v, bool contained) {
    if (!v.is_object()) {
      error(code_structure, "a resource must be a JSON object");
      return;
    }
    const json_value* type = v.find("resourceType");
    if (type == nullptr) {
      error(code_required, "resourceType is missing (R4 json.html#resources)");
      return;
    }
    if (!type->is_string()) {
      error(code_structure, "resourceType must be a JSON string");
      return;
    }
    const std::string& name = type->str();
    if (!defs_.is_resource_type(name)) {
      const type_definition* t = defs_.find_type(name);
      if (t != nullptr && t->kind == type_kind::resource) {
        error(code_invalid, "resourceType names an abstract type; a concrete resource type is needed");
      } else {
        error(code_not_supported, "resourceType is not a FHIR R4 resource type");
      }
      return;
    }
    if (path_.empty()) path_ = name;  // the root: expressions start with its type
    if (contained) {
      if (opts_.validator_invariants) contained_meta(v);
      object(v, name, role::resource);
      return;
    }
    // A resource of its own: dom-3 is checked within it, with what it
    // contains, and not across it.
    const bool outer_in_contained = in_contained_;
    const std::size_t outer_contained = current_contained_;
    in_contained_ = false;
    current_contained_ = none;
    scopes_.emplace_back();
    object(v, name, role::resource);
    check_contained_references(scopes_.back());
    scopes_.pop_back();
    in_contained_ = outer_in_contained;
    current_contained_ = outer_contained;
  }

  /// dom-4 and dom-5 (R4 DomainResource): a contained resource has no
  /// version of its own (meta.versionId, meta.lastUpdated) and no security
  /// labels (its container's apply).
  void contained_meta(const json_value& v) {
    const json_value* meta = v.find("meta");
    if (meta == nullptr || !meta->is_object()) return;
    if (meta->find("versionId") != nullptr || meta->find("lastUpdated") != nullptr ||
        meta->find("_versionId") != nullptr || meta->find("_lastUpdated") != nullptr) {
      error(code_invariant, "dom-4: a contained resource must not have a meta.versionId or meta.lastUpdated "
                            "(R4 references.html#contained)");
    }
    if (meta->find("security") != nullptr) {
      error(code_invariant, "dom-5: a contained resource must not have security labels (R4 references.html#contained)");
    }
  }

  /// dom-3 (R4 DomainResource): "If the resource is contained in another
  /// resource, it SHALL be referred to from elsewhere in the resource or SHALL
  /// refer to the containing resource". An error, as the invariant is.
  void check_contained_references(resource_scope& scope) {
    if (scope.contained.empty()) return;
    std::sort(scope.local_refs.begin(), scope.local_refs.end());
    for (const contained_resource& c : scope.contained) {
      if (c.refers_to_container) continue;
      if (!c.id.empty() && std::binary_search(scope.local_refs.begin(), scope.local_refs.end(), c.id)) continue;
      report(issue_severity::error, code_invariant,
             c.id.empty() ? "dom-3: a contained resource without an id cannot be referenced, so it must refer to "
                            "its container with \"#\" (R4 references.html#contained)"
                          : "dom-3: a contained resource must be referenced from elsewhere in its container, "
                            "or refer to the container with \"#\" (R4 references.html#contained)",
             c.path);
    }
  }

  // --- objects --------------------------------------------------------------

  /// The members of `v`, an object of type `parent` (a type name, or the path
  /// of a backbone element).
  void object(const json_value& v, std::string_view parent, role r) {
    const nesting level(depth_);
    if (!within_depth()) return;
    if (v.size() == 0) {
      error(code_invalid, "empty object (R4 json.html: objects are never empty)");
      return;
    }
    std::vector<presence> seen;
    bool only_id = true;
    for (const json_member& m : v.members()) {
      const std::string_view key = m.key;
      if (r == role::resource && key == "resourceType") continue;
      if (key != "id") only_id = false;
      const bool is_ext = key.starts_with('_');
      const std::string_view name = is_ext ? key.substr(1) : key;
      if (r == role::primitive_extension && key != "id" && key != "extension") {
        property_error(key, "only id and extension may appear in the _ object of a primitive (R4 json.html#primitive)");
        continue;
      }
      const child_match match = name.empty() ? child_match{} : defs_.find_child(parent, name);
      if (!match) {
        unknown(parent, key);
        continue;
      }
      const element_definition& el = *match.element;
      if (is_ext && ((name == "id" && r != role::resource) || (name == "url" && parent == "Extension"))) {
        // Element.id and Extension.url are XML attributes: they have no id
        // or extensions of their own (R4 xml.html, json.html#primitive).
        property_error(key, "Element.id and Extension.url cannot have an id or extensions");
        continue;
      }
      auto p = std::find_if(seen.begin(), seen.end(), [&](const presence& s) { return s.element == &el; });
      if (p == seen.end()) {
        seen.push_back(presence{&el, name});
        p = seen.end() - 1;
      } else if (p->name != name) {
        property_error(key, "only one type of the choice element '" + std::string(el.name) +
                                "' may appear (R4 formats.html#choice)");
        continue;
      } else if (is_ext ? p->ext : p->value) {
        property_error(key, "property appears twice");
        continue;
      }
      (is_ext ? p->ext : p->value) = true;
      // A value is checked together with its `_name`; a `_name` on its own
      // only when there is no value.
      if (!is_ext) {
        p->count = element(match, r, &m.value, v.find("_" + std::string(name)));
      } else if (v.find(name) == nullptr) {
        p->count = element(match, r, nullptr, &m.value);
      }
    }
    if (r == role::element && only_id) {
      error(code_invalid, "an element must have a value or children other than id (ele-1)");
    }
    if (r == role::element && parent == "Extension" && opts_.validator_invariants) extension_content(seen);
    if (r != role::primitive_extension) required(parent, seen);
  }

  /// ext-1 (R4 Extension): "Must have either extensions or value[x], not
  /// both" (extension.exists() != value.exists()).
  void extension_content(const std::vector<presence>& seen) {
    bool value = false, nested = false;
    for (const presence& p : seen) {
      if (p.element->name == "value[x]") value = true;
      if (p.element->name == "extension") nested = true;
    }
    if (value == nested) {
      error(code_invariant, value ? "ext-1: an extension has a value and extensions; it must have one or the other"
                                  : "ext-1: an extension has neither a value nor extensions; it must have one");
    }
  }

  /// Elements with min >= 1 that `seen` lacks or holds too few of.
  void required(std::string_view parent, const std::vector<presence>& seen) {
    const type_definition* t = defs_.find_type(parent);
    if (t == nullptr) return;
    for (const element_definition* c : t->children()) {
      if (c->min == 0 || c->max == 0) continue;
      const auto p = std::find_if(seen.begin(), seen.end(), [&](const presence& s) { return s.element == c; });
      const std::size_t count = p == seen.end() ? 0 : p->count;
      if (count >= c->min) continue;
      path_mark mark(path_);
      path_ += '.';
      path_ += fhirpath_name(*c);
      error(code_required, count == 0 ? "missing required element '" + std::string(c->name) + "'"
                                      : "element '" + std::string(c->name) + "' needs at least " +
                                            std::to_string(c->min) + " items");
    }
  }

  /// An issue about a property of the object at path_, named in the
  /// expression when its name is plain.
  void property_error(std::string_view key, std::string message) {
    path_mark mark(path_);
    if (is_plain_name(key)) {
      path_ += '.';
      path_ += key;
    }
    error(code_structure, std::move(message));
  }

  /// A property `key` that is no element of `parent`. Its content is not
  /// looked at.
  void unknown(std::string_view parent, std::string_view key) {
    const std::string_view name = key.starts_with('_') ? key.substr(1) : key;
    std::string message = "unknown element: not defined for " + std::string(parent);
    // A choice stem ("value") or a stem with a type it does not allow ("valueFoo").
    const type_definition* t = is_plain_name(name) ? defs_.find_type(parent) : nullptr;
    if (t != nullptr && defs_.find_element(std::string(parent) + "." + std::string(name) + "[x]") != nullptr) {
      message = "a choice element needs its type in the property name, as in valueQuantity (R4 formats.html#choice)";
    } else if (t != nullptr) {
      for (const element_definition* c : t->children()) {
        const std::string_view stem = fhirpath_name(*c);
        if (c->is_choice() && name.size() > stem.size() && name.starts_with(stem) && name[stem.size()] >= 'A' &&
            name[stem.size()] <= 'Z') {
          message = "not an allowed type for the choice element '" + std::string(c->name) +
                    "' (R4 formats.html#choice)";
          break;
        }
      }
    }
    path_mark mark(path_);
    if (is_plain_name(key)) {
      path_ += '.';
      path_ += key;
    }
    report(opts_.allow_unknown_elements ? issue_severity::warning : issue_severity::error, code_structure,
           std::move(message), path_);
  }

  // --- elements -------------------------------------------------------------

  /// One element of an object: its value (may be null when only `_name` is
  /// there) and its `_name` (may be null). Returns how many occurrences it has.
  std::size_t element(const child_match& match, role parent_role, const json_value* value, const json_value* ext) {
    const element_definition& el = *match.element;
    path_mark mark(path_);
    path_ += '.';
    path_ += fhirpath_name(el);
    if (el.max == 0) {
      error(code_structure, "element '" + std::string(el.name) + "' is not allowed here (max 0)");
      return 0;
    }

    // What the value must be, from the element's type.
    std::string_view code = match.type != nullptr ? match.type->code
                            : el.types.size() == 1 ? el.types.front().code
                                                   : std::string_view{};
    shape s = shape::complex;
    std::string_view child_type;  // for complex: the parent name of its children
    const type_definition* primitive_type = nullptr;
    if (el.content_target != nullptr) {
      child_type = el.content_target->path;  // Questionnaire.item.item
    } else if (!el.children.empty()) {
      child_type = el.path;  // a backbone element
    } else if (code == "Resource" || defs_.is_resource_type(code)) {
      // Any resource, or one type (Bundle.entry.response.outcome: OperationOutcome).
      s = shape::resource;
    } else if (const type_definition* t = code.empty() ? nullptr : defs_.find_type(code); t == nullptr) {
      error(code_not_supported, "the definitions give element '" + std::string(el.name) + "' no usable type");
      return 0;
    } else if (t->kind == type_kind::primitive_type) {
      s = shape::primitive;
      primitive_type = t;
    } else {
      child_type = t->name;
    }

    if (ext != nullptr && s != shape::primitive) {
      error(code_structure, "only a primitive element can have a _ property for its id and extensions");
      ext = nullptr;
      if (value == nullptr) return 0;
    }

    // Array or not (R4 json.html: an element that repeats is always an array).
    const bool repeats = el.is_array();
    const auto right_shape = [&](const json_value& x, std::string_view what) {
      if (repeats == x.is_array()) return true;
      error(code_structure, repeats ? std::string(what) + " must be an array: the element repeats (max " +
                                          (el.max == element_definition::unbounded ? std::string("*")
                                                                                   : std::to_string(el.max)) +
                                          ")"
                                    : std::string(what) + " must not be an array: the element occurs at most once");
      return false;
    };
    if (value != nullptr && !right_shape(*value, "the value")) value = nullptr;
    if (ext != nullptr && !right_shape(*ext, "the _ property")) ext = nullptr;
    if (value == nullptr && ext == nullptr) return 1;

    const bool is_contained = parent_role == role::resource && el.name == "contained";
    if (is_contained && in_contained_) {
      error(code_invariant, "dom-2: a contained resource must not contain resources (R4 references.html#contained)");
      return 1;
    }

    if (!repeats) {
      item(s, el, child_type, primitive_type, value, ext, false, false);
      return 1;
    }

    const nesting level(depth_);
    if (!within_depth()) return 1;
    const json_value::array_type* values = value != nullptr ? &value->items() : nullptr;
    const json_value::array_type* exts = ext != nullptr ? &ext->items() : nullptr;
    if (values != nullptr && values->empty()) {
      error(code_invalid, "empty array (R4 json.html: arrays are never empty)");
      values = nullptr;
    }
    if (exts != nullptr && exts->empty()) {
      error(code_invalid, "empty _ array (R4 json.html: arrays are never empty)");
      exts = nullptr;
    }
    // Misaligned arrays: what each entry belongs to is unknown, so an index
    // with neither a value nor a `_name` entry is not reported again.
    const bool aligned = values == nullptr || exts == nullptr || values->size() == exts->size();
    if (!aligned && exts->size() < values->size()) {
      // Only trailing entries missing: each present entry still lines up with
      // its value by index, so the meaning is unambiguous; writers that drop
      // trailing nulls exist (the FHIRPath suite's patient-name-extensions).
      warning(code_structure,
              "the _ array should have as many entries as the value array, null where one has none "
              "(R4 json.html#primitive)");
    } else if (!aligned) {
      error(code_structure,
            "the _ array must have as many entries as the value array, null where one has none "
            "(R4 json.html#primitive)");
    }
    const std::size_t n = std::max(values != nullptr ? values->size() : 0, exts != nullptr ? exts->size() : 0);
    if (el.max != element_definition::unbounded && n > el.max) {
      error(code_structure, "more items than element '" + std::string(el.name) + "' allows (max " +
                                std::to_string(el.max) + ")");
    }
    for (std::size_t i = 0; i < n; ++i) {
      const json_value* v = values != nullptr && i < values->size() ? &(*values)[i] : nullptr;
      const json_value* e = exts != nullptr && i < exts->size() ? &(*exts)[i] : nullptr;
      if (!aligned && (v == nullptr || v->is_null()) && (e == nullptr || e->is_null())) continue;
      path_mark item_mark(path_);
      path_ += '[';
      path_ += std::to_string(i);
      path_ += ']';
      item(s, el, child_type, primitive_type, v, e, true, is_contained);
    }
    return n;
  }

  /// One occurrence of an element, at path_.
  void item(shape s, const element_definition& el, std::string_view child_type, const type_definition* primitive_type,
            const json_value* value, const json_value* ext, bool in_array, bool is_contained) {
    if (s != shape::primitive) {
      if (value == nullptr) return;
      if (value->is_null()) {
        error(code_invalid, "null is only allowed in an array of primitives, where _ has an entry (R4 json.html)");
      } else if (s == shape::resource) {
        if (is_contained) {
          contained(*value);
        } else {
          resource(*value, false);
          const std::string_view only = el.types.size() == 1 ? el.types.front().code : std::string_view{};
          const json_value* rt = value->is_object() ? value->find("resourceType") : nullptr;
          if (!only.empty() && only != "Resource" && rt != nullptr && rt->is_string() && rt->str() != only &&
              defs_.is_resource_type(rt->str())) {
            error(code_structure, "must be a resource of type " + std::string(only));
          }
        }
      } else if (!value->is_object()) {
        error(code_structure, "must be a JSON object");
      } else {
        object(*value, child_type, role::element);
      }
      return;
    }

    // A primitive: a value, a `_name` entry, or both (R4 json.html#primitive).
    const bool no_value = value == nullptr || value->is_null();
    const bool no_ext = ext == nullptr || ext->is_null();
    if (!in_array && ((value != nullptr && value->is_null()) || (ext != nullptr && ext->is_null()))) {
      error(code_invalid, "null is only allowed inside arrays (R4 json.html)");
      return;
    }
    if (no_value && no_ext) {
      error(code_invalid, "neither a value nor an id or extensions at this index (R4 json.html#primitive)");
      return;
    }
    if (!no_value) primitive(*primitive_type, el, *value);
    if (!no_ext) {
      if (!ext->is_object()) {
        error(code_structure, "the _ entry of a primitive must be a JSON object");
        return;
      }
      object(*ext, primitive_type->name, role::primitive_extension);
      if (no_value && ext->find("extension") == nullptr) {
        // ele-1: hasValue() or (children().count() > id.count())
        error(code_invalid, "a primitive without a value must have extensions (ele-1)");
      }
    }
  }

  /// A contained resource: checked as a resource, within its container's
  /// scope, and recorded for dom-3.
  void contained(const json_value& v) {
    resource_scope& scope = scopes_.back();
    const json_value* id = v.is_object() ? v.find("id") : nullptr;
    scope.contained.push_back(
        contained_resource{path_, id != nullptr && id->is_string() ? std::string_view(id->str()) : std::string_view{}});
    in_contained_ = true;
    current_contained_ = scope.contained.size() - 1;
    resource(v, true);
    in_contained_ = false;
    current_contained_ = none;
  }

  // --- primitive values -----------------------------------------------------

  /// The value of a primitive element of type `t`: its JSON kind, then its
  /// lexical form (R4 json.html#primitive, datatypes.html).
  void primitive(const type_definition& t, const element_definition& el, const json_value& v) {
    switch (t.json) {
      case json_kind::boolean:
        if (!v.is_bool()) error(code_structure, "must be a JSON boolean (true or false)");
        return;
      case json_kind::number:
        if (!v.is_number()) {
          error(code_structure, "must be a JSON number");
        } else {
          number(t.name, v.number_text());
        }
        return;
      case json_kind::string:
      case json_kind::object:
        if (!v.is_string()) {
          error(code_structure, "must be a JSON string");
        } else {
          text(t.name, el, v.str());
        }
        return;
    }
  }

  /// integer, positiveInt, unsignedInt (R4 datatypes.html: whole numbers in
  /// the 32-bit signed range; positiveInt from 1, unsignedInt from 0) and
  /// decimal (any JSON number, kept as written).
  void number(std::string_view type, std::string_view s) {
    if (type == "decimal") {
      if (!matches(pattern::decimal, s)) error(code_value, "not a valid decimal (R4 datatypes.html#decimal)");
      return;
    }
    const bool negative = s.starts_with('-');
    const std::string_view digits = negative ? s.substr(1) : s;
    const bool whole = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
      return c >= '0' && c <= '9';
    }) && (digits.size() == 1 || digits.front() != '0');
    if (!whole) {
      error(code_value, "must be a whole number without fraction or exponent (R4 datatypes.html#integer)");
      return;
    }
    if (type == "positiveInt" && (negative || digits == "0")) {
      error(code_value, "must be at least 1 (R4 datatypes.html#positiveInt)");
      return;
    }
    if (type == "unsignedInt" && negative) {
      error(code_value, "must not be negative (R4 datatypes.html#unsignedInt)");
      return;
    }
    // 2,147,483,647 and -2,147,483,648: compare as digit strings.
    const std::string_view limit = negative ? "2147483648" : "2147483647";
    if (digits.size() > limit.size() || (digits.size() == limit.size() && digits > limit)) {
      error(code_value, "outside the 32-bit range of FHIR integers (R4 datatypes.html#integer)");
    }
  }

  /// A primitive written as a JSON string.
  void text(std::string_view type, const element_definition& el, std::string_view s) {
    if (s.empty()) {
      error(code_invalid, "empty string (R4 json.html: strings are never empty)");
      return;
    }
    if (utf8::find_invalid(s) != utf8::npos) {
      error(code_value, "not valid UTF-8");
      return;
    }
    bool free_text = false;  // string-like: SHOULD-level advice applies
    if (type == "string" || type == "markdown") {
      if (type == "string" && s.size() > max_string_chars && code_points(s) > max_string_chars) {
        error(code_too_long, "longer than 1,048,576 characters (R4 datatypes.html#string)");
      }
      if (std::all_of(s.begin(), s.end(), is_xsd_space)) {
        warning(code_value, "only white space: strings SHOULD have non-whitespace content (R4 datatypes.html#string)");
      }
      free_text = true;
    } else if (type == "code") {
      if (!is_code(s)) {
        error(code_value,
              "not a valid code: white space only as single spaces between other characters (R4 "
              "datatypes.html#code)");
        return;
      }
      free_text = true;
    } else if (type == "uri" || type == "url" || type == "canonical") {
      if (has_xsd_space(s)) {
        error(code_value, "a " + std::string(type) + " must not contain white space (R4 datatypes.html#uri)");
        return;
      }
      free_text = true;
      local_reference(s);
    } else if (type == "id") {
      if (!matches(pattern::id, s)) {
        error(code_value, "not a valid id: 1 to 64 letters, digits, '-' and '.' (R4 datatypes.html#id)");
      }
    } else if (type == "oid") {
      if (!matches(pattern::oid, s)) error(code_value, "not a valid oid: urn:oid:... (R4 datatypes.html#oid)");
    } else if (type == "uuid") {
      if (!matches(pattern::uuid, s)) {
        error(code_value, "not a valid uuid: urn:uuid: and lower-case hex digits (R4 datatypes.html#uuid)");
      }
    } else if (type == "date" || type == "dateTime" || type == "instant" || type == "time") {
      temporal(type, s);
    } else if (type == "base64Binary") {
      if (!is_base64(s)) error(code_value, "not valid base64 (R4 datatypes.html#base64Binary)");
    } else if (type == "xhtml") {
      narrative_div(s);
    }
    if (free_text && has_control_chars(s)) {
      warning(code_value,
              "holds control characters: strings SHOULD NOT contain characters below U+0020 other than tab, "
              "carriage return and line feed (R4 datatypes.html#string)");
    }
    // Reference.reference and the like: "#id" points into the resource (dom-3).
    if (el.name == "reference" && type == "string") local_reference(s);
  }

  void temporal(std::string_view type, std::string_view s) {
    const pattern p = type == "date"       ? pattern::date
                      : type == "dateTime" ? pattern::date_time
                      : type == "instant"  ? pattern::instant
                                           : pattern::time;
    if (!matches(p, s)) {
      error(code_value, "not a valid " + std::string(type) + " (R4 datatypes.html#" + std::string(type) + ")");
    } else if (p != pattern::time && !is_real_day(s)) {
      error(code_value, "not a valid " + std::string(type) + ": no such day in that month (R4 datatypes.html#" +
                            std::string(type) + ": dates SHALL be valid dates)");
    }
  }

  /// Narrative.div: the XHTML as a string, beginning with its div element
  /// (R4 narrative.html, json.html#xhtml), and the invariants of the XHTML
  /// itself, txt-1 (well-formed, the XHTML namespace, only the basic HTML
  /// elements and attributes: no script, no event attribute, no javascript:
  /// URL) and txt-2 (some content), with check_narrative
  /// (narrative_check.hpp), which the validator's htmlChecks() uses too. Both
  /// are error invariants of R4 Narrative: a server that stored a div with a
  /// script would serve it to every client that renders narratives
  /// (narrative.html#security).
  void narrative_div(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_xsd_space(s[i])) ++i;
    const std::string_view rest = s.substr(i);
    const bool div = rest.starts_with("<div") && rest.size() > 4 &&
                     (is_xsd_space(rest[4]) || rest[4] == '>' || rest[4] == '/');
    if (!div) {
      error(code_value, "the narrative must be XHTML beginning with a div element (R4 narrative.html)");
      return;
    }
    if (!opts_.validator_invariants) return;
    const narrative_verdict v = check_narrative(s);
    switch (v.result) {
      case narrative_verdict::status::allowed:
        // txt-2 only warns: four official R4 examples (EventDefinition-example,
        // ...) have an empty div, and a server must take them.
        if (!v.has_content) warning(code_invariant, "txt-2: the narrative has no content other than whitespace");
        break;
      case narrative_verdict::status::not_well_formed:
        error(code_invariant, "txt-1: the narrative is not well-formed XHTML: " + v.problem);
        break;
      case narrative_verdict::status::not_allowed:
        error(code_invariant, "txt-1: the narrative holds what narratives may not (R4 narrative.html#xhtml): " +
                                  v.problem);
        break;
      case narrative_verdict::status::too_costly:
        error(code_too_costly, "the narrative is too large or nests too deep to check: " + v.problem);
        break;
    }
  }

  /// Records a local reference for dom-3: "#" refers to the container (from
  /// inside a contained resource), "#id" to the contained resource with that id.
  void local_reference(std::string_view s) {
    if (!s.starts_with('#') || scopes_.empty()) return;
    resource_scope& scope = scopes_.back();
    if (s.size() == 1) {
      if (current_contained_ != none) scope.contained[current_contained_].refers_to_container = true;
    } else {
      scope.local_refs.push_back(s.substr(1));
    }
  }

  const definitions& defs_;
  const check_options& opts_;
  /// The FHIRPath expression of what is being checked.
  std::string path_;
  /// Objects and arrays open, the root object being 1.
  std::size_t depth_ = 0;
  issue_list issues_;
  /// Issues past max_issues: how many, and the worst severity among them.
  std::size_t dropped_ = 0;
  issue_severity dropped_worst_ = issue_severity::information;
  /// The resources that are not contained, innermost last.
  std::vector<resource_scope> scopes_;
  /// Inside a contained resource (dom-2), and which one in scopes_.back().
  bool in_contained_ = false;
  std::size_t current_contained_ = none;
};

}  // namespace

issue_list check_resource(const json_value& resource, const definitions& defs, const check_options& opts) {
  checker c(defs, opts);
  return c.run(resource);
}

}  // namespace hearth::fhir
