// The reports of a `hearth conformance` run (issue 9): terminal summary and
// failure details, JUnit XML, a self-contained HTML page, JSON.
#include <hearth/server/conformance/report.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include <hearth/core/utf8.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::server::conformance {

namespace {

/// `s` with every byte sequence that is not UTF-8 replaced by U+FFFD: what a
/// server or an MLLP peer sends is shown as received, but a report must stay
/// well-formed (JSON, XML and HTML are all UTF-8 text).
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const std::size_t bad = hearth::utf8::find_invalid(s);
    if (bad == hearth::utf8::npos) {
      out.append(s);
      break;
    }
    out.append(s.substr(0, bad));
    out.append("\xEF\xBF\xBD");
    s.remove_prefix(bad + 1);
  }
  return out;
}

/// Text escaped for XML 1.0 character data and attribute values (section
/// 2.4, 3.3.3): & < > " ' as references; control characters XML 1.0 cannot
/// hold at all (section 2.2, Char) replaced by U+FFFD, keeping tab, LF and
/// CR (CR as &#13; so that the parser does not fold it: HL7 v2 segments end
/// with CR and the request/response texts show them).
std::string xml_text(std::string_view raw) {
  const std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size() + 16);
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\r': out += "&#13;"; break;
      case '\t':
      case '\n': out += c; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += "\xEF\xBF\xBD";
        else
          out += c;
    }
  }
  return out;
}

/// HTML text: the same references as XML serve (HTML 5 13.1.2.6 accepts
/// them), control characters likewise replaced.
std::string html_text(std::string_view raw) { return xml_text(raw); }

std::string json_string(std::string_view raw) {
  std::string out;
  fhir::write_json_string(out, valid_utf8(raw));
  return out;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s < 0 ? 0.0 : s);
  return buf;
}

/// A case's one-line verdict for the summary and the failure details.
std::string case_heading(const suite_result& suite, const case_result& c) {
  return suite.name + " / " + c.name;
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string pad_left(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

/// Text of an exchange for a terminal: CR-ended segments on lines of their own.
std::string terminal_text(std::string_view s) {
  std::string out(s);
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] == '\r') {
      if (i + 1 < out.size() && out[i + 1] == '\n')
        out.erase(i, 1);
      else
        out[i] = '\n';
    }
  return out;
}

std::string indent(std::string_view text, std::string_view prefix) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.append(prefix).append(text.substr(start, end - start)).push_back('\n');
    start = end + 1;
  }
  return out;
}

}  // namespace

const char* to_string(outcome o) noexcept {
  switch (o) {
    case outcome::passed: return "passed";
    case outcome::failed: return "failed";
    case outcome::skipped: return "skipped";
  }
  return "failed";
}

std::size_t suite_result::count(outcome o) const noexcept {
  std::size_t n = 0;
  for (const case_result& c : cases) n += c.status == o ? 1 : 0;
  return n;
}

std::size_t run_result::count(outcome o) const noexcept {
  std::size_t n = 0;
  for (const suite_result& s : suites) n += s.count(o);
  return n;
}

bool run_result::failed() const noexcept {
  for (const suite_result& s : suites)
    if (!s.error.empty() || s.count(outcome::failed) > 0) return true;
  return false;
}

std::string summary_table(const run_result& run) {
  std::size_t name_width = 5;  // "suite", "total"
  for (const suite_result& s : run.suites) name_width = std::max(name_width, s.name.size());
  name_width = std::min<std::size_t>(name_width, 40);
  std::string out;
  const auto row = [&](const std::string& name, const std::string& p, const std::string& f, const std::string& sk,
                       const std::string& secs, const std::string& note) {
    out += pad(name, name_width) + "  " + pad_left(p, 6) + "  " + pad_left(f, 6) + "  " + pad_left(sk, 7) + "  " +
           pad_left(secs, 8);
    if (!note.empty()) out += "  " + note;
    out += '\n';
  };
  row("suite", "passed", "failed", "skipped", "seconds", "");
  out += std::string(name_width + 2 + 6 + 2 + 6 + 2 + 7 + 2 + 8, '-') + '\n';
  for (const suite_result& s : run.suites)
    row(s.name, std::to_string(s.count(outcome::passed)), std::to_string(s.count(outcome::failed)),
        std::to_string(s.count(outcome::skipped)), seconds_text(s.seconds), s.error.empty() ? "" : "ERROR");
  out += std::string(name_width + 2 + 6 + 2 + 6 + 2 + 7 + 2 + 8, '-') + '\n';
  row("total", std::to_string(run.count(outcome::passed)), std::to_string(run.count(outcome::failed)),
      std::to_string(run.count(outcome::skipped)), seconds_text(run.seconds), "");
  return out;
}

std::string failure_details(const run_result& run) {
  std::string out;
  for (const suite_result& s : run.suites) {
    if (!s.error.empty()) out += "SUITE ERROR " + s.name + " (" + s.source + "): " + s.error + "\n\n";
    for (const case_result& c : s.cases) {
      if (c.status != outcome::failed) continue;
      out += "FAILED " + case_heading(s, c) + "\n";
      if (!c.description.empty()) out += "  what:     " + c.description + "\n";
      if (!c.message.empty()) out += "  failure:  " + c.message + "\n";
      if (!c.expected.empty()) out += "  expected: " + c.expected + "\n";
      if (!c.actual.empty()) out += "  actual:   " + c.actual + "\n";
      if (!c.request.empty()) out += "  request:\n" + indent(terminal_text(c.request), "    | ");
      if (!c.response.empty()) out += "  response:\n" + indent(terminal_text(c.response), "    | ");
      out += '\n';
    }
  }
  return out;
}

std::string to_junit_xml(const run_result& run) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  std::size_t errors = 0;
  for (const suite_result& s : run.suites) errors += s.error.empty() ? 0 : 1;
  out += "<testsuites name=\"hearth conformance\" tests=\"" +
         std::to_string(run.count(outcome::passed) + run.count(outcome::failed) + run.count(outcome::skipped)) +
         "\" failures=\"" + std::to_string(run.count(outcome::failed)) + "\" errors=\"" + std::to_string(errors) +
         "\" skipped=\"" + std::to_string(run.count(outcome::skipped)) + "\" time=\"" + seconds_text(run.seconds) +
         "\" timestamp=\"" + xml_text(run.started) + "\">\n";
  for (const suite_result& s : run.suites) {
    out += "  <testsuite name=\"" + xml_text(s.name) + "\" tests=\"" + std::to_string(s.cases.size()) +
           "\" failures=\"" + std::to_string(s.count(outcome::failed)) + "\" errors=\"" +
           (s.error.empty() ? "0" : "1") + "\" skipped=\"" + std::to_string(s.count(outcome::skipped)) +
           "\" time=\"" + seconds_text(s.seconds) + "\" timestamp=\"" + xml_text(run.started) + "\" file=\"" +
           xml_text(s.source) + "\">\n";
    if (!s.error.empty()) {
      // JUnit has no place for a suite-level error but a case: one named for it.
      out += "    <testcase classname=\"" + xml_text(s.name) + "\" name=\"(suite)\" time=\"0.000\">\n";
      out += "      <error message=\"" + xml_text(s.error) + "\" type=\"suite-error\"/>\n";
      out += "    </testcase>\n";
    }
    for (const case_result& c : s.cases) {
      out += "    <testcase classname=\"" + xml_text(s.name) + "\" name=\"" + xml_text(c.name) + "\" time=\"" +
             seconds_text(c.seconds) + "\">\n";
      if (c.status == outcome::failed) {
        out += "      <failure message=\"" + xml_text(c.message) + "\" type=\"assertion\">";
        out += xml_text("expected: " + c.expected + "\nactual: " + c.actual);
        out += "</failure>\n";
      } else if (c.status == outcome::skipped) {
        out += "      <skipped message=\"" + xml_text(c.message) + "\"/>\n";
      }
      if (!c.request.empty() || !c.response.empty())
        out += "      <system-out>" + xml_text("request:\n" + c.request + "\n\nresponse:\n" + c.response) +
               "</system-out>\n";
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

std::string to_html(const run_result& run) {
  const std::size_t passed = run.count(outcome::passed), failed = run.count(outcome::failed),
                    skipped = run.count(outcome::skipped);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>hearth conformance report</title>\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\n"
      "td.n{text-align:right}.passed{color:#1a7f37}.failed{color:#cf222e;font-weight:bold}.skipped{color:#9a6700}\n"
      "details{margin:.3em 0 .3em 1em}summary{cursor:pointer}\n"
      "pre{background:#f6f8fa;padding:.6em;overflow:auto;white-space:pre-wrap;word-break:break-all}\n"
      "</style>\n</head>\n<body>\n<h1>hearth conformance</h1>\n<p>";
  if (!run.fhir_base.empty()) out += "FHIR: <code>" + html_text(run.fhir_base) + "</code> ";
  if (!run.mllp.empty()) out += "MLLP: <code>" + html_text(run.mllp) + "</code> ";
  out += "started " + html_text(run.started) + ", " + seconds_text(run.seconds) + " s.</p>\n";
  out += "<p class=\"" + std::string(run.failed() ? "failed" : "passed") + "\">" + std::to_string(passed) +
         " passed, " + std::to_string(failed) + " failed, " + std::to_string(skipped) + " skipped</p>\n";
  out += "<table>\n<tr><th>suite</th><th>passed</th><th>failed</th><th>skipped</th><th>seconds</th></tr>\n";
  for (const suite_result& s : run.suites)
    out += "<tr><td><a href=\"#suite-" + html_text(s.name) + "\">" + html_text(s.name) + "</a>" +
           (s.error.empty() ? "" : " <span class=\"failed\">error</span>") + "</td><td class=\"n\">" +
           std::to_string(s.count(outcome::passed)) + "</td><td class=\"n\">" +
           std::to_string(s.count(outcome::failed)) + "</td><td class=\"n\">" +
           std::to_string(s.count(outcome::skipped)) + "</td><td class=\"n\">" + seconds_text(s.seconds) +
           "</td></tr>\n";
  out += "</table>\n";
  for (const suite_result& s : run.suites) {
    out += "<h2 id=\"suite-" + html_text(s.name) + "\">" + html_text(s.name) + "</h2>\n";
    if (!s.description.empty()) out += "<p>" + html_text(s.description) + "</p>\n";
    if (!s.source.empty()) out += "<p><small>" + html_text(s.source) + "</small></p>\n";
    if (!s.error.empty()) out += "<p class=\"failed\">suite error: " + html_text(s.error) + "</p>\n";
    for (const case_result& c : s.cases) {
      const char* status = to_string(c.status);
      out += std::string("<details") + (c.status == outcome::failed ? " open" : "") + "><summary><span class=\"" +
             status + "\">" + status + "</span> " + html_text(c.name) + "</summary>\n";
      if (!c.description.empty()) out += "<p>" + html_text(c.description) + "</p>\n";
      if (!c.message.empty()) out += "<p>" + html_text(c.message) + "</p>\n";
      if (!c.expected.empty()) out += "<p>expected: <code>" + html_text(c.expected) + "</code></p>\n";
      if (!c.actual.empty()) out += "<p>actual: <code>" + html_text(c.actual) + "</code></p>\n";
      if (!c.request.empty()) out += "<p>request</p><pre>" + html_text(terminal_text(c.request)) + "</pre>\n";
      if (!c.response.empty()) out += "<p>response</p><pre>" + html_text(terminal_text(c.response)) + "</pre>\n";
      out += "</details>\n";
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

std::string to_json(const run_result& run) {
  std::string out = "{\"fhirBase\":" + json_string(run.fhir_base) + ",\"mllp\":" + json_string(run.mllp) +
                    ",\"started\":" + json_string(run.started) + ",\"seconds\":" + seconds_text(run.seconds) +
                    ",\"passed\":" + std::to_string(run.count(outcome::passed)) +
                    ",\"failed\":" + std::to_string(run.count(outcome::failed)) +
                    ",\"skipped\":" + std::to_string(run.count(outcome::skipped)) + ",\"suites\":[";
  for (std::size_t i = 0; i < run.suites.size(); ++i) {
    const suite_result& s = run.suites[i];
    if (i > 0) out += ',';
    out += "{\"name\":" + json_string(s.name) + ",\"description\":" + json_string(s.description) +
           ",\"source\":" + json_string(s.source) + ",\"error\":" + json_string(s.error) +
           ",\"seconds\":" + seconds_text(s.seconds) + ",\"cases\":[";
    for (std::size_t j = 0; j < s.cases.size(); ++j) {
      const case_result& c = s.cases[j];
      if (j > 0) out += ',';
      out += "{\"name\":" + json_string(c.name) + ",\"description\":" + json_string(c.description) +
             ",\"status\":\"" + to_string(c.status) + "\",\"message\":" + json_string(c.message) +
             ",\"expected\":" + json_string(c.expected) + ",\"actual\":" + json_string(c.actual) +
             ",\"request\":" + json_string(c.request) + ",\"response\":" + json_string(c.response) +
             ",\"seconds\":" + seconds_text(c.seconds) + "}";
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace hearth::server::conformance
