// The AuditEvent trail and the SMART authorisation server inside `hearth
// serve` (issue 6), over sockets: every REST interaction leaves an
// AuditEvent (SECURITY.md "Audit", IHE BALP) readable only with an explicit
// AuditEvent scope; denials leave outcome 4; `hearth audit verify` finds the
// chain whole, and finds a tampered one; the discovery document and a SMART
// Backend Services client_credentials grant work end to end.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwt.hpp>

#include "integration/auth_support.hpp"

namespace hearth::test {
namespace {

namespace jwt = hearth::server::jwt;
using fhir::json_value;

TEST_CASE("audit: REST interactions and denials leave AuditEvents; the chain verifies and tampering is found") {
  hearth_process server;
  http_connection conn(server);
  const std::string id = created_id(
      conn.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Audited"}]})", json_body),
      "Patient");
  REQUIRE(conn.request("GET", "/Patient/" + id).status == 200);
  REQUIRE(conn.request("GET", "/Patient?_id=" + id).status == 200);

  // The create (in its own transaction) and the read, about this Patient.
  CHECK(wait_for_event(server, "entity=Patient/" + id, "create", "0"));
  CHECK(wait_for_event(server, "patient=Patient/" + id, "read", "0"));
  CHECK(wait_for_event(server, "subtype=search-type", "search-type", "0"));
  // One event for the create, not two (the pipeline skips what the write
  // recorded in its transaction).
  {
    std::size_t creates = 0;
    for (const json_value& ev : events_of(conn.request("GET", "/AuditEvent?entity=Patient/" + id)))
      if (subtype_of(ev) == "create") ++creates;
    CHECK(creates == 1);
  }

  // No token: 401, recorded as a minor failure (outcome 4).
  {
    http_connection anonymous(server.port());
    CHECK(anonymous.request("GET", "/Patient/" + id).status == 401);
  }
  CHECK(wait_for_event(server, "entity=Patient/" + id + "&outcome=4", "read", "4"));

  // A scope escalation: a read-only token creating a Patient is 403, recorded.
  {
    const std::string read_only = minted(server, {"--scope", "system/Patient.rs"});
    http_connection c(server.port());
    CHECK(c.request("POST", "/Patient", R"({"resourceType":"Patient"})", bearer(read_only)).status == 403);
  }
  CHECK(wait_for_event(server, "subtype=create&outcome=4", "create", "4"));

  // "*" does not cover AuditEvent: without an explicit scope, 403.
  {
    const std::string star = minted(server, {"--scope", "system/*.cruds"});
    http_connection c(server.port());
    CHECK(c.request("GET", "/AuditEvent", "", bearer(star)).status == 403);
    CHECK(c.request("GET", "/Patient/" + id, "", bearer(star)).status == 200);
  }
  // The trail is immutable through the API.
  CHECK(conn.request("POST", "/AuditEvent", R"({"resourceType":"AuditEvent"})", json_body).status == 405);

  // Stopped (SIGTERM drains the trail), the chain verifies...
  server.terminate();
  REQUIRE(server.wait_exit(std::chrono::seconds(30)) == 0);
  const std::string data = (server.dir() / "data").string();
  const command_output ok = run_hearth({"audit", "verify", "--data", data});
  CHECK_MESSAGE(ok.status == 0, std::string(ok.out + ok.err));

  // ...and an event edited behind the triggers' back is found.
  const std::string db = (server.dir() / "data" / "hearth.db").string();
  const std::string sql =
      "DROP TRIGGER audit_event_no_update; "
      "UPDATE audit_event SET json = replace(json, 'Patient/', 'Patient/x') "
      "WHERE seq = (SELECT MIN(seq) FROM audit_event WHERE json LIKE '%Patient/%');";
  const int rc = std::system(("sqlite3 '" + db + "' \"" + sql + "\"").c_str());
  REQUIRE(rc == 0);
  const command_output bad = run_hearth({"audit", "verify", "--data", data});
  CHECK_MESSAGE(bad.status == 1, std::string(bad.out + bad.err));
}

TEST_CASE("audit: a read of a resource in a patient's compartment names the patient (BALP PatientRead)") {
  hearth_process server;
  http_connection conn(server);
  const std::string patient = created_id(
      conn.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Compartment"}]})", json_body),
      "Patient");
  const std::string obs = created_id(
      conn.request("POST", "/Observation",
                   R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" +
                       patient + R"("}})",
                   json_body),
      "Observation");
  REQUIRE(conn.request("GET", "/Observation/" + obs).status == 200);
  REQUIRE(conn.request("GET", "/Observation/" + obs + "/_history/1").status == 200);
  CHECK(wait_for_event(server, "patient=" + patient + "&subtype=read", "read", "0"));
  CHECK(wait_for_event(server, "patient=" + patient + "&subtype=vread", "vread", "0"));
  // Not every read: another patient's trail does not show it.
  http_connection c(server);
  CHECK(events_of(c.request("GET", "/AuditEvent?patient=someone-else&subtype=read")).empty());
}

TEST_CASE("audit: the reads and searches inside a batch Bundle each leave their own AuditEvent") {
  hearth_process server;
  http_connection conn(server);
  const std::string id = created_id(
      conn.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Batched"}]})", json_body),
      "Patient");
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[)"
                            R"({"request":{"method":"GET","url":"Patient/)" + id + R"("}},)"
                            R"({"request":{"method":"GET","url":"Patient?_id=)" + id + R"("}},)"
                            R"({"request":{"method":"GET","url":"Patient/no-such-patient"}}]})";
  const http_reply r = conn.request("POST", "/", batch, json_body);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const std::string rid = r.header("x-request-id");
  REQUIRE_FALSE(rid.empty());
  // The read names the Patient (BALP PatientRead: entity[patient]); the
  // search keeps its query; the read of nothing is a failure (404: 4).
  CHECK(wait_for_event(server, "patient=Patient/" + id + "&subtype=read", "read", "0"));
  CHECK(wait_for_event(server, "subtype=search-type", "search-type", "0"));
  CHECK(wait_for_event(server, "subtype=read&outcome=4", "read", "4"));
  CHECK(wait_for_event(server, "subtype=batch", "batch", "0"));
  // All of them carry the Bundle's request id.
  http_connection c(server);
  int with_id = 0;
  for (const json_value& ev : events_of(c.request("GET", "/AuditEvent?_count=100"))) {
    if (fhir::to_json(ev).find(rid) != std::string::npos) ++with_id;
  }
  CHECK(with_id == 4);
}

TEST_CASE("audit: SMART discovery and a Backend Services client_credentials grant, audited") {
  // The config file: one confidential-asymmetric client with this key.
  const jwt::key client_key = generate_p384();
  jwt::key_set keys;
  keys.add(client_key);
  std::random_device rd;
  const std::filesystem::path cfg_dir = std::filesystem::temp_directory_path() /
                                        ("hearth-audit-cfg-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(cfg_dir);
  const std::filesystem::path cfg = cfg_dir / "hearth.json";
  {
    std::ofstream f(cfg);
    f << R"({"auth":{"clients":[{"client_id":"backend-test","type":"confidential-asymmetric",)"
      << R"("scope":"system/Patient.rs","jwks":)" << fhir::to_json(keys.to_jwks()) << "}]}}";
  }
  hearth_process server({"--config", cfg.string()});
  const std::string base = server.base_url();

  http_connection anonymous(server.port());
  const http_reply discovery = anonymous.request("GET", "/.well-known/smart-configuration");
  REQUIRE(discovery.status == 200);
  const std::string token_url = json_field(discovery.body, "token_endpoint");
  CHECK(token_url == base + "/auth/token");
  CHECK(json_field(discovery.body, "jwks_uri").starts_with("http"));

  // RFC 7523 2.2 / SMART Backend Services: iss = sub = client_id, aud = the
  // token endpoint, exp within 5 minutes, a fresh jti.
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json_value claims = json_value::object();
  claims.set("iss", "backend-test");
  claims.set("sub", "backend-test");
  claims.set("aud", token_url);
  claims.set("jti", "assertion-" + std::to_string(now) + "-" + std::to_string(rd()));
  claims.set("iat", json_value::number(std::to_string(now)));
  claims.set("exp", json_value::number(std::to_string(now + 240)));
  jwt::sign_options so;
  so.typ = "JWT";
  const std::string assertion = jwt::sign(claims, client_key, so).value();
  const std::string form =
      "grant_type=client_credentials&scope=system%2FPatient.rs"
      "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
      "&client_assertion=" +
      assertion;
  const http_reply granted =
      anonymous.request("POST", "/auth/token", form, {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE_MESSAGE(granted.status == 200, granted.body);
  CHECK(granted.header("cache-control") == "no-store");
  const std::string access = json_field(granted.body, "access_token");
  REQUIRE_FALSE(access.empty());

  // The token reads what its scope grants, and no more.
  http_connection admin(server);
  const std::string id = created_id(
      admin.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Backend"}]})", json_body),
      "Patient");
  http_connection backend(server.port());
  CHECK(backend.request("GET", "/Patient/" + id, "", bearer(access)).status == 200);
  CHECK(backend.request("GET", "/Observation", "", bearer(access)).status == 403);

  // The grant itself is in the trail (IHE IUA ITI-71: token issued).
  CHECK(wait_for_event(server, "subtype=ITI-71", "ITI-71", "0"));

  std::error_code ec;
  std::filesystem::remove_all(cfg_dir, ec);
}

}  // namespace
}  // namespace hearth::test
