#pragma once
// The XHTML rules of Narrative.div (FHIR R4 narrative.html#xhtml): the
// invariants txt-1 (only the basic HTML formatting elements and attributes)
// and txt-2 (some non-whitespace content), which R4 writes as the FHIRPath
// function htmlChecks(). The FHIRPath engine (fhirpath_eval.hpp) and the
// validator (hearth::profiles) both use this check.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::fhir {

/// Largest narrative checked, in bytes. The REST layer accepts no body over
/// 16 MiB (server_config max_body_bytes), so no narrative it receives is
/// larger; the largest official R4 example narrative is 1.8 MB. A larger one
/// is not parsed at all (too_costly): the parsed tree costs a multiple of
/// the input in memory.
inline constexpr std::size_t max_narrative_bytes = 16u << 20;

/// Deepest nesting of elements in a narrative, the div being 1. The check
/// itself never recurses; the limit is for what comes after it: FHIR XML
/// nests at most 256 levels (xml_read_options::max_depth), so a deeper div
/// could not be written as XML and read back, and renderers recurse. The
/// official R4 examples stay under 20.
inline constexpr std::size_t max_narrative_depth = 256;

/// What check_narrative() found. Plain value type; owns its data.
struct narrative_verdict {
  enum class status : std::uint8_t {
    allowed,          ///< txt-1 holds
    not_well_formed,  ///< not well-formed XML, or XML FHIR refuses (DOCTYPE, an entity other than the predefined ones)
    not_allowed,      ///< well-formed, but not one XHTML div of allowed elements, attributes and URLs (txt-1 fails)
    too_costly,       ///< over max_narrative_bytes or max_narrative_depth: not checked
  };
  status result = status::not_well_formed;
  /// txt-2: some text other than whitespace (space, tab, CR, LF), or an img
  /// element, anywhere. Meaningful only when well_formed().
  bool has_content = false;
  /// The first problem, for a person: "element 'script' is not allowed".
  /// Element and attribute names are quoted (at most 64 bytes of each), never
  /// text or attribute values: they may be PHI. Empty when allowed.
  std::string problem;

  bool allowed() const noexcept { return result == status::allowed; }
  bool well_formed() const noexcept { return result == status::allowed || result == status::not_allowed; }
};

/// Checks the XHTML of a Narrative.div, as FHIR JSON holds it (R4
/// json.html#xhtml: the div element as a string), against txt-1:
/// - well-formed XML 1.0 (valid UTF-8, only characters XML allows, each
///   attribute once, no '<' in attribute values), without DOCTYPE or ENTITY
///   declarations, XML declaration or processing instruction, and with no
///   entity reference but the five predefined ones and character references
///   (R4 xml.html: no DTD is ever processed);
/// - one element, `div`, declaring xmlns="http://www.w3.org/1999/xhtml";
///   nothing but whitespace around it; every element in that namespace,
///   unprefixed;
/// - only the elements and attributes the HL7 Java validator allows for
///   txt-1 (R4 narrative.html: "the basic html formatting elements and
///   attributes described in chapters 7-11 (except section 4 of chapter 9)
///   and 15 of the HTML 4.0 standard, <a> elements (either name or href),
///   images and internally contained style attributes"): no script, style,
///   form, input, object, iframe, head, body, link, meta or base element, no
///   event attribute (onclick, ...);
/// - and, beyond the HL7 validator, no javascript: or vbscript: URL in an
///   href, src, cite, longdesc or usemap attribute (R4 narrative.html#security:
///   no scripts), however written (character references, tabs and line breaks
///   inside, leading spaces, any case).
/// Comments and CDATA sections are allowed. txt-2 is has_content.
///
/// Linear in the size of `xhtml`; bounded by max_narrative_bytes and
/// max_narrative_depth. Thread-safety: a pure function.
narrative_verdict check_narrative(std::string_view xhtml);

/// The same check for text meant as the content of a div (a string given to
/// htmlChecks(): build.fhir.org fhirpath.html#fn-htmlChecks): `content` inside
/// <div xmlns="http://www.w3.org/1999/xhtml">...</div>.
narrative_verdict check_narrative_content(std::string_view content);

}  // namespace hearth::fhir
