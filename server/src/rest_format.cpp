#include "rest_format.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>

namespace hearth::server::rest {

namespace {

/// The media type of a header value or list item: parameters (";
/// charset=...") and surrounding spaces removed.
std::string_view media_type(std::string_view v) {
  return text::trim(v.substr(0, v.find(';')));
}

/// The format a MIME type names; nullopt for one not served. Types only,
/// never wildcards.
std::optional<wire_format> format_of_mime(std::string_view m) {
  // R4 http.html#mime-type: the official types; application/json and
  // application/xml are accepted as well; the DSTU2 forms are still sent by
  // older clients.
  for (const std::string_view j : {"application/fhir+json", "application/json", "application/json+fhir", "text/json"}) {
    if (text::iequals(m, j)) return wire_format::json;
  }
  for (const std::string_view x : {"application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml"}) {
    if (text::iequals(m, x)) return wire_format::xml;
  }
  return std::nullopt;
}

/// A '+' that arrived as a space (form encoding, or a client that did not
/// escape it in the URL: R4 http.html#parameters warns of exactly this).
std::string plus_restored(std::string_view v) {
  std::string s(text::trim(v));
  for (char& c : s) {
    if (c == ' ') c = '+';
  }
  return s;
}

/// The weight of one Accept item (RFC 9110 12.4.2: qvalue = "0" ["." 0*3DIGIT]
/// / "1" ["." 0*3"0"], in thousandths); 1000 when it has no q parameter,
/// nullopt when its q is malformed (the item is then ignored).
std::optional<int> q_weight(std::string_view item) {
  std::size_t semi = item.find(';');
  while (semi != std::string_view::npos) {
    item.remove_prefix(semi + 1);
    semi = item.find(';');
    const std::string_view p = text::trim(item.substr(0, semi));
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    const std::string_view q = text::trim(p.substr(2));
    if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
    int weight = (q[0] - '0') * 1000;
    if (q.size() > 1) {
      if (q[1] != '.' || q.size() > 5) return std::nullopt;
      int scale = 100;
      for (const char c : q.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        weight += (c - '0') * scale;
        scale /= 10;
      }
    }
    if (weight > 1000) return std::nullopt;
    return weight;
  }
  return 1000;
}

}  // namespace

std::string content_type(wire_format f) {
  return f == wire_format::xml ? "application/fhir+xml; charset=utf-8" : "application/fhir+json; charset=utf-8";
}

std::optional<wire_format> format_of_format_param(std::string_view value) {
  const std::string v = plus_restored(value);
  if (text::iequals(v, "json")) return wire_format::json;
  if (text::iequals(v, "xml")) return wire_format::xml;
  return format_of_mime(media_type(v));
}

std::optional<wire_format> format_of_accept(std::optional<std::string_view> accept) {
  if (!accept || text::trim(*accept).empty()) return wire_format::json;
  // RFC 9110 12.5.1: the served type of highest weight wins; among equal
  // weights, a type named outright before a range (RFC 9110 12.5.1: "more
  // specific ... override less specific"), then the first listed. q=0
  // means "not acceptable". R4 http.html#mime-type: server-driven
  // negotiation as HTTP says; JSON for wildcards.
  std::optional<wire_format> best;
  int best_weight = 0, best_specificity = -1;
  std::string_view rest = *accept;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::string_view m = media_type(item);
    const std::optional<int> weight = m.empty() ? std::nullopt : q_weight(item);
    if (weight && *weight > 0) {
      std::optional<wire_format> f;
      int specificity = 0;
      if (m == "*/*" || text::iequals(m, "application/*")) {
        f = wire_format::json;
      } else {
        f = format_of_mime(m);
        specificity = 1;
      }
      if (f && (*weight > best_weight || (*weight == best_weight && specificity > best_specificity))) {
        best = f;
        best_weight = *weight;
        best_specificity = specificity;
      }
    }
    if (comma == std::string_view::npos) return best;
    rest.remove_prefix(comma + 1);
  }
}

std::optional<wire_format> format_of_content_type(std::optional<std::string_view> content_type) {
  if (!content_type) return std::nullopt;
  return format_of_mime(media_type(*content_type));
}

bool is_form_content_type(std::optional<std::string_view> content_type) {
  return content_type && text::iequals(media_type(*content_type), "application/x-www-form-urlencoded");
}

hearth::result<fhir::json_value> read_body(std::string_view body, wire_format f, const fhir::definitions& defs) {
  if (f == wire_format::xml) return fhir::parse_fhir_xml(body, defs);
  return fhir::parse_json(body);
}

hearth::result<std::string> write_resource(const fhir::json_value& resource, const response_format& fmt,
                                           const fhir::definitions& defs) {
  if (fmt.format == wire_format::xml) {
    fhir::xml_write_options o;
    o.pretty = fmt.pretty;
    return fhir::write_fhir_xml(resource, defs, o);
  }
  return fhir::to_json(resource, fhir::json_write_options{.pretty = fmt.pretty});
}

hearth::result<std::string> write_stored(const std::string& json, const response_format& fmt,
                                         const fhir::definitions& defs) {
  if (fmt.format == wire_format::json && !fmt.pretty) return json;
  auto tree = fhir::parse_json(json);
  if (!tree) return hearth::unexpected(std::move(tree).error());
  return write_resource(*tree, fmt, defs);
}

std::string http_date(store::instant t) {
  using namespace std::chrono;
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_days day = floor<std::chrono::days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss<seconds> tod(floor<seconds>(t - day));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT", days[weekday(day).c_encoding()],
                static_cast<unsigned>(ymd.day()), months[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()));
  return buf;
}

std::optional<store::instant> parse_http_date(std::string_view value) {
  using namespace std::chrono;
  static constexpr std::string_view days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters, every one in its place.
  const std::string_view v = text::trim(value);
  if (v.size() != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto number = [&v](std::size_t at, std::size_t n) -> std::optional<int> {
    int x = 0;
    const auto r = std::from_chars(v.data() + at, v.data() + at + n, x);
    if (r.ec != std::errc() || r.ptr != v.data() + at + n) return std::nullopt;
    return x;
  };
  const auto d = number(5, 2), y = number(12, 4), h = number(17, 2), mi = number(20, 2), s = number(23, 2);
  unsigned mon = 0;
  while (mon < 12 && months[mon] != v.substr(8, 3)) ++mon;
  if (!d || !y || !h || !mi || !s || mon == 12 || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  const year_month_day ymd{year(*y), month(mon + 1), day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  const sys_days date(ymd);
  if (days[weekday(date).c_encoding()] != v.substr(0, 3)) return std::nullopt;
  return store::instant(date + hours(*h) + minutes(*mi) + seconds(*s));
}

std::string etag(std::int64_t version_id) { return "W/\"" + std::to_string(version_id) + "\""; }

std::optional<std::int64_t> parse_etag(std::string_view value) {
  std::string_view v = text::trim(value);
  if (v.starts_with("W/") || v.starts_with("w/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  std::int64_t n = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || n < 1) return std::nullopt;
  return n;
}

}  // namespace hearth::server::rest
