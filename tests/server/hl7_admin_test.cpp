// The REST admin API of the HL7 v2 message log (hl7_admin.hpp), called
// directly on a temporary store with a real intake (hl7_intake.hpp) filling
// the log, and a real token verifier.
#include <hearth/server/hl7_admin.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/hl7_intake.hpp>
#include <hearth/store/message_log.hpp>

#include "store/store_test_db.hpp"

namespace hearth::server {
namespace {

using namespace std::chrono_literals;
using fhir::json_value;

constexpr std::string_view base_url = "http://test.example/fhir";

/// An ADT message for patient `mrn` from `app`/`facility`, control id
/// `control`; `birth` is PID-7 ("1980021X" is no date: 102, AE).
std::string adt(const std::string& event, const std::string& control, const std::string& mrn,
                const std::string& birth = "19800215", const std::string& app = "ADTAPP",
                const std::string& facility = "HOSP", const std::string& family = "Doe") {
  return "MSH|^~\\&|" + app + "|" + facility + "|HEARTH|HEARTH|20241105103000+0100||ADT^" + event + "^ADT_A01|" +
         control + "|P|2.5.1\r"
         "EVN|" + event + "|20241105103000+0100\r"
         "PID|1||" + mrn + "^^^HOSP&2.16.840.1.113883.3.4711&ISO^MR||" + family + "^John^Q||" + birth + "|M\r";
}

/// 2024-03-01T12:00:00Z.
store::instant epoch() {
  return store::instant(std::chrono::sys_days(std::chrono::year(2024) / std::chrono::March / 1) + 12h);
}

/// A store, a message log, an intake over them, a token verifier for
/// base_url, and the admin API, with every audit record kept.
struct admin_case {
  explicit admin_case(bool auth = true) {
    log.set_clock([this] { return now; });
    sc.rs.set_clock([this] { return now; });
    auth::verifier_options vo;
    vo.base_url = std::string(base_url);
    vo.own_keys.add(key);
    vo.is_resource_type = [](std::string_view t) { return store::test::registry().is_resource_type(t); };
    verifier = std::make_shared<auth::token_verifier>(std::move(vo));
    hl7_admin_options o;
    o.base_url = std::string(base_url);
    if (auth) {
      o.verifier = verifier;
    } else {
      o.insecure_no_auth = true;
    }
    o.audit = [this](audit_record r) {
      audited.push_back(std::move(r));
      return accept_audit;
    };
    o.audit_healthy = [this] { return trail_healthy; };
    admin = std::make_unique<hl7_admin>(log, intake, std::move(o));
    admin_token = mint("hearth/admin");
  }

  std::string mint(std::string scope, std::string client = "admin-1") const {
    auth::token_request r;
    r.client_id = std::move(client);
    r.subject = r.client_id;
    r.scope = std::move(scope);
    r.lifetime = 300s;
    return auth::mint_access_token(key, base_url, r, std::chrono::system_clock::now()).value();
  }

  /// Sends one message through the intake at `now`; the ACK.
  std::string receive(const std::string& message) { return intake.handle(hl7_peer{"127.0.0.1", {}}, message); }

  /// A call to the admin API (`target` below the base path), with `token`
  /// (the admin's unless given; "-" for none).
  http_response call(std::string method, std::string target, std::string token = {}) {
    http_request req;
    req.method = std::move(method);
    req.target = "/fhir" + target;
    req.remote_address = "127.0.0.1";
    req.request_id = "req-7";
    if (token.empty()) token = admin_token;
    if (token != "-") req.headers.push_back({"Authorization", "Bearer " + token});
    auto r = admin->handle(req);
    REQUIRE(r);
    return std::move(*r);
  }
  http_response get(std::string target, std::string token = {}) { return call("GET", std::move(target), token); }

  store::test::store_case sc;
  store::message_log log{*sc.db};
  audit_trail trail{*sc.db, audit_trail_options{}};
  hl7_intake intake{sc.rs, log, trail, store::test::default_indexer(), hl7_intake_options{}};
  jwt::key key = jwt::key::generate_es256().value();
  std::shared_ptr<auth::token_verifier> verifier;
  std::vector<audit_record> audited;
  bool accept_audit = true;
  bool trail_healthy = true;
  std::unique_ptr<hl7_admin> admin;
  std::string admin_token;
  store::instant now = epoch();
};

/// An answer's body as plain JSON (not FHIR: empty strings and arrays are allowed).
json_value body_of(const http_response& r) {
  fhir::json_read_options jo;
  jo.fhir_rules = false;
  auto j = fhir::parse_json(r.body, jo);
  REQUIRE_MESSAGE(j, r.body);
  return std::move(*j);
}

std::string str(const json_value& v, std::string_view name) {
  const json_value* m = v.find(name);
  return m != nullptr && m->is_string() ? m->str() : std::string();
}

/// The control ids of a list answer, in order.
std::vector<std::string> controls(const http_response& r) {
  REQUIRE_MESSAGE(r.status == 200, r.body);
  std::vector<std::string> out;
  const json_value b = body_of(r);
  for (const json_value& m : b.find("messages")->items()) out.push_back(str(m, "control_id"));
  return out;
}

/// The id (log id) of the newest record with control id `control`.
std::int64_t id_of(admin_case& c, const std::string& control) {
  const json_value b = body_of(c.get("/admin/hl7/messages?_count=1000"));
  for (const json_value& m : b.find("messages")->items()) {
    if (str(m, "control_id") == control) return std::stoll(m.find("id")->number_text());
  }
  FAIL("no message " << control);
  return 0;
}

/// Four messages an hour apart: C1 processed (ADTAPP/HOSP, ADT^A01), C2 in
/// error (bad PID-7), a rejected one (not HL7: no keys), C3 processed
/// (LABAPP/LAB, ADT^A08).
void fill(admin_case& c) {
  REQUIRE(c.receive(adt("A01", "C1", "MRN-1")).find("MSA|AA") != std::string::npos);
  c.now += 1h;
  REQUIRE(c.receive(adt("A04", "C2", "MRN-2", "1980021X")).find("MSA|AE") != std::string::npos);
  c.now += 1h;
  REQUIRE(c.receive("hello, this is not a message").find("MSA|AR") != std::string::npos);
  c.now += 1h;
  REQUIRE(c.receive(adt("A08", "C3", "MRN-3", "19800215", "LABAPP", "LAB")).find("MSA|AA") != std::string::npos);
}

}  // namespace

TEST_CASE("hl7 admin: the list filters by status, type, sender, facility and time range, newest first") {
  admin_case c;
  fill(c);
  CHECK(controls(c.get("/admin/hl7/messages")) == std::vector<std::string>{"C3", "", "C2", "C1"});
  CHECK(controls(c.get("/admin/hl7/messages?status=error")) == std::vector<std::string>{"C2"});
  CHECK(controls(c.get("/admin/hl7/messages?status=rejected")) == std::vector<std::string>{""});
  CHECK(controls(c.get("/admin/hl7/messages?status=processed")) == std::vector<std::string>{"C3", "C1"});
  CHECK(controls(c.get("/admin/hl7/messages?type=ADT%5EA01")) == std::vector<std::string>{"C1"});
  CHECK(controls(c.get("/admin/hl7/messages?sender=LABAPP")) == std::vector<std::string>{"C3"});
  CHECK(controls(c.get("/admin/hl7/messages?facility=HOSP")) == std::vector<std::string>{"C2", "C1"});
  CHECK(controls(c.get("/admin/hl7/messages?facility=HOSP&status=processed")) == std::vector<std::string>{"C1"});
  CHECK(controls(c.get("/admin/hl7/messages?sender=NOBODY")).empty());
  // from inclusive, to exclusive: 13:00 up to (not including) 15:00.
  CHECK(controls(c.get("/admin/hl7/messages?received-from=2024-03-01T13:00:00Z&received-to=2024-03-01T15:00:00Z")) ==
        std::vector<std::string>{"", "C2"});
  // A zone is applied: 15:00+02:00 is 13:00Z.
  CHECK(controls(c.get("/admin/hl7/messages?received-to=2024-03-01T15:00:00%2B02:00")) ==
        std::vector<std::string>{"C1"});

  // What a listed record holds (no raw bytes in a list).
  const json_value b = body_of(c.get("/admin/hl7/messages?status=error"));
  const json_value& m = b.find("messages")->items().at(0);
  CHECK(m.find("id")->is_number());
  CHECK(str(m, "sender_application") == "ADTAPP");
  CHECK(str(m, "sender_facility") == "HOSP");
  CHECK(str(m, "message_type") == "ADT^A04");
  CHECK(str(m, "status") == "error");
  CHECK(str(m, "received_at") == "2024-03-01T13:00:00.000Z");
  CHECK(str(m, "raw_sha256").size() == 64);
  CHECK_FALSE(str(m, "error").empty());
  CHECK(m.find("resources")->items().empty());
  CHECK(m.find("raw") == nullptr);
  CHECK(b.find("next") == nullptr);  // one page
  const json_value p = body_of(c.get("/admin/hl7/messages?status=processed&sender=ADTAPP"));
  const auto& written = p.find("messages")->items().at(0).find("resources")->items();
  REQUIRE_FALSE(written.empty());
  CHECK(written.front().str().starts_with("Patient/"));
}

TEST_CASE("hl7 admin: pages follow next links, keeping the filters, until the last page") {
  admin_case c;
  fill(c);
  std::vector<std::string> seen;
  std::string target = "/admin/hl7/messages?_count=1";
  int pages = 0;
  while (!target.empty() && pages < 10) {
    const http_response r = c.get(target);
    const auto page = controls(r);
    CHECK(page.size() == 1);
    seen.insert(seen.end(), page.begin(), page.end());
    const std::string next = str(body_of(r), "next");
    if (!next.empty()) REQUIRE(next.starts_with(std::string(base_url) + "/admin/hl7/messages?"));
    target = next.empty() ? std::string() : next.substr(base_url.size());
    ++pages;
  }
  CHECK(pages == 4);
  CHECK(seen == std::vector<std::string>{"C3", "", "C2", "C1"});

  // A filter travels in the next link.
  const http_response first = c.get("/admin/hl7/messages?status=processed&_count=1");
  CHECK(controls(first) == std::vector<std::string>{"C3"});
  const std::string next = str(body_of(first), "next");
  CHECK(next.find("status=processed") != std::string::npos);
  const http_response second = c.get(next.substr(base_url.size()));
  CHECK(controls(second) == std::vector<std::string>{"C1"});
  CHECK(body_of(second).find("next") == nullptr);
}

TEST_CASE("hl7 admin: bad, repeated and unknown parameters are 400 naming the parameter") {
  admin_case c;
  fill(c);
  for (const auto& [query, parameter] : std::vector<std::pair<std::string, std::string>>{
           {"status=done", "status"},
           {"status=error&status=processed", "status"},
           {"_count=0", "_count"},
           {"_count=ten", "_count"},
           {"received-from=yesterday", "received-from"},
           {"received-to=2024-02-30", "received-to"},
           {"type=", "type"},
           {"cursor=not-a-cursor", "cursor"},
           {"_sort=id", "_sort"},
           {"access_token=abc", "access_token"},
       }) {
    CAPTURE(query);
    const http_response r = c.get("/admin/hl7/messages?" + query);
    CHECK(r.status == 400);
    CHECK(r.header("Content-Type") == "application/json");
    const json_value b = body_of(r);
    CHECK(str(b, "error") == "invalid_request");
    CHECK(str(b, "parameter") == parameter);
  }
  // An undecodable query names no parameter, and is still refused.
  CHECK(c.get("/admin/hl7/messages?status=%ZZ").status == 400);
  // A large _count is cut to the most a page holds, as FHIR search does.
  CHECK(controls(c.get("/admin/hl7/messages?_count=999999999999999999999")).size() == 4);
  // The one-message endpoints take no parameters.
  CHECK(c.get("/admin/hl7/messages/1?_pretty=true").status == 400);
}

TEST_CASE("hl7 admin: one message shows its ACK, error, resources and raw bytes in base64; 404 when absent") {
  admin_case c;
  fill(c);
  const std::string bad = adt("A04", "C2", "MRN-2", "1980021X");
  const std::int64_t id = id_of(c, "C2");
  const http_response r = c.get("/admin/hl7/messages/" + std::to_string(id));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const json_value b = body_of(r);
  CHECK(b.find("id")->number_text() == std::to_string(id));
  CHECK(str(b, "status") == "error");
  CHECK(str(b, "control_id") == "C2");
  CHECK(str(b, "ack").find("MSA|AE|C2") != std::string::npos);
  CHECK_FALSE(str(b, "error").empty());
  CHECK(base64::decode(str(b, "raw")) == bad);

  // Bytes that are not UTF-8 (a Latin-1 sender: é is 0xE9) come back as sent.
  c.now += 1h;
  const std::string latin1 = adt("A04", "C9", "MRN-9", "19800215", "ADTAPP", "HOSP", "Dupr\xE9");
  (void)c.receive(latin1);
  // Whatever became of it (logged first in any case), it is the newest record.
  const json_value newest = body_of(c.get("/admin/hl7/messages?_count=1"));
  const std::string latest = newest.find("messages")->items().at(0).find("id")->number_text();
  const json_value l = body_of(c.get("/admin/hl7/messages/" + latest));
  CHECK(base64::decode(str(l, "raw")) == latin1);

  CHECK(c.get("/admin/hl7/messages/999999").status == 404);
  CHECK(str(body_of(c.get("/admin/hl7/messages/999999")), "error") == "not_found");
  CHECK(c.get("/admin/hl7/messages/abc").status == 404);
  CHECK(c.get("/admin/hl7/messages/0").status == 404);
  CHECK(c.get("/admin/hl7/messages/1/ack").status == 404);
  CHECK(c.get("/admin/hl7").status == 404);
  CHECK(c.call("DELETE", "/admin/hl7/messages/1").status == 405);
  CHECK(c.call("POST", "/admin/hl7/messages").header("Allow") == "GET");
}

TEST_CASE("hl7 admin: $reprocess runs a message in error again; 409 when not in error, 404 when absent") {
  admin_case c;
  fill(c);
  const std::int64_t error_id = id_of(c, "C2");
  const std::uint64_t errored = c.intake.stats().errored;
  c.now += 1h;
  const http_response r = c.call("POST", "/admin/hl7/messages/" + std::to_string(error_id) + "/$reprocess");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const json_value b = body_of(r);
  // Nothing was fixed: it fails again, and is in error still, processed once more.
  CHECK(str(b, "status") == "error");
  CHECK(str(b, "control_id") == "C2");
  CHECK(str(b, "ack").find("MSA|AE") != std::string::npos);
  CHECK(c.intake.stats().errored == errored + 1);
  // "$" percent-encoded names the same operation.
  CHECK(c.call("POST", "/admin/hl7/messages/" + std::to_string(error_id) + "/%24reprocess").status == 200);

  const http_response processed = c.call("POST", "/admin/hl7/messages/" + std::to_string(id_of(c, "C1")) + "/$reprocess");
  CHECK(processed.status == 409);
  CHECK(str(body_of(processed), "error") == "conflict");
  CHECK(c.call("POST", "/admin/hl7/messages/999999/$reprocess").status == 404);
  const http_response get = c.get("/admin/hl7/messages/" + std::to_string(error_id) + "/$reprocess");
  CHECK(get.status == 405);
  CHECK(get.header("Allow") == "POST");
  CHECK(c.intake.stats().errored == errored + 2);  // the 409, 404 and 405 ran nothing
}

TEST_CASE("hl7 admin: 401 without or with a bad token, 403 without hearth/admin, 200 with it; every call audited") {
  admin_case c;
  fill(c);
  c.audited.clear();

  const http_response none = c.get("/admin/hl7/messages", "-");
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate") == R"(Bearer realm="hearth")");
  CHECK(none.body.find("MSA") == std::string::npos);

  const http_response forged = c.get("/admin/hl7/messages", "eyJhbGciOiJub25lIn0.e30.");
  CHECK(forged.status == 401);
  CHECK(forged.header("WWW-Authenticate").value_or("").find(R"(error="invalid_token")") != std::string::npos);

  // A token of another server's key.
  admin_case other;
  CHECK(c.get("/admin/hl7/messages", other.admin_token).status == 401);

  const http_response reader = c.get("/admin/hl7/messages", c.mint("system/*.cruds", "app-2"));
  CHECK(reader.status == 403);
  CHECK(str(body_of(reader), "error") == "insufficient_scope");
  CHECK(reader.header("WWW-Authenticate").value_or("").find(R"(scope="hearth/admin")") != std::string::npos);
  CHECK(c.call("POST", "/admin/hl7/messages/1/$reprocess", c.mint("system/*.cruds", "app-2")).status == 403);

  const http_response ok = c.get("/admin/hl7/messages?status=error");
  CHECK(ok.status == 200);
  CHECK(ok.header("Cache-Control") == "no-store");
  CHECK(ok.header("X-Request-Id") == "req-7");
  const std::int64_t id = id_of(c, "C2");
  CHECK(c.call("POST", "/admin/hl7/messages/" + std::to_string(id) + "/$reprocess").status == 200);

  // One record per call: 401, 401, 401, 403, 403, 200 (list), 200 (id_of's
  // list), 200 ($reprocess).
  REQUIRE(c.audited.size() == 8);
  for (const audit_record& a : c.audited) {
    CHECK(a.interaction == audit_interaction::operation);
    CHECK(a.request_id == "req-7");
    CHECK(a.remote_address == "127.0.0.1");
  }
  CHECK(c.audited[0].status == 401);
  CHECK(c.audited[0].client_id.empty());
  CHECK(c.audited[0].query.empty());  // refused before its parameters were read
  CHECK(c.audited[3].status == 403);
  CHECK(c.audited[3].client_id == "app-2");
  CHECK(c.audited[4].action == audit_action::execute);
  CHECK(c.audited[5].status == 200);
  CHECK(c.audited[5].action == audit_action::read);
  CHECK(c.audited[5].client_id == "admin-1");
  CHECK_FALSE(c.audited[5].jti.empty());
  CHECK(c.audited[5].query == "/fhir/admin/hl7/messages?status=error");
  CHECK(c.audited[7].action == audit_action::execute);
  CHECK(c.audited[7].status == 200);
  CHECK(c.audited[7].query == "/fhir/admin/hl7/messages/" + std::to_string(id) + "/$reprocess");
}

TEST_CASE("hl7 admin: fail closed: an unhealthy trail is 503 before any work, a refused record turns 200 into 503") {
  admin_case c;
  fill(c);
  const std::int64_t id = id_of(c, "C2");
  const std::uint64_t errored = c.intake.stats().errored;
  c.trail_healthy = false;
  c.audited.clear();
  const http_response down = c.call("POST", "/admin/hl7/messages/" + std::to_string(id) + "/$reprocess");
  CHECK(down.status == 503);
  CHECK(down.header("Retry-After") == "5");
  CHECK(c.intake.stats().errored == errored);  // not run
  CHECK(c.audited.empty());
  c.trail_healthy = true;
  c.accept_audit = false;
  const http_response refused = c.get("/admin/hl7/messages/" + std::to_string(id));
  CHECK(refused.status == 503);
  CHECK(refused.body.find("MSA") == std::string::npos);  // nothing of the message leaves
}

TEST_CASE("hl7 admin: with authorisation off every call is served without a token; other paths are declined") {
  admin_case c(false);
  fill(c);
  CHECK(controls(c.get("/admin/hl7/messages?status=error", "-")) == std::vector<std::string>{"C2"});
  CHECK(c.audited.back().status == 200);
  CHECK(c.audited.back().client_id.empty());

  for (const char* target : {"/fhir/Patient", "/fhir/admin", "/fhir/admin/hl7x/messages", "/admin/hl7/messages",
                             "/fhir/metadata"}) {
    CAPTURE(target);
    http_request req;
    req.method = "GET";
    req.target = target;
    CHECK_FALSE(c.admin->handle(req));
  }
  // Deny by default: neither a verifier nor authorisation off is a configuration error.
  CHECK_THROWS_AS(hl7_admin(c.log, c.intake, hl7_admin_options{.base_url = std::string(base_url)}),
                  std::invalid_argument);
}

TEST_CASE("hl7 admin: the MLLP listener's counters in the Prometheus text format") {
  mllp_stats s;
  s.connections_open = 3;
  s.frames = 42;
  s.oversized = 1;
  s.timeouts = 5;
  s.tls_failures = 2;
  const std::string text = mllp_metrics_text(s);
  CHECK(text.find("# TYPE hearth_mllp_connections_open gauge\nhearth_mllp_connections_open 3\n") != std::string::npos);
  CHECK(text.find("# TYPE hearth_mllp_frames_total counter\nhearth_mllp_frames_total 42\n") != std::string::npos);
  CHECK(text.find("\nhearth_mllp_oversized_total 1\n") != std::string::npos);
  CHECK(text.find("\nhearth_mllp_timeouts_total 5\n") != std::string::npos);
  CHECK(text.find("\nhearth_mllp_tls_failures_total 2\n") != std::string::npos);
}

}  // namespace hearth::server
