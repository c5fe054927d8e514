#include <hearth/store/reference_target.hpp>

#include <vector>

namespace hearth::store {

namespace {

// FHIR R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool is_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return false;
  return true;
}

std::vector<std::string_view> split_path(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

// Matches the tail "Type/id" or "Type/id/_history/v" of `parts` (the whole
// of it when `whole`); fills type, id, version.
bool restful_tail(const std::vector<std::string_view>& parts, bool whole, const fhir::definitions& defs,
                  reference_target& t) {
  const std::size_t n = parts.size();
  auto try_at = [&](std::size_t at, std::string_view version) {
    if (whole && at != 0) return false;
    if (!defs.is_resource_type(parts[at]) || !is_id(parts[at + 1])) return false;
    t.type = std::string(parts[at]);
    t.id = std::string(parts[at + 1]);
    t.version = std::string(version);
    return true;
  };
  if (n >= 4 && parts[n - 2] == "_history" && is_id(parts[n - 1]) && try_at(n - 4, parts[n - 1])) return true;
  return n >= 2 && try_at(n - 2, {});
}

}  // namespace

std::string_view to_string(reference_kind k) noexcept {
  switch (k) {
    case reference_kind::relative: return "relative";
    case reference_kind::absolute: return "absolute";
    case reference_kind::contained: return "contained";
    case reference_kind::canonical: return "canonical";
    case reference_kind::identifier: return "identifier";
    case reference_kind::other: return "other";
  }
  return "other";
}

reference_target parse_reference(std::string_view text, const fhir::definitions& defs) {
  reference_target t;
  if (text.size() > 1 && text.front() == '#') {
    t.kind = reference_kind::contained;
    t.id = std::string(text.substr(1));
    t.url = std::string(text);
    return t;
  }
  // An absolute URI has a scheme (RFC 3986 section 3.1): "http:", "urn:".
  const std::size_t colon = text.find(':');
  const std::size_t slash = text.find('/');
  if (colon != std::string_view::npos && colon > 0 && (slash == std::string_view::npos || colon < slash)) {
    t.kind = reference_kind::absolute;
    t.url = std::string(text);
    const std::size_t query = text.find_first_of("?#");
    if (query == std::string_view::npos) restful_tail(split_path(text), false, defs, t);
    return t;
  }
  if (text.find_first_of("?#") == std::string_view::npos && restful_tail(split_path(text), true, defs, t)) {
    t.kind = reference_kind::relative;
    return t;
  }
  t = {};
  t.kind = reference_kind::other;
  t.url = std::string(text);
  return t;
}

reference_target parse_canonical(std::string_view text) {
  reference_target t;
  t.kind = reference_kind::canonical;
  const std::size_t bar = text.rfind('|');
  t.url = std::string(text.substr(0, bar));
  if (bar != std::string_view::npos) t.version = std::string(text.substr(bar + 1));
  return t;
}

}  // namespace hearth::store
