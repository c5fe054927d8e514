// FHIR XML -> FHIR JSON (R4 xml.html, json.html), resolved through the
// definitions registry.
//
// The input is checked before pugixml sees it (UTF-8, no control characters,
// no DOCTYPE/ENTITY, only predefined entity references), parsed by pugixml
// (which never recurses, expands no custom entity and loads nothing
// external), its depth bounded iteratively, then converted recursively.

#include <hearth/fhir/xml_reader.hpp>

#include <algorithm>
#include <optional>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pugixml.hpp>

#include <hearth/core/utf8.hpp>

#include "detail/fhir_xml.hpp"
#include "detail/xml_walk.hpp"

namespace hearth::fhir {
namespace {

using detail::code_invalid;
using detail::code_structure;
using detail::code_too_costly;
using detail::fhir_ns;
using detail::xhtml_ns;

hearth::unexpected<hearth::error> make_error(std::string_view code, std::string message,
                                             std::string location, std::size_t offset) {
  return hearth::unexpected(
      hearth::error{std::string(code), std::move(message), std::move(location), offset});
}

bool is_xml_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool all_space(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), is_xml_space);
}

bool starts_with_ci(std::string_view s, std::size_t at, std::string_view word) noexcept {
  if (s.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = s[at + i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != word[i]) return false;
  }
  return true;
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A character XML 1.0 allows (XML 1.0 section 2.2 "Char").
bool is_xml_char(unsigned long cp) noexcept {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Length of a well-formed entity or character reference at s[at] == '&'
// (XML 1.0 sections 4.1 and 4.6: the five predefined entities, decimal and
// hexadecimal character references of allowed characters); 0 otherwise.
std::size_t reference_length(std::string_view s, std::size_t at) noexcept {
  const std::string_view rest = s.substr(at + 1);
  for (std::string_view e : {"amp;", "lt;", "gt;", "quot;", "apos;"}) {
    if (rest.starts_with(e)) return e.size() + 1;
  }
  if (!rest.starts_with('#')) return 0;
  const bool hex = rest.size() > 1 && rest[1] == 'x';
  std::size_t i = hex ? 2 : 1;
  unsigned long cp = 0;
  const std::size_t first = i;
  for (; i < rest.size() && (hex ? is_hex(rest[i]) : (rest[i] >= '0' && rest[i] <= '9')); ++i) {
    const char c = rest[i];
    const unsigned long d = c <= '9' ? static_cast<unsigned long>(c - '0')
                            : c <= 'F' ? static_cast<unsigned long>(c - 'A' + 10)
                                       : static_cast<unsigned long>(c - 'a' + 10);
    cp = cp * (hex ? 16 : 10) + d;
    if (cp > 0x10FFFF) return 0;  // also stops any overflow
  }
  if (i == first || i >= rest.size() || rest[i] != ';' || !is_xml_char(cp)) return 0;
  return i + 2;
}

// The checks pugixml does not make, on the raw input. Comments, CDATA
// sections and processing instructions are skipped for the reference check
// (a '&' is literal there), not for DOCTYPE/ENTITY: those are rejected
// wherever they appear, which may refuse a harmless comment but never lets a
// DTD through.
std::optional<hearth::error> prescan(std::string_view s) {
  if (const std::size_t bad = utf8::find_invalid(s); bad != utf8::npos) {
    return hearth::error{std::string(code_structure), "the document is not valid UTF-8", "", bad};
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) < 0x20 && !is_xml_space(c)) {
      return hearth::error{std::string(code_structure),
                           "control character not allowed in XML (XML 1.0 section 2.2)", "", i};
    }
    if (c == '<' && i + 1 < s.size() && s[i + 1] == '!') {
      if (starts_with_ci(s, i + 2, "DOCTYPE") || starts_with_ci(s, i + 2, "ENTITY")) {
        return hearth::error{std::string(code_structure),
                             "DOCTYPE and ENTITY declarations are not allowed in FHIR XML "
                             "(R4 xml.html)",
                             "", i};
      }
      std::string_view end;
      if (s.substr(i).starts_with("<!--")) end = "-->";
      else if (s.substr(i).starts_with("<![CDATA[")) end = "]]>";
      if (!end.empty()) {
        // DOCTYPE/ENTITY inside a comment or CDATA section is refused too.
        const std::size_t close = s.find(end, i + 4);
        const std::size_t stop = close == std::string_view::npos ? s.size() : close;
        for (std::size_t j = i + 4; j < stop; ++j) {
          if (static_cast<unsigned char>(s[j]) < 0x20 && !is_xml_space(s[j])) {
            return hearth::error{std::string(code_structure),
                                 "control character not allowed in XML (XML 1.0 section 2.2)", "",
                                 j};
          }
          if (s[j] == '<' && j + 1 < stop && s[j + 1] == '!' &&
              (starts_with_ci(s, j + 2, "DOCTYPE") || starts_with_ci(s, j + 2, "ENTITY"))) {
            return hearth::error{std::string(code_structure),
                                 "DOCTYPE and ENTITY declarations are not allowed in FHIR XML "
                                 "(R4 xml.html)",
                                 "", j};
          }
        }
        if (close == std::string_view::npos) return std::nullopt;  // pugixml reports it
        i = close + end.size() - 1;
      }
    } else if (c == '<' && i + 1 < s.size() && s[i + 1] == '?') {
      const std::size_t close = s.find("?>", i + 2);
      if (close == std::string_view::npos) return std::nullopt;  // pugixml reports it
      for (std::size_t j = i + 2; j < close; ++j) {
        if (static_cast<unsigned char>(s[j]) < 0x20 && !is_xml_space(s[j])) {
          return hearth::error{std::string(code_structure),
                               "control character not allowed in XML (XML 1.0 section 2.2)", "", j};
        }
      }
      i = close + 1;
    } else if (c == '&') {
      const std::size_t n = reference_length(s, i);
      if (n == 0) {
        return hearth::error{std::string(code_structure),
                             "only the predefined entities and character references of allowed "
                             "characters may be used (no DTD in FHIR XML)",
                             "", i};
      }
      i += n - 1;
    }
  }
  return std::nullopt;
}

/// Collects pugixml's serialisation of the narrative div.
struct string_writer final : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

/// Byte offset of a node in the original input: for an element, its '<'
/// (pugixml gives the name, one byte after); npos when unknown.
std::size_t node_offset(pugi::xml_node node, std::size_t base) noexcept {
  std::ptrdiff_t o = node.offset_debug();
  if (o < 0) return hearth::error::npos;
  if (node.type() == pugi::node_element && o > 0) --o;
  return static_cast<std::size_t>(o) + base;
}

/// The occurrences of one JSON property inside the element being converted.
struct slot {
  std::string_view name;  ///< the XML/JSON element name ("given", "valueQuantity")
  const element_definition* element = nullptr;
  bool repeats = false;
  bool any_value = false;  ///< some occurrence has a value (or is complex)
  bool any_ext = false;    ///< some primitive occurrence has an id or extensions
  std::vector<json_value> values;  ///< null where a primitive has no value
  std::vector<json_value> exts;    ///< the `_name` objects; null where none
};

/// One conversion. Not thread-safe; lives for one parse_fhir_xml call.
class converter {
 public:
  converter(const definitions& defs, std::size_t base_offset)
      : defs_(defs), base_offset_(base_offset) {}

  hearth::error take_error() { return std::move(err_); }

  /// A resource element (the root, or inside contained / entry.resource).
  bool resource(pugi::xml_node node, std::string& path, json_value& out) {
    const std::size_t mark = ns_.size();
    if (!push_namespaces(node, path)) return false;
    const auto [uri, local] = resolve(node);
    const std::string resource_type(local);
    if (uri != fhir_ns) {
      return pop_fail(mark, code_structure,
                      "a resource element must be in the namespace http://hl7.org/fhir", path,
                      node);
    }
    if (!defs_.is_resource_type(local)) {
      return pop_fail(mark, code_structure, "element is not a known resource type", path, node);
    }
    if (path.empty()) path = resource_type;
    out = json_value::object();
    out.set("resourceType", resource_type);
    const bool ok = complex(node, resource_type, element_role::resource, path, out);
    ns_.resize(mark);
    return ok;
  }

 private:
  enum class element_role { resource, extension, other };

  struct ns_binding {
    std::string_view prefix;  ///< empty for the default namespace
    std::string_view uri;
  };

  /// Adds the namespace declarations of `node` to the scope. Fails on more
  /// than max_namespaces in scope and on a prefix declared twice on one
  /// element (pugixml does not check duplicate attributes).
  bool push_namespaces(pugi::xml_node node, std::string_view path) {
    const std::size_t first = ns_.size();
    for (pugi::xml_attribute a : node.attributes()) {
      const std::string_view n = a.name();
      std::string_view prefix;
      if (n == "xmlns") prefix = "";
      else if (n.starts_with("xmlns:")) prefix = n.substr(6);
      else continue;
      if (ns_.size() >= max_namespaces) {
        return fail(code_too_costly, "too many namespace declarations in scope", path, node);
      }
      for (std::size_t i = first; i < ns_.size(); ++i) {
        if (ns_[i].prefix == prefix) {
          return fail(code_structure, "namespace declared twice on one element", path, node);
        }
      }
      ns_.push_back({prefix, a.value()});
    }
    return true;
  }

  /// The namespace URI and local name of an element (Namespaces in XML 1.0 section 6).
  std::pair<std::string_view, std::string_view> resolve(pugi::xml_node node) const {
    const std::string_view qname = node.name();
    const std::size_t colon = qname.find(':');
    const std::string_view prefix = colon == std::string_view::npos ? "" : qname.substr(0, colon);
    const std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
    for (auto it = ns_.rbegin(); it != ns_.rend(); ++it) {
      if (it->prefix == prefix) return {it->uri, local};
    }
    return {"", local};
  }

  std::size_t offset_of(pugi::xml_node node) const {
    return node_offset(node, base_offset_);
  }

  bool fail(std::string_view code, std::string message, std::string_view path, pugi::xml_node node) {
    err_ = hearth::error{std::string(code), std::move(message), std::string(path), offset_of(node)};
    return false;
  }
  bool pop_fail(std::size_t mark, std::string_view code, std::string message, std::string_view path,
                pugi::xml_node node) {
    ns_.resize(mark);
    return fail(code, std::move(message), path, node);
  }

  /// Attributes other than namespace declarations and attributes in another
  /// namespace (xsi:schemaLocation...), which FHIR readers ignore.
  static bool is_foreign_attribute(std::string_view n) noexcept {
    return n == "xmlns" || n.find(':') != std::string_view::npos;
  }

  /// A complex element (resource, data type, backbone element): its
  /// attributes and children into `out`, an object.
  bool complex(pugi::xml_node node, std::string_view parent_type, element_role role,
               std::string& path, json_value& out) {
    for (pugi::xml_attribute a : node.attributes()) {
      const std::string_view n = a.name();
      if (is_foreign_attribute(n)) continue;
      // Element.id and Extension.url are attributes in XML (R4 xml.html).
      if ((n == "id" || n == "url") && out.find(n) != nullptr) {
        return fail(code_structure, "attribute appears twice", path, node);
      }
      if (role != element_role::resource && n == "id") {
        if (*a.value() == '\0') return fail(code_invalid, "empty id attribute", path, node);
        out.set("id", std::string_view(a.value()));
      } else if (role == element_role::extension && n == "url") {
        if (*a.value() == '\0') return fail(code_invalid, "empty url attribute", path, node);
        out.set("url", std::string_view(a.value()));
      } else {
        return fail(code_structure, "attribute not allowed on this element", path, node);
      }
    }
    if (role == element_role::extension && out.find("url") == nullptr) {
      return fail(code_invalid, "an extension needs a url attribute", path, node);
    }

    std::vector<slot> slots;
    for (pugi::xml_node child : node.children()) {
      switch (child.type()) {
        case pugi::node_element:
          break;
        case pugi::node_pcdata:
        case pugi::node_cdata:
          if (!all_space(child.value())) {
            return fail(code_structure, "text content is not allowed in a FHIR element", path, child);
          }
          continue;
        case pugi::node_doctype:
          return fail(code_structure, "DOCTYPE is not allowed in FHIR XML", path, child);
        default:
          continue;  // comments, processing instructions
      }
      if (!child_element(child, parent_type, role, path, slots)) return false;
    }

    for (slot& s : slots) {
      if (s.repeats) {
        if (s.any_value) out.set(s.name, json_value(std::move(s.values)));
        if (s.any_ext) out.set("_" + std::string(s.name), json_value(std::move(s.exts)));
      } else {
        if (s.any_value) out.set(s.name, std::move(s.values.front()));
        if (s.any_ext) out.set("_" + std::string(s.name), std::move(s.exts.front()));
      }
    }
    // FHIR JSON has no empty objects (R4 json.html); an element must have
    // content (R4 xml.html).
    if (out.size() == 0) return fail(code_invalid, "element has no content", path, node);
    return true;
  }

  bool child_element(pugi::xml_node child, std::string_view parent_type, element_role role,
                     std::string& path, std::vector<slot>& slots) {
    const std::size_t mark = ns_.size();
    if (!push_namespaces(child, path)) return false;
    const auto [uri, local_name] = resolve(child);
    const std::string_view local = local_name;  // clang < 16 cannot capture a binding
    const std::size_t path_len = path.size();
    path += '.';
    path += local;

    const child_match m = defs_.find_child(parent_type, local);
    if (!m) return pop_fail(mark, code_structure, "unknown element", path, child);
    const element_definition& el = *m.element;
    // Element.id and Extension.url are attributes in XML, never elements;
    // Resource.id is an element (R4 xml.html).
    if ((local == "id" && role != element_role::resource) ||
        (local == "url" && role == element_role::extension)) {
      return pop_fail(mark, code_structure, "this must be an attribute, not an element", path, child);
    }

    auto it = std::find_if(slots.begin(), slots.end(), [&](const slot& s) { return s.name == local; });
    if (it == slots.end()) {
      // One choice element, one type: valueString and valueQuantity together
      // are two values for a max-1 element.
      if (!el.is_array() &&
          std::any_of(slots.begin(), slots.end(), [&](const slot& s) { return s.element == &el; })) {
        return pop_fail(mark, code_structure, "element appears more than once but repeats at most once",
                        path, child);
      }
      slots.push_back(slot{local, &el, el.is_array(), false, false, {}, {}});
      it = slots.end() - 1;
    } else if (!it->repeats) {
      return pop_fail(mark, code_structure, "element appears more than once but repeats at most once",
                      path, child);
    }
    slot& s = *it;
    if (s.repeats) {
      path += '[';
      path += std::to_string(s.values.size());
      path += ']';
    }

    const std::string_view code = m.type != nullptr ? m.type->code
                                  : el.types.size() == 1 ? el.types.front().code
                                                         : std::string_view{};
    const bool is_xhtml = code == "xhtml";
    if (is_xhtml ? uri != xhtml_ns : uri != fhir_ns) {
      return pop_fail(mark, code_structure,
                      is_xhtml ? "the narrative div must be in the XHTML namespace"
                               : "element is not in the namespace http://hl7.org/fhir",
                      path, child);
    }

    json_value value;
    json_value ext;
    bool ok = true;
    if (el.content_target != nullptr) {
      // Questionnaire.item.item: the children of the element it points to.
      value = json_value::object();
      ok = complex(child, el.content_target->path, element_role::other, path, value);
    } else if (!el.children.empty()) {
      value = json_value::object();
      ok = complex(child, el.path, element_role::other, path, value);
    } else if (code == "Resource" || defs_.is_resource_type(code)) {  // Bundle.entry.response.outcome: OperationOutcome
      ok = resource_holder(child, path, value);
    } else if (is_xhtml) {
      ok = narrative_div(child, path, value);
    } else {
      const type_definition* t = code.empty() ? nullptr : defs_.find_type(code);
      if (t == nullptr) {
        ok = fail(code_structure, "element has no usable type in the definitions", path, child);
      } else if (t->kind == type_kind::primitive_type) {
        ok = primitive(child, *t, path, value, ext);
      } else {
        value = json_value::object();
        ok = complex(child, t->name, code == "Extension" ? element_role::extension : element_role::other,
                     path, value);
      }
    }
    ns_.resize(mark);
    if (!ok) return false;
    path.resize(path_len);

    s.any_value = s.any_value || !value.is_null();
    s.any_ext = s.any_ext || !ext.is_null();
    s.values.push_back(std::move(value));
    s.exts.push_back(std::move(ext));
    return true;
  }

  /// contained, Bundle.entry.resource, Parameters.parameter.resource: one
  /// resource element inside (R4 xml.html "Resources as elements").
  bool resource_holder(pugi::xml_node node, std::string& path, json_value& out) {
    for (pugi::xml_attribute a : node.attributes()) {
      if (!is_foreign_attribute(a.name())) {
        return fail(code_structure, "attribute not allowed on this element", path, node);
      }
    }
    pugi::xml_node inner;
    for (pugi::xml_node child : node.children()) {
      if (child.type() == pugi::node_element) {
        if (inner) return fail(code_structure, "more than one resource in one element", path, child);
        inner = child;
      } else if ((child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) &&
                 !all_space(child.value())) {
        return fail(code_structure, "text content is not allowed in a FHIR element", path, child);
      }
    }
    if (!inner) return fail(code_structure, "element must hold a resource", path, node);
    return resource(inner, path, out);
  }

  /// Narrative.div, kept as the XHTML text of the whole element (R4
  /// json.html "xhtml": the div with its namespace, as a string).
  bool narrative_div(pugi::xml_node node, std::string_view path, json_value& out) {
    if (std::string_view(node.name()) != "div") {
      return fail(code_structure, "the narrative must be an XHTML div element", path, node);
    }
    if (node.attribute("xmlns").empty()) {
      // A prefixed div (<h:div>) would need every descendant renamed.
      return fail(code_structure, "the narrative div must declare xmlns=\"http://www.w3.org/1999/xhtml\"",
                  path, node);
    }
    string_writer w;
    node.print(w, "", pugi::format_raw, pugi::encoding_utf8);
    out = json_value(std::move(w.out));
    return true;
  }

  /// A primitive: the value attribute into `value` (JSON kind from the type),
  /// the id attribute and extension children into `ext`, the `_name` object.
  bool primitive(pugi::xml_node node, const type_definition& t, std::string& path, json_value& value,
                 json_value& ext) {
    for (pugi::xml_attribute a : node.attributes()) {
      const std::string_view n = a.name();
      if (is_foreign_attribute(n)) continue;
      const std::string_view v = a.value();
      if ((n == "value" && !value.is_null()) || (n == "id" && !ext.is_null())) {
        return fail(code_structure, "attribute appears twice", path, node);
      }
      if (n == "value") {
        // R4 xml.html: attributes are never empty.
        if (v.empty()) return fail(code_invalid, "empty value attribute", path, node);
        if (!convert_value(v, t, path, node, value)) return false;
      } else if (n == "id") {
        if (v.empty()) return fail(code_invalid, "empty id attribute", path, node);
        if (ext.is_null()) ext = json_value::object();
        ext.set("id", v);
      } else {
        return fail(code_structure, "attribute not allowed on a primitive element", path, node);
      }
    }
    json_value extensions = json_value::array();
    for (pugi::xml_node child : node.children()) {
      if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        if (!all_space(child.value())) {
          return fail(code_structure, "text content is not allowed in a FHIR element", path, child);
        }
        continue;
      }
      if (child.type() != pugi::node_element) continue;
      const std::size_t mark = ns_.size();
      if (!push_namespaces(child, path)) return false;
      const auto [uri, local] = resolve(child);
      const std::size_t path_len = path.size();
      path += ".extension[";
      path += std::to_string(extensions.size());
      path += ']';
      if (uri != fhir_ns || local != "extension") {
        return pop_fail(mark, code_structure, "only extensions may appear inside a primitive element",
                        path, child);
      }
      json_value e = json_value::object();
      const bool ok = complex(child, "Extension", element_role::extension, path, e);
      ns_.resize(mark);
      if (!ok) return false;
      path.resize(path_len);
      extensions.push_back(std::move(e));
    }
    if (extensions.size() > 0) {
      if (ext.is_null()) ext = json_value::object();
      ext.set("extension", std::move(extensions));
    }
    // R4 xml.html: a primitive element has a value, extensions, or both.
    if (value.is_null() && (ext.is_null() || ext.find("extension") == nullptr)) {
      return fail(code_invalid, "primitive element has neither a value nor extensions", path, node);
    }
    return true;
  }

  bool convert_value(std::string_view v, const type_definition& t, std::string_view path,
                     pugi::xml_node node, json_value& out) {
    switch (t.json) {
      case json_kind::boolean:
        if (v != "true" && v != "false") {
          return fail(code_invalid, "a boolean must be true or false", path, node);
        }
        out = json_value(v == "true");
        return true;
      case json_kind::number: {
        if (!detail::is_fhir_json_number(v)) return fail(code_invalid, "not a valid number", path, node);
        // R4 datatypes.html: integer, positiveInt and unsignedInt are whole numbers.
        const bool whole = t.name != "decimal";
        if (whole && v.find_first_of(".eE") != std::string_view::npos) {
          return fail(code_invalid, "not a valid integer", path, node);
        }
        if ((t.name == "positiveInt" || t.name == "unsignedInt") && v.starts_with('-')) {
          return fail(code_invalid, "value must not be negative", path, node);
        }
        out = json_value::number(std::string(v));
        return true;
      }
      case json_kind::string:
      case json_kind::object:
        out = json_value(v);
        return true;
    }
    return true;
  }

  /// Most namespace declarations in scope at once. FHIR documents declare
  /// one to three; the bound keeps each element's prefix lookup short, so a
  /// document cannot make the conversion quadratic.
  static constexpr std::size_t max_namespaces = 64;

  const definitions& defs_;
  /// Bytes dropped before pugixml saw the input (a UTF-8 byte order mark).
  std::size_t base_offset_;
  /// In-scope namespace declarations, innermost last.
  std::vector<ns_binding> ns_;
  hearth::error err_;
};

}  // namespace

hearth::result<json_value> parse_fhir_xml(std::string_view xml, const definitions& defs,
                                          const xml_read_options& opts) {
  if (xml.size() > opts.max_bytes) {
    return make_error(code_too_costly, "the document is larger than the XML size limit", "",
                      opts.max_bytes);
  }
  std::size_t base = 0;
  if (xml.starts_with("\xEF\xBB\xBF")) base = 3;  // UTF-8 byte order mark
  const std::string_view body = xml.substr(base);
  if (auto e = prescan(body)) {
    if (e->offset != hearth::error::npos) e->offset += base;
    return hearth::unexpected(std::move(*e));
  }

  pugi::xml_document doc;
  // No parse_doctype: a DOCTYPE was refused above. Whitespace text is kept so
  // that Narrative.div comes out as written; elsewhere it is skipped.
  const unsigned flags = pugi::parse_cdata | pugi::parse_escapes | pugi::parse_wconv_attribute |
                         pugi::parse_eol | pugi::parse_ws_pcdata;
  const pugi::xml_parse_result pr = doc.load_buffer(body.data(), body.size(), flags, pugi::encoding_utf8);
  if (!pr) {
    return make_error(code_structure, std::string("malformed XML: ") + pr.description(), "",
                      std::min(static_cast<std::size_t>(pr.offset), body.size()) + base);
  }

  // One root element, nothing but whitespace around it; depth bounded
  // without recursion before the recursive conversion runs.
  pugi::xml_node root;
  for (pugi::xml_node n : doc.children()) {
    if (n.type() == pugi::node_element) {
      if (root) {
        return make_error(code_structure, "more than one root element", "",
                          node_offset(n, base));
      }
      root = n;
    } else if ((n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) && !all_space(n.value())) {
      return make_error(code_structure, "text outside the root element", "",
                        node_offset(n, base));
    }
  }
  if (!root) return make_error(code_structure, "no root element", "", base);

  pugi::xml_node too_deep;
  detail::walk_xml(doc, [&](pugi::xml_node n, std::size_t depth) {
    if (depth > opts.max_depth && n.type() == pugi::node_element) too_deep = n;
    return !too_deep;
  });
  if (too_deep) {
    return make_error(code_too_costly, "elements nest deeper than the XML depth limit", "",
                      node_offset(too_deep, base));
  }

  converter conv(defs, base);
  std::string path;
  json_value out;
  if (!conv.resource(root, path, out)) return hearth::unexpected(conv.take_error());
  return out;
}

}  // namespace hearth::fhir
