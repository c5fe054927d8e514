#pragma once
// Shared by the fhir_api tests ("api: ..."): a fhir_api over a fresh
// temporary SQLite store (the store tests' store_case), and small helpers to
// send it requests and look at its answers.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/smart_scopes.hpp>

#include "store/store_test_db.hpp"

namespace hearth::server::test {

using store::test::registry;

inline constexpr std::string_view fhir_json = "application/fhir+json";
inline constexpr std::string_view fhir_xml = "application/fhir+xml";
inline constexpr std::string_view base = "http://test.example/fhir";

/// The instant every write is stamped with unless a case moves the clock:
/// 2024-03-01T12:00:00.250Z, a Friday.
inline store::instant test_epoch() {
  using namespace std::chrono;
  return store::instant(sys_days(year(2024) / March / 1) + hours(12) + milliseconds(250));
}

/// One case: a database, a store, and the API over it, with base_url `base`.
/// SMART enforcement (api_options::enforce_authorization) is off unless
/// `enforce` is true: these cases test the interactions themselves, and
/// send no principal; fhir_api_auth_test.cpp tests the checks.
struct api_case {
  explicit api_case(api_options o = default_options(), bool enforce = false)
      : sc(), api(sc.rs, registry(), authorisation(std::move(o), enforce)) {
    sc.rs.set_clock([this] { return now; });
  }

  static api_options default_options() {
    api_options o;
    o.base_url = std::string(base);
    return o;
  }

  static api_options authorisation(api_options o, bool enforce) {
    if (!enforce) o.enforce_authorization = false;
    return o;
  }

  http_response send(std::string method, std::string target, std::string body = {},
                     std::vector<http_header> headers = {}) const {
    http_request req;
    req.method = std::move(method);
    req.target = "/fhir" + std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.remote_address = "127.0.0.1";
    req.request_id = "req-42";
    return api.handle(req);
  }
  http_response get(std::string target, std::vector<http_header> headers = {}) const {
    return send("GET", std::move(target), {}, std::move(headers));
  }
  /// POST/PUT a JSON body (Content-Type application/fhir+json unless given).
  http_response post(std::string target, std::string body, std::vector<http_header> headers = {}) const {
    return send("POST", std::move(target), std::move(body), with_type(std::move(headers)));
  }
  http_response put(std::string target, std::string body, std::vector<http_header> headers = {}) const {
    return send("PUT", std::move(target), std::move(body), with_type(std::move(headers)));
  }
  http_response del(std::string target, std::vector<http_header> headers = {}) const {
    return send("DELETE", std::move(target), {}, std::move(headers));
  }

  /// Creates a resource; returns its id (fails the case otherwise).
  std::string create(std::string_view type, std::string body) const {
    const http_response r = post("/" + std::string(type), std::move(body));
    if (r.status != 201) {
      std::fprintf(stderr, "create failed: %d %s\n", r.status, r.body.c_str());
      std::abort();
    }
    const auto loc = std::string(r.header("Location").value_or(""));
    // base/Type/id/_history/1
    const std::size_t start = base.size() + 1 + type.size() + 1;
    return loc.substr(start, loc.find('/', start) - start);
  }

  static std::vector<http_header> with_type(std::vector<http_header> h) {
    for (const auto& x : h) {
      if (text::iequals(x.name, "Content-Type")) return h;
    }
    h.push_back({"Content-Type", std::string(fhir_json)});
    return h;
  }

  store::test::store_case sc;
  fhir_api api;
  store::instant now = test_epoch();
};

/// The response body as JSON; aborts when it is not (the case is broken).
inline fhir::json_value body_of(const http_response& r) {
  auto j = fhir::parse_json(r.body);
  if (!j) {
    std::fprintf(stderr, "response body is not JSON (%d): %s\n", r.status, r.body.c_str());
    std::abort();
  }
  return std::move(*j);
}

/// A string member, or "" when absent.
inline std::string str_at(const fhir::json_value& v, std::initializer_list<std::string_view> path) {
  const fhir::json_value* p = &v;
  for (std::string_view k : path) {
    p = p->find(k);
    if (p == nullptr) return {};
  }
  return p->is_string() ? p->str() : std::string();
}

/// The first issue's code of an OperationOutcome body, or "" when the body is
/// not one.
inline std::string issue_code(const http_response& r) {
  const fhir::json_value j = body_of(r);
  if (str_at(j, {"resourceType"}) != "OperationOutcome") return {};
  const fhir::json_value* issues = j.find("issue");
  if (issues == nullptr || !issues->is_array() || issues->items().empty()) return {};
  return str_at(issues->items()[0], {"code"});
}

/// The first issue's diagnostics.
inline std::string diagnostics(const http_response& r) {
  const fhir::json_value j = body_of(r);
  const fhir::json_value* issues = j.find("issue");
  if (issues == nullptr || !issues->is_array() || issues->items().empty()) return {};
  return str_at(issues->items()[0], {"diagnostics"});
}

/// The `url` of the Bundle link with this relation, or "".
inline std::string link(const fhir::json_value& bundle, std::string_view relation) {
  const fhir::json_value* links = bundle.find("link");
  if (links == nullptr) return {};
  for (const auto& l : links->items()) {
    if (str_at(l, {"relation"}) == relation) return str_at(l, {"url"});
  }
  return {};
}

/// Bundle.entry (empty when absent).
inline std::vector<fhir::json_value> entries(const fhir::json_value& bundle) {
  const fhir::json_value* e = bundle.find("entry");
  return e == nullptr ? std::vector<fhir::json_value>{} : e->items();
}

/// A link URL as a target for send(): the part after base.
inline std::string target_of(const std::string& url) { return url.substr(base.size()); }

inline std::string patient(std::string_view family, std::string_view extra = {}) {
  std::string s = R"({"resourceType":"Patient","name":[{"family":")" + std::string(family) + "\"}]";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

using principal_ptr = std::shared_ptr<const auth::principal>;

/// A principal as the verifier would build it from a token granting
/// `scopes` (parsed strictly: a typo in a case fails it), with `patient` in
/// context.
inline principal_ptr token(std::string_view scopes, std::string patient = {}) {
  auto parsed = auth::parse_scopes(scopes, auth::parse_mode::strict,
                                   [](std::string_view t) { return registry().is_resource_type(t); });
  REQUIRE(parsed);
  auto p = std::make_shared<auth::principal>();
  p->issuer = std::string(base);
  p->subject = "user-1";
  p->client_id = "app-1";
  p->jti = "jti-1";
  p->context.patient_id = std::move(patient);
  p->scopes = parsed->scopes;
  return p;
}

}  // namespace hearth::server::test
