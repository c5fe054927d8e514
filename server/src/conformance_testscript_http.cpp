// The plain-value side of the conformance HTTP client (http_client.hpp) and
// how the TestScript engine shows an exchange in a report
// (report.hpp, case_result::request/response). No Beast here: the engine in
// hearth::server uses these, and the client proper lives in
// hearth::server_http (src/http/conformance_http_client.cpp).

#include <hearth/server/conformance/http_client.hpp>
#include <hearth/server/http_message.hpp>

#include "conformance_testscript_detail.hpp"

#include <cctype>

namespace hearth::server::conformance {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

/// Bodies longer than this are cut in reports (report.hpp: 8 KiB), saying so.
constexpr std::size_t max_shown_body = 8u << 10;

void append_body(std::string& out, std::string_view body) {
  if (body.size() <= max_shown_body) {
    out += body;
  } else {
    // Cut on a UTF-8 character boundary: the report is text.
    std::size_t n = max_shown_body;
    while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
    out += body.substr(0, n);
    out += "\n... (cut: " + std::to_string(body.size()) + " bytes in all)";
  }
}

void append_headers(std::string& out, const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    if (iequals(name, "Authorization")) {
      // Credentials never go into a report: the scheme stays ("Bearer ...").
      const std::size_t space = value.find(' ');
      out += space == std::string::npos ? "..." : value.substr(0, space) + " ...";
    } else {
      out += value;
    }
    out += '\n';
  }
}

}  // namespace

std::string client_response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return {};
}

namespace detail {

std::string render_request(const client_request& req) {
  std::string out = req.method + " " + req.url + "\n";
  append_headers(out, req.headers);
  if (!req.body.empty()) {
    out += '\n';
    append_body(out, req.body);
  }
  return out;
}

std::string render_response(const client_response& resp) {
  std::string out = "HTTP/1.1 " + std::to_string(resp.status);
  // The phrase of RFC 9110 section 15 where Hearth knows it (http_message.hpp).
  if (const std::string_view reason = reason_phrase(static_cast<int>(resp.status)); !reason.empty())
    out += " " + std::string(reason);
  out += '\n';
  append_headers(out, resp.headers);
  if (!resp.body.empty()) {
    out += '\n';
    append_body(out, resp.body);
  }
  return out;
}

std::string media_type(std::string_view content_type) {
  // RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), case-insensitive.
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace detail
}  // namespace hearth::server::conformance
