// fhir_api: $meta at the type and system levels (R4
// resource-operations.html#meta: "a summary of all the labels that are in
// use across the system"), and who may ask (rest_auth.hpp).
#include <hearth/server/fhir_api.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/server/access_token.hpp>
#include <hearth/server/smart_scopes.hpp>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

const std::string patient_meta =
    R"({"resourceType":"Patient","meta":{"profile":["http://example.org/p1"],)"
    R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],)"
    R"("tag":[{"system":"http://example.org/tags","code":"a","display":"A"},{"code":"local"}]},"active":true})";

const std::string observation_meta =
    R"({"resourceType":"Observation","meta":{"profile":["http://example.org/obs"],)"
    R"("tag":[{"system":"http://example.org/tags","code":"o"}]},"status":"final","code":{"text":"x"}})";

/// The valueMeta of a $meta answer (200 with a Parameters holding one
/// `return`); a null value when the Parameters has no `return`.
fhir::json_value returned(const http_response& r) {
  REQUIRE(r.status == 200);
  const fhir::json_value p = body_of(r);
  REQUIRE(str_at(p, {"resourceType"}) == "Parameters");
  const fhir::json_value* params = p.find("parameter");
  if (params == nullptr) return fhir::json_value();
  REQUIRE(params->items().size() == 1);
  CHECK(str_at(params->items()[0], {"name"}) == "return");
  const fhir::json_value* meta = params->items()[0].find("valueMeta");
  REQUIRE(meta != nullptr);
  return *meta;
}

std::vector<std::string> profiles(const fhir::json_value& meta) {
  std::vector<std::string> out;
  if (const fhir::json_value* p = meta.is_object() ? meta.find("profile") : nullptr) {
    for (const auto& x : p->items()) out.push_back(x.str());
  }
  return out;
}

/// "system|code" of each coding of meta[key], in order ("|code" without system).
std::vector<std::string> codings(const fhir::json_value& meta, std::string_view key) {
  std::vector<std::string> out;
  if (const fhir::json_value* list = meta.is_object() ? meta.find(key) : nullptr) {
    for (const auto& x : list->items()) {
      CHECK(x.find("display") == nullptr);  // the index keeps no display
      out.push_back(str_at(x, {"system"}) + "|" + str_at(x, {"code"}));
    }
  }
  return out;
}

/// The API with enforcement on, over the store of `plain`.
struct secured_case {
  secured_case() : secured(plain.sc.rs, registry(), options()) {}

  static api_options options() {
    api_options o = api_case::default_options();
    o.enforce_authorization = true;
    o.indexer = &store::test::default_indexer();
    return o;
  }

  http_response get(const principal_ptr& who, std::string target) const {
    http_request req;
    req.method = "GET";
    req.target = "/fhir" + std::move(target);
    req.remote_address = "127.0.0.1";
    req.request_id = "req-meta";
    req.principal = who;
    return secured.handle(req);
  }

  api_case plain;
  fhir_api secured;
};

TEST_CASE("api: $meta across a type or the system sums up the labels in use on current resources") {
  api_case c;
  const std::string p = c.create("Patient", patient_meta);
  c.create("Patient", R"({"resourceType":"Patient","meta":{"tag":[{"system":"http://example.org/tags","code":"a"}]}})");
  c.create("Observation", observation_meta);

  for (const http_response& r : {c.get("/Patient/$meta"), c.post("/Patient/$meta", "")}) {
    const fhir::json_value m = returned(r);
    CHECK(profiles(m) == std::vector<std::string>{"http://example.org/p1"});
    CHECK(codings(m, "security") ==
          std::vector<std::string>{"http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"});
    CHECK(codings(m, "tag") == std::vector<std::string>{"|local", "http://example.org/tags|a"});
    CHECK(m.find("versionId") == nullptr);  // a summary, not one version's meta
  }
  const fhir::json_value all = returned(c.get("/$meta"));
  CHECK(profiles(all) == std::vector<std::string>{"http://example.org/obs", "http://example.org/p1"});
  CHECK(codings(all, "tag") ==
        std::vector<std::string>{"|local", "http://example.org/tags|a", "http://example.org/tags|o"});
  const http_response x = c.get("/$meta?_format=xml");
  REQUIRE(x.status == 200);
  CHECK(x.body.find("<valueMeta>") != std::string::npos);
  CHECK(x.body.find("http://example.org/obs") != std::string::npos);

  // Labels of a deleted resource, or of a version replaced, are not in use.
  REQUIRE(c.del("/Patient/" + p).status == 204);
  const fhir::json_value after = returned(c.get("/Patient/$meta"));
  CHECK(profiles(after).empty());
  CHECK(codings(after, "security").empty());
  CHECK(codings(after, "tag") == std::vector<std::string>{"http://example.org/tags|a"});

  // Nothing labelled: a Parameters without `return` (an empty Meta is no
  // valid FHIR JSON).
  const http_response none = c.get("/Encounter/$meta");
  CHECK(returned(none).is_null());
  CHECK(c.send("DELETE", "/Patient/$meta").status == 405);
}

TEST_CASE("api auth: $meta across a type needs s without restriction; across the system only what may be searched") {
  secured_case c;
  c.plain.create("Patient", patient_meta);
  c.plain.create("Observation", observation_meta);
  // Written around the API, which refuses AuditEvent writes: only an
  // explicit AuditEvent scope lets $meta show its labels.
  REQUIRE(c.plain.sc.rs
              .create("AuditEvent",
                      fhir::parse_json(
                          R"({"resourceType":"AuditEvent","meta":{"tag":[{"system":"urn:audit","code":"secret"}]},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"recorded":"2024-03-01T12:00:00Z","agent":[{"requestor":true,"who":{"reference":"Practitioner/x"}}],"source":{"observer":{"display":"hearth"}}})")
                          .value())
              .has_value());

  // A read grant is not a search: 403 before anything is read.
  const http_response reader = c.get(token("user/Patient.r"), "/Patient/$meta");
  CHECK(reader.status == 403);
  CHECK(reader.body.find("example.org") == std::string::npos);
  CHECK(returned(c.get(token("user/Patient.rs"), "/Patient/$meta")).find("profile") != nullptr);

  // Patient-level and granular grants would learn labels of resources they
  // cannot read.
  for (const principal_ptr& restricted :
       {token("patient/Observation.rs", "p1"), token("user/Observation.rs?status=final"), token("patient/*.rs", "p1")}) {
    const http_response r = c.get(restricted, "/Observation/$meta");
    CHECK(r.status == 403);
    CHECK(diagnostics(r).find("$meta across a type or the system") != std::string::npos);
  }
  CHECK(c.get(token("patient/*.rs", "p1"), "/$meta").status == 403);

  // The system level needs "*"; AuditEvent's labels only with its own scope.
  CHECK(c.get(token("user/Patient.rs"), "/$meta").status == 403);
  const fhir::json_value star = returned(c.get(token("user/*.rs"), "/$meta"));
  CHECK(codings(star, "tag") ==
        std::vector<std::string>{"|local", "http://example.org/tags|a", "http://example.org/tags|o"});
  const fhir::json_value with_audit = returned(c.get(token("user/*.rs user/AuditEvent.rs"), "/$meta"));
  CHECK(codings(with_audit, "tag").size() == 4);
  CHECK(codings(with_audit, "tag").back() == "urn:audit|secret");
}

}  // namespace
}  // namespace hearth::server::test
