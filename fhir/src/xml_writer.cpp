// FHIR JSON -> FHIR XML (R4 json.html, xml.html), resolved through the
// definitions registry: the inverse of xml_reader.cpp.
//
// Written by hand into one string; pugixml only checks the narrative div.
// Every value is checked as parse_fhir_xml checks it, so that what is written
// reads back; the recursion is bounded by xml_write_options::max_depth.

#include <hearth/fhir/xml_writer.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pugixml.hpp>

#include <hearth/core/text.hpp>
#include <hearth/core/utf8.hpp>

#include "detail/fhir_xml.hpp"

namespace hearth::fhir {
namespace {

using detail::code_invalid;
using detail::code_structure;
using detail::code_too_costly;
using detail::fhir_ns;
using detail::xhtml_ns;

/// Most namespace declarations on the narrative div. parse_fhir_xml allows
/// 64 in scope (one is the FHIR namespace on the root); a narrative needs
/// one or two.
constexpr std::size_t max_div_namespaces = 32;

// A character XML 1.0 allows (XML 1.0 section 2.2 "Char").
bool is_xml_char(unsigned long cp) noexcept {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/// Why `s` cannot be XML character data, or nullptr when it can: it must be
/// UTF-8 (RFC 3629) of characters XML 1.0 allows (section 2.2: no control
/// character but tab, line feed and carriage return; not U+FFFE or U+FFFF).
const char* text_problem(std::string_view s) noexcept {
  if (utf8::find_invalid(s) != utf8::npos) return "text is not valid UTF-8";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return "control character not allowed in XML (XML 1.0 section 2.2)";
    }
    // EF BF BE / EF BF BF: U+FFFE, U+FFFF (valid UTF-8, so i + 2 is in range).
    if (c == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xBE) {
      return "U+FFFE and U+FFFF are not allowed in XML (XML 1.0 section 2.2)";
    }
  }
  return nullptr;
}

/// Appends `s` as the content of a double-quoted attribute: markup
/// characters as entities, and tab, line feed and carriage return as
/// character references, since a parser turns them into spaces when written
/// as they are (XML 1.0 section 3.3.3 "Attribute-Value Normalization").
void append_attribute_value(std::string& out, std::string_view s) {
  std::size_t from = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::string_view entity;
    switch (s[i]) {
      case '&': entity = "&amp;"; break;
      case '<': entity = "&lt;"; break;
      case '>': entity = "&gt;"; break;
      case '"': entity = "&quot;"; break;
      case '\t': entity = "&#x9;"; break;
      case '\n': entity = "&#xA;"; break;
      case '\r': entity = "&#xD;"; break;
      default: continue;
    }
    out.append(s.substr(from, i - from));
    out.append(entity);
    from = i + 1;
  }
  out.append(s.substr(from));
}

/// True when every '&' in `raw` (markup as written, references unresolved)
/// starts a reference parse_fhir_xml accepts: one of the five predefined
/// entities or a character reference to a character XML allows (XML 1.0
/// sections 4.1 and 4.6). FHIR XML has no DTD, so no other entity exists.
bool references_ok(std::string_view raw) noexcept {
  for (std::size_t at = raw.find('&'); at != std::string_view::npos; at = raw.find('&', at + 1)) {
    const std::size_t semi = raw.find(';', at);
    if (semi == std::string_view::npos) return false;
    const std::string_view name = raw.substr(at + 1, semi - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") continue;
    if (!name.starts_with('#')) return false;
    const bool hex = name.size() > 1 && name[1] == 'x';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    unsigned long cp = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || !is_xml_char(cp)) {
      return false;
    }
  }
  return true;
}

/// A DOCTYPE or ENTITY declaration anywhere (parse_fhir_xml refuses one even
/// inside a comment).
bool has_declaration(std::string_view s) noexcept {
  for (std::size_t at = s.find("<!"); at != std::string_view::npos; at = s.find("<!", at + 2)) {
    const std::string_view rest = s.substr(at + 2);
    if (text::iequals(rest.substr(0, 7), "DOCTYPE") || text::iequals(rest.substr(0, 6), "ENTITY")) return true;
  }
  return false;
}

/// What an element of the parent type holds: its own element (a resource,
/// a data type, a backbone element), decided by the definitions.
enum class element_role { resource, extension, other };

/// The members of one JSON object that make one XML element name: the value
/// property and its `_name` companion (R4 json.html#primitive).
struct property {
  std::string_view name;  ///< the JSON and XML name ("given", "valueQuantity")
  const element_definition* element = nullptr;
  const type_ref* type = nullptr;  ///< the type a choice name selects; nullptr otherwise
  const json_value* value = nullptr;
  const json_value* ext = nullptr;  ///< the `_name` member; nullptr when absent
};

/// One conversion. Not thread-safe; lives for one write_fhir_xml call and
/// appends to the caller's string.
class writer {
 public:
  writer(const definitions& defs, const xml_write_options& opts, std::string& out)
      : defs_(defs), opts_(opts), out_(out) {}

  hearth::error take_error() { return std::move(err_); }

  /// A resource element at `depth` (1: the root, which declares the namespace).
  bool resource(const json_value& v, std::string& path, std::size_t depth) {
    if (!v.is_object()) return fail(code_structure, "a resource must be a JSON object", path);
    const json_value* type = v.find("resourceType");
    if (type == nullptr || !type->is_string()) {
      return fail(code_structure, "resourceType is missing or not a string", path);
    }
    if (!defs_.is_resource_type(type->str())) {
      return fail(code_structure, "resourceType is not a known resource type", path);
    }
    if (path.empty()) path = type->str();
    return complex(v, type->str(), type->str(), element_role::resource, path, depth);
  }

 private:
  bool fail(std::string_view code, std::string message, std::string_view path) {
    err_ = hearth::error{std::string(code), std::move(message), std::string(path), hearth::error::npos};
    return false;
  }

  bool too_deep(std::size_t depth, std::string_view path) {
    if (depth <= opts_.max_depth) return false;
    fail(code_too_costly, "elements nest deeper than the XML depth limit", path);
    return true;
  }

  /// Where the next tag goes: on a line of its own, indented, when pretty.
  void start_line(std::size_t depth) {
    if (!opts_.pretty) return;
    if (!out_.empty()) out_ += '\n';
    out_.append((depth - 1) * opts_.indent, ' ');
  }

  /// `<tag`, on its own line when pretty; attributes and `>` or `/>` follow.
  void open_tag(std::string_view tag, std::size_t depth) {
    start_line(depth);
    out_ += '<';
    out_ += tag;
  }

  /// `</tag>`, on its own line when pretty.
  void close_tag(std::string_view tag, std::size_t depth) {
    start_line(depth);
    out_ += "</";
    out_ += tag;
    out_ += '>';
  }

  void attribute(std::string_view name, std::string_view value) {
    out_ += ' ';
    out_ += name;
    out_ += "=\"";
    append_attribute_value(out_, value);
    out_ += '"';
  }

  /// A JSON primitive, not an object or array (a value in the wrong place
  /// of the structure).
  bool primitive_shape(const json_value& v, std::string_view path) {
    if (!v.is_object() && !v.is_array()) return true;
    return fail(code_structure, "expected a primitive value, not a JSON object or array", path);
  }

  /// A string that becomes an attribute value: non-empty (R4 xml.html:
  /// attributes are never empty) and writable as XML.
  bool check_string(const json_value& v, std::string_view path) {
    if (!primitive_shape(v, path)) return false;
    if (!v.is_string()) return fail(code_invalid, "expected a JSON string", path);
    if (v.str().empty()) return fail(code_invalid, "empty string", path);
    if (const char* why = text_problem(v.str())) return fail(code_invalid, why, path);
    return true;
  }

  /// An element holding a JSON object of `parent_type` (a type name or a
  /// backbone path): its Element.id and Extension.url as attributes, its
  /// other members as child elements in the order of the definitions.
  bool complex(const json_value& v, std::string_view tag, std::string_view parent_type, element_role role,
               std::string& path, std::size_t depth) {
    if (too_deep(depth, path)) return false;
    if (!v.is_object()) return fail(code_structure, "expected a JSON object", path);
    const json_value* id = nullptr;
    const json_value* url = nullptr;
    std::vector<property> props;
    for (const json_member& m : v.members()) {
      if (role == element_role::resource && m.key == "resourceType") continue;
      const bool companion = m.key.starts_with('_');
      const std::string_view name = std::string_view(m.key).substr(companion ? 1 : 0);
      const std::size_t path_len = path.size();
      path += '.';
      path += name;
      const child_match match = defs_.find_child(parent_type, name);
      if (!match) return fail(code_structure, "unknown element", path);
      // Element.id and Extension.url are attributes in XML; Resource.id is an
      // element (R4 xml.html).
      if ((name == "id" && role != element_role::resource) || (name == "url" && role == element_role::extension)) {
        if (companion) return fail(code_structure, "an XML attribute cannot have an id or extensions", path);
        const json_value*& slot = name == "id" ? id : url;
        if (slot != nullptr) return fail(code_structure, "property appears twice", path);
        if (!check_string(m.value, path)) return false;
        slot = &m.value;
        path.resize(path_len);
        continue;
      }
      auto it = std::find_if(props.begin(), props.end(), [&](const property& p) { return p.name == name; });
      if (it == props.end()) {
        // valueString and valueQuantity together: two values for a max-1 element.
        if (!match.element->is_array() &&
            std::any_of(props.begin(), props.end(), [&](const property& p) { return p.element == match.element; })) {
          return fail(code_structure, "more than one type given for a choice element", path);
        }
        props.push_back(property{name, match.element, match.type, nullptr, nullptr});
        it = props.end() - 1;
      }
      const json_value*& slot = companion ? it->ext : it->value;
      if (slot != nullptr) return fail(code_structure, "property appears twice", path);
      slot = &m.value;
      path.resize(path_len);
    }
    if (role == element_role::extension && url == nullptr) {
      return fail(code_invalid, "an extension needs a url", path);
    }
    // R4 xml.html: an element has a value or children; FHIR JSON has no empty
    // object (R4 json.html). A resource may be empty.
    if (role != element_role::resource && id == nullptr && props.empty()) {
      return fail(code_invalid, "element has no content", path);
    }
    // R4 xml.html: elements appear in the order of the definitions.
    std::stable_sort(props.begin(), props.end(),
                     [](const property& a, const property& b) { return a.element->order < b.element->order; });

    open_tag(tag, depth);
    if (depth == 1) attribute("xmlns", fhir_ns);
    if (id != nullptr) attribute("id", id->str());
    if (url != nullptr) attribute("url", url->str());
    if (props.empty()) {
      out_ += "/>";
      return true;
    }
    out_ += '>';
    for (const property& p : props) {
      if (!child(p, path, depth + 1)) return false;
    }
    close_tag(tag, depth);
    return true;
  }

  /// The XML elements of one property: one per item when it repeats.
  bool child(const property& p, std::string& path, std::size_t depth) {
    const std::size_t path_len = path.size();
    path += '.';
    path += p.name;
    const element_definition& el = *p.element;
    const std::string_view code = p.type != nullptr ? p.type->code
                                  : el.types.size() == 1 ? el.types.front().code
                                                         : std::string_view{};
    // What the element holds, as parse_fhir_xml decides it.
    enum class content { complex, resource, xhtml, primitive } what = content::complex;
    std::string_view child_type;
    element_role role = element_role::other;
    const type_definition* type = nullptr;
    if (el.content_target != nullptr) {
      child_type = el.content_target->path;  // Questionnaire.item.item
    } else if (!el.children.empty()) {
      child_type = el.path;  // a backbone element
    } else if (code == "Resource" || defs_.is_resource_type(code)) {
      // R4 xml.html "Resources as elements": any element whose type is a
      // resource (Bundle.entry.response.outcome is an OperationOutcome in
      // this registry).
      what = content::resource;
    } else if (code == "xhtml") {
      what = content::xhtml;
    } else {
      type = code.empty() ? nullptr : defs_.find_type(code);
      if (type == nullptr) return fail(code_structure, "element has no usable type in the definitions", path);
      if (type->kind == type_kind::primitive_type) {
        what = content::primitive;
      } else {
        child_type = type->name;
        if (code == "Extension") role = element_role::extension;
      }
    }
    if (what == content::primitive) {
      if (!primitive(p, *type, path, depth)) return false;
      path.resize(path_len);
      return true;
    }
    if (p.ext != nullptr) return fail(code_structure, "only a primitive element may have a _name property", path);

    const auto one = [&](const json_value& v) {
      switch (what) {
        case content::resource: return resource_holder(v, p.name, code, path, depth);
        case content::xhtml: return narrative_div(v, path, depth);
        default: return complex(v, p.name, child_type, role, path, depth);
      }
    };
    if (!el.is_array()) {
      if (p.value->is_array()) return fail(code_structure, "element does not repeat: expected one value, not an array", path);
      if (!one(*p.value)) return false;
    } else {
      if (!p.value->is_array()) return fail(code_structure, "a repeating element must be a JSON array", path);
      if (p.value->size() == 0) return fail(code_invalid, "empty array", path);
      for (std::size_t i = 0; i < p.value->size(); ++i) {
        const std::size_t item_len = path.size();
        path += '[';
        path += std::to_string(i);
        path += ']';
        if (!one(p.value->items()[i])) return false;
        path.resize(item_len);
      }
    }
    path.resize(path_len);
    return true;
  }

  /// contained, Bundle.entry.resource, Parameters.parameter.resource: the
  /// resource inside an element of its own (R4 xml.html "Resources as elements").
  bool resource_holder(const json_value& v, std::string_view tag, std::string_view type, std::string& path,
                       std::size_t depth) {
    if (too_deep(depth + 1, path)) return false;
    if (type != "Resource" && v.is_object()) {
      const json_value* actual = v.find("resourceType");
      if (actual != nullptr && actual->is_string() && actual->str() != type) {
        return fail(code_structure, "this element does not allow a resource of this type", path);
      }
    }
    open_tag(tag, depth);
    out_ += '>';
    if (!resource(v, path, depth + 1)) return false;
    close_tag(tag, depth);
    return true;
  }

  /// A primitive property: values and `_name` companions, arrays aligned by
  /// index when it repeats (R4 json.html#primitive).
  bool primitive(const property& p, const type_definition& type, std::string& path, std::size_t depth) {
    if (!p.element->is_array()) {
      if ((p.value != nullptr && p.value->is_array()) || (p.ext != nullptr && p.ext->is_array())) {
        return fail(code_structure, "element does not repeat: expected one value, not an array", path);
      }
      if ((p.value != nullptr && p.value->is_null()) || (p.ext != nullptr && p.ext->is_null())) {
        return fail(code_structure, "null is allowed only inside arrays", path);
      }
      return primitive_element(p.value, p.ext, p.name, type, path, depth);
    }
    if ((p.value != nullptr && !p.value->is_array()) || (p.ext != nullptr && !p.ext->is_array())) {
      return fail(code_structure, "a repeating element must be a JSON array", path);
    }
    if ((p.value != nullptr && p.value->size() == 0) || (p.ext != nullptr && p.ext->size() == 0)) {
      return fail(code_invalid, "empty array", path);
    }
    // The arrays line up by index (R4 json.html#primitive). Where one is
    // shorter, its missing items count as null, as most readers take them
    // (the FHIRPath suite's patient-name-extensions.json has such a pair).
    const auto item = [](const json_value* a, std::size_t i) {
      return a != nullptr && i < a->size() ? &a->items()[i] : nullptr;
    };
    const std::size_t n = std::max(p.value != nullptr ? p.value->size() : 0, p.ext != nullptr ? p.ext->size() : 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t item_len = path.size();
      path += '[';
      path += std::to_string(i);
      path += ']';
      if (!primitive_element(item(p.value, i), item(p.ext, i), p.name, type, path, depth)) {
        return false;
      }
      path.resize(item_len);
    }
    return true;
  }

  /// One primitive element: `value` (null or absent: none) as the value
  /// attribute, the id and extensions of `ext` (null or absent: none) as
  /// its id attribute and extension children.
  bool primitive_element(const json_value* value, const json_value* ext, std::string_view tag,
                         const type_definition& type, std::string& path, std::size_t depth) {
    if (too_deep(depth, path)) return false;
    const json_value* id = nullptr;
    const json_value* extensions = nullptr;
    if (ext != nullptr && !ext->is_null()) {
      if (!ext->is_object()) return fail(code_structure, "a _name property must hold JSON objects", path);
      if (ext->size() == 0) return fail(code_invalid, "element has no content", path);
      for (const json_member& m : ext->members()) {
        const json_value*& slot = m.key == "id" ? id : extensions;
        if (m.key != "id" && m.key != "extension") {
          return fail(code_structure, "unknown element", path + "." + m.key);
        }
        if (slot != nullptr) return fail(code_structure, "property appears twice", path + "." + m.key);
        slot = &m.value;
      }
      if (id != nullptr && !check_string(*id, path + ".id")) return false;
      if (extensions != nullptr && !extensions->is_array()) {
        return fail(code_structure, "a repeating element must be a JSON array", path + ".extension");
      }
      if (extensions != nullptr && extensions->size() == 0) return fail(code_invalid, "empty array", path + ".extension");
    }
    const bool has_value = value != nullptr && !value->is_null();
    // R4 xml.html: a primitive element has a value, extensions, or both (an
    // id alone is not enough).
    if (!has_value && extensions == nullptr) {
      return fail(code_invalid, "primitive element has neither a value nor extensions", path);
    }
    std::string_view text;
    if (has_value && !value_text(*value, type, path, text)) return false;

    open_tag(tag, depth);
    if (id != nullptr) attribute("id", id->str());
    if (has_value) attribute("value", text);
    if (extensions == nullptr) {
      out_ += "/>";
      return true;
    }
    out_ += '>';
    const std::size_t path_len = path.size();
    for (std::size_t i = 0; i < extensions->size(); ++i) {
      path += ".extension[";
      path += std::to_string(i);
      path += ']';
      if (!complex(extensions->items()[i], "extension", "Extension", element_role::extension, path, depth + 1)) {
        return false;
      }
      path.resize(path_len);
    }
    close_tag(tag, depth);
    return true;
  }

  /// The value attribute's text, once the JSON kind fits the type (R4
  /// json.html#primitive) and the text fits what parse_fhir_xml accepts.
  bool value_text(const json_value& v, const type_definition& type, std::string_view path, std::string_view& text) {
    if (!primitive_shape(v, path)) return false;
    switch (type.json) {
      case json_kind::boolean:
        if (!v.is_bool()) return fail(code_invalid, "a boolean must be JSON true or false", path);
        text = v.as_bool() ? "true" : "false";
        return true;
      case json_kind::number: {
        if (!v.is_number()) return fail(code_invalid, "a number must be a JSON number", path);
        text = v.number_text();
        if (!detail::is_fhir_json_number(text)) return fail(code_invalid, "not a valid number", path);
        // R4 datatypes.html: integer, positiveInt and unsignedInt are whole numbers.
        if (type.name != "decimal" && text.find_first_of(".eE") != std::string_view::npos) {
          return fail(code_invalid, "not a valid integer", path);
        }
        if ((type.name == "positiveInt" || type.name == "unsignedInt") && text.starts_with('-')) {
          return fail(code_invalid, "value must not be negative", path);
        }
        return true;
      }
      case json_kind::string:
      case json_kind::object:
        if (!check_string(v, path)) return false;
        text = v.str();
        return true;
    }
    return true;
  }

  /// Narrative.div: the XHTML string inserted as markup, once it is known to
  /// be one well-formed `div` element in the XHTML namespace that
  /// parse_fhir_xml reads back (R4 narrative.html, json.html "xhtml").
  bool narrative_div(const json_value& v, std::string_view path, std::size_t depth) {
    if (too_deep(depth, path)) return false;
    if (!v.is_string()) return fail(code_invalid, "the narrative div must be a JSON string", path);
    const std::string& s = v.str();
    if (const char* why = text_problem(s)) return fail(code_invalid, why, path);
    if (has_declaration(s)) {
      return fail(code_invalid, "DOCTYPE and ENTITY declarations are not allowed in FHIR XML (R4 xml.html)", path);
    }
    // Nothing before or after the element (comments and processing
    // instructions would be dropped on reading).
    if (!s.starts_with("<div") || !s.ends_with('>')) {
      return fail(code_invalid, "the narrative must be one XHTML div element", path);
    }
    pugi::xml_document doc;
    // No parse_escapes: references are checked as written. Comments,
    // processing instructions, declarations and (as a fragment) text after
    // the element become nodes, to be refused.
    const unsigned flags = pugi::parse_cdata | pugi::parse_comments | pugi::parse_pi | pugi::parse_declaration |
                           pugi::parse_doctype | pugi::parse_fragment;
    if (!doc.load_buffer(s.data(), s.size(), flags, pugi::encoding_utf8)) {
      return fail(code_invalid, "the narrative div is not well-formed XML", path);
    }
    pugi::xml_node div = doc.first_child();
    if (div.type() != pugi::node_element || div.next_sibling() || std::string_view(div.name()) != "div") {
      return fail(code_invalid, "the narrative must be one XHTML div element", path);
    }
    if (std::string_view(div.attribute("xmlns").value()) != xhtml_ns) {
      return fail(code_invalid, "the narrative div must declare xmlns=\"http://www.w3.org/1999/xhtml\"", path);
    }
    std::size_t namespaces = 0;
    for (pugi::xml_attribute a : div.attributes()) {
      const std::string_view n = a.name();
      if (n == "xmlns" || n.starts_with("xmlns:")) ++namespaces;
    }
    if (namespaces > max_div_namespaces) {
      return fail(code_too_costly, "too many namespace declarations on the narrative div", path);
    }
    // The div itself, then every node inside it (pugixml's traversal, like
    // its parser, does not recurse).
    div_checker check(*this, depth, path);
    if (!check.element(div, depth) || !div.traverse(check)) return false;
    start_line(depth);
    out_ += s;
    return true;
  }

  /// Checks each node of a narrative div: depth, attributes, references.
  struct div_checker final : pugi::xml_tree_walker {
    div_checker(writer& w, std::size_t div_depth, std::string_view path) : w_(w), div_depth_(div_depth), path_(path) {}

    bool for_each(pugi::xml_node& n) override {
      switch (n.type()) {
        case pugi::node_element:
          return element(n, div_depth_ + 1 + static_cast<std::size_t>(depth()));
        case pugi::node_pcdata:
          if (references_ok(n.value())) return true;
          return w_.fail(code_invalid, "only the predefined entities and character references may be used", path_);
        case pugi::node_doctype:
        case pugi::node_declaration:
          return w_.fail(code_invalid, "DOCTYPE and declarations are not allowed in the narrative div", path_);
        default:
          return true;  // CDATA, comments, processing instructions: no references there
      }
    }

    /// An element at `depth`: within the limit; each attribute once (XML 1.0
    /// section 3.1; pugixml does not check it), its value's references valid.
    bool element(pugi::xml_node n, std::size_t depth) {
      if (w_.too_deep(depth, path_)) return false;
      names_.clear();
      for (pugi::xml_attribute a : n.attributes()) {
        if (!references_ok(a.value())) {
          return w_.fail(code_invalid, "only the predefined entities and character references may be used", path_);
        }
        names_.emplace_back(a.name());
      }
      std::sort(names_.begin(), names_.end());
      if (std::adjacent_find(names_.begin(), names_.end()) != names_.end()) {
        return w_.fail(code_invalid, "an attribute appears twice in the narrative div", path_);
      }
      return true;
    }

    writer& w_;
    std::size_t div_depth_;  ///< depth of the div element in the document
    std::string_view path_;
    std::vector<std::string_view> names_;  ///< reused for each element's attribute names
  };

  const definitions& defs_;
  const xml_write_options& opts_;
  std::string& out_;
  hearth::error err_;
};

}  // namespace

hearth::result<std::string> write_fhir_xml(const json_value& resource, const definitions& defs,
                                           const xml_write_options& opts) {
  std::string out;
  if (opts.declaration) out = R"(<?xml version="1.0" encoding="UTF-8"?>)";
  writer w(defs, opts, out);
  std::string path;
  if (!w.resource(resource, path, 1)) return hearth::unexpected(w.take_error());
  if (opts.pretty) out += '\n';
  return out;
}

}  // namespace hearth::fhir
