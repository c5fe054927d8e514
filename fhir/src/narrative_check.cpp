// The XHTML rules of Narrative.div, txt-1 and txt-2 (narrative_check.hpp).
//
// FHIR R4 narrative.html#xhtml and #security, json.html#xhtml, xml.html (no
// DTD); XML 1.0 (sections 2.2, 3.1, 4.1). The element and attribute lists
// are the ones the HL7 Java validator uses for htmlChecks() (its FHIRPath
// engine, for txt-1), so that both accept and refuse the same narratives.
//
// pugixml parses without recursion and without resolving references (no
// parse_escapes): references are checked, and resolved where needed, here.
// The tree is then walked without recursion.

#include <hearth/fhir/narrative_check.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "detail/xml_walk.hpp"

#include <hearth/core/text.hpp>
#include <hearth/core/utf8.hpp>

#include "detail/fhir_xml.hpp"

namespace hearth::fhir {
namespace {

using status = narrative_verdict::status;
using detail::xhtml_ns;

// The elements txt-1 allows, as the HL7 Java validator lists them (HTML 4.0
// chapters 7-11 and 15, with a, img, map and area); sorted for binary_search.
constexpr std::array<std::string_view, 53> allowed_elements = {
    "a",     "abbr",  "acronym", "address", "area",  "b",     "bdo",  "big",  "blockquote",
    "br",    "caption", "cite",  "code",    "col",   "colgroup", "dd", "dfn", "div",
    "dl",    "dt",    "em",      "h1",      "h2",    "h3",    "h4",   "h5",   "h6",
    "hr",    "i",     "img",     "kbd",     "li",    "map",   "ol",   "p",    "pre",
    "q",     "samp",  "small",   "span",    "strong", "sub",  "sup",  "table", "tbody",
    "td",    "tfoot", "th",      "thead",   "tr",    "tt",    "ul",   "var",
};

// Attributes allowed on any of them (core, i18n, keyboard and table
// attributes); sorted for binary_search. Namespace declarations (xmlns:x)
// are allowed too; prefixed elements are not.
constexpr std::array<std::string_view, 24> allowed_attributes = {
    "abbr",    "accesskey", "align",  "axis",     "char",  "charoff", "class",     "colspan",
    "dir",     "headers",   "id",     "idref",    "lang",  "rowspan", "scope",     "span",
    "style",   "tabindex",  "title",  "valign",   "width", "xml:lang", "xml:space", "xmlns",
};

// Attributes allowed on one element only, as "element.attribute".
constexpr std::array<std::string_view, 34> allowed_element_attributes = {
    "a.charset",    "a.coords",      "a.href",           "a.hreflang",        "a.name",
    "a.rel",        "a.rev",         "a.shape",          "a.type",            "area.alt",
    "area.coords",  "area.href",     "area.nohref",      "area.shape",        "blockquote.cite",
    "img.alt",      "img.border",    "img.height",       "img.ismap",         "img.longdesc",
    "img.src",      "img.usemap",    "img.width",        "map.name",          "pre.space",
    "q.cite",       "table.border",  "table.cellpadding", "table.cellspacing", "table.frame",
    "table.rules",  "table.summary", "table.width",      "td.nowrap",
};

// The attributes that hold a URL (HTML 4.0 %URI;): where a script URL would run.
constexpr std::array<std::string_view, 5> url_attributes = {"cite", "href", "longdesc", "src", "usemap"};

static_assert(std::is_sorted(allowed_elements.begin(), allowed_elements.end()));
static_assert(std::is_sorted(allowed_attributes.begin(), allowed_attributes.end()));
static_assert(std::is_sorted(url_attributes.begin(), url_attributes.end()));

template <std::size_t n>
bool listed(const std::array<std::string_view, n>& list, std::string_view s) {
  return std::binary_search(list.begin(), list.end(), s);
}

bool allowed_attribute(std::string_view element, std::string_view attribute) {
  if (listed(allowed_attributes, attribute) || attribute.starts_with("xmlns:")) return true;
  return std::any_of(allowed_element_attributes.begin(), allowed_element_attributes.end(), [&](std::string_view e) {
    return e.size() == element.size() + 1 + attribute.size() && e.starts_with(element) && e[element.size()] == '.' &&
           e.ends_with(attribute);
  });
}

// A name for a message: quoted, at most 64 bytes (cut at a UTF-8 boundary).
std::string quoted(std::string_view name) {
  constexpr std::size_t most = 64;
  std::string out = "'";
  if (name.size() <= most) {
    out.append(name);
  } else {
    std::size_t cut = most;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    out.append(name.substr(0, cut)).append("...");
  }
  out += '\'';
  return out;
}

// A character XML 1.0 allows (section 2.2 "Char").
bool is_xml_char(unsigned long cp) noexcept {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

bool is_xml_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Why `s` cannot be XML text, or nullptr: UTF-8 (RFC 3629) of characters XML
// 1.0 allows (section 2.2: no control character but tab, LF and CR; not
// U+FFFE or U+FFFF).
const char* text_problem(std::string_view s) noexcept {
  if (utf8::find_invalid(s) != utf8::npos) return "the narrative is not valid UTF-8";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && !is_xml_space(static_cast<char>(c)))
      return "the narrative holds a control character XML does not allow (XML 1.0 section 2.2)";
    // EF BF BE / EF BF BF: U+FFFE, U+FFFF (valid UTF-8, so i + 2 is in range).
    if (c == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xBE)
      return "the narrative holds U+FFFE or U+FFFF, which XML does not allow (XML 1.0 section 2.2)";
  }
  return nullptr;
}

// A DOCTYPE or ENTITY declaration anywhere, even inside a comment (as
// parse_fhir_xml refuses it): FHIR XML never has a DTD (R4 xml.html).
bool has_declaration(std::string_view s) noexcept {
  for (std::size_t at = s.find("<!"); at != std::string_view::npos; at = s.find("<!", at + 2)) {
    const std::string_view rest = s.substr(at + 2);
    if (text::iequals(rest.substr(0, 7), "DOCTYPE") || text::iequals(rest.substr(0, 6), "ENTITY")) return true;
  }
  return false;
}

// `raw` (text or an attribute value as written) with its references
// resolved; nullopt when a reference is not one of the five predefined
// entities or a character reference to a character XML allows (XML 1.0
// sections 4.1 and 4.6; without a DTD no other entity exists).
std::optional<std::string> resolve_references(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  std::size_t from = 0;
  for (std::size_t at = raw.find('&'); at != std::string_view::npos; at = raw.find('&', from)) {
    out.append(raw.substr(from, at - from));
    const std::size_t semi = raw.find(';', at);
    if (semi == std::string_view::npos) return std::nullopt;
    const std::string_view name = raw.substr(at + 1, semi - at - 1);
    from = semi + 1;
    if (name == "amp") out += '&';
    else if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (name.starts_with('#')) {
      const bool hex = name.size() > 1 && name[1] == 'x';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      unsigned long cp = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || !is_xml_char(cp))
        return std::nullopt;
      utf8::append(out, static_cast<char32_t>(cp));
    } else {
      return std::nullopt;
    }
  }
  out.append(raw.substr(from));
  return out;
}

bool has_text(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) { return !is_xml_space(c); });
}

// Whether a URL, its references resolved, runs a script when followed. As a
// browser reads it (WHATWG URL "basic URL parser"): tabs and line breaks
// anywhere are dropped, leading spaces and control characters skipped, the
// scheme compared without case.
bool is_script_url(std::string_view url) {
  std::string scheme;
  bool started = false;
  for (char c : url) {
    if (c == '\t' || c == '\n' || c == '\r') continue;
    if (!started && static_cast<unsigned char>(c) <= 0x20) continue;
    started = true;
    if (c == ':') return scheme == "javascript" || scheme == "vbscript";
    if (scheme.size() > 16) return false;  // longer than any scheme looked for
    scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return false;  // no scheme: a relative URL
}

// One check: the verdict so far, and the walk over the parsed tree. Lives
// for one call of check_narrative(), on its stack; not thread-safe.
class checker {
 public:
  /// `offset_base`: where the caller's text starts in what run() is given;
  /// `caller_size`: its size, which the byte limit applies to.
  checker(std::size_t offset_base, std::size_t caller_size) : offset_base_(offset_base), caller_size_(caller_size) {}

  narrative_verdict run(std::string_view xhtml) {
    if (caller_size_ > max_narrative_bytes) {
      flag(status::too_costly, "the narrative is larger than " + std::to_string(max_narrative_bytes >> 20) +
                                   " MiB, the most that is checked");
      return std::move(v_);
    }
    if (const char* why = text_problem(xhtml)) {
      flag(status::not_well_formed, why);
      return std::move(v_);
    }
    if (has_declaration(xhtml)) {
      flag(status::not_well_formed, "DOCTYPE and ENTITY declarations are not allowed (R4 xml.html)");
      return std::move(v_);
    }
    pugi::xml_document doc;
    // No parse_escapes: references are checked as written. Declarations,
    // DOCTYPE, processing instructions, comments and text around the div
    // become nodes, to be looked at.
    const unsigned flags = pugi::parse_cdata | pugi::parse_comments | pugi::parse_pi | pugi::parse_declaration |
                           pugi::parse_doctype | pugi::parse_fragment;
    const pugi::xml_parse_result parsed = doc.load_buffer(xhtml.data(), xhtml.size(), flags, pugi::encoding_utf8);
    if (!parsed) {
      std::string why = "the narrative is not well-formed XML (";
      why += parsed.description();
      const auto offset = static_cast<std::size_t>(parsed.offset);
      if (offset >= offset_base_) why += ", at byte " + std::to_string(offset - offset_base_);
      why += ')';
      flag(status::not_well_formed, std::move(why));
      return std::move(v_);
    }
    root(doc);
    walk(doc);
    return std::move(v_);
  }

 private:
  static int rank(status s) {
    switch (s) {
      case status::allowed: return 0;
      case status::not_allowed: return 1;
      case status::not_well_formed: return 2;
      case status::too_costly: return 3;
    }
    return 3;
  }

  // Records a problem: the worst status wins, and within it the first problem.
  void flag(status s, std::string why) {
    if (rank(s) <= rank(v_.result)) return;
    v_.result = s;
    v_.problem = std::move(why);
  }

  // Whether a problem of status `s` would be recorded (messages are built
  // only then: a hostile div can hold millions of faults).
  bool wants(status s) const { return rank(s) > rank(v_.result); }

  bool stopped() const { return v_.result == status::not_well_formed || v_.result == status::too_costly; }

  // One element, a div in the XHTML namespace, and nothing else but
  // whitespace at the top (R4 narrative.html#xhtml, json.html#xhtml).
  void root(const pugi::xml_document& doc) {
    std::size_t elements = 0;
    bool around = false;
    pugi::xml_node div;
    for (pugi::xml_node n : doc.children()) {
      if (n.type() == pugi::node_element) {
        if (++elements == 1) div = n;
      } else if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata || n.type() == pugi::node_comment) {
        around = true;  // whitespace-only text is not a node (no parse_ws_pcdata)
      }
    }
    if (elements != 1) {
      flag(status::not_allowed, "the narrative must be a single div element");
      return;
    }
    if (around) flag(status::not_allowed, "nothing but whitespace may surround the div");
    const std::string_view name = div.name();
    if (name != "div") {
      flag(status::not_allowed, "the narrative must be a div element, not " + quoted(name));
      return;
    }
    // Its value is checked with the other attributes (by walk()).
    if (div.attribute("xmlns").empty())
      flag(status::not_allowed, "the div must declare xmlns=\"" + std::string(xhtml_ns) + "\"");
  }

  // Every node, in document order, without recursion.
  void walk(const pugi::xml_document& doc) {
    detail::walk_xml(doc, [this](pugi::xml_node n, std::size_t depth) {
      visit(n, depth);
      return !stopped();
    });
  }

  void visit(pugi::xml_node n, std::size_t depth) {
    switch (n.type()) {
      case pugi::node_element:
        if (depth > max_narrative_depth) {
          flag(status::too_costly, "elements nest deeper than " + std::to_string(max_narrative_depth) +
                                       " levels, the most that is checked");
          return;
        }
        element(n);
        return;
      case pugi::node_pcdata:
        if (std::string_view raw = n.value(); raw.find('&') == std::string_view::npos) {
          v_.has_content = v_.has_content || has_text(raw);
        } else if (auto text = resolve_references(raw)) {
          v_.has_content = v_.has_content || has_text(*text);
        } else {
          flag(status::not_well_formed,
               "only the predefined entities (amp, lt, gt, quot, apos) and character references may be used");
        }
        return;
      case pugi::node_cdata:
        v_.has_content = v_.has_content || has_text(n.value());
        return;
      case pugi::node_pi:
        flag(status::not_allowed, "processing instructions are not allowed in a narrative");
        return;
      case pugi::node_declaration:
      case pugi::node_doctype:
        flag(status::not_well_formed, "XML and DOCTYPE declarations are not allowed in a narrative");
        return;
      default:
        return;  // comments
    }
  }

  void element(pugi::xml_node n) {
    const std::string_view name = n.name();
    if (name == "img") v_.has_content = true;  // txt-2: an image is content (as the HL7 validator counts it)
    if (wants(status::not_allowed)) {
      if (name.find(':') != std::string_view::npos)
        flag(status::not_allowed,
             "element " + quoted(name) + " is not allowed: a narrative uses unprefixed XHTML names");
      else if (!listed(allowed_elements, name))
        flag(status::not_allowed, "element " + quoted(name) + " is not allowed in a narrative");
    }
    names_.clear();
    for (pugi::xml_attribute a : n.attributes()) {
      const std::string_view attr = a.name();
      const std::string_view raw = a.value();
      names_.push_back(attr);
      // XML 1.0 section 3.1 (AttValue): no '<'; pugixml lets it through.
      if (raw.find('<') != std::string_view::npos) {
        flag(status::not_well_formed, "'<' is not allowed in an attribute value (XML 1.0 section 3.1)");
        return;
      }
      std::optional<std::string> resolved;
      if (raw.find('&') != std::string_view::npos) {
        resolved = resolve_references(raw);
        if (!resolved) {
          flag(status::not_well_formed,
               "only the predefined entities (amp, lt, gt, quot, apos) and character references may be used");
          return;
        }
      }
      if (wants(status::not_allowed)) attribute(name, attr, resolved ? std::string_view(*resolved) : raw);
    }
    // XML 1.0 section 3.1 (Unique Att Spec); pugixml does not check it.
    std::sort(names_.begin(), names_.end());
    if (std::adjacent_find(names_.begin(), names_.end()) != names_.end())
      flag(status::not_well_formed, "an attribute appears twice on " + quoted(name) + " (XML 1.0 section 3.1)");
  }

  // One attribute of element `element`, its value with references resolved.
  void attribute(std::string_view element, std::string_view attr, std::string_view value) {
    if (attr == "xmlns" && value != xhtml_ns) {
      flag(status::not_allowed,
           "element " + quoted(element) + " is not in the XHTML namespace (" + std::string(xhtml_ns) + ")");
    } else if (!allowed_attribute(element, attr)) {
      flag(status::not_allowed, "attribute " + quoted(attr) + " is not allowed on " + quoted(element));
    } else if (listed(url_attributes, attr) && is_script_url(value)) {
      flag(status::not_allowed,
           "attribute " + quoted(attr) + " on " + quoted(element) + " holds a script URL (javascript: or vbscript:)");
    }
  }

  narrative_verdict v_{status::allowed, false, {}};
  /// Where the caller's text starts in the parsed buffer (byte offsets in
  /// messages are the caller's), and its size.
  std::size_t offset_base_;
  std::size_t caller_size_;
  /// The attribute names of the element at hand (reused).
  std::vector<std::string_view> names_;
};

}  // namespace

narrative_verdict check_narrative(std::string_view xhtml) { return checker(0, xhtml.size()).run(xhtml); }

narrative_verdict check_narrative_content(std::string_view content) {
  if (content.size() > max_narrative_bytes) return checker(0, content.size()).run({});  // too_costly, without a copy
  std::string div = "<div xmlns=\"";
  div.append(xhtml_ns).append("\">");
  const std::size_t base = div.size();
  div.append(content).append("</div>");
  return checker(base, content.size()).run(div);
}

}  // namespace hearth::fhir
