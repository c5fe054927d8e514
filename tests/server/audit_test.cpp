// The AuditEvent of an interaction (BALP shape, checked against the R4
// definitions), the trail that appends them (in a write's transaction, and
// asynchronously with a bounded queue that fails closed), and the AuditEvent
// read and search of the REST API (rest_audit.hpp).
#include <hearth/server/audit.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/store/audit_log.hpp>

#include "rest_audit.hpp"
#include "store/store_test_db.hpp"

namespace hearth::server {
namespace {

using fhir::json_value;
using store::test::json;
using store::test::registry;

store::instant at(long long ms) { return store::instant(std::chrono::milliseconds(ms)); }

audit_source test_source() {
  audit_source s;
  s.observer = "hearth-test";
  s.base_url = "https://fhir.example.org/r4";
  return s;
}

/// A read of Observation/o1 version 3 by a user through an app.
audit_record read_record() {
  audit_record r;
  r.interaction = audit_interaction::read;
  r.status = 200;
  r.recorded = at(1709294400250);  // 2024-03-01T12:00:00.250Z
  r.request_id = "req-1";
  r.remote_address = "10.0.0.5";
  r.client_id = "app-1";
  r.user = "Practitioner/7";
  r.subject = "user-7";
  r.issuer = "https://issuer.example";
  r.jti = "jti-123";
  r.resource_type = "Observation";
  r.resource_id = "o1";
  r.version_id = 3;
  r.patient_ids = {"p1"};
  return r;
}

/// Fails the case with the issues when `ev` does not pass the structural
/// check of the R4 definitions (the fhir module's check_resource).
void check_valid(const json_value& ev) {
  const fhir::issue_list issues = fhir::check_resource(ev, registry());
  std::string listed;
  for (const fhir::issue& i : issues) listed += i.expression + ": " + i.diagnostics + "\n";
  CAPTURE(listed);
  CHECK_FALSE(fhir::has_errors(issues));
}

const json_value& at_path(const json_value& v, std::initializer_list<std::string_view> path) {
  const json_value* cur = &v;
  static const json_value none;
  for (std::string_view step : path) {
    if (cur->is_array()) {
      const std::size_t i = static_cast<std::size_t>(std::stoul(std::string(step)));
      if (i >= cur->size()) return none;
      cur = &cur->items()[i];
    } else {
      cur = cur->find(step);
      if (cur == nullptr) return none;
    }
  }
  return *cur;
}

std::string str(const json_value& v, std::initializer_list<std::string_view> path) {
  const json_value& x = at_path(v, path);
  return x.is_string() ? x.str() : std::string("<none>");
}

}  // namespace

TEST_CASE("audit: a read is an R4 AuditEvent in the BALP Read/PatientRead shape") {
  const json_value ev = build_audit_event(read_record(), test_source());
  check_valid(ev);
  CHECK(str(ev, {"type", "system"}) == "http://terminology.hl7.org/CodeSystem/audit-event-type");
  CHECK(str(ev, {"type", "code"}) == "rest");
  CHECK(str(ev, {"subtype", "0", "system"}) == "http://hl7.org/fhir/restful-interaction");
  CHECK(str(ev, {"subtype", "0", "code"}) == "read");
  CHECK(str(ev, {"action"}) == "R");
  CHECK(str(ev, {"recorded"}) == "2024-03-01T12:00:00.250Z");
  CHECK(str(ev, {"outcome"}) == "0");
  CHECK(ev.find("outcomeDesc") == nullptr);
  // agent[client]: the app by client_id, with its address; BALP Read makes
  // the client the Destination Role ID.
  CHECK(str(ev, {"agent", "0", "type", "coding", "0", "code"}) == "110152");
  CHECK(str(ev, {"agent", "0", "who", "identifier", "value"}) == "app-1");
  CHECK(str(ev, {"agent", "0", "who", "identifier", "system"}) == "https://issuer.example");
  CHECK(str(ev, {"agent", "0", "network", "address"}) == "10.0.0.5");
  CHECK(at_path(ev, {"agent", "0", "requestor"}) == json_value(false));
  // agent[user]: fhirUser, requestor, the token only as its jti.
  CHECK(str(ev, {"agent", "1", "type", "coding", "0", "code"}) == "UserOauthAgent");
  CHECK(str(ev, {"agent", "1", "who", "reference"}) == "Practitioner/7");
  CHECK(at_path(ev, {"agent", "1", "requestor"}) == json_value(true));
  CHECK(str(ev, {"agent", "1", "policy", "0"}) == "urn:ietf:params:oauth:jti:jti-123");
  // agent[server] and source: this server.
  CHECK(str(ev, {"agent", "2", "who", "display"}) == "hearth-test");
  CHECK(str(ev, {"agent", "2", "network", "address"}) == "https://fhir.example.org/r4");
  CHECK(str(ev, {"source", "observer", "display"}) == "hearth-test");
  // entity[data] with its version, entity[patient], entity[transaction].
  CHECK(str(ev, {"entity", "0", "what", "reference"}) == "Observation/o1/_history/3");
  CHECK(str(ev, {"entity", "0", "role", "code"}) == "4");
  CHECK(str(ev, {"entity", "1", "what", "reference"}) == "Patient/p1");
  CHECK(str(ev, {"entity", "1", "type", "code"}) == "1");
  CHECK(str(ev, {"entity", "1", "role", "code"}) == "1");
  CHECK(str(ev, {"entity", "2", "what", "identifier", "value"}) == "req-1");
  CHECK(str(ev, {"entity", "2", "type", "code"}) == "XrequestId");
  CHECK(at_path(ev, {"entity", "3"}).is_null());
}

TEST_CASE("audit: a search keeps its raw query, base64, in entity[query] (BALP Query)") {
  audit_record r = read_record();
  r.interaction = audit_interaction::search_type;
  r.resource_id.clear();
  r.version_id = 0;
  r.patient_ids.clear();
  r.query = "/Observation?patient=p1&code=http://loinc.org|1234-5&name=<script>";
  const json_value ev = build_audit_event(r, test_source());
  check_valid(ev);
  CHECK(str(ev, {"subtype", "0", "code"}) == "search-type");
  CHECK(str(ev, {"action"}) == "E");
  CHECK(str(ev, {"agent", "0", "type", "coding", "0", "code"}) == "110153");  // the client is the source
  const json_value& query = at_path(ev, {"entity", "0"});
  CHECK(str(query, {"role", "code"}) == "24");
  CHECK(query.find("what") == nullptr);
  CHECK(base64::decode(str(query, {"query"})) == r.query);
  // A query beyond max_query_bytes is cut there.
  r.query = std::string(audit_record::max_query_bytes + 100, 'q');
  const json_value long_ev = build_audit_event(r, test_source());
  CHECK(base64::decode(str(long_ev, {"entity", "0", "query"}))->size() == audit_record::max_query_bytes);
}

TEST_CASE("audit: a create of a Patient names the patient; other patients are listed once") {
  audit_record r = read_record();
  r.interaction = audit_interaction::create;
  r.status = 201;
  r.resource_type = "Patient";
  r.resource_id = "p9";
  r.version_id = 1;
  r.patient_ids = {"p9", "p2"};
  const json_value ev = build_audit_event(r, test_source());
  check_valid(ev);
  CHECK(str(ev, {"action"}) == "C");
  CHECK(str(ev, {"outcome"}) == "0");
  CHECK(str(ev, {"entity", "0", "what", "reference"}) == "Patient/p9/_history/1");
  CHECK(str(ev, {"entity", "1", "what", "reference"}) == "Patient/p9");
  CHECK(str(ev, {"entity", "2", "what", "reference"}) == "Patient/p2");
  CHECK(str(ev, {"entity", "3", "type", "code"}) == "XrequestId");
  CHECK(str(ev, {"agent", "0", "type", "coding", "0", "code"}) == "110153");
}

TEST_CASE("audit: failures: 4xx is outcome 4, 5xx is 8, with a fixed outcomeDesc; refused tokens are 4") {
  audit_record r = read_record();
  r.status = 403;
  json_value ev = build_audit_event(r, test_source());
  check_valid(ev);
  CHECK(str(ev, {"outcome"}) == "4");
  CHECK(str(ev, {"outcomeDesc"}) == "HTTP 403 Forbidden");
  r.status = 500;
  ev = build_audit_event(r, test_source());
  CHECK(str(ev, {"outcome"}) == "8");
  CHECK(str(ev, {"outcomeDesc"}) == "HTTP 500 Internal Server Error");
  r.status = 418;
  CHECK(str(build_audit_event(r, test_source()), {"outcomeDesc"}) == "HTTP 418");

  // The token endpoint refusing a client: IUA ITI-71, outcome 4.
  audit_record t;
  t.interaction = audit_interaction::token;
  t.status = 400;
  t.outcome = audit_outcome::minor_failure;
  t.recorded = at(1709294400000);
  t.client_id = "app-9";
  t.remote_address = "192.0.2.1";
  const json_value tok = build_audit_event(t, test_source());
  check_valid(tok);
  CHECK(str(tok, {"type", "code"}) == "110114");
  CHECK(str(tok, {"subtype", "0", "code"}) == "ITI-71");
  CHECK(str(tok, {"action"}) == "E");
  CHECK(str(tok, {"outcome"}) == "4");
  CHECK(str(tok, {"agent", "0", "type", "coding", "0", "code"}) == "110150");
  CHECK(at_path(tok, {"agent", "0", "requestor"}) == json_value(true));  // no user: the client asked
  // No token text anywhere, only identifiers.
  const std::string text = fhir::to_json(build_audit_event(read_record(), test_source()));
  CHECK(text.find("jti-123") != std::string::npos);
  CHECK(text.find("eyJ") == std::string::npos);
}

TEST_CASE("audit: without a principal the client is known by its address, and no user agent is written") {
  audit_record r;
  r.interaction = audit_interaction::capabilities;
  r.recorded = at(1709294400000);
  r.remote_address = "127.0.0.1";
  const json_value ev = build_audit_event(r, audit_source{});
  check_valid(ev);
  CHECK(str(ev, {"agent", "0", "who", "display"}) == "unidentified client");
  CHECK(at_path(ev, {"agent", "0", "requestor"}) == json_value(true));
  CHECK(at_path(ev, {"agent"}).size() == 2);
  CHECK(at_path(ev, {"entity"}).is_null());
}

TEST_CASE("audit: interaction names, actions and outcomes") {
  for (int i = 0; i <= static_cast<int>(audit_interaction::token); ++i) {
    const auto a = static_cast<audit_interaction>(i);
    CHECK(audit_interaction_of(to_string(a)) == a);
  }
  CHECK(to_string(audit_interaction::remove) == "delete");
  CHECK(audit_interaction_of("conditional-update") == audit_interaction::update);
  CHECK(audit_interaction_of("conditional-delete") == audit_interaction::remove);
  CHECK(audit_interaction_of("search-compartment") == audit_interaction::search_type);
  CHECK_FALSE(audit_interaction_of("healthz").has_value());
  CHECK(default_action(audit_interaction::patch) == audit_action::update);
  CHECK(default_action(audit_interaction::history_type) == audit_action::read);
  CHECK(default_action(audit_interaction::remove) == audit_action::remove);
  CHECK(default_action(audit_interaction::transaction) == audit_action::execute);
  CHECK(outcome_of_status(304) == audit_outcome::success);
  CHECK(outcome_of_status(404) == audit_outcome::minor_failure);
  CHECK(outcome_of_status(503) == audit_outcome::serious_failure);
}

TEST_CASE("audit: a principal gives the client, user, issuer, jti and the patient in context") {
  auth::principal p;
  p.issuer = "https://issuer.example";
  p.subject = "sub-1";
  p.client_id = "app-1";
  p.fhir_user = "Practitioner/7";
  p.jti = "j-1";
  p.context.patient_id = "p5";
  audit_record r;
  set_principal(r, &p);
  CHECK(r.client_id == "app-1");
  CHECK(r.user == "Practitioner/7");
  CHECK(r.subject == "sub-1");
  CHECK(r.issuer == "https://issuer.example");
  CHECK(r.jti == "j-1");
  CHECK(r.patient_ids == std::vector<std::string>{"p5"});
  set_principal(r, &p);  // not listed twice
  CHECK(r.patient_ids.size() == 1);
  set_principal(r, nullptr);
  CHECK(r.client_id == "app-1");
}

TEST_CASE("audit: the patients of a resource come from its compartment references") {
  const auto& ix = store::test::default_indexer();
  CHECK(patient_ids_in(json(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                            R"("subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient/p2"},)"
                            R"({"reference":"Practitioner/d1"}]})"),
                       ix) == std::vector<std::string>{"p2", "p1"});  // in parameter order: performer, subject
  CHECK(patient_ids_in(json(R"({"resourceType":"Patient","id":"p3"})"), ix) == std::vector<std::string>{"p3"});
  CHECK(patient_ids_in(json(R"({"resourceType":"Organization","name":"x"})"), ix).empty());
}

TEST_CASE("audit: the trail appends asynchronous records in batches, in order, to a chain that verifies") {
  store::test::store_case c;
  audit_trail_options o;
  o.source = test_source();
  o.max_batch = 16;
  audit_trail trail(*c.db, o);
  CHECK(trail.healthy());
  for (int i = 0; i < 100; ++i) {
    audit_record r = read_record();
    r.resource_id = "o" + std::to_string(i);
    r.recorded = {};  // stamped by the trail
    REQUIRE(trail.record_async(r));
  }
  REQUIRE(trail.flush(std::chrono::seconds(30)));
  const audit_stats s = trail.stats();
  CHECK(s.appended == 100);
  CHECK(s.queue_depth == 0);
  CHECK(s.dropped == 0);
  CHECK(s.largest_batch <= 16);
  CHECK(s.batches >= 7);  // 100 events, at most 16 a batch
  CHECK(s.healthy);
  // In the order accepted: the oldest first is o0.
  store::audit_query q;
  q.oldest_first = true;
  q.count = 100;
  q.want_total = true;
  auto page = trail.log().search(q);
  REQUIRE(page);
  CHECK(page->total == 100);
  CHECK(page->events.front().json.find("\"Observation/o0/_history/3\"") != std::string::npos);
  CHECK(page->events.back().json.find("\"Observation/o99/_history/3\"") != std::string::npos);
  // Stored events pass the R4 structural check too (id and meta added).
  check_valid(json(page->events.front().json));
  auto report = store::verify_chain(*c.db);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->checked == 100);
}

TEST_CASE("audit: the trail's write hook records a create in the create's transaction") {
  store::test::store_case c;
  audit_trail trail(*c.db, audit_trail_options{.source = test_source()});
  audit_record base = read_record();
  base.interaction = audit_interaction::create;
  base.patient_ids.clear();
  auto w = c.rs.create("Patient", json(R"({"resourceType":"Patient"})"), trail.hook(base));
  REQUIRE(w);
  CHECK(trail.stats().recorded_in_tx == 1);
  store::audit_query q;
  q.entities = {{store::audit_reference{"Patient", w->version.id}}};
  auto page = trail.log().search(q);
  REQUIRE(page);
  REQUIRE(page->events.size() == 1);
  const json_value ev = json(page->events[0].json);
  CHECK(str(ev, {"action"}) == "C");
  CHECK(str(ev, {"entity", "0", "what", "reference"}) == "Patient/" + w->version.id + "/_history/1");
  CHECK(str(ev, {"entity", "1", "what", "reference"}) == "Patient/" + w->version.id);  // entity[patient]
  // A write that fails before its hook records nothing through it.
  store::update_options stale;
  stale.expected_version = 9;
  auto failed = c.rs.update("Patient", w->version.id, json(R"({"resourceType":"Patient","active":true})"), stale,
                            trail.hook(base));
  CHECK_FALSE(failed);
  CHECK(trail.stats().recorded_in_tx == 1);
}

TEST_CASE("audit: the trail is unhealthy while its store fails, and gives up only at stop") {
  store::test::store_case c;
  audit_trail_options o;
  o.retry_first = std::chrono::milliseconds(5);
  o.retry_max = std::chrono::milliseconds(20);
  std::atomic<int> failures{0};
  o.on_append_failure = [&](const hearth::error& e) {
    CHECK(e.code == "exception");
    ++failures;
  };
  audit_trail trail(*c.db, o);
  c.db->stop();  // every append fails from now on
  REQUIRE(trail.record_async(read_record()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (trail.healthy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK_FALSE(trail.healthy());
  CHECK_FALSE(trail.flush(std::chrono::milliseconds(50)));
  // Kept and retried, not dropped, while the trail runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  audit_stats s = trail.stats();
  CHECK(s.failed_attempts >= 2);
  CHECK(s.dropped == 0);
  CHECK(s.queue_depth == 1);
  CHECK(failures.load() >= 2);
  trail.stop(std::chrono::milliseconds(50));
  s = trail.stats();
  CHECK(s.dropped == 1);
  CHECK(s.queue_depth == 0);
  CHECK_FALSE(trail.record_async(read_record()));  // stopped: refused
  CHECK(trail.stats().refused == 1);
}

TEST_CASE("audit: a full queue refuses records and makes the trail unhealthy until it drains") {
  store::test::store_case c;
  audit_trail_options o;
  o.queue_capacity = 3;
  audit_trail trail(*c.db, o);
  // Hold the database's writer: the appender's batch waits for it.
  std::promise<void> entered, release;
  auto held = c.rs.transaction_async([&](store::resource_tx&) -> hearth::result<void> {
    entered.set_value();
    release.get_future().wait();
    return {};
  });
  entered.get_future().wait();
  CHECK(trail.record_async(read_record()));
  CHECK(trail.record_async(read_record()));
  CHECK(trail.healthy());
  CHECK(trail.record_async(read_record()));
  CHECK_FALSE(trail.healthy());  // at capacity
  CHECK_FALSE(trail.record_async(read_record()));
  CHECK(trail.stats().refused == 1);
  release.set_value();
  REQUIRE(held.get());
  CHECK(trail.flush(std::chrono::seconds(30)));
  CHECK(trail.healthy());
  CHECK(trail.stats().appended == 3);
  const std::string metrics = audit_metrics_text(trail.stats());
  CHECK(metrics.find("\nhearth_audit_events_appended_total 3\n") != std::string::npos);
  CHECK(metrics.find("\nhearth_audit_events_refused_total 1\n") != std::string::npos);
  CHECK(metrics.find("# TYPE hearth_audit_queue_depth gauge\nhearth_audit_queue_depth 0\n") != std::string::npos);
  CHECK(metrics.find("\nhearth_audit_healthy 1\n") != std::string::npos);
}

TEST_CASE("audit: the batch window gathers records; a full batch, flush() and stop() end it at once") {
  store::test::store_case c;
  audit_trail_options o;
  o.source = test_source();
  o.max_batch = 4;
  o.batch_window = std::chrono::hours(1);  // only the three ends it early
  audit_trail trail(*c.db, o);
  // A full batch is appended without waiting for the window.
  for (int i = 0; i < 4; ++i) REQUIRE(trail.record_async(read_record()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (trail.stats().appended < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(trail.stats().appended == 4);
  CHECK(trail.stats().batches == 1);
  // Two records wait in the window until flush() asks: then one batch.
  REQUIRE(trail.record_async(read_record()));
  REQUIRE(trail.record_async(read_record()));
  CHECK(trail.stats().queue_depth == 2);
  CHECK(trail.flush(std::chrono::seconds(30)));
  CHECK(trail.stats().appended == 6);
  CHECK(trail.stats().batches == 2);
  // stop() appends what waits.
  REQUIRE(trail.record_async(read_record()));
  trail.stop(std::chrono::seconds(30));
  const audit_stats s = trail.stats();
  CHECK(s.appended == 7);
  CHECK(s.dropped == 0);
  CHECK(s.batches == 3);
  auto page = trail.log().search(store::audit_query{});
  REQUIRE(page);
  CHECK(page->events.size() == 7);
}

namespace {

/// A REST context for the audit interactions, as fhir_api builds one.
struct rest_case {
  rest_case() : trail(*sc.db, audit_trail_options{.source = test_source()}) {
    opts.base_url = "http://test.example/fhir";
    req.method = "GET";
    req.request_id = "req-9";
    for (int i = 0; i < 5; ++i) {
      audit_record r = read_record();
      r.recorded = at(1709294400000 + i * 1000);
      r.patient_ids = {i % 2 == 0 ? "p1" : "p2"};
      REQUIRE(trail.record_async(r));
    }
    REQUIRE(trail.flush());
  }

  http_response get_search(rest::param_list params, store::search_handling h = store::search_handling::lenient) {
    rest::context c{.req = req, .store = sc.rs, .defs = registry(), .opts = opts, .params = params, .fmt = {},
                    .handling = h};
    return rest::search_audit_events(c, trail.log(), false);
  }
  http_response get_read(const std::string& id) {
    const rest::param_list none;
    rest::context c{.req = req, .store = sc.rs, .defs = registry(), .opts = opts, .params = none, .fmt = {}};
    return rest::read_audit_event(c, trail.log(), id);
  }

  store::test::store_case sc;
  audit_trail trail;
  api_options opts;
  http_request req;
};

std::vector<std::string> entry_ids(const json_value& bundle) {
  std::vector<std::string> out;
  if (const json_value* entries = bundle.find("entry")) {
    for (const json_value& e : entries->items()) {
      if (str(e, {"search", "mode"}) == "match") out.push_back(str(e, {"resource", "id"}));
    }
  }
  return out;
}

std::string link(const json_value& bundle, std::string_view relation) {
  if (const json_value* links = bundle.find("link")) {
    for (const json_value& l : links->items()) {
      if (str(l, {"relation"}) == relation) return str(l, {"url"});
    }
  }
  return {};
}

}  // namespace

TEST_CASE("audit rest: GET AuditEvent/[id] answers the stored event; unknown ids are 404") {
  rest_case k;
  auto page = k.trail.log().search(store::audit_query{});
  REQUIRE(page);
  const store::audit_event_row& row = page->events.front();
  const http_response res = k.get_read(row.id);
  CHECK(res.status == 200);
  CHECK(res.body == row.json);  // as stored and hashed
  CHECK(res.header("ETag") == std::optional<std::string_view>("W/\"1\""));
  CHECK(res.header("Last-Modified").has_value());
  CHECK(k.get_read("no-such-id").status == 404);
  CHECK(k.get_read("bad id").status == 400);
}

TEST_CASE("audit rest: GET AuditEvent?patient=... is a searchset Bundle with paging links") {
  rest_case k;
  const http_response first = k.get_search({{"patient", "Patient/p1"}, {"_count", "2"}, {"_total", "accurate"}});
  REQUIRE(first.status == 200);
  const json_value b1 = json(first.body);
  CHECK(str(b1, {"type"}) == "searchset");
  CHECK(at_path(b1, {"total"}) == json_value::number("3"));
  CHECK(entry_ids(b1).size() == 2);
  CHECK(str(b1, {"entry", "0", "fullUrl"}).rfind("http://test.example/fhir/AuditEvent/", 0) == 0);
  CHECK(link(b1, "self") == "http://test.example/fhir/AuditEvent?patient=Patient%2Fp1&_count=2&_total=accurate");
  const std::string next = link(b1, "next");
  REQUIRE_FALSE(next.empty());
  // Follow the next link as a client would.
  rest::param_list params;
  REQUIRE(rest::parse_params(std::string_view(next).substr(next.find('?') + 1), false, params));
  const json_value b2 = json(k.get_search(params).body);
  CHECK(entry_ids(b2).size() == 1);
  CHECK(link(b2, "next").empty());
  for (const std::string& id : entry_ids(b2)) {
    const auto ids1 = entry_ids(b1);
    CHECK(std::find(ids1.begin(), ids1.end(), id) == ids1.end());
  }
  // _summary=count: the total only.
  const json_value counted = json(k.get_search({{"patient", "p2"}, {"_summary", "count"}}).body);
  CHECK(at_path(counted, {"total"}) == json_value::number("2"));
  CHECK(counted.find("entry") == nullptr);
}

TEST_CASE("audit rest: parameters the trail does not serve: an outcome entry (lenient) or 400 (strict)") {
  rest_case k;
  const json_value lenient = json(k.get_search({{"address", "10.0.0.5"}, {"outcome", "0"}}).body);
  CHECK(entry_ids(lenient).size() == 5);
  const json_value& last = at_path(lenient, {"entry", "5"});
  CHECK(str(last, {"search", "mode"}) == "outcome");
  CHECK(str(last, {"resource", "resourceType"}) == "OperationOutcome");
  CHECK(link(lenient, "self") == "http://test.example/fhir/AuditEvent?outcome=0");
  const http_response strict = k.get_search({{"address", "10.0.0.5"}}, store::search_handling::strict);
  CHECK(strict.status == 400);
  CHECK(k.get_search({{"_cursor", "forged"}}).status == 400);
}

}  // namespace hearth::server
