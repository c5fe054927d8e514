// Batch and transaction Bundles: R4 http.html#transaction, #trules;
// bundle.html#transaction.

#include "rest_transaction.hpp"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/core/text.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/error_codes.hpp>

#include "rest_auth.hpp"
#include "rest_bundle.hpp"
#include "rest_outcome.hpp"
#include "rest_patch.hpp"

namespace hearth::server::rest {

namespace {

enum class verb : unsigned char { get, head, post, put, patch, del };

/// One entry of the request Bundle, read and (for a transaction) resolved.
struct planned {
  std::size_t index = 0;  ///< position in the request Bundle
  verb method = verb::get;
  std::string url;        ///< request.url relative to the base, no leading '/'
  std::string type;       ///< the target type (writes)
  std::string id;         ///< the target id; empty until resolved for a type-level write
  std::string query;      ///< the search of a conditional PUT/DELETE/PATCH (after '?')
  fhir::json_value resource;  ///< entry.resource; null when there is none
  std::optional<std::int64_t> if_match;  ///< request.ifMatch
  std::string if_none_exist;             ///< request.ifNoneExist
  std::string if_none_match;             ///< request.ifNoneMatch (GET)
  std::string if_modified_since;         ///< request.ifModifiedSince (GET)
  std::string full_url;                  ///< entry.fullUrl

  // Authorisation (rest_auth.hpp), set before the writes.
  /// The version the checks found the resource at: the write must meet it
  /// (a concurrent change is a conflict), as If-Match would make it.
  std::optional<std::int64_t> checked_version;
  /// A PATCH under a restricted grant: its result is checked inside the
  /// store transaction, where it is computed.
  std::optional<access> patch_access;

  // Transaction results.
  bool no_write = false;  ///< a conditional create that matched, a conditional delete that matched nothing
  /// A DELETE or PATCH of a resource the grant does not reach, answered as
  /// the same entry naming an absent id (rest_auth.hpp hidden_write) and
  /// recorded as refused (http_response::audit_entry_status).
  bool hidden = false;
  std::optional<store::resource_version> existing;  ///< the match of a conditional create
  /// The search of a conditional create, or of a conditional update that
  /// creates, that found nothing before the transaction: it runs again
  /// inside it (write_entry), so that a resource another request created
  /// meanwhile is not created twice.
  std::optional<store::search_request> create_condition;
  std::optional<store::write_outcome> outcome;      ///< what the write did
  std::optional<http_response> answer;              ///< GET entries, and every batch entry
};

/// Why a transaction fails: the entry, and the status and issue to answer.
struct failure {
  std::size_t index = 0;
  int status = 400;
  std::string code;
  std::string message;
  /// The status the AuditEvent records, when not `status` (planned::hidden).
  int audit_status = 0;
};

std::string entry_path(std::size_t i) { return "Bundle.entry[" + std::to_string(i) + "]"; }

http_response failure_response(const context& c, const failure& f) {
  // A 500 says nothing but the correlation id (CONVENTIONS.md).
  if (f.status >= 500) return internal_error(c.req.request_id, c.fmt, c.defs);
  const fhir::issue i{fhir::issue_severity::error, f.code, f.message, entry_path(f.index)};
  http_response res = outcome_response(f.status, std::span<const fhir::issue>(&i, 1), c.fmt, c.defs);
  res.audit_status = f.audit_status;
  return res;
}


std::string status_line(int status) {
  std::string s = std::to_string(status);
  const std::string_view phrase = reason_phrase(status);
  if (!phrase.empty()) {
    s += ' ';
    s += phrase;
  }
  return s;
}

const std::string* string_member(const fhir::json_value& obj, std::string_view key) {
  const fhir::json_value* v = obj.is_object() ? obj.find(key) : nullptr;
  return v != nullptr && v->is_string() ? &v->str() : nullptr;
}

/// request.url relative to the base: the server's own base URL (and a
/// leading '/') removed. http.html#transaction: "The url ... is relative to
/// the server base"; an absolute URL of this server is accepted as well.
std::string relative_url(const context& c, std::string_view url) {
  const std::string& base = c.opts.base_url;
  if (url.size() > base.size() && url.starts_with(base) && url[base.size()] == '/') url.remove_prefix(base.size());
  while (url.starts_with('/')) url.remove_prefix(1);
  return std::string(url);
}

std::optional<verb> verb_of(std::string_view m) {
  if (m == "GET") return verb::get;
  if (m == "HEAD") return verb::head;
  if (m == "POST") return verb::post;
  if (m == "PUT") return verb::put;
  if (m == "PATCH") return verb::patch;
  if (m == "DELETE") return verb::del;
  return std::nullopt;
}

/// Reads entry `i` into `p`. For a write, splits request.url into its target:
/// POST [type]; PUT, PATCH, DELETE [type]/[id] or [type]?[search].
std::optional<failure> read_entry(const context& c, const fhir::json_value& entry, std::size_t i, planned& p) {
  p.index = i;
  auto bad = [i](std::string message) { return failure{i, 400, "invalid", std::move(message)}; };
  if (!entry.is_object()) return bad("an entry must be an object");
  if (const std::string* f = string_member(entry, "fullUrl")) p.full_url = *f;
  if (const fhir::json_value* r = entry.find("resource")) p.resource = *r;
  const fhir::json_value* req = entry.find("request");
  if (req == nullptr || !req->is_object()) return bad("the entry has no request (bundle.html bdl-3)");
  const std::string* method = string_member(*req, "method");
  const std::string* url = string_member(*req, "url");
  if (method == nullptr || url == nullptr) return bad("the entry's request needs a method and a url");
  const auto m = verb_of(*method);
  if (!m) return bad("the entry's request.method is not an HTTP verb FHIR defines");
  p.method = *m;
  p.url = relative_url(c, *url);
  if (const std::string* v = string_member(*req, "ifMatch")) {
    p.if_match = parse_etag(*v);
    if (!p.if_match) return bad("request.ifMatch must be a version ETag such as W/\"1\"");
  }
  if (const std::string* v = string_member(*req, "ifNoneExist")) p.if_none_exist = *v;
  if (const std::string* v = string_member(*req, "ifNoneMatch")) p.if_none_match = *v;
  if (const std::string* v = string_member(*req, "ifModifiedSince")) p.if_modified_since = *v;
  if (p.url.empty() || p.url.starts_with('?') || p.url.starts_with('$')) {
    if (p.method == verb::post) return bad("an entry cannot itself be a batch, a transaction or an operation");
  }
  if (p.method == verb::get || p.method == verb::head) return std::nullopt;

  const std::size_t q = p.url.find('?');
  const std::string path = p.url.substr(0, q);
  if (q != std::string::npos) p.query = p.url.substr(q + 1);
  const std::size_t slash = path.find('/');
  p.type = path.substr(0, slash);
  if (!c.defs.is_resource_type(p.type)) return failure{i, 404, "not-found", "request.url names no resource type"};
  if (slash != std::string::npos) {
    p.id = path.substr(slash + 1);
    if (!valid_id(p.id)) return bad("request.url must be [type] or [type]/[id] (R4 datatypes.html#id)");
    if (!p.query.empty()) return bad("request.url has both an id and a search");
  }
  switch (p.method) {
    case verb::post:
      if (!p.id.empty() || q != std::string::npos) return bad("a POST entry's url is the resource type alone");
      break;
    case verb::put:
    case verb::patch:
    case verb::del:
      if (p.id.empty() && p.query.empty()) {
        return bad("the entry's url needs an id, or search parameters for a conditional interaction");
      }
      break;
    default: break;
  }
  if (p.method == verb::post || p.method == verb::put) {
    const std::string* rt = string_member(p.resource, "resourceType");
    if (rt == nullptr) return bad("a POST or PUT entry needs a resource");
    if (*rt != p.type) return bad("the entry's resource type does not match its request.url");
    if (p.method == verb::put && !p.id.empty()) {
      // R4 http.html#update: the id in the body must equal the id in the URL.
      const std::string* body_id = string_member(p.resource, "id");
      if (body_id == nullptr || *body_id != p.id) return bad("the entry's resource id must equal the id in its url");
    }
  }
  if (p.method == verb::patch && p.resource.is_null()) return bad("a PATCH entry needs a resource holding the patch");
  return std::nullopt;
}

// ---------------------------------------------------------------- patch

/// The media type of JSON Patch (RFC 6902 section 6).
constexpr std::string_view json_patch_type = "application/json-patch+json";

/// A PATCH entry's JSON Patch: http.html#transaction carries it in a Binary
/// whose contentType is application/json-patch+json and whose data is the
/// document, base64 encoded. nullopt for anything else (a FHIRPath Patch is
/// a Parameters resource, sent as it is).
struct patch_document {
  std::string content_type;
  std::string body;
};
std::optional<patch_document> json_patch_of(const fhir::json_value& resource) {
  const std::string* rt = string_member(resource, "resourceType");
  const std::string* ct = string_member(resource, "contentType");
  const std::string* data = string_member(resource, "data");
  if (rt == nullptr || *rt != "Binary" || ct == nullptr || data == nullptr) return std::nullopt;
  if (!text::iequals(text::trim(std::string_view(*ct).substr(0, ct->find(';'))), json_patch_type)) return std::nullopt;
  auto body = base64::decode(*data);
  if (!body) return std::nullopt;
  return patch_document{std::string(json_patch_type), std::move(*body)};
}

/// An entry whose resource the validation policy refuses (validate_write,
/// enforce mode): the entry's failure, 422 with the first error and where it
/// is; nullopt when the entry may be written.
std::optional<failure> validation_failure(const context& c, std::size_t index, const fhir::json_value& resource) {
  write_validation v = validate_write(c, resource);
  if (!v.refusal) return std::nullopt;
  if (v.refusal->status >= 500) return failure{index, 500, "exception", "internal error"};
  std::string message = "the entry's resource is not valid against its profiles and bindings";
  std::string code = "invalid";
  if (v.first_error) {
    message += ": " + v.first_error->diagnostics;
    if (!v.first_error->expression.empty()) message += " (at " + v.first_error->expression + ")";
    code = v.first_error->code;
  }
  return failure{index, 422, std::move(code), std::move(message)};
}

/// A transaction's PATCH: `patch` (a Parameters, or a Binary holding a JSON
/// Patch) applied to the current version, which must stay the same resource
/// and pass the structural checks, as a PATCH of its own must
/// (rest_patch.hpp). The failure is the entry's: 400 for a malformed patch,
/// 422 for one that cannot be applied or gives an invalid resource.
hearth::result<fhir::json_value, failure> patched(const context& c, std::size_t index,
                                                  const store::resource_version& current,
                                                  const fhir::json_value& patch) {
  auto fail = [index](int status, std::string code, std::string message) {
    return hearth::unexpected(failure{index, status, std::move(code), std::move(message)});
  };
  auto resource = fhir::parse_json(current.json);
  if (!resource) return fail(500, "exception", "internal error");
  hearth::result<void, patch_error> applied;
  const std::string* rt = string_member(patch, "resourceType");
  if (rt != nullptr && *rt == "Parameters") {
    applied = apply_fhirpath_patch(*resource, patch, c.defs);
  } else if (auto doc = json_patch_of(patch)) {
    auto ops = fhir::parse_json(doc->body);
    if (!ops) return fail(400, "invalid", "the Binary's data is not a JSON Patch document");
    applied = apply_json_patch(*resource, *ops);
  } else {
    return fail(400, "invalid",
                "a PATCH entry holds a Parameters (FHIRPath Patch) or a Binary with an application/json-patch+json "
                "document");
  }
  if (!applied) {
    const patch_error& e = applied.error();
    return fail(e.malformed ? 400 : 422, e.error.code, e.error.message);
  }
  const std::string* new_rt = string_member(*resource, "resourceType");
  const std::string* new_id = string_member(*resource, "id");
  if (new_rt == nullptr || *new_rt != current.type || new_id == nullptr || *new_id != current.id) {
    return fail(422, "invalid", "a patch may not change the resource type or id");
  }
  const fhir::issue_list issues = fhir::check_resource(*resource, c.defs);
  for (const fhir::issue& i : issues) {
    if (i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal) {
      return fail(422, i.code, "the patched resource is not valid: " + i.diagnostics);
    }
  }
  // The validation policy holds inside a transaction as outside it.
  if (auto f = validation_failure(c, index, *resource)) return hearth::unexpected(std::move(*f));
  return std::move(*resource);
}

// ---------------------------------------------------------------- batch

/// The request an entry describes, as fhir_api receives requests of its own:
/// its answer is then the answer a client sending it alone would get.
http_request sub_request(const context& c, const planned& p, std::string_view method) {
  http_request r;
  r.method = std::string(method);
  r.target = "/" + p.url;
  r.remote_address = c.req.remote_address;
  r.request_id = c.req.request_id;
  // SECURITY.md "Batch/transaction: authorise every entry": an entry is
  // checked as a request of its own, with the Bundle's principal.
  r.principal = c.req.principal;
  // Always JSON (it is parsed back into the response Bundle) and always the
  // representation (the entry's response.lastModified comes from it; the
  // Prefer of the Bundle's own request is applied when the entry is built).
  r.headers.push_back({"Accept", "application/fhir+json"});
  // The search handling of the Bundle's request holds for its entries.
  r.headers.push_back({"Prefer", std::string("return=representation, handling=") +
                                     (c.handling == store::search_handling::strict ? "strict" : "lenient")});
  if (p.if_match) r.headers.push_back({"If-Match", etag(*p.if_match)});
  if (!p.if_none_exist.empty()) r.headers.push_back({"If-None-Exist", p.if_none_exist});
  if (!p.if_none_match.empty()) r.headers.push_back({"If-None-Match", p.if_none_match});
  if (!p.if_modified_since.empty()) r.headers.push_back({"If-Modified-Since", p.if_modified_since});
  if (!p.resource.is_null()) {
    // A PATCH entry's JSON Patch travels in a Binary (http.html#transaction);
    // hand it over as the patch document it holds.
    if (p.method == verb::patch) {
      if (auto doc = json_patch_of(p.resource)) {
        r.headers.push_back({"Content-Type", doc->content_type});
        r.body = std::move(doc->body);
        return r;
      }
    }
    r.headers.push_back({"Content-Type", "application/fhir+json"});
    r.body = fhir::to_json(p.resource);
  }
  return r;
}

std::string_view method_name(verb v) {
  switch (v) {
    case verb::get: return "GET";
    case verb::head: return "HEAD";
    case verb::post: return "POST";
    case verb::put: return "PUT";
    case verb::patch: return "PATCH";
    case verb::del: return "DELETE";
  }
  return "GET";
}

/// An OperationOutcome with one issue, as a tree (Bundle.entry.response.outcome).
fhir::json_value outcome_tree(fhir::issue_severity severity, std::string_view code, std::string_view message,
                              std::string_view expression) {
  fhir::json_value issue = fhir::json_value::object();
  issue.set("severity", severity == fhir::issue_severity::information ? "information" : "error");
  issue.set("code", code);
  issue.set("diagnostics", message);
  if (!expression.empty()) {
    fhir::json_value ex = fhir::json_value::array();
    ex.push_back(expression);
    issue.set("expression", std::move(ex));
  }
  fhir::json_value issues = fhir::json_value::array();
  issues.push_back(std::move(issue));
  fhir::json_value oo = fhir::json_value::object();
  oo.set("resourceType", "OperationOutcome");
  oo.set("issue", std::move(issues));
  return oo;
}

/// A batch entry's answer as a response Bundle entry: the status, the
/// Location/ETag/Last-Modified headers as response members, the body as the
/// resource (or, for a failure, as response.outcome), Prefer applied.
bundle_entry entry_of_answer(const context& c, verb method, const http_response& res) {
  bundle_entry e;
  fhir::json_value response = fhir::json_value::object();
  response.set("status", status_line(res.status));
  if (const auto loc = res.header("Location")) response.set("location", *loc);
  if (const auto tag = res.header("ETag")) response.set("etag", *tag);
  fhir::json_value body;
  if (!res.body.empty()) {
    if (auto parsed = fhir::parse_json(res.body)) body = std::move(*parsed);
  }
  if (const fhir::json_value* meta = body.is_object() ? body.find("meta") : nullptr) {
    if (const std::string* lu = string_member(*meta, "lastUpdated")) response.set("lastModified", *lu);
  }
  const std::string* rt = string_member(body, "resourceType");
  if (res.status >= 400) {
    if (rt != nullptr && *rt == "OperationOutcome") response.set("outcome", std::move(body));
  } else if (rt != nullptr && method != verb::head) {
    const bool is_write = method != verb::get;
    if (!is_write || c.return_pref == return_preference::representation) {
      if (const std::string* id = string_member(body, "id"); id != nullptr && *rt != "Bundle") {
        e.full_url = c.opts.base_url + "/" + *rt + "/" + *id;
      }
      e.built = std::move(body);
    } else if (c.return_pref == return_preference::outcome) {
      response.set("outcome", outcome_tree(fhir::issue_severity::information, "informational",
                                           res.status == 201 ? "created" : "done", ""));
    }
  }
  e.tail.set("response", std::move(response));
  return e;
}

http_response write_response_bundle(const context& c, bundle& b) {
  auto body = write_bundle(b, c.fmt, c.defs);
  if (!body) return internal_error(c.req.request_id, c.fmt, c.defs);
  http_response res;
  res.body = std::move(*body);
  res.set_header("Content-Type", content_type(c.fmt.format));
  return res;
}

http_response run_batch(const context& c, const fhir::json_value::array_type& entries, const dispatcher& dispatch) {
  bundle out;
  out.type = "batch-response";
  out.entries.reserve(entries.size());
  std::vector<std::pair<std::size_t, int>> recorded_as;
  // R4 http.html#transaction: the entries of a batch are independent; each
  // succeeds or fails on its own and is reported in its response entry.
  for (std::size_t i = 0; i < entries.size(); ++i) {
    planned p;
    if (const auto f = read_entry(c, entries[i], i, p)) {
      bundle_entry e;
      fhir::json_value response = fhir::json_value::object();
      response.set("status", status_line(f->status));
      response.set("outcome", outcome_tree(fhir::issue_severity::error, f->code, f->message, entry_path(i)));
      e.tail.set("response", std::move(response));
      out.entries.push_back(std::move(e));
      continue;
    }
    const http_response res = dispatch(sub_request(c, p, method_name(p.method)));
    out.entries.push_back(entry_of_answer(c, p.method, res));
    if (res.audit_status != 0) recorded_as.emplace_back(i, res.audit_status);  // rest_auth.hpp hidden_write
  }
  http_response res = write_response_bundle(c, out);
  res.audit_entry_status = std::move(recorded_as);
  return res;
}

// ---------------------------------------------------------- transaction

/// fullUrl (urn:uuid:, urn:oid:) -> "Type/id": what the references to an
/// entry become once its id is known (http.html#trules).
using id_map = std::map<std::string, std::string, std::less<>>;

bool is_placeholder(std::string_view url) { return url.starts_with("urn:uuid:") || url.starts_with("urn:oid:"); }

/// Replaces placeholders in XHTML attribute values: <a href="urn:uuid:..">
/// and <img src="urn:uuid:.."> (http.html#trules).
void rewrite_narrative(fhir::json_value& div, const id_map& ids) {
  std::string s = div.str();
  bool changed = false;
  for (const auto& [from, to] : ids) {
    for (const char quote : {'"', '\''}) {
      const std::string needle = std::string("=") + quote + from + quote;
      const std::string repl = std::string("=") + quote + to + quote;
      for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + repl.size())) {
        s.replace(at, needle.size(), repl);
        changed = true;
      }
    }
  }
  if (changed) div = fhir::json_value(std::move(s));
}

/// Walks a resource: every string equal to a placeholder fullUrl becomes
/// the entry's Type/id. R4 http.html#trules: "Servers SHALL replace all
/// matching links in the bundle, whether they are found in the resource ids,
/// resource references, elements of type uri, url, oid, uuid, and <a href=""
/// & <img src="" in the narrative." (Elements of type canonical should keep
/// theirs; Hearth does not tell them apart here: a canonical holding a
/// urn:uuid: of an entry of the same Bundle is replaced too.)
/// `refs` collects, for checking, every Reference.reference met.
void rewrite_links(fhir::json_value& v, const id_map& ids, std::vector<fhir::json_value*>& refs) {
  if (v.is_object()) {
    for (fhir::json_member& m : v.members()) {
      if (m.value.is_string()) {
        if (m.key == "div") {
          rewrite_narrative(m.value, ids);
          continue;
        }
        if (const auto it = ids.find(m.value.str()); it != ids.end()) m.value = fhir::json_value(it->second);
        if (m.key == "reference") refs.push_back(&m.value);
      } else {
        rewrite_links(m.value, ids, refs);
      }
    }
  } else if (v.is_array()) {
    for (fhir::json_value& item : v.items()) {
      if (item.is_string()) {
        if (const auto it = ids.find(item.str()); it != ids.end()) item = fhir::json_value(it->second);
      } else {
        rewrite_links(item, ids, refs);
      }
    }
  }
}

/// A failure from a conditional search: "invalid" is the client's (400),
/// anything else the store's.
failure search_failure(std::size_t i, const hearth::error& e) {
  const int status = status_of_store_error(e.code);
  if (status == 500) return failure{i, 500, "exception", "internal error"};
  return failure{i, status, e.code, e.message};
}

/// Step one of http.html#trules: every conditional interaction's search, run
/// before the writes (against what is stored before the transaction), and
/// every id assigned.
std::optional<failure> resolve_targets(const context& c, std::vector<planned>& plan, id_map& ids) {
  for (planned& p : plan) {
    if (p.method == verb::get || p.method == verb::head) continue;
    if (p.method == verb::post) {
      if (!p.if_none_exist.empty()) {
        auto req = conditional_search(c, p.type, p.if_none_exist);
        if (!req) return search_failure(p.index, req.error());
        auto m = run_conditional(c, *req);
        if (!m) return search_failure(p.index, m.error());
        if (m->count == 0) p.create_condition = std::move(*req);
        if (m->count > 1) return failure{p.index, 412, "duplicate", "ifNoneExist matches more than one resource"};
        if (m->count == 1) {
          p.no_write = true;
          p.id = m->match->id;
          p.existing = std::move(m->match);
        }
      }
      if (p.id.empty()) p.id = store::resource_store::new_id();
    } else if (p.id.empty()) {
      // Conditional update, patch, delete (http.html#cond-update, #cdelete).
      auto req = conditional_search(c, p.type, p.query);
      if (!req) return search_failure(p.index, req.error());
      auto m = run_conditional(c, *req);
      if (!m) return search_failure(p.index, m.error());
      if (m->count == 0 && p.method == verb::put) p.create_condition = std::move(*req);
      if (m->count > 1) {
        return failure{p.index, 412, "multiple-matches", "the conditional url matches more than one resource"};
      }
      if (m->count == 1) {
        p.id = m->match->id;
        if (!p.if_match) p.if_match = m->match->version_id;  // it must still be the match when written
      } else if (p.method == verb::del) {
        p.no_write = true;  // nothing to delete: not an error (http.html#cdelete)
      } else if (p.method == verb::patch) {
        return failure{p.index, 404, "not-found", "the conditional url matches no resource to patch"};
      } else {
        // No match: a create; an id in the body is kept (update-as-create).
        const std::string* body_id = string_member(p.resource, "id");
        p.id = body_id != nullptr && valid_id(*body_id) ? *body_id : store::resource_store::new_id();
      }
      if (p.method == verb::put) {
        const std::string* body_id = string_member(p.resource, "id");
        if (body_id != nullptr && *body_id != p.id) {
          return failure{p.index, 400, "invalid", "the resource id differs from the resource the condition found"};
        }
      }
    }
    if (is_placeholder(p.full_url) && !p.id.empty()) {
      if (!ids.emplace(p.full_url, p.type + "/" + p.id).second) {
        return failure{p.index, 400, "invalid", "two entries have the same fullUrl"};
      }
    }
  }
  // http.html#trules: "If any resource identities (including resolved
  // identities from conditional update/delete) overlap in steps 1-3, then the
  // transaction SHALL fail."
  std::set<std::string, std::less<>> seen;
  for (const planned& p : plan) {
    if (p.method == verb::get || p.method == verb::head || p.no_write) continue;
    if (!seen.insert(p.type + "/" + p.id).second) {
      return failure{p.index, 400, "invalid", "two entries of the transaction write the same resource"};
    }
  }
  return std::nullopt;
}

/// Rewrites placeholders and resolves conditional references in every
/// resource the transaction writes (http.html#trules, "Conditional
/// References").
std::optional<failure> resolve_references(const context& c, std::vector<planned>& plan, const id_map& ids) {
  for (planned& p : plan) {
    if (p.resource.is_null() || p.method == verb::get || p.method == verb::head || p.method == verb::del) continue;
    std::vector<fhir::json_value*> refs;
    rewrite_links(p.resource, ids, refs);
    if (p.method == verb::post || p.method == verb::put) p.resource.set("id", p.id);
    for (fhir::json_value* ref : refs) {
      const std::string& r = ref->str();
      if (is_placeholder(r)) {
        return failure{p.index, 400, "invalid", "a reference names a urn:uuid/urn:oid that no entry's fullUrl has"};
      }
      const std::size_t q = r.find('?');
      if (q == std::string::npos) continue;
      const std::string type = r.substr(0, q);
      if (!c.defs.is_resource_type(type)) continue;  // an absolute URL with a query: not ours to resolve
      auto m = resolve_conditional(c, type, std::string_view(r).substr(q + 1));
      if (!m) return search_failure(p.index, m.error());
      if (m->count != 1) {
        return failure{p.index, 412, m->count == 0 ? "not-found" : "multiple-matches",
                       m->count == 0 ? "a conditional reference matches no resource"
                                     : "a conditional reference matches more than one resource"};
      }
      *ref = fhir::json_value(type + "/" + m->match->id);
    }
  }
  return std::nullopt;
}

/// The status a failed write answers (as the same interaction alone would).
failure write_failure_of(const planned& p, const hearth::error& e) {
  if (e.code == store::error_codes::invalid || e.code == store::error_codes::not_supported) {
    return failure{p.index, 422, e.code, e.message};
  }
  int status = status_of_store_error(e.code);
  if (status == 409 && p.if_match) status = 412;  // http.html#concurrency
  if (status == 500) return failure{p.index, 500, "exception", "internal error"};
  return failure{p.index, status, e.code, e.message};
}

/// A denied entry of a transaction. An AuditEvent write is 403 here, not the
/// 405 it is alone: the POST [base] that carries it is allowed.
failure denied(std::size_t index, const access& a, std::string_view why = {}) {
  if (a.immutable) {
    return failure{index, 403, "forbidden",
                   "AuditEvent resources cannot be created, changed or deleted through the API: the audit trail is "
                   "immutable"};
  }
  const hearth::error e = forbidden_error(a, why);
  return failure{index, 403, e.code, e.message};
}

/// The interaction and type of a GET entry's url (R4 http.html#general),
/// for the check made before the writes; nullopt for urls whose answer the
/// router checks alone after the commit (operations) or refuses.
std::optional<std::pair<auth::interaction, std::string>> read_kind(const context& c, std::string_view url) {
  url = url.substr(0, url.find('?'));
  std::vector<std::string_view> s;
  while (!url.empty() && s.size() < 5) {
    const std::size_t slash = url.find('/');
    s.push_back(url.substr(0, slash));
    url = slash == std::string_view::npos ? std::string_view() : url.substr(slash + 1);
  }
  if (!url.empty() || s.empty()) return std::nullopt;
  using auth::interaction;
  if (s.size() == 1 && s[0] == "_history") return std::pair{interaction::history_system, std::string()};
  if (!c.defs.is_resource_type(s[0])) return std::nullopt;
  const std::string type(s[0]);
  if (s.size() == 1) return std::pair{interaction::search_type, type};
  if (s.size() == 2 && s[1] == "_history") return std::pair{interaction::history_type, type};
  if (s[1].starts_with('_') || s[1].starts_with('$')) return std::nullopt;
  if (s.size() == 2) return std::pair{interaction::read, type};
  if (s[2] == "_history") {
    if (s.size() == 3) return std::pair{interaction::history_instance, type};
    if (s.size() == 4) return std::pair{interaction::vread, type};
    return std::nullopt;
  }
  if (s.size() == 3 && c.defs.is_resource_type(s[2])) return std::pair{interaction::search_type, std::string(s[2])};
  return std::nullopt;
}

/// SMART scopes (rest_auth.hpp) for every entry, before anything commits:
/// the letter of each write, and under a patient-level or granular grant
/// the version replaced or deleted and the new content; GET entries at the
/// type level (what they find is checked when they run, as requests of
/// their own). The conditional searches ran restricted already
/// (resolve_conditional).
std::optional<failure> authorize_entries(const context& c, std::vector<planned>& plan) {
  using auth::interaction;
  for (planned& p : plan) {
    if (p.method == verb::get || p.method == verb::head) {
      if (!enforced(c)) continue;
      const auto kind = read_kind(c, p.url);
      if (!kind) continue;
      const access a = authorize(c, kind->first, kind->second);
      if (!a.allowed) return denied(p.index, a);
      const bool wide = kind->first == interaction::history_type || kind->first == interaction::history_system;
      if (wide && !a.unrestricted()) {
        return denied(p.index, a, "history of a type or of the system needs a grant without patient or granular "
                                  "restriction");
      }
      continue;
    }
    const interaction what = p.method == verb::post    ? interaction::create
                             : p.method == verb::put   ? interaction::update
                             : p.method == verb::patch ? interaction::patch
                                                       : interaction::remove;
    const access a = authorize(c, what, p.type);
    if (!a.allowed) return denied(p.index, a);
    if (a.unrestricted() || p.no_write) continue;
    if ((p.method == verb::post || p.method == verb::put) && !reaches_content(c, a, p.resource)) {
      return denied(p.index, a, "the resource is outside what the granted scopes reach");
    }
    if (p.method != verb::post) {
      auto old = current_for_write(c, a, p.type, p.id);
      if (!old && old.error().code == "forbidden" && (p.method == verb::del || p.method == verb::patch)) {
        // Not the grant's to see: the entry is answered as one naming an
        // absent id (SECURITY.md: no difference between "not yours" and "does
        // not exist") when its turn to write comes (write_entry).
        p.hidden = true;
        if (p.method == verb::del && !p.if_match) p.no_write = true;  // deleting nothing is not an error
        continue;
      }
      if (!old) {
        if (old.error().code == "forbidden") return failure{p.index, 403, old.error().code, old.error().message};
        return search_failure(p.index, old.error());
      }
      if (*old) p.checked_version = (*old)->version_id;
    }
    if (p.method == verb::patch) p.patch_access = a;
  }
  return std::nullopt;
}

/// A create decided by a search before the transaction (create_condition)
/// holds only if the search still finds nothing but what this Bundle wrote
/// (http.html#trules: the conditions are about what was stored before it):
/// a match created meanwhile by another request makes the transaction a
/// conflict (409; nothing commits) instead of a second resource. On
/// PostgreSQL find_matches serialises conditional writes of the type across
/// processes (resource_tx::find_matches).
hearth::result<void> recheck_create(store::resource_tx& tx, const planned& p, const std::set<std::string>& written) {
  if (!p.create_condition) return {};
  auto found = tx.find_matches(*p.create_condition, written.size() + 1);
  if (!found) return hearth::unexpected(std::move(found).error());
  for (const store::resource_version& v : *found) {
    if (written.count(v.type + "/" + v.id) == 0) {
      return hearth::unexpected(hearth::error{std::string(store::error_codes::conflict),
                                              "a resource matching the condition was created by another request "
                                              "while this transaction was prepared: send it again",
                                              "", hearth::error::npos});
    }
  }
  return {};
}

/// One write inside the store transaction. A failure that is not the
/// store's (a patch that cannot be applied) is put in `failed`. `written`:
/// the resources this Bundle wrote before (Type/id).
hearth::result<void> write_entry(store::resource_tx& tx, const context& c, planned& p, const store::write_hook& hook,
                                 std::optional<failure>& failed, const std::set<std::string>& written) {
  if (auto r = recheck_create(tx, p, written); !r) return r;
  const std::optional<std::int64_t> expected = p.if_match ? p.if_match : p.checked_version;
  if (p.hidden) {
    // What the store answers for an absent id (resource_store.cpp): a patch
    // finds nothing; a delete with If-Match meets no version.
    const hearth::error e =
        p.method == verb::patch
            ? hearth::error{std::string(store::error_codes::not_found), "no resource with this id", "", hearth::error::npos}
            : hearth::error{std::string(store::error_codes::conflict),
                            "version conflict: the current version is not version " + std::to_string(expected.value_or(0)),
                            "", hearth::error::npos};
    failed = write_failure_of(p, e);
    failed->audit_status = 403;
    return hearth::unexpected(e);
  }
  hearth::result<store::write_outcome> w = hearth::unexpected(hearth::error{"exception", "no write", "", hearth::error::npos});
  switch (p.method) {
    case verb::del: {
      store::delete_options o;
      o.expected_version = expected;
      w = tx.remove(p.type, p.id, o);
      break;
    }
    case verb::post: {
      store::update_options o;  // a new id: update-as-create
      w = tx.update(p.type, p.id, std::move(p.resource), o);
      break;
    }
    case verb::put: {
      store::update_options o;
      o.expected_version = expected;
      w = tx.update(p.type, p.id, std::move(p.resource), o);
      break;
    }
    case verb::patch: {
      auto current = tx.read(p.type, p.id);
      if (!current) return hearth::unexpected(std::move(current).error());
      if (expected && *expected != current->version_id) {
        return hearth::unexpected(hearth::error{std::string(store::error_codes::conflict), "the resource is at another version",
                                                "", hearth::error::npos});
      }
      auto result = patched(c, p.index, *current, p.resource);
      if (!result) {
        failed = std::move(result).error();
        return hearth::unexpected(hearth::error{"invalid", failed->message, "", hearth::error::npos});
      }
      if (p.patch_access && !reaches_content(c, *p.patch_access, *result)) {
        const hearth::error e =
            forbidden_error(*p.patch_access, "the patched resource would be outside what the granted scopes reach");
        failed = failure{p.index, 403, e.code, e.message};
        return hearth::unexpected(e);
      }
      store::update_options o;
      o.expected_version = current->version_id;
      o.allow_create = false;
      w = tx.update(p.type, p.id, std::move(*result), o);
      break;
    }
    default: return {};
  }
  if (!w) return hearth::unexpected(std::move(w).error());
  // The request's write hook (api_options::make_write_hook: the AuditEvent)
  // after each entry's write, in the same transaction.
  if (hook) {
    if (auto r = hook(tx, *w); !r) return r;
  }
  p.outcome = std::move(*w);
  return {};
}

bundle_entry entry_of_write(const context& c, const planned& p) {
  bundle_entry e;
  fhir::json_value response = fhir::json_value::object();
  const store::resource_version* v = nullptr;
  int status = 200;
  if (p.method == verb::del) {
    status = 204;
    if (p.outcome && p.outcome->version.version_id > 0) response.set("etag", etag(p.outcome->version.version_id));
  } else if (p.existing) {
    v = &*p.existing;  // a conditional create that found its resource: 200, nothing written
  } else if (p.outcome) {
    v = &p.outcome->version;
    status = p.outcome->created ? 201 : 200;
  }
  response.set("status", status_line(status));
  if (v != nullptr) {
    e.full_url = c.opts.base_url + "/" + v->type + "/" + v->id;
    if (status == 201) response.set("location", location_of(c, *v));
    response.set("etag", etag(v->version_id));
    response.set("lastModified", store::format_instant(v->last_updated));
    if (c.return_pref == return_preference::representation) e.stored = v;
  }
  if (c.return_pref == return_preference::outcome) {
    response.set("outcome", outcome_tree(fhir::issue_severity::information, "informational",
                                         p.method == verb::del ? "deleted" : status == 201 ? "created" : "done", ""));
  }
  e.tail.set("response", std::move(response));
  return e;
}

http_response run_transaction(const context& c, const fhir::json_value::array_type& entries,
                              const dispatcher& dispatch) {
  std::vector<planned> plan(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (const auto f = read_entry(c, entries[i], i, plan[i])) return failure_response(c, *f);
  }
  id_map ids;
  if (const auto f = resolve_targets(c, plan, ids)) return failure_response(c, *f);
  if (const auto f = resolve_references(c, plan, ids)) return failure_response(c, *f);
  // The validation policy (validate_write): each POST and PUT entry's
  // resource as it will be written, references resolved; PATCH entries are
  // validated once patched.
  for (const planned& p : plan) {
    if ((p.method == verb::post || p.method == verb::put) && !p.resource.is_null() && !p.no_write) {
      if (const auto f = validation_failure(c, p.index, p.resource)) return failure_response(c, *f);
    }
  }
  // SECURITY.md: every entry is authorised before anything commits; one
  // denial fails the whole transaction.
  if (const auto f = authorize_entries(c, plan)) return failure_response(c, *f);
  const store::write_hook hook = write_hook_of(c);

  // http.html#trules: DELETE, then POST, then PUT and PATCH, then GET/HEAD.
  std::vector<planned*> order;
  for (const verb step : {verb::del, verb::post, verb::put}) {
    for (planned& p : plan) {
      const bool in_step = p.method == step || (step == verb::put && p.method == verb::patch);
      if (in_step && !p.no_write) order.push_back(&p);
    }
  }
  std::optional<failure> failed;
  auto committed = c.store.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    std::set<std::string> written;
    for (planned* p : order) {
      if (auto r = write_entry(tx, c, *p, hook, failed, written); !r) {
        if (!failed) failed = write_failure_of(*p, r.error());
        return r;
      }
      written.insert(p->type + "/" + p->id);
    }
    return {};
  });
  if (!committed) {
    if (failed) return failure_response(c, *failed);
    return internal_error(c.req.request_id, c.fmt, c.defs);
  }

  // The reads, after the writes they may look at (the transaction has
  // committed: a failing read is reported in its entry, not rolled back).
  for (planned& p : plan) {
    if (p.method == verb::get || p.method == verb::head) p.answer = dispatch(sub_request(c, p, "GET"));
  }
  bundle out;
  out.type = "transaction-response";
  out.entries.reserve(plan.size());
  std::vector<std::pair<std::size_t, int>> recorded_as;
  for (const planned& p : plan) {
    out.entries.push_back(p.answer ? entry_of_answer(c, p.method, *p.answer) : entry_of_write(c, p));
    if (p.hidden) recorded_as.emplace_back(p.index, 403);
  }
  http_response res = write_response_bundle(c, out);
  res.audit_entry_status = std::move(recorded_as);
  return res;
}

}  // namespace

http_response batch_or_transaction(const context& c, const dispatcher& dispatch) {
  auto body = read_resource_body(c, "Bundle");
  if (!body.resource) return std::move(body.error);
  const fhir::json_value& b = *body.resource;
  const std::string* type = string_member(b, "type");
  const bool transaction = type != nullptr && *type == "transaction";
  if (!transaction && (type == nullptr || *type != "batch")) {
    return error_response(400, "invalid", "POST [base] takes a Bundle of type batch or transaction", c.fmt, c.defs);
  }
  static const fhir::json_value::array_type no_entries;
  const fhir::json_value* e = b.find("entry");
  const fhir::json_value::array_type& entries = e != nullptr && e->is_array() ? e->items() : no_entries;
  if (entries.size() > max_bundle_entries) {
    return error_response(413, "too-costly",
                          "the Bundle has more than " + std::to_string(max_bundle_entries) + " entries", c.fmt, c.defs);
  }
  return transaction ? run_transaction(c, entries, dispatch) : run_batch(c, entries, dispatch);
}

}  // namespace hearth::server::rest
