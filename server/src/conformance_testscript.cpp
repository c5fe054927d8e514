// Running a loaded TestScript (FHIR R4 testscript.html) against one FHIR
// server: fixtures created, setup, each test, teardown, fixtures deleted;
// one case_result per test. The subset and its rules are documented for
// suite authors in tests/conformance/TESTSCRIPT.md; the loader
// (conformance_testscript_load.cpp) has refused everything else.

#include <hearth/server/conformance/testscript.hpp>

#include "conformance_testscript_detail.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>

namespace hearth::server::conformance {
namespace {

using namespace detail;
using fhir::json_value;
using steady = std::chrono::steady_clock;

/// Largest TestScript file: 16 MiB. The largest TestScripts published with
/// FHIR R4 are under 100 KiB; the limit bounds what one file makes us read.
constexpr std::uintmax_t max_script_bytes = 16u << 20;

/// Deepest chain of variables whose expressions name other variables:
/// enough for any sensible script, and a cycle ends in an error, not a
/// stack overflow.
constexpr int max_variable_depth = 8;

/// An error of the runner, as text for the report (never thrown).
using outcome_text = hearth::result<std::string, std::string>;

hearth::unexpected<std::string> failure_text(std::string s) { return hearth::unexpected(std::move(s)); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = s.find(',', start);
    out.push_back(trim(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::optional<double> as_number(std::string_view s) {
  double d = 0;
  const char* end = s.data() + s.size();
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), end, d);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return d;
}

/// A quoted value for messages: 'x', or "empty" for no value at all.
std::string quoted(const std::optional<std::string>& v) { return v ? "'" + *v + "'" : std::string("empty"); }

/// The MIME type an `accept` or `contentType` code stands for: R4 writes
/// MIME types; STU3's short codes (json, xml, ttl, none) are read as well.
/// Empty for "none" (send no such header).
std::string mime_type(std::string_view code) {
  if (code.empty() || code == "json") return "application/fhir+json";
  if (code == "xml") return "application/fhir+xml";
  if (code == "ttl") return "text/turtle";
  if (code == "none") return "";
  return std::string(code);
}

bool is_xml_media(std::string_view media) { return media.find("xml") != std::string_view::npos; }

bool looks_like_xml(std::string_view body) {
  const std::size_t first = body.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  return first != std::string_view::npos && body[first] == '<';
}

/// A value substituted for ${name} inside JSON or XML text is escaped as
/// inside a string (JSON) or an attribute value (XML): a value holding a
/// quote must not break the fixture.
enum class escaping { none, json, xml };

void append_escaped(std::string& out, std::string_view v, escaping e) {
  if (e == escaping::none) {
    out += v;
  } else if (e == escaping::json) {
    std::string quoted_value;
    fhir::write_json_string(quoted_value, v);
    out += std::string_view(quoted_value).substr(1, quoted_value.size() - 2);
  } else {
    for (char c : v) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += c;
      }
    }
  }
}

/// encodeRequestUrl (R4 TestScript.setup.action.operation.encodeRequestUrl):
/// the path and query percent-encoded where RFC 3986 section 2 does not
/// allow a character as is (space, quotes, '|', '#', non-ASCII, ...);
/// reserved delimiters and existing %XX escapes stay, so that "?a=b&c=d"
/// keeps its meaning.
std::string encode_url(std::string_view url) {
  std::size_t from = 0;
  if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    from = url.find('/', scheme + 3);
    if (from == std::string_view::npos) return std::string(url);
  }
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out(url.substr(0, from));
  static constexpr char digits[] = "0123456789ABCDEF";
  for (std::size_t i = from; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    const bool keep = std::isalnum(c) != 0 ||
                      std::string_view("-._~:/?@!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos ||
                      (c == '%' && i + 2 < url.size() && hex(url[i + 1]) && hex(url[i + 2]));
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

/// The resource an operation acts on: its type, id and (for vread) version.
struct identity {
  std::string type, id, version;
};

/// Type, id and version from a Location or Content-Location header
/// ([base]/Type/id/_history/vid, FHIR R4 http.html#create).
std::optional<identity> identity_from_location(std::string_view loc) {
  loc = loc.substr(0, loc.find_first_of("?#"));
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= loc.size()) {
    const std::size_t slash = loc.find('/', start);
    const std::string_view part =
        loc.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  identity out;
  if (parts.size() >= 4 && parts[parts.size() - 2] == "_history") {
    out.version = parts.back();
    parts.resize(parts.size() - 2);
  }
  if (parts.size() < 2) return std::nullopt;
  out.type = parts[parts.size() - 2];
  out.id = parts.back();
  return out;
}

/// The version of an ETag (FHIR R4 http.html#versioning: W/"3").
std::string version_from_etag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

/// A string member of a JSON object, or "".
std::string member_text(const json_value& obj, std::string_view key) {
  const json_value* v = obj.is_object() ? obj.find(key) : nullptr;
  return v != nullptr && v->is_string() ? v->str() : std::string();
}

/// One thing the script can name: a fixture (its text is substituted when
/// used), a response (with the request that got it) or a request.
struct source {
  enum class kind { fixture, response, request };
  kind k = kind::response;
  const fixture_def* fixture = nullptr;
  client_request request;
  client_response response;
};

/// Where a check failed and what it saw.
struct failure {
  std::string message, expected, actual, request, response;
};

/// The outcome of evaluating one FHIRPath expression, kept as text: the
/// collection's items point into the resource, which does not outlive it.
struct evaluated {
  std::size_t count = 0;
  std::optional<std::string> first;  ///< the first item's string form
  bool single_true = false;          ///< exactly one item, the boolean true
};

/// Runs one script. Lives for one run_testscript call, on its thread.
class runner {
 public:
  runner(const script& s, const testscript_options& opts) : s_(s), opts_(opts), base_(opts.fhir_base) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  void run(suite_result& out);

 private:
  // --- sources, variables, substitution -------------------------------------
  const fixture_def* find_fixture(std::string_view id) const;
  /// The named response or request, or a fixture; nullptr when it does not exist (yet).
  const source* find_source(std::string_view id);
  outcome_text substitute(std::string_view text, escaping e, int depth = 0);
  outcome_text variable_value(const variable_def& v, int depth);
  outcome_text token_for(std::string_view scopes);
  /// The body of a source as text, fixtures substituted; `xml` says its format.
  outcome_text body_text(const source& src, bool& xml, int depth = 0);
  /// The body parsed as a FHIR resource (XML converted to JSON).
  hearth::result<json_value, std::string> parse_resource(std::string_view text, bool xml) const;
  hearth::result<json_value, std::string> resource_of(const source& src, int depth = 0);
  hearth::result<evaluated, std::string> evaluate(std::string_view expression, const json_value& resource) const;
  /// The resource a fixture (its server copy when autocreated), response or request names.
  hearth::result<identity, std::string> identity_of(std::string_view id);
  hearth::result<identity, std::string> identity_of_response(const source& src);

  // --- actions ----------------------------------------------------------------
  hearth::result<client_request, std::string> build_request(const operation_def& op);
  std::optional<failure> do_operation(const operation_def& op, int number);
  std::optional<failure> do_assert(const assert_def& a, int number);
  /// Runs a list of actions; warnings (warningOnly asserts) go to `warnings`.
  std::optional<failure> run_actions(const std::vector<action_def>& actions, std::vector<std::string>& warnings);
  std::optional<failure> autocreate();
  void teardown(std::string& errors);
  client_request base_request(std::string method, std::string url) const;

  /// Why a test (or the script) with these requirements cannot run; empty when it can.
  std::string unmet(const std::vector<requirement>& reqs) const;

  const script& s_;
  const testscript_options& opts_;
  std::string base_;
  std::map<std::string, source, std::less<>> named_;  ///< responseId / requestId
  std::optional<source> last_;                        ///< the last response
  std::map<std::string, source, std::less<>> fixture_sources_;
  std::map<std::string, identity, std::less<>> created_;  ///< fixture id -> its server copy
  std::map<std::string, std::string, std::less<>> tokens_;
};

const fixture_def* runner::find_fixture(std::string_view id) const {
  for (const fixture_def& f : s_.fixtures)
    if (f.id == id) return &f;
  return nullptr;
}

const source* runner::find_source(std::string_view id) {
  if (auto it = named_.find(id); it != named_.end()) return &it->second;
  const fixture_def* f = find_fixture(id);
  if (f == nullptr) return nullptr;
  auto [it, inserted] = fixture_sources_.try_emplace(f->id);
  it->second.k = source::kind::fixture;
  it->second.fixture = f;
  return &it->second;
}

outcome_text runner::token_for(std::string_view scopes) {
  if (auto it = tokens_.find(scopes); it != tokens_.end()) return it->second;
  if (!opts_.token_for_scopes) return failure_text("${token:" + std::string(scopes) + "} needs client credentials");
  auto t = opts_.token_for_scopes(scopes);
  if (!t) return failure_text("no token for the scopes '" + std::string(scopes) + "': " + t.error().message);
  tokens_.emplace(std::string(scopes), *t);
  return std::move(*t);
}

outcome_text runner::variable_value(const variable_def& v, int depth) {
  if (depth > max_variable_depth)
    return failure_text("variable '" + v.name + "': variables refer to each other too deeply (a cycle?)");
  std::string why;
  if (!v.header_field.empty() || !v.expression.empty()) {
    const source* src = v.source_id.empty() ? (last_ ? &*last_ : nullptr) : find_source(v.source_id);
    const std::string of = v.source_id.empty() ? "the last response" : "'" + v.source_id + "'";
    if (src == nullptr) {
      why = v.source_id.empty() ? "there is no response yet" : "response '" + v.source_id + "' does not exist yet";
    } else if (!v.header_field.empty()) {
      if (src->k == source::kind::fixture) return failure_text("variable '" + v.name + "': a fixture has no headers");
      const auto& headers = src->k == source::kind::response ? src->response.headers : src->request.headers;
      for (const auto& [name, value] : headers)
        if (iequals(name, v.header_field)) return value;
      why = of + " has no header " + v.header_field;
    } else {
      auto expr = substitute(v.expression, escaping::none, depth + 1);
      if (!expr) return expr;
      auto res = resource_of(*src, depth + 1);
      if (!res) {
        why = res.error();
      } else {
        auto e = evaluate(*expr, *res);
        if (!e) return failure_text("variable '" + v.name + "': " + e.error());
        if (e->first) return *e->first;
        why = "the expression gives nothing on " + of;
      }
    }
  }
  if (v.default_value) return substitute(*v.default_value, escaping::none, depth + 1);
  return failure_text("variable '" + v.name + "' has no value: " + why);
}

outcome_text runner::substitute(std::string_view text, escaping e, int depth) {
  if (depth > max_variable_depth) return failure_text("variables refer to each other too deeply (a cycle?)");
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t open = text.find("${", at);
    const std::size_t close = open == std::string_view::npos ? open : text.find('}', open + 2);
    if (close == std::string_view::npos) {
      out += text.substr(at);
      return out;
    }
    out += text.substr(at, open - at);
    const std::string_view name = text.substr(open + 2, close - open - 2);
    outcome_text value = failure_text("");
    if (name == "runId") {
      value = opts_.run_id;
    } else if (name.starts_with("token:")) {
      value = token_for(name.substr(6));
    } else {
      const auto it =
          std::find_if(s_.variables.begin(), s_.variables.end(), [&](const variable_def& v) { return v.name == name; });
      if (it == s_.variables.end()) return failure_text("${" + std::string(name) + "} names no variable");
      value = variable_value(*it, depth);
    }
    if (!value) return value;
    append_escaped(out, *value, e);
    at = close + 1;
  }
}

outcome_text runner::body_text(const source& src, bool& xml, int depth) {
  switch (src.k) {
    case source::kind::fixture:
      xml = src.fixture->xml;
      return substitute(src.fixture->text, xml ? escaping::xml : escaping::json, depth);
    case source::kind::response:
      xml = is_xml_media(media_type(src.response.header("Content-Type"))) || looks_like_xml(src.response.body);
      return src.response.body;
    case source::kind::request: {
      std::string ct;
      for (const auto& [n, v] : src.request.headers)
        if (iequals(n, "Content-Type")) ct = v;
      xml = is_xml_media(media_type(ct)) || looks_like_xml(src.request.body);
      return src.request.body;
    }
  }
  return failure_text("unknown source");
}

hearth::result<json_value, std::string> runner::parse_resource(std::string_view text, bool xml) const {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return failure_text("there is no body");
  if (xml) {
    if (opts_.definitions == nullptr)
      return failure_text("reading an XML body needs the FHIR definitions, and the runner was given none");
    auto r = fhir::parse_fhir_xml(text, *opts_.definitions);
    if (!r) return failure_text("the body is not FHIR XML: " + r.error().message);
    return std::move(*r);
  }
  fhir::json_read_options ro;
  ro.fhir_rules = false;  // judge what the server sent by the asserts, not by the parser
  auto r = fhir::parse_json(text, ro);
  if (!r) return failure_text("the body is not JSON: " + r.error().message);
  // Not necessarily a resource: FHIRPath runs on any JSON object (SMART's
  // .well-known/smart-configuration is plain JSON); what needs a resource
  // checks resourceType itself.
  return std::move(*r);
}

hearth::result<json_value, std::string> runner::resource_of(const source& src, int depth) {
  bool xml = false;
  auto text = body_text(src, xml, depth);
  if (!text) return failure_text(text.error());
  return parse_resource(*text, xml);
}

hearth::result<evaluated, std::string> runner::evaluate(std::string_view expression, const json_value& resource) const {
  if (opts_.definitions == nullptr)
    return failure_text("FHIRPath needs the FHIR definitions, and the runner was given none");
  auto expr = fhir::fhirpath::parse(expression);
  if (!expr) {
    return failure_text("the FHIRPath expression '" + std::string(expression) +
                        "' does not parse: " + expr.error().message);
  }
  auto items = fhir::fhirpath::evaluate(*expr, resource, *opts_.definitions);
  if (!items) {
    return failure_text("the FHIRPath expression '" + std::string(expression) + "' fails: " + items.error().message);
  }
  evaluated out;
  out.count = items->size();
  if (!items->empty()) {
    const fhir::fhirpath::value& v = items->front();
    if (auto s = fhir::fhirpath::to_string_value(v)) {
      out.first = std::move(*s);
    } else if (v.json != nullptr) {
      out.first = fhir::to_json(*v.json);  // a complex element: its JSON text
    } else {
      out.first = "";
    }
    const bool is_bool = v.k == fhir::fhirpath::value::kind::boolean ||
                         (v.k == fhir::fhirpath::value::kind::node && v.json != nullptr && v.json->is_bool());
    out.single_true = out.count == 1 && is_bool && out.first == "true";
  }
  return out;
}

hearth::result<identity, std::string> runner::identity_of_response(const source& src) {
  // The body when it is the resource; else the Location (a create answered
  // with return=minimal, or with an OperationOutcome; FHIR R4 http.html#create).
  identity out;
  bool xml = false;
  auto text = body_text(src, xml);
  auto res = text ? parse_resource(*text, xml) : failure_text(text.error());
  if (res && member_text(*res, "resourceType") != "OperationOutcome" && !member_text(*res, "id").empty()) {
    out.type = member_text(*res, "resourceType");
    out.id = member_text(*res, "id");
    if (const json_value* meta = res->find("meta"); meta != nullptr) out.version = member_text(*meta, "versionId");
  } else {
    std::string loc = src.response.header("Location");
    if (loc.empty()) loc = src.response.header("Content-Location");
    auto from_loc = identity_from_location(loc);
    if (!from_loc) return failure_text("it names no resource (no resource with an id in its body, no Location)");
    out = std::move(*from_loc);
  }
  if (out.version.empty()) out.version = version_from_etag(src.response.header("ETag"));
  return out;
}

hearth::result<identity, std::string> runner::identity_of(std::string_view id) {
  if (auto it = created_.find(id); it != created_.end()) return it->second;
  const source* src = find_source(id);
  if (src == nullptr) return failure_text("'" + std::string(id) + "' does not exist yet");
  if (src->k == source::kind::response) {
    auto r = identity_of_response(*src);
    if (!r) return failure_text("response '" + std::string(id) + "': " + r.error());
    return r;
  }
  auto res = resource_of(*src);
  if (res && member_text(*res, "resourceType").empty()) res = failure_text("not a FHIR resource (no resourceType)");
  if (!res) return failure_text("'" + std::string(id) + "': " + res.error());
  identity out;
  out.type = member_text(*res, "resourceType");
  out.id = member_text(*res, "id");
  if (const json_value* meta = res->find("meta"); meta != nullptr) out.version = member_text(*meta, "versionId");
  if (out.id.empty()) return failure_text("'" + std::string(id) + "' has no id");
  return out;
}

std::string runner::unmet(const std::vector<requirement>& reqs) const {
  for (requirement r : reqs) {
    switch (r) {
      case requirement::none: break;
      case requirement::credentials:
        if (opts_.token.empty()) return "needs an access token (--token, or --client-id and --key)";
        break;
      case requirement::client_credentials:
        if (!opts_.token_for_scopes)
          return "needs client credentials to get tokens of chosen scopes (--client-id and --key)";
        break;
      case requirement::audit:
        if (!opts_.server_audits)
          return "the server's CapabilityStatement does not list AuditEvent with the search-type interaction";
        break;
    }
  }
  return {};
}

client_request runner::base_request(std::string method, std::string url) const {
  client_request req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.headers.emplace_back("Accept", "application/fhir+json");
  if (!opts_.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + opts_.token);
  return req;
}

std::string default_method(std::string_view type) {
  // FHIR R4 http.html: the interaction each testscript-operation-code names.
  if (type == "create" || type == "transaction" || type == "batch" || type == "validate") return "POST";
  if (type == "update" || type == "updateCreate") return "PUT";
  if (type == "patch") return "PATCH";
  if (type == "delete" || type == "deleteCondSingle" || type == "deleteCondMultiple") return "DELETE";
  return "GET";  // read, vread, search, history, capabilities
}

std::string operation_name(const operation_def& op, int number) {
  std::string s = "operation " + std::to_string(number) + " (" + (op.type.empty() ? op.method : op.type);
  if (!op.label.empty()) s += ", '" + op.label + "'";
  return s + ")";
}

hearth::result<client_request, std::string> runner::build_request(const operation_def& op) {
  std::string method = op.method;
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (method.empty()) method = default_method(op.type);

  // The body: the sourceId's, for the methods that carry one.
  const bool sends_body = !op.source_id.empty() && (method == "POST" || method == "PUT" || method == "PATCH");
  std::string body;
  std::string content_type;
  std::optional<json_value> body_resource;  // when the body is a resource: for URLs and ids
  if (sends_body) {
    const source* src = find_source(op.source_id);
    if (src == nullptr) return failure_text("sourceId '" + op.source_id + "' does not exist yet");
    bool xml = false;
    auto text = body_text(*src, xml);
    if (!text) return failure_text(text.error());
    body = std::move(*text);
    fhir::json_read_options ro;
    ro.fhir_rules = false;
    auto parsed = xml ? parse_resource(body, true) : hearth::result<json_value, std::string>(failure_text(""));
    if (!xml) {
      auto j = fhir::parse_json(body, ro);
      if (j) parsed = std::move(*j);
    }
    const bool json_patch = !xml && parsed && parsed->is_array();
    if (parsed && parsed->is_object()) body_resource = std::move(*parsed);

    // Without a contentType the body goes in its own format: a JSON Patch
    // (FHIR R4 http.html#patch), FHIR XML, or FHIR JSON.
    content_type = !op.content_type.empty() ? mime_type(op.content_type)
                   : json_patch             ? "application/json-patch+json"
                   : xml                    ? "application/fhir+xml"
                                            : "application/fhir+json";
    const bool want_xml = is_xml_media(media_type(content_type));
    bool changed = false;
    // update with targetId: a body without an id takes the target's
    // (FHIR R4 http.html#update: the id in the URL and the body must match).
    if ((op.type == "update" || op.type == "updateCreate") && !op.target_id.empty() && body_resource &&
        body_resource->find("id") == nullptr) {
      auto target = identity_of(op.target_id);
      if (!target) return failure_text(target.error());
      json_value with_id = json_value::object();
      for (const auto& m : body_resource->members()) {
        with_id.set(m.key, m.value);
        if (m.key == "resourceType") with_id.set("id", target->id);
      }
      body_resource = std::move(with_id);
      changed = true;
    }
    const bool want_json = !want_xml && media_type(content_type).find("json") != std::string::npos;
    if ((want_xml && !xml) || (want_json && xml) || changed) {
      if (!body_resource || member_text(*body_resource, "resourceType").empty())
        return failure_text("the body of '" + op.source_id + "' is not a resource that can be sent as " + content_type);
      if (want_xml) {
        if (opts_.definitions == nullptr)
          return failure_text("sending XML needs the FHIR definitions, and the runner was given none");
        auto x = fhir::write_fhir_xml(*body_resource, *opts_.definitions);
        if (!x) return failure_text("the body cannot be written as FHIR XML: " + x.error().message);
        body = std::move(*x);
      } else {
        body = fhir::to_json(*body_resource, {.pretty = true});
      }
    }
  }

  // The URL, in the order of TESTSCRIPT.md: url; [base]/[resource][params];
  // targetId; then what the operation type implies.
  std::string url;
  const auto with_base = [&](std::string_view rest) { return base_ + std::string(rest); };
  if (!op.url.empty()) {
    auto u = substitute(op.url, escaping::none);
    if (!u) return failure_text(u.error());
    const std::string lower = [&] {
      std::string l = u->substr(0, 8);
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return l;
    }();
    if (lower.starts_with("http://") || lower.starts_with("https://")) {
      url = *u;
    } else {
      std::string_view rel = *u;
      while (rel.starts_with('/')) rel.remove_prefix(1);
      url = with_base("/" + std::string(rel));
    }
  } else if (!op.params.empty()) {
    auto p = substitute(op.params, escaping::none);
    if (!p) return failure_text(p.error());
    url = base_ + (op.resource.empty() ? "" : "/" + op.resource);
    if (!p->starts_with('/') && !p->starts_with('?')) url += '?';
    url += *p;
  } else if (!op.target_id.empty()) {
    auto target = identity_of(op.target_id);
    if (!target) return failure_text("targetId " + target.error());
    url = with_base("/" + target->type + "/" + target->id);
    if (op.type == "vread") {
      if (target->version.empty())
        return failure_text("targetId '" + op.target_id + "' has no version (meta.versionId)");
      url += "/_history/" + target->version;
    } else if (op.type == "history") {
      url += "/_history";
    } else if (op.type == "validate") {
      url += "/$validate";
    }
  } else if ((op.type == "update" || op.type == "updateCreate") && body_resource) {
    // FHIR R4 http.html#update: PUT [base]/[type]/[id], the body's own id.
    const std::string id = member_text(*body_resource, "id");
    if (id.empty()) return failure_text("update needs a targetId, params, url, or a body with an id");
    url = with_base("/" + member_text(*body_resource, "resourceType") + "/" + id);
  } else if (op.type == "transaction" || op.type == "batch") {
    url = base_;  // FHIR R4 http.html#transaction: POST [base]
  } else if (op.type == "capabilities") {
    url = with_base("/metadata");  // FHIR R4 http.html#capabilities
  } else {
    std::string type = op.resource;
    if (type.empty() && body_resource) type = member_text(*body_resource, "resourceType");
    if (!type.empty()) {
      url = with_base("/" + type);
    } else if (op.type == "history" || op.type == "search") {
      url = base_;  // whole-system history and search
    } else {
      return failure_text("cannot tell which URL to use: give url, params, resource or targetId");
    }
    if (op.type == "validate") url += "/$validate";
    if (op.type == "history") url += "/_history";
  }
  if (op.encode_url) url = encode_url(url);

  client_request req;
  req.method = std::move(method);
  req.url = std::move(url);
  // Headers: Accept and Content-Type from accept/contentType, the run's
  // token; a requestHeader of the same name replaces them, and one with an
  // empty value sends no such header.
  const auto overridden = [&](std::string_view name) {
    return std::any_of(op.request_headers.begin(), op.request_headers.end(),
                       [&](const auto& h) { return iequals(h.first, name); });
  };
  if (const std::string accept = mime_type(op.accept); !accept.empty() && !overridden("Accept"))
    req.headers.emplace_back("Accept", accept);
  if (sends_body && !content_type.empty() && !overridden("Content-Type"))
    req.headers.emplace_back("Content-Type", content_type);
  if (!opts_.token.empty() && !overridden("Authorization"))
    req.headers.emplace_back("Authorization", "Bearer " + opts_.token);
  for (const auto& [field, value] : op.request_headers) {
    auto v = substitute(value, escaping::none);
    if (!v) return failure_text(v.error());
    if (!v->empty()) req.headers.emplace_back(field, std::move(*v));
  }
  req.body = std::move(body);
  return req;
}

std::optional<failure> runner::do_operation(const operation_def& op, int number) {
  const std::string name = operation_name(op, number);
  auto req = build_request(op);
  if (!req) return failure{name + ": " + req.error(), "a request to send", req.error(), {}, {}};
  if (!op.request_id.empty()) {
    source s;
    s.k = source::kind::request;
    s.request = *req;
    named_.insert_or_assign(op.request_id, std::move(s));
  }
  auto resp = opts_.http(*req);
  if (!resp) {
    return failure{name + ": no response: " + resp.error().message,
                   "an HTTP response",
                   "no response (" + resp.error().code + ")",
                   render_request(*req),
                   {}};
  }
  source s;
  s.k = source::kind::response;
  s.request = std::move(*req);
  s.response = std::move(*resp);
  if (!op.response_id.empty()) named_.insert_or_assign(op.response_id, s);
  last_ = std::move(s);
  return std::nullopt;
}

/// The comparison of an assert's operator (R4 valueset-assert-operator-codes)
/// between the actual value (nullopt: none) and the expected one.
bool compare(assert_operator op, const std::optional<std::string>& actual, const std::string& expected) {
  switch (op) {
    case assert_operator::equals: return actual && *actual == expected;
    case assert_operator::not_equals: return !actual || *actual != expected;
    case assert_operator::in:
    case assert_operator::not_in: {
      const auto list = split_list(expected);
      const bool found = actual && std::find(list.begin(), list.end(), *actual) != list.end();
      return op == assert_operator::in ? found : !found;
    }
    case assert_operator::greater_than:
    case assert_operator::less_than: {
      if (!actual) return false;
      const auto a = as_number(*actual), b = as_number(expected);
      // Numbers compare as numbers; anything else as text.
      const int c = a && b ? (*a < *b ? -1 : *a > *b ? 1 : 0) : actual->compare(expected);
      return op == assert_operator::greater_than ? c > 0 : c < 0;
    }
    case assert_operator::empty: return !actual || actual->empty();
    case assert_operator::not_empty: return actual && !actual->empty();
    case assert_operator::contains: return actual && actual->find(expected) != std::string::npos;
    case assert_operator::not_contains: return !actual || actual->find(expected) == std::string::npos;
    case assert_operator::eval: return actual && *actual == "true";
  }
  return false;
}

std::string describe(assert_operator op, const std::string& value) {
  switch (op) {
    case assert_operator::equals: return "= '" + value + "'";
    case assert_operator::not_equals: return "!= '" + value + "'";
    case assert_operator::in: return "in '" + value + "'";
    case assert_operator::not_in: return "not in '" + value + "'";
    case assert_operator::greater_than: return "> " + value;
    case assert_operator::less_than: return "< " + value;
    case assert_operator::empty: return "is empty";
    case assert_operator::not_empty: return "is not empty";
    case assert_operator::contains: return "contains '" + value + "'";
    case assert_operator::not_contains: return "does not contain '" + value + "'";
    case assert_operator::eval: return "is true";
  }
  return "";
}

std::string kind_name(const assert_def& a) {
  switch (a.kind) {
    case assert_kind::response: return "response";
    case assert_kind::response_code: return "response code";
    case assert_kind::content_type: return "content type";
    case assert_kind::header_field: return "header " + a.header_field;
    case assert_kind::resource: return "resource";
    case assert_kind::expression: return "expression";
    case assert_kind::navigation_links: return "navigation links";
  }
  return "";
}

/// The Content-Types a contentType assert value accepts (R4 MIME types, or
/// STU3's json/xml/ttl/none); empty: no Content-Type at all.
std::vector<std::string> accepted_types(std::string_view value) {
  if (value == "json") return {"application/fhir+json", "application/json", "application/json+fhir"};
  if (value == "xml") return {"application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml"};
  if (value == "ttl") return {"text/turtle"};
  if (value == "none") return {};
  return {media_type(value)};
}

std::optional<failure> runner::do_assert(const assert_def& a, int number) {
  std::string head = "assert " + std::to_string(number) + " (" + kind_name(a);
  if (!a.label.empty()) {
    head += ", '" + a.label + "'";
  } else if (!a.description.empty()) {
    head += ", '" + a.description.substr(0, 80) + "'";
  }
  head += ")";

  const source* src = a.source_id.empty() ? (last_ ? &*last_ : nullptr) : find_source(a.source_id);
  if (src == nullptr) {
    const std::string why =
        a.source_id.empty() ? "there is no response to check yet" : "'" + a.source_id + "' does not exist yet";
    return failure{head + ": " + why, "a response", "none", {}, {}};
  }
  failure f;
  if (src->k != source::kind::fixture) {
    f.request = render_request(src->request);
    if (src->k == source::kind::response) f.response = render_response(src->response);
  }
  const auto fail = [&](std::string expected, std::string actual) {
    f.message = head + ": expected " + expected + ", got " + actual;
    f.expected = std::move(expected);
    f.actual = std::move(actual);
    return f;
  };
  const auto error = [&](const std::string& why) {
    f.message = head + ": " + why;
    f.expected = "a check that can be evaluated";
    f.actual = why;
    return f;
  };
  const auto headers = [&]() -> const std::vector<std::pair<std::string, std::string>>& {
    return src->k == source::kind::response ? src->response.headers : src->request.headers;
  };
  const auto header = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [n, v] : headers())
      if (iequals(n, name)) return v;
    return std::nullopt;
  };
  const assert_operator op = a.op.value_or(assert_operator::equals);

  switch (a.kind) {
    case assert_kind::response:
    case assert_kind::response_code: {
      if (src->k != source::kind::response) return error("'" + a.source_id + "' is not a response");
      const std::string actual = std::to_string(src->response.status);
      std::string expected;
      bool ok = false;
      if (a.kind == assert_kind::response) {
        expected = std::to_string(a.response_status) + " (" + a.response + ")";
        ok = compare(op, actual, std::to_string(a.response_status));
      } else {
        expected = a.response_code;
        ok = compare(op, actual, a.response_code);
      }
      if (ok) return std::nullopt;
      return fail("status " + (op == assert_operator::equals ? expected : describe(op, expected)), "status " + actual);
    }
    case assert_kind::content_type: {
      if (src->k == source::kind::fixture) return error("a fixture has no Content-Type");
      const auto ct = header("Content-Type");
      const auto accepted = accepted_types(a.content_type);
      const bool match =
          accepted.empty() ? !ct : ct && std::find(accepted.begin(), accepted.end(), media_type(*ct)) != accepted.end();
      if (match == (op == assert_operator::equals)) return std::nullopt;
      std::string expected = "Content-Type " + a.content_type;
      if (accepted.size() > 1 || (accepted.size() == 1 && accepted[0] != a.content_type)) {
        expected += " (";
        for (std::size_t i = 0; i < accepted.size(); ++i) expected += (i ? " or " : "") + accepted[i];
        expected += ")";
      }
      if (op == assert_operator::not_equals) expected = "not " + expected;
      return fail(expected, ct ? "Content-Type " + *ct : std::string("no Content-Type"));
    }
    case assert_kind::header_field: {
      if (src->k == source::kind::fixture) return error("a fixture has no headers");
      std::string value;
      if (a.value) {
        auto v = substitute(*a.value, escaping::none);
        if (!v) return error(v.error());
        value = std::move(*v);
      }
      const auto actual = header(a.header_field);
      if (compare(op, actual, value)) return std::nullopt;
      return fail("header " + a.header_field + " " + describe(op, value),
                  actual ? "'" + *actual + "'" : std::string("no such header"));
    }
    case assert_kind::resource: {
      auto res = resource_of(*src);
      const std::string actual = res ? member_text(*res, "resourceType") : std::string();
      if ((actual == a.resource) == (op == assert_operator::equals)) return std::nullopt;
      return fail((op == assert_operator::equals ? "a " : "not a ") + a.resource + " resource",
                  res ? "a " + actual + " resource" : res.error());
    }
    case assert_kind::navigation_links: {
      auto res = resource_of(*src);
      if (!res) return fail(std::string("a Bundle"), res.error());
      if (member_text(*res, "resourceType") != "Bundle")
        return fail(std::string("a Bundle"), "a " + member_text(*res, "resourceType") + " resource");
      std::vector<std::string> relations;
      if (const json_value* links = res->find("link"); links != nullptr && links->is_array()) {
        for (const json_value& l : links->items()) relations.push_back(member_text(l, "relation"));
      }
      const auto has = [&](std::string_view r) {
        return std::find(relations.begin(), relations.end(), r) != relations.end();
      };
      // R4 TestScript.setup.action.assert.navigationLinks: the paging links
      // of a searchset (http.html#paging: first, last).
      const bool ok = a.navigation_links ? has("first") && has("last") : !has("first") && !has("last");
      if (ok) return std::nullopt;
      std::string actual = "links:";
      for (const auto& r : relations) actual += " " + r;
      if (relations.empty()) actual = "no links";
      return fail(a.navigation_links ? "Bundle links first and last" : "no Bundle links first or last", actual);
    }
    case assert_kind::expression: {
      auto expr = substitute(a.expression, escaping::none);
      if (!expr) return error(expr.error());
      auto res = resource_of(*src);
      if (!res) return error(res.error());
      auto e = evaluate(*expr, *res);
      if (!e) return error(e.error());
      const std::string subject = "expression " + *expr;
      const auto got = [&]() -> std::string {
        if (e->count == 0) return "empty";
        std::string s = quoted(e->first);
        if (e->count > 1) s = std::to_string(e->count) + " items, the first " + s;
        return s;
      };
      if (!a.compare_source_id.empty()) {
        const source* other = find_source(a.compare_source_id);
        if (other == nullptr) return error("compareToSourceId '" + a.compare_source_id + "' does not exist yet");
        auto other_expr = substitute(a.compare_source_expression, escaping::none);
        if (!other_expr) return error(other_expr.error());
        auto other_res = resource_of(*other);
        if (!other_res) return error("compareToSourceId '" + a.compare_source_id + "': " + other_res.error());
        auto o = evaluate(*other_expr, *other_res);
        if (!o) return error(o.error());
        if (!o->first) {
          return error("compareToSourceExpression " + *other_expr + " gives nothing on '" + a.compare_source_id + "'");
        }
        if (compare(op, e->first, *o->first)) return std::nullopt;
        return fail(subject + " " + describe(op, *o->first) + " (" + *other_expr + " on '" + a.compare_source_id + "')",
                    got());
      }
      if (!a.value && (!a.op || op == assert_operator::eval)) {
        if (e->single_true) return std::nullopt;
        return fail(subject + " is true", got());
      }
      if (op == assert_operator::empty || op == assert_operator::not_empty) {
        if ((e->count == 0) == (op == assert_operator::empty)) return std::nullopt;
        return fail(subject + " " + describe(op, ""), got());
      }
      auto value = substitute(*a.value, escaping::none);
      if (!value) return error(value.error());
      if (compare(op, e->first, *value)) return std::nullopt;
      return fail(subject + " " + describe(op, *value), got());
    }
  }
  return error("unknown assert");
}

std::optional<failure> runner::run_actions(const std::vector<action_def>& actions, std::vector<std::string>& warnings) {
  int operations = 0, asserts = 0;
  // The last operation, for the retry extension: its index in `actions`,
  // its number, the asserts counted before it, and when retrying ends.
  std::size_t last_op = 0;
  int last_op_number = 0, asserts_before = 0;
  std::chrono::steady_clock::time_point retry_until{};
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const action_def& a = actions[i];
    if (a.is_operation) {
      last_op = i;
      last_op_number = ++operations;
      asserts_before = asserts;
      retry_until = std::chrono::steady_clock::now() + std::chrono::seconds(a.operation.retry_seconds);
      if (auto f = do_operation(a.operation, last_op_number)) return f;
      continue;
    }
    auto f = do_assert(a.assertion, ++asserts);
    if (!f) continue;
    if (a.assertion.warning_only) {
      // R4 TestScript.setup.action.assert.warningOnly: reported, not failing.
      warnings.push_back("warning: " + f->message);
      continue;
    }
    if (operations > 0 && actions[last_op].operation.retry_seconds > 0 &&
        std::chrono::steady_clock::now() < retry_until) {
      // conformance-retry: ask again a moment later, and check every assert
      // after that operation again (TESTSCRIPT.md).
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      if (auto again = do_operation(actions[last_op].operation, last_op_number)) return again;
      asserts = asserts_before;
      i = last_op;  // the loop's ++i resumes at the first assert after it
      continue;
    }
    return f;
  }
  return std::nullopt;
}

std::optional<failure> runner::autocreate() {
  for (const fixture_def& f : s_.fixtures) {
    if (!f.autocreate) continue;
    const std::string name = "autocreate of fixture '" + f.id + "'";
    bool xml = f.xml;
    auto text = substitute(f.text, xml ? escaping::xml : escaping::json);
    if (!text) return failure{name + ": " + text.error(), "a request to send", text.error(), {}, {}};
    auto res = parse_resource(*text, xml);
    if (res && member_text(*res, "resourceType").empty()) res = failure_text("the fixture has no resourceType");
    if (!res) return failure{name + ": " + res.error(), "a resource", res.error(), {}, {}};
    // FHIR R4 http.html#create: POST [base]/[type]; return=representation
    // asks for the created resource (http.html#ops), its id and version.
    client_request req = base_request("POST", base_ + "/" + member_text(*res, "resourceType"));
    req.headers.emplace_back("Content-Type", xml ? "application/fhir+xml" : "application/fhir+json");
    req.headers.emplace_back("Prefer", "return=representation");
    req.body = std::move(*text);
    auto resp = opts_.http(req);
    if (!resp) {
      return failure{name + ": no response: " + resp.error().message,
                     "an HTTP response",
                     "no response (" + resp.error().code + ")",
                     render_request(req),
                     {}};
    }
    if (resp->status < 200 || resp->status > 299) {
      return failure{name + ": status " + std::to_string(resp->status), "status 201",
                     "status " + std::to_string(resp->status), render_request(req), render_response(*resp)};
    }
    source s;
    s.k = source::kind::response;
    s.request = req;
    s.response = *resp;
    auto id = identity_of_response(s);
    if (!id) {
      return failure{name + ": the response " + id.error(), "the created resource or its Location", id.error(),
                     render_request(req), render_response(*resp)};
    }
    created_.insert_or_assign(f.id, std::move(*id));
  }
  return std::nullopt;
}

void runner::teardown(std::string& errors) {
  const auto note = [&](const std::string& what) {
    if (!errors.empty()) errors += "; ";
    errors += what;
  };
  // A teardown request failed: no response, or an error other than "already
  // gone" (FHIR R4 http.html#delete: 404 or 410 for what does not exist).
  const auto bad = [](unsigned status) { return status >= 400 && status != 404 && status != 410; };
  int operations = 0;
  for (const action_def& a : s_.teardown) {
    const std::string name = operation_name(a.operation, ++operations);
    if (auto f = do_operation(a.operation, operations)) {
      note("teardown " + f->message);
    } else if (bad(last_->response.status)) {
      note("teardown " + name + ": status " + std::to_string(last_->response.status));
    }
  }
  // FHIR R4 TestScript.fixture.autodelete: deleted after the teardown.
  for (const fixture_def& f : s_.fixtures) {
    if (!f.autodelete) continue;
    // An autocreated fixture is deleted by its server copy; one that was not
    // created (setup stopped before it) has nothing to delete.
    if (f.autocreate && !created_.contains(f.id)) continue;
    auto id = identity_of(f.id);
    if (!id) {
      note("autodelete of fixture '" + f.id + "': " + id.error());
      continue;
    }
    client_request req = base_request("DELETE", base_ + "/" + id->type + "/" + id->id);
    auto resp = opts_.http(req);
    if (!resp) {
      note("autodelete of fixture '" + f.id + "': no response: " + resp.error().message);
    } else if (bad(resp->status)) {
      note("autodelete of fixture '" + f.id + "': status " + std::to_string(resp->status));
    }
  }
}

void runner::run(suite_result& out) {
  const std::size_t n = s_.tests.size();
  const std::string script_unmet = unmet(s_.requires_);
  std::vector<std::string> skip(n);
  bool any_runs = false;
  for (std::size_t i = 0; i < n; ++i) {
    skip[i] = !script_unmet.empty() ? script_unmet : unmet(s_.tests[i].requires_);
    any_runs = any_runs || skip[i].empty();
  }

  // Setup: only when some test will run (FHIR R4 TestScript.setup: "prior to
  // executing tests"). Fixtures with autocreate come first.
  std::optional<failure> setup_failed;
  std::vector<std::string> setup_warnings;
  if (any_runs) {
    setup_failed = autocreate();
    if (!setup_failed) setup_failed = run_actions(s_.setup, setup_warnings);
    if (setup_failed) {
      setup_failed->message = "setup failed: " + setup_failed->message;
      out.error = setup_failed->message;
    }
  }

  for (std::size_t i = 0; i < n; ++i) {
    const test_def& t = s_.tests[i];
    if (opts_.progress) opts_.progress(out.name, t.name, i, n);
    const auto started = steady::now();
    case_result c;
    c.name = t.name;
    c.description = t.description;
    std::vector<std::string> warnings = setup_warnings;
    for (auto& w : warnings) w = "setup " + w;
    if (!skip[i].empty()) {
      c.status = outcome::skipped;
      c.message = skip[i];
    } else if (setup_failed) {
      c.status = outcome::failed;
      c.message = setup_failed->message;
      c.expected = setup_failed->expected;
      c.actual = setup_failed->actual;
      c.request = setup_failed->request;
      c.response = setup_failed->response;
    } else if (auto f = run_actions(t.actions, warnings)) {
      c.status = outcome::failed;
      c.message = f->message;
      c.expected = std::move(f->expected);
      c.actual = std::move(f->actual);
      c.request = std::move(f->request);
      c.response = std::move(f->response);
    }
    if (c.status != outcome::skipped) {
      for (const std::string& w : warnings) c.message += (c.message.empty() ? "" : "; ") + w;
    }
    c.seconds = std::chrono::duration<double>(steady::now() - started).count();
    out.cases.push_back(std::move(c));
  }

  if (any_runs) {
    std::string errors;
    teardown(errors);
    if (!errors.empty()) out.error += (out.error.empty() ? "" : "; ") + errors;
  }
}

}  // namespace

suite_result run_testscript_text(std::string_view json_text, const std::filesystem::path& file,
                                 const testscript_options& opts) {
  const auto started = steady::now();
  suite_result out;
  out.source = file.string();
  load_outcome loaded = load_script(json_text, file.parent_path());
  out.name = loaded.name.empty() ? file.stem().string() : loaded.name;
  out.description = loaded.description;
  if (!loaded.loaded) {
    out.error = loaded.error;
    for (auto& [name, description] : loaded.test_names) {
      case_result c;
      c.name = name;
      c.description = description;
      c.status = outcome::failed;
      c.message = "not run: the TestScript has an error: " + loaded.error;
      out.cases.push_back(std::move(c));
    }
  } else if (!opts.http) {
    out.error = "no HTTP transport was given";
  } else {
    runner r(*loaded.loaded, opts);
    r.run(out);
  }
  out.seconds = std::chrono::duration<double>(steady::now() - started).count();
  return out;
}

suite_result run_testscript(const std::filesystem::path& file, const testscript_options& opts) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  std::string text;
  if (!ec && size <= max_script_bytes) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in || in.eof())
      text = std::move(buf).str();
    else
      ec = std::make_error_code(std::errc::io_error);
  }
  if (ec || size > max_script_bytes) {
    suite_result out;
    out.name = file.stem().string();
    out.source = file.string();
    out.error = ec ? "cannot read " + file.string() : file.string() + " is larger than 16 MiB";
    return out;
  }
  return run_testscript_text(text, file, opts);
}

bool capability_claims_audit(std::string_view capability_statement_json) {
  fhir::json_read_options ro;
  ro.fhir_rules = false;
  auto doc = fhir::parse_json(capability_statement_json, ro);
  if (!doc || member_text(*doc, "resourceType") != "CapabilityStatement") return false;
  const json_value* rests = doc->find("rest");
  if (rests == nullptr || !rests->is_array()) return false;
  for (const json_value& rest : rests->items()) {
    // R4 CapabilityStatement.rest.mode: what the server does is "server".
    if (member_text(rest, "mode") != "server") continue;
    const json_value* resources = rest.find("resource");
    if (resources == nullptr || !resources->is_array()) continue;
    for (const json_value& r : resources->items()) {
      if (member_text(r, "type") != "AuditEvent") continue;
      const json_value* interactions = r.find("interaction");
      if (interactions == nullptr || !interactions->is_array()) continue;
      for (const json_value& i : interactions->items())
        if (member_text(i, "code") == "search-type") return true;
    }
  }
  return false;
}

}  // namespace hearth::server::conformance
