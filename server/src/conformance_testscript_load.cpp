// Loading a TestScript (FHIR R4 testscript.html) into the engine's model
// (conformance_testscript_detail.hpp), refusing what the engine does not
// run: a script is either run as written or reported as an error, never
// partly understood. Members the engine does not know are refused in the
// parts it interprets (fixture, variable, action, operation, assert), so
// that a misspelt "reponse" cannot make an assert check nothing.

#include "conformance_testscript_detail.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <set>
#include <sstream>

#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::server::conformance::detail {
namespace {

using fhir::json_value;

/// The requirements extension (tests/conformance/TESTSCRIPT.md).
constexpr std::string_view requires_url = "https://hearth.dev/fhir/StructureDefinition/conformance-requires";
/// The retry extension on an operation (tests/conformance/TESTSCRIPT.md).
constexpr std::string_view retry_url = "https://hearth.dev/fhir/StructureDefinition/conformance-retry";
/// Longest retry a script may ask for: a conformance run must end.
constexpr unsigned max_retry_seconds = 60;
/// R4 testscript-operation-codes.
constexpr std::string_view operation_codes_system = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes";

/// Largest fixture file: 16 MiB, far beyond any resource a conformance test
/// sends, while bounding what one script can make the runner read.
constexpr std::uintmax_t max_fixture_bytes = 16u << 20;

/// R4 testscript-operation-codes, the codes the runner implements.
constexpr std::string_view operation_types[] = {
    "read",   "vread",  "update",  "updateCreate", "patch", "delete",       "deleteCondSingle", "deleteCondMultiple",
    "create", "search", "history", "transaction",  "batch", "capabilities", "validate"};

/// R4 http-operations.
constexpr std::string_view http_methods[] = {"get", "post", "put", "patch", "delete", "head", "options"};

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

template <std::size_t N>
bool one_of(std::string_view s, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

std::optional<assert_operator> parse_operator(std::string_view s) {
  // R4 valueset-assert-operator-codes.
  if (s == "equals") return assert_operator::equals;
  if (s == "notEquals") return assert_operator::not_equals;
  if (s == "in") return assert_operator::in;
  if (s == "notIn") return assert_operator::not_in;
  if (s == "greaterThan") return assert_operator::greater_than;
  if (s == "lessThan") return assert_operator::less_than;
  if (s == "empty") return assert_operator::empty;
  if (s == "notEmpty") return assert_operator::not_empty;
  if (s == "contains") return assert_operator::contains;
  if (s == "notContains") return assert_operator::not_contains;
  if (s == "eval") return assert_operator::eval;
  return std::nullopt;
}

/// A fixture with autodelete but not autocreate is deleted by its own id
/// (FHIR R4 TestScript.fixture.autodelete), so it must have one.
bool autodelete_has_target(const fixture_def& f) {
  if (!f.autodelete || f.autocreate || f.xml) return true;
  fhir::json_read_options ro;
  ro.fhir_rules = false;
  auto parsed = fhir::parse_json(f.text, ro);
  return parsed && parsed->is_object() && parsed->find("id") != nullptr;
}

/// Reads the script, recording the first problem found (with where it is)
/// and stopping there: one clear error is what a suite author needs. One
/// loader per script, used once, on the calling thread.
class loader {
 public:
  explicit loader(std::filesystem::path folder) : folder_(std::move(folder)) {}

  load_outcome run(std::string_view text);

 private:
  bool failed() const { return !error_.empty(); }
  void fail(const std::string& where, const std::string& what) {
    if (error_.empty()) error_ = where.empty() ? what : where + ": " + what;
  }

  /// Refuses members of `obj` not in `known` (primitive extensions `_x`
  /// of known members are fine) and any modifierExtension (FHIR R4
  /// extensibility.html#modifierExtension: an application that does not
  /// understand one must not process the element as if it were not there).
  void only_known(const json_value& obj, const std::string& where, std::initializer_list<std::string_view> known);
  /// A string member; nullopt when absent; a failure when not a string.
  std::optional<std::string> string_member(const json_value& obj, std::string_view key, const std::string& where);
  /// A non-empty string member, or a failure.
  std::string required_string(const json_value& obj, std::string_view key, const std::string& where);
  std::optional<bool> bool_member(const json_value& obj, std::string_view key, const std::string& where);
  /// The conformance-requires codes in obj.extension.
  std::vector<requirement> requirements(const json_value& obj, const std::string& where);
  /// An array member; nullptr when absent; a failure when not an array.
  const json_value::array_type* array_member(const json_value& obj, std::string_view key, const std::string& where);

  void read_fixtures(const json_value& root);
  std::optional<fixture_def> read_fixture(const json_value& f, const std::string& where, const json_value& root);
  void read_variables(const json_value& root);
  std::vector<action_def> read_actions(const json_value& holder, const std::string& where, bool teardown);
  std::optional<operation_def> read_operation(const json_value& op, const std::string& where);
  std::optional<assert_def> read_assert(const json_value& as, const std::string& where);
  /// Cross-references: ids, ${...} variables, ${token:...} where allowed,
  /// FHIRPath syntax of the expressions that hold no ${...}.
  void check_references(const script& s);
  void check_text(const std::string& text, const std::string& where, bool token_allowed);
  void check_expression(const std::string& expr, const std::string& where);
  void check_source(const std::string& id, const std::string& where, std::string_view role);

  std::filesystem::path folder_;
  std::string error_;
  std::set<std::string, std::less<>> fixture_ids_, variable_names_, response_ids_;
  script s_;
};

void loader::only_known(const json_value& obj, const std::string& where,
                        std::initializer_list<std::string_view> known) {
  if (failed()) return;
  if (!obj.is_object()) {
    fail(where, "must be a JSON object");
    return;
  }
  for (const auto& m : obj.members()) {
    if (m.key == "modifierExtension") {
      fail(where, "has a modifierExtension, which this runner does not understand (FHIR R4 extensibility.html)");
      return;
    }
    std::string_view key = m.key;
    if (key.starts_with('_')) key.remove_prefix(1);
    if (key == "id" || key == "extension" || one_of(key, known)) continue;
    fail(where, "unknown element '" + m.key + "' (see TESTSCRIPT.md for what is supported)");
    return;
  }
}

std::optional<std::string> loader::string_member(const json_value& obj, std::string_view key,
                                                 const std::string& where) {
  const json_value* v = obj.find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    fail(where, "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return v->str();
}

std::string loader::required_string(const json_value& obj, std::string_view key, const std::string& where) {
  auto v = string_member(obj, key, where);
  if (failed()) return {};
  if (!v || v->empty()) {
    fail(where, "'" + std::string(key) + "' is missing");
    return {};
  }
  return *v;
}

std::optional<bool> loader::bool_member(const json_value& obj, std::string_view key, const std::string& where) {
  const json_value* v = obj.find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    fail(where, "'" + std::string(key) + "' must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

const json_value::array_type* loader::array_member(const json_value& obj, std::string_view key,
                                                   const std::string& where) {
  const json_value* v = obj.find(key);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    fail(where, "'" + std::string(key) + "' must be an array");
    return nullptr;
  }
  return &v->items();
}

std::vector<requirement> loader::requirements(const json_value& obj, const std::string& where) {
  std::vector<requirement> out;
  const auto* exts = array_member(obj, "extension", where);
  if (exts == nullptr) return out;
  for (const json_value& e : *exts) {
    if (!e.is_object()) continue;
    const json_value* url = e.find("url");
    if (url == nullptr || !url->is_string() || url->str() != requires_url) continue;
    const json_value* code = e.find("valueCode");
    const std::string c = code != nullptr && code->is_string() ? code->str() : std::string();
    if (c == "credentials") {
      out.push_back(requirement::credentials);
    } else if (c == "client-credentials") {
      out.push_back(requirement::client_credentials);
    } else if (c == "audit") {
      out.push_back(requirement::audit);
    } else {
      fail(where, "the conformance-requires extension needs valueCode credentials, client-credentials or audit");
    }
  }
  return out;
}

std::optional<fixture_def> loader::read_fixture(const json_value& f, const std::string& where, const json_value& root) {
  only_known(f, where, {"autocreate", "autodelete", "resource"});
  if (failed()) return std::nullopt;
  fixture_def out;
  out.id = required_string(f, "id", where);
  out.autocreate = bool_member(f, "autocreate", where).value_or(false);
  out.autodelete = bool_member(f, "autodelete", where).value_or(false);
  const json_value* res = f.find("resource");
  if (failed()) return std::nullopt;
  if (res == nullptr || !res->is_object()) {
    fail(where, "'resource' with a 'reference' is missing");
    return std::nullopt;
  }
  const std::string ref = required_string(*res, "reference", where + " resource");
  if (failed()) return std::nullopt;

  if (ref.starts_with('#')) {
    // FHIR R4 references.html#contained: "#id" names a contained resource.
    const std::string_view cid = std::string_view(ref).substr(1);
    const json_value* found = nullptr;
    if (const json_value* contained = root.find("contained"); contained != nullptr && contained->is_array()) {
      for (const json_value& c : contained->items()) {
        const json_value* id = c.is_object() ? c.find("id") : nullptr;
        if (id != nullptr && id->is_string() && id->str() == cid) found = &c;
      }
    }
    if (found == nullptr) {
      fail(where, "no contained resource has id '" + std::string(cid) + "'");
      return std::nullopt;
    }
    out.text = fhir::to_json(*found, {.pretty = true});
    if (!autodelete_has_target(out)) {
      fail(where, "autodelete without autocreate needs a fixture with an id (the resource to delete)");
      return std::nullopt;
    }
    return out;
  }

  // A file beside the TestScript. Only relative paths that stay in its folder
  // (and its subfolders): a script must not make the runner send arbitrary
  // files of the machine it runs on to a server.
  if (ref.find("://") != std::string::npos || ref.starts_with("urn:")) {
    fail(where, "resource.reference must be '#id' (a contained resource) or a relative file path; fetching '" + ref +
                    "' is not supported");
    return std::nullopt;
  }
  const std::filesystem::path rel(ref);
  bool escapes = rel.is_absolute() || rel.has_root_name() || rel.has_root_directory();
  for (const auto& part : rel) escapes = escapes || part == "..";
  if (escapes) {
    fail(where, "resource.reference '" + ref + "' must be a path relative to the TestScript's folder, without '..'");
    return std::nullopt;
  }
  const std::filesystem::path file = folder_ / rel;
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    fail(where, "cannot read the fixture file " + ref);
    return std::nullopt;
  }
  if (size > max_fixture_bytes) {
    fail(where, "the fixture file " + ref + " is larger than 16 MiB");
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) {
    fail(where, "cannot read the fixture file " + ref);
    return std::nullopt;
  }
  out.text = std::move(buf).str();
  const std::size_t first = out.text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  out.xml = first != std::string::npos && out.text[first] == '<';
  if (!out.xml) {
    // JSON before substitution: ${...} belongs inside strings.
    fhir::json_read_options ro;
    ro.fhir_rules = false;
    auto parsed = fhir::parse_json(out.text, ro);
    if (!parsed) {
      fail(where, "the fixture file " + ref + " is not JSON (" + parsed.error().message + " at offset " +
                      std::to_string(parsed.error().offset) + ")");
      return std::nullopt;
    }
    if (!parsed->is_object() && !parsed->is_array()) {
      fail(where, "the fixture file " + ref + " holds neither a resource nor a JSON Patch");
      return std::nullopt;
    }
    if (out.autocreate && !parsed->is_object()) {
      fail(where, "autocreate needs a resource, and " + ref + " holds a JSON array");
      return std::nullopt;
    }
  }
  if (!autodelete_has_target(out)) {
    fail(where, "autodelete without autocreate needs a fixture with an id (the resource to delete)");
    return std::nullopt;
  }
  return out;
}

void loader::read_fixtures(const json_value& root) {
  const auto* fixtures = array_member(root, "fixture", "TestScript");
  if (fixtures == nullptr) return;
  for (std::size_t i = 0; i < fixtures->size() && !failed(); ++i) {
    const json_value& f = (*fixtures)[i];
    std::string where = "fixture " + std::to_string(i + 1);
    if (const json_value* id = f.is_object() ? f.find("id") : nullptr; id != nullptr && id->is_string())
      where = "fixture '" + id->str() + "'";
    auto fx = read_fixture(f, where, root);
    if (!fx) return;
    if (!fixture_ids_.insert(fx->id).second) {
      fail(where, "two fixtures have this id");
      return;
    }
    s_.fixtures.push_back(std::move(*fx));
  }
}

void loader::read_variables(const json_value& root) {
  const auto* vars = array_member(root, "variable", "TestScript");
  if (vars == nullptr) return;
  for (std::size_t i = 0; i < vars->size() && !failed(); ++i) {
    const json_value& v = (*vars)[i];
    std::string where = "variable " + std::to_string(i + 1);
    if (const json_value* n = v.is_object() ? v.find("name") : nullptr; n != nullptr && n->is_string())
      where = "variable '" + n->str() + "'";
    only_known(v, where,
               {"name", "defaultValue", "description", "expression", "headerField", "hint", "path", "sourceId"});
    if (failed()) return;
    if (v.find("path") != nullptr) {
      fail(where, "'path' (XPath/JSONPath) is not supported; use 'expression' (FHIRPath)");
      return;
    }
    variable_def d;
    d.name = required_string(v, "name", where);
    d.default_value = string_member(v, "defaultValue", where);
    d.expression = string_member(v, "expression", where).value_or("");
    d.header_field = string_member(v, "headerField", where).value_or("");
    d.source_id = string_member(v, "sourceId", where).value_or("");
    d.hint = string_member(v, "hint", where).value_or("");
    if (failed()) return;
    if (d.name == "runId" || d.name.starts_with("token:") || d.name.find_first_of("${}") != std::string::npos) {
      fail(where, "this name is reserved or cannot be written as ${name}");
      return;
    }
    // R4 TestScript invariant tst-3: "Variable can only contain one of
    // expression, headerField or path".
    if (!d.expression.empty() && !d.header_field.empty()) {
      fail(where, "has both 'expression' and 'headerField'; a variable takes one of them");
      return;
    }
    if (d.expression.empty() && d.header_field.empty() && !d.default_value) {
      fail(where, "needs 'expression', 'headerField' or 'defaultValue'");
      return;
    }
    if (!variable_names_.insert(d.name).second) {
      fail(where, "two variables have this name");
      return;
    }
    s_.variables.push_back(std::move(d));
  }
}

std::optional<operation_def> loader::read_operation(const json_value& op, const std::string& where) {
  only_known(op, where,
             {"type", "resource", "label", "description", "accept", "contentType", "destination", "encodeRequestUrl",
              "method", "origin", "params", "requestHeader", "requestId", "responseId", "sourceId", "targetId", "url"});
  if (failed()) return std::nullopt;
  operation_def d;
  if (const auto* exts = array_member(op, "extension", where); exts != nullptr) {
    for (const json_value& e : *exts) {
      const json_value* url = e.is_object() ? e.find("url") : nullptr;
      if (url == nullptr || !url->is_string() || url->str() != retry_url) continue;
      const json_value* secs = e.find("valueInteger");
      const std::string text = secs != nullptr && secs->is_number() ? secs->number_text() : std::string();
      if (text.empty() || text.size() > 2 || text.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(text) == 0 || std::stoul(text) > max_retry_seconds) {
        fail(where, "the conformance-retry extension needs valueInteger, seconds from 1 to " +
                        std::to_string(max_retry_seconds));
        return std::nullopt;
      }
      d.retry_seconds = static_cast<unsigned>(std::stoul(text));
    }
  }
  if (const json_value* type = op.find("type"); type != nullptr) {
    if (!type->is_object()) {
      fail(where, "'type' must be a Coding");
      return std::nullopt;
    }
    const auto system = string_member(*type, "system", where + " type");
    d.type = string_member(*type, "code", where + " type").value_or("");
    if (failed()) return std::nullopt;
    if (system && *system != operation_codes_system) {
      fail(where, "type.system must be " + std::string(operation_codes_system));
      return std::nullopt;
    }
    if (!one_of(d.type, operation_types)) {
      fail(where, "type.code '" + d.type + "' is not an operation this runner knows (testscript-operation-codes: " +
                      "read, vread, update, updateCreate, patch, delete, deleteCondSingle, deleteCondMultiple, " +
                      "create, search, history, transaction, batch, capabilities, validate)");
      return std::nullopt;
    }
  }
  d.resource = string_member(op, "resource", where).value_or("");
  d.label = string_member(op, "label", where).value_or("");
  d.description = string_member(op, "description", where).value_or("");
  d.accept = string_member(op, "accept", where).value_or("");
  d.content_type = string_member(op, "contentType", where).value_or("");
  d.encode_url = bool_member(op, "encodeRequestUrl", where).value_or(true);
  d.method = string_member(op, "method", where).value_or("");
  d.params = string_member(op, "params", where).value_or("");
  d.url = string_member(op, "url", where).value_or("");
  d.request_id = string_member(op, "requestId", where).value_or("");
  d.response_id = string_member(op, "responseId", where).value_or("");
  d.source_id = string_member(op, "sourceId", where).value_or("");
  d.target_id = string_member(op, "targetId", where).value_or("");
  if (const auto* headers = array_member(op, "requestHeader", where)) {
    for (const json_value& h : *headers) {
      only_known(h, where + " requestHeader", {"field", "value"});
      const std::string field = required_string(h, "field", where + " requestHeader");
      // An empty value is how a script says "send no such header" (R4
      // requires a value; the runner reads it leniently for that purpose).
      const std::string value = string_member(h, "value", where + " requestHeader").value_or("");
      if (failed()) return std::nullopt;
      d.request_headers.emplace_back(field, value);
    }
  }
  if (failed()) return std::nullopt;
  if (!d.method.empty() && !one_of(d.method, http_methods)) {
    // R4 valueset-http-operations.
    fail(where, "method '" + d.method + "' is not one of get, post, put, patch, delete, head, options");
    return std::nullopt;
  }
  if (d.type.empty() && d.method.empty()) {
    fail(where, "needs a 'type' or a 'method'");
    return std::nullopt;
  }
  if (d.type.empty() && d.url.empty() && d.params.empty() && d.resource.empty() && d.target_id.empty()) {
    fail(where, "without a 'type' it needs 'url', 'params', 'resource' or 'targetId'");
    return std::nullopt;
  }
  const bool has_address = !d.url.empty() || !d.params.empty() || !d.target_id.empty();
  if (one_of(d.type, {"read", "vread", "delete", "patch"}) && !has_address) {
    fail(where, d.type + " needs 'targetId', 'params' or 'url'");
    return std::nullopt;
  }
  if (one_of(d.type, {"create", "update", "updateCreate", "patch", "transaction", "batch"}) && d.source_id.empty()) {
    fail(where, d.type + " needs a 'sourceId' (the fixture or response sent as the body)");
    return std::nullopt;
  }
  if (d.type == "validate" && d.source_id.empty() && !has_address) {
    fail(where, "validate needs a 'sourceId', or 'targetId', 'params' or 'url'");
    return std::nullopt;
  }
  return d;
}

std::optional<assert_def> loader::read_assert(const json_value& as, const std::string& where) {
  only_known(as, where,
             {"label",
              "description",
              "direction",
              "compareToSourceId",
              "compareToSourceExpression",
              "compareToSourcePath",
              "contentType",
              "expression",
              "headerField",
              "minimumId",
              "navigationLinks",
              "operator",
              "path",
              "requestMethod",
              "requestURL",
              "resource",
              "response",
              "responseCode",
              "sourceId",
              "validateProfileId",
              "value",
              "warningOnly"});
  if (failed()) return std::nullopt;
  static constexpr std::pair<std::string_view, std::string_view> unsupported[] = {
      {"path", "'path' (XPath/JSONPath) is not supported; use 'expression' (FHIRPath)"},
      {"compareToSourcePath",
       "'compareToSourcePath' (XPath/JSONPath) is not supported; use 'compareToSourceExpression'"},
      {"minimumId", "'minimumId' is not supported"},
      {"validateProfileId", "'validateProfileId' is not supported"},
      {"requestURL", "'requestURL' is not supported"},
      {"requestMethod", "'requestMethod' is not supported"},
  };
  for (const auto& [key, why] : unsupported) {
    if (as.find(key) != nullptr) {
      fail(where, std::string(why));
      return std::nullopt;
    }
  }
  assert_def d;
  d.label = string_member(as, "label", where).value_or("");
  d.description = string_member(as, "description", where).value_or("");
  const auto direction = string_member(as, "direction", where);
  if (direction && *direction != "response") {
    fail(where, *direction == "request" ? "asserts on the request (direction 'request') are not supported"
                                        : "direction must be 'response'");
    return std::nullopt;
  }
  d.source_id = string_member(as, "sourceId", where).value_or("");
  d.compare_source_id = string_member(as, "compareToSourceId", where).value_or("");
  d.compare_source_expression = string_member(as, "compareToSourceExpression", where).value_or("");
  d.value = string_member(as, "value", where);
  d.warning_only = bool_member(as, "warningOnly", where).value_or(false);
  if (const auto op = string_member(as, "operator", where)) {
    d.op = parse_operator(*op);
    if (!d.op) {
      fail(where, "operator '" + *op +
                      "' is not one of equals, notEquals, in, notIn, greaterThan, lessThan, "
                      "empty, notEmpty, contains, notContains, eval");
      return std::nullopt;
    }
  }
  if (failed()) return std::nullopt;

  // R4 TestScript invariants tst-5/tst-6: only a single assertion per assert.
  int kinds = 0;
  for (std::string_view k :
       {"contentType", "expression", "headerField", "navigationLinks", "resource", "responseCode", "response"}) {
    if (as.find(k) != nullptr) ++kinds;
  }
  if (kinds == 0) {
    fail(where,
         "checks nothing: it needs one of response, responseCode, contentType, headerField, resource, "
         "expression, navigationLinks");
    return std::nullopt;
  }
  if (kinds > 1) {
    fail(where,
         "checks more than one thing; an assert takes one of response, responseCode, contentType, "
         "headerField, resource, expression, navigationLinks (FHIR R4 TestScript invariants tst-5, tst-6)");
    return std::nullopt;
  }
  const auto op_is = [&](std::initializer_list<assert_operator> allowed) {
    return !d.op || std::find(allowed.begin(), allowed.end(), *d.op) != allowed.end();
  };
  const auto refuse_operator = [&](std::string_view kind) {
    fail(where, "operator '" + std::string(to_string(*d.op)) + "' cannot be used with " + std::string(kind));
  };
  const auto refuse_value = [&](std::string_view kind) {
    if (d.value) fail(where, "'value' is not used with " + std::string(kind));
  };
  if (!d.compare_source_id.empty() || !d.compare_source_expression.empty()) {
    // R4 tst-10/tst-11: compareToSourceId with compareToSourceExpression.
    if (as.find("expression") == nullptr || d.compare_source_id.empty() || d.compare_source_expression.empty()) {
      fail(where, "compareToSourceId needs compareToSourceExpression and expression");
      return std::nullopt;
    }
  }

  if (const auto r = string_member(as, "response", where)) {
    d.kind = assert_kind::response;
    d.response = *r;
    d.response_status = response_code_status(*r);
    if (d.response_status == 0) {
      fail(where, "response '" + *r +
                      "' is not one of okay, created, noContent, notModified, bad, forbidden, "
                      "notFound, methodNotAllowed, conflict, gone, preconditionFailed, unprocessable");
    } else if (!op_is({assert_operator::equals, assert_operator::not_equals})) {
      refuse_operator("response");
    }
    refuse_value("response");
  } else if (const auto rc = string_member(as, "responseCode", where)) {
    d.kind = assert_kind::response_code;
    d.response_code = *rc;
    if (!op_is({assert_operator::equals, assert_operator::not_equals, assert_operator::in, assert_operator::not_in,
                assert_operator::greater_than, assert_operator::less_than})) {
      refuse_operator("responseCode");
    }
    std::stringstream list(*rc);
    std::string code;
    const bool is_list = d.op == assert_operator::in || d.op == assert_operator::not_in;
    int count = 0;
    while (std::getline(list, code, ',')) {
      code.erase(0, code.find_first_not_of(' '));
      code.erase(code.find_last_not_of(' ') + 1);
      ++count;
      if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
        fail(where, "responseCode must be an HTTP status code (or, with in/notIn, a comma-separated list of them)");
    }
    if (count != 1 && !is_list) fail(where, "responseCode lists several codes: use operator in or notIn");
    refuse_value("responseCode");
  } else if (const auto ct = string_member(as, "contentType", where)) {
    d.kind = assert_kind::content_type;
    d.content_type = *ct;
    if (!op_is({assert_operator::equals, assert_operator::not_equals})) refuse_operator("contentType");
    refuse_value("contentType");
  } else if (const auto hf = string_member(as, "headerField", where)) {
    d.kind = assert_kind::header_field;
    d.header_field = *hf;
    if (hf->empty()) fail(where, "headerField is empty");
    if (d.op == assert_operator::eval) refuse_operator("headerField");
    const bool valueless = d.op == assert_operator::empty || d.op == assert_operator::not_empty;
    if (valueless) refuse_value("operator " + std::string(to_string(*d.op)));
    if (!valueless && !d.value) fail(where, "headerField needs a 'value', or operator empty or notEmpty");
  } else if (const auto res = string_member(as, "resource", where)) {
    d.kind = assert_kind::resource;
    d.resource = *res;
    if (!op_is({assert_operator::equals, assert_operator::not_equals})) refuse_operator("resource");
    refuse_value("resource");
  } else if (const auto ex = string_member(as, "expression", where)) {
    d.kind = assert_kind::expression;
    d.expression = *ex;
    if (ex->empty()) fail(where, "expression is empty");
    const bool compares = !d.compare_source_id.empty();
    if (compares && d.value) fail(where, "takes either 'value' or compareToSourceId, not both");
    if (d.op == assert_operator::eval || d.op == assert_operator::empty || d.op == assert_operator::not_empty) {
      if (d.value || compares) fail(where, "operator " + std::string(to_string(*d.op)) + " takes no value to compare");
    } else if (d.op && !d.value && !compares) {
      fail(where, "operator " + std::string(to_string(*d.op)) + " needs a 'value' or compareToSourceId");
    }
  } else if (const auto nl = bool_member(as, "navigationLinks", where)) {
    d.kind = assert_kind::navigation_links;
    d.navigation_links = *nl;
    if (!op_is({assert_operator::equals})) refuse_operator("navigationLinks");
    refuse_value("navigationLinks");
  }
  if (d.kind != assert_kind::expression && !d.compare_source_id.empty())
    fail(where, "compareToSourceId goes with expression");
  if (failed()) return std::nullopt;
  return d;
}

std::vector<action_def> loader::read_actions(const json_value& holder, const std::string& where, bool teardown) {
  std::vector<action_def> out;
  only_known(holder, where, {"action", "name", "description"});
  const auto* actions = array_member(holder, "action", where);
  if (failed()) return out;
  if (actions == nullptr || actions->empty()) {
    fail(where, "has no action");
    return out;
  }
  int operations = 0, asserts = 0;
  for (std::size_t i = 0; i < actions->size() && !failed(); ++i) {
    const json_value& a = (*actions)[i];
    const std::string at = where + ", action " + std::to_string(i + 1);
    only_known(a, at, {"operation", "assert"});
    if (failed()) return out;
    const json_value* op = a.find("operation");
    const json_value* as = a.find("assert");
    // R4 TestScript invariants tst-1/tst-2: an operation or an assert, not
    // both; teardown actions are operations (TestScript.teardown.action).
    if ((op != nullptr) == (as != nullptr)) {
      fail(at, "needs exactly one of 'operation' and 'assert'");
      return out;
    }
    action_def act;
    if (op != nullptr) {
      auto d = read_operation(*op, where + ", operation " + std::to_string(++operations));
      if (!d) return out;
      act.operation = std::move(*d);
    } else {
      if (teardown) {
        fail(at, "teardown actions are operations only");
        return out;
      }
      auto d = read_assert(*as, where + ", assert " + std::to_string(++asserts));
      if (!d) return out;
      act.is_operation = false;
      act.assertion = std::move(*d);
    }
    out.push_back(std::move(act));
  }
  return out;
}

void loader::check_expression(const std::string& expr, const std::string& where) {
  if (failed() || expr.empty() || expr.find("${") != std::string::npos) return;
  auto parsed = fhir::fhirpath::parse(expr);
  if (!parsed) {
    fail(where, "the FHIRPath expression '" + expr + "' does not parse: " + parsed.error().message + " at " +
                    parsed.error().location);
  }
}

void loader::check_text(const std::string& text, const std::string& where, bool token_allowed) {
  if (failed()) return;
  for (const std::string& ref : references_in(text)) {
    if (ref == "runId" || variable_names_.contains(ref)) continue;
    if (ref.starts_with("token:")) {
      if (ref.size() == 6) {
        fail(where, "${token:} names no scopes");
      } else if (!token_allowed) {
        fail(where, "${" + ref + "} is only available in a test (or script) that requires client-credentials");
      }
      continue;
    }
    fail(where, "${" + ref + "} names no variable");
    return;
  }
}

void loader::check_source(const std::string& id, const std::string& where, std::string_view role) {
  if (failed() || id.empty()) return;
  if (!fixture_ids_.contains(id) && !response_ids_.contains(id))
    fail(where, std::string(role) + " '" + id + "' is neither a fixture nor a responseId or requestId of the script");
}

void loader::check_references(const script& s) {
  const auto has = [](const std::vector<requirement>& r, requirement x) {
    return std::find(r.begin(), r.end(), x) != r.end();
  };
  const bool script_tokens = has(s.requires_, requirement::client_credentials);
  for (const variable_def& v : s.variables) {
    const std::string where = "variable '" + v.name + "'";
    check_text(v.expression, where, false);
    if (v.default_value) check_text(*v.default_value, where, false);
    check_expression(v.expression, where);
    check_source(v.source_id, where, "sourceId");
  }
  const auto check_actions = [&](const std::vector<action_def>& actions, const std::string& where, bool tokens) {
    int operations = 0, asserts = 0;
    for (const action_def& a : actions) {
      if (a.is_operation) {
        const operation_def& o = a.operation;
        const std::string at = where + ", operation " + std::to_string(++operations);
        check_text(o.params, at, tokens);
        check_text(o.url, at, tokens);
        for (const auto& h : o.request_headers) check_text(h.second, at, tokens);
        check_source(o.source_id, at, "sourceId");
        check_source(o.target_id, at, "targetId");
      } else {
        const assert_def& d = a.assertion;
        const std::string at = where + ", assert " + std::to_string(++asserts);
        if (d.value) check_text(*d.value, at, tokens);
        check_text(d.expression, at, tokens);
        check_text(d.compare_source_expression, at, tokens);
        check_expression(d.expression, at);
        check_expression(d.compare_source_expression, at);
        check_source(d.source_id, at, "sourceId");
        check_source(d.compare_source_id, at, "compareToSourceId");
      }
    }
  };
  check_actions(s.setup, "setup", script_tokens);
  for (const test_def& t : s.tests)
    check_actions(t.actions, "test '" + t.name + "'",
                  script_tokens || has(t.requires_, requirement::client_credentials));
  check_actions(s.teardown, "teardown", script_tokens);
}

load_outcome loader::run(std::string_view text) {
  load_outcome out;
  fhir::json_read_options ro;
  // Lenient about FHIR's JSON rules (no empty strings, ...): an empty
  // requestHeader value is meaningful here (send no such header).
  ro.fhir_rules = false;
  auto doc = fhir::parse_json(text, ro);
  if (!doc) {
    out.error = "not JSON: " + doc.error().message + " at offset " + std::to_string(doc.error().offset);
    return out;
  }
  const json_value& root = *doc;
  const json_value* type = root.is_object() ? root.find("resourceType") : nullptr;
  if (type == nullptr || !type->is_string() || type->str() != "TestScript") {
    out.error = "not a TestScript resource (resourceType must be \"TestScript\")";
    return out;
  }
  if (root.find("modifierExtension") != nullptr)
    fail("TestScript", "has a modifierExtension, which this runner does not understand (FHIR R4 extensibility.html)");
  s_.name = string_member(root, "name", "TestScript").value_or("");
  s_.title = string_member(root, "title", "TestScript").value_or("");
  s_.description = string_member(root, "description", "TestScript").value_or("");
  out.name = s_.name;
  out.description = !s_.title.empty() ? s_.title : s_.description.substr(0, s_.description.find('\n'));
  if (failed()) {
    out.error = error_;
    return out;
  }

  // The tests' names first, so that an error anywhere still lists them.
  const auto* tests = array_member(root, "test", "TestScript");
  if (tests != nullptr) {
    for (std::size_t i = 0; i < tests->size(); ++i) {
      const json_value& t = (*tests)[i];
      const json_value* n = t.is_object() ? t.find("name") : nullptr;
      const json_value* d = t.is_object() ? t.find("description") : nullptr;
      if (n == nullptr || !n->is_string() || n->str().empty()) {
        fail("TestScript", "test " + std::to_string(i + 1) + " has no name");
        continue;
      }
      out.test_names.emplace_back(n->str(), d != nullptr && d->is_string() ? d->str() : "");
    }
  }
  if (s_.name.empty()) fail("TestScript", "'name' is missing (the suite's name)");

  s_.requires_ = requirements(root, "TestScript");
  read_fixtures(root);
  read_variables(root);
  if (const json_value* setup = root.find("setup"); setup != nullptr && !failed())
    s_.setup = read_actions(*setup, "setup", false);
  if (tests != nullptr) {
    for (const json_value& t : *tests) {
      if (failed()) break;
      test_def d;
      d.name = t.find("name")->str();
      const std::string where = "test '" + d.name + "'";
      d.description = string_member(t, "description", where).value_or("");
      d.requires_ = requirements(t, where);
      d.actions = read_actions(t, where, false);
      s_.tests.push_back(std::move(d));
    }
  }
  if (const json_value* teardown = root.find("teardown"); teardown != nullptr && !failed())
    s_.teardown = read_actions(*teardown, "teardown", true);

  if (!failed()) {
    // Ids a later action may name: fixtures, then every responseId and
    // requestId (that the response exists when it is used is checked then).
    const auto collect = [&](const std::vector<action_def>& actions) {
      for (const action_def& a : actions) {
        if (!a.is_operation) continue;
        for (const std::string* id : {&a.operation.response_id, &a.operation.request_id}) {
          if (id->empty()) continue;
          if (fixture_ids_.contains(*id)) fail("TestScript", "'" + *id + "' is both a fixture id and a response id");
          response_ids_.insert(*id);
        }
      }
    };
    collect(s_.setup);
    for (const test_def& t : s_.tests) collect(t.actions);
    collect(s_.teardown);
    check_references(s_);
  }
  if (failed()) {
    out.error = error_;
    return out;
  }
  out.loaded = std::move(s_);
  return out;
}

}  // namespace

load_outcome load_script(std::string_view json_text, const std::filesystem::path& folder) {
  loader l(folder);
  return l.run(json_text);
}

unsigned response_code_status(std::string_view name) noexcept {
  // R4 valueset-assert-response-code-types.
  static constexpr std::pair<std::string_view, unsigned> codes[] = {
      {"okay", 200},     {"created", 201},   {"noContent", 204},          {"notModified", 304},
      {"bad", 400},      {"forbidden", 403}, {"notFound", 404},           {"methodNotAllowed", 405},
      {"conflict", 409}, {"gone", 410},      {"preconditionFailed", 412}, {"unprocessable", 422}};
  for (const auto& [n, s] : codes)
    if (n == name) return s;
  return 0;
}

const char* to_string(assert_operator op) noexcept {
  switch (op) {
    case assert_operator::equals: return "equals";
    case assert_operator::not_equals: return "notEquals";
    case assert_operator::in: return "in";
    case assert_operator::not_in: return "notIn";
    case assert_operator::greater_than: return "greaterThan";
    case assert_operator::less_than: return "lessThan";
    case assert_operator::empty: return "empty";
    case assert_operator::not_empty: return "notEmpty";
    case assert_operator::contains: return "contains";
    case assert_operator::not_contains: return "notContains";
    case assert_operator::eval: return "eval";
  }
  return "";
}

std::vector<std::string> references_in(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t at = text.find("${"); at != std::string_view::npos; at = text.find("${", at)) {
    const std::size_t end = text.find('}', at + 2);
    if (end == std::string_view::npos) break;
    out.emplace_back(text.substr(at + 2, end - at - 2));
    at = end + 1;
  }
  return out;
}

}  // namespace hearth::server::conformance::detail
