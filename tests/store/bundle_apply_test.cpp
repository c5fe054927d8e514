// The executor of the mapping module's transaction Bundles on both engines
// (bundle_apply.hpp) and the identifier lookup inside a transaction it
// stands on (resource_tx::find_by_identifier): creates, conditional updates
// (create, update, identical, several matches), references between entries,
// the URL's encoding and escaping, refusals, and all-or-nothing.
#include <hearth/store/bundle_apply.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/message_log.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
namespace fhir = hearth::fhir;
using store::test::code_of;
using store::test::json;

namespace {

constexpr const char* mrn_system = "http://hospital.example/mrn";
constexpr const char* obs_system = "http://lab.example/filler";

std::string urn(int n) {
  std::string tail = std::to_string(n);
  return "urn:uuid:00000000-0000-4000-8000-" + std::string(12 - tail.size(), '0') + tail;
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// R4 search.html#escaping of a token part: \ | , $ get a backslash.
std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '|' || c == ',' || c == '$') out += '\\';
    out += c;
  }
  return out;
}

/// A conditional update url as the mapping module writes it.
std::string conditional(const std::string& type, const std::string& system, const std::string& value) {
  return type + "?identifier=" + percent_encode(escape(system) + "|" + escape(value));
}

fhir::json_value entry(const std::string& full_url, fhir::json_value resource, const std::string& method,
                       const std::string& url) {
  fhir::json_value e = fhir::json_value::object();
  e.set("fullUrl", fhir::json_value(full_url));
  e.set("resource", std::move(resource));
  fhir::json_value request = fhir::json_value::object();
  request.set("method", fhir::json_value(method));
  request.set("url", fhir::json_value(url));
  e.set("request", std::move(request));
  return e;
}

fhir::json_value bundle(std::vector<fhir::json_value> entries) {
  fhir::json_value b = json(R"({"resourceType":"Bundle","type":"transaction"})");
  fhir::json_value list = fhir::json_value::array();
  for (auto& e : entries) list.push_back(std::move(e));
  b.set("entry", std::move(list));
  return b;
}

fhir::json_value patient(const std::string& system, const std::string& mrn, const std::string& family = "Doe") {
  fhir::json_value p = json(R"({"resourceType":"Patient","name":[{"given":["Jane"]}]})");
  fhir::json_value id = fhir::json_value::object();
  id.set("system", fhir::json_value(system));
  id.set("value", fhir::json_value(mrn));
  fhir::json_value ids = fhir::json_value::array();
  ids.push_back(std::move(id));
  p.set("identifier", std::move(ids));
  p.find("name")->items()[0].set("family", fhir::json_value(family));
  return p;
}

fhir::json_value observation(const std::string& filler, const std::string& subject_urn, const std::string& value) {
  return json(R"({"resourceType":"Observation","identifier":[{"system":")" + std::string(obs_system) +
              R"(","value":")" + filler + R"("}],"status":"final","code":{"coding":[{"system":"http://loinc.org",)"
              R"("code":"2345-7"}]},"subject":{"reference":")" + subject_urn + R"("},"valueQuantity":{"value":)" +
              value + R"(,"unit":"mg/dL"}})");
}

/// Applies `b` in a transaction of its own; the outcome, or the error.
hearth::result<std::vector<store::applied_resource>> apply(store::resource_store& rs, const fhir::json_value& b) {
  std::optional<std::vector<store::applied_resource>> out;
  auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto applied = store::apply_transaction_bundle(tx, b);
    if (!applied) return hearth::unexpected(applied.error());
    out = std::move(*applied);
    return {};
  });
  if (!r) return hearth::unexpected(r.error());
  return std::move(*out);
}

long long count_resources(store::test::test_db& tdb) {
  auto raw = tdb.raw();
  long long n = 0;
  *raw << "SELECT COUNT(*) FROM resource", soci::into(n);
  return n;
}

std::string reference_at(const fhir::json_value& v, std::initializer_list<std::string_view> path) {
  const fhir::json_value* cur = &v;
  for (std::string_view step : path) {
    if (cur == nullptr) return {};
    if (cur->is_array()) {
      cur = &cur->items()[static_cast<std::size_t>(std::stoi(std::string(step)))];
    } else {
      cur = cur->find(step);
    }
  }
  return cur != nullptr && cur->is_string() ? cur->str() : std::string();
}

fhir::json_value read_json(store::resource_store& rs, const std::string& type, const std::string& id) {
  auto v = rs.read(type, id);
  REQUIRE(v);
  return json(v->json);
}

}  // namespace

TEST_CASE("db: bundle: POST entries are created with new ids and references between them rewritten") {
  store::test::store_case c;
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN1"), "POST", "Patient"),
                   entry(urn(2), observation("F1", urn(1), "95"), "POST", "Observation")});
  // A client id in a POSTed resource is replaced (R4 http.html#create).
  b.find("entry")->items()[0].find("resource")->set("id", fhir::json_value("client-chosen"));
  auto r = apply(c.rs, b);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  const auto& p = (*r)[0];
  const auto& o = (*r)[1];
  CHECK(p.type == "Patient");
  CHECK(p.id != "client-chosen");
  CHECK(p.id.size() == 36);
  CHECK(p.created);
  CHECK(p.changed);
  CHECK(p.version_id == 1);
  CHECK(o.type == "Observation");
  CHECK(o.created);
  const auto obs = read_json(c.rs, "Observation", o.id);
  CHECK(reference_at(obs, {"subject", "reference"}) == "Patient/" + p.id);
  CHECK(store::versioned_references(*r) ==
        std::vector<std::string>{"Patient/" + p.id + "/_history/1", "Observation/" + o.id + "/_history/1"});
  // POST twice creates twice.
  auto again = apply(c.rs, b);
  REQUIRE(again);
  CHECK((*again)[0].id != p.id);
  CHECK(count_resources(c.tdb) == 4);
}

TEST_CASE("db: bundle: a conditional PUT creates, then the same Bundle updates the same resources without new versions") {
  store::test::store_case c;
  auto make = [](const std::string& value) {
    return bundle({entry(urn(1), patient(mrn_system, "MRN-7"), "PUT", conditional("Patient", mrn_system, "MRN-7")),
                   entry(urn(2), observation("F-7", urn(1), value), "PUT",
                         conditional("Observation", obs_system, "F-7"))});
  };
  auto first = apply(c.rs, make("95"));
  REQUIRE(first);
  CHECK((*first)[0].created);
  CHECK((*first)[1].created);
  CHECK((*first)[0].version_id == 1);

  // The same Bundle again: the same ids, nothing new (identical content).
  auto second = apply(c.rs, make("95"));
  REQUIRE(second);
  CHECK((*second)[0].id == (*first)[0].id);
  CHECK((*second)[1].id == (*first)[1].id);
  CHECK_FALSE((*second)[0].created);
  CHECK_FALSE((*second)[0].changed);
  CHECK_FALSE((*second)[1].changed);
  CHECK((*second)[1].version_id == 1);
  CHECK(count_resources(c.tdb) == 2);

  // A corrected result: a new version of the Observation only.
  auto third = apply(c.rs, make("102"));
  REQUIRE(third);
  CHECK((*third)[1].id == (*first)[1].id);
  CHECK((*third)[1].changed);
  CHECK_FALSE((*third)[1].created);
  CHECK((*third)[1].version_id == 2);
  CHECK_FALSE((*third)[0].changed);
  const auto obs = read_json(c.rs, "Observation", (*first)[1].id);
  CHECK(obs.find("valueQuantity")->find("value")->number_text() == "102");
  CHECK(reference_at(obs, {"subject", "reference"}) == "Patient/" + (*first)[0].id);

  // A deleted match no longer matches: the next apply creates anew.
  REQUIRE(c.rs.remove("Patient", (*first)[0].id));
  auto fourth = apply(c.rs, make("102"));
  REQUIRE(fourth);
  CHECK((*fourth)[0].created);
  CHECK((*fourth)[0].id != (*first)[0].id);
}

TEST_CASE("db: bundle: references to entries are rewritten wherever they are: nested objects, arrays, extensions") {
  store::test::store_case c;
  fhir::json_value report = json(R"({"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"},)"
                                 R"("subject":{"reference":")" + urn(1) + R"("},)"
                                 R"("result":[{"reference":")" + urn(2) + R"("},{"reference":")" + urn(3) + R"("},)"
                                 R"({"reference":"Observation/kept-as-is"}],)"
                                 R"("extension":[{"url":"http://example.org/x","extension":[{"url":"inner",)"
                                 R"("valueReference":{"reference":")" + urn(1) + R"(","display":"keep"}}]}]})");
  auto b = bundle({entry(urn(4), std::move(report), "POST", "DiagnosticReport"),
                   entry(urn(1), patient(mrn_system, "MRN-R"), "PUT", conditional("Patient", mrn_system, "MRN-R")),
                   entry(urn(2), observation("F-R1", urn(1), "1"), "POST", "Observation"),
                   entry(urn(3), observation("F-R2", urn(1), "2"), "POST", "Observation")});
  auto r = apply(c.rs, b);
  REQUIRE(r);
  const std::string pat = "Patient/" + (*r)[1].id;
  const auto dr = read_json(c.rs, "DiagnosticReport", (*r)[0].id);
  CHECK(reference_at(dr, {"subject", "reference"}) == pat);
  CHECK(reference_at(dr, {"result", "0", "reference"}) == "Observation/" + (*r)[2].id);
  CHECK(reference_at(dr, {"result", "1", "reference"}) == "Observation/" + (*r)[3].id);
  CHECK(reference_at(dr, {"result", "2", "reference"}) == "Observation/kept-as-is");
  CHECK(reference_at(dr, {"extension", "0", "extension", "0", "valueReference", "reference"}) == pat);
  CHECK(reference_at(dr, {"extension", "0", "extension", "0", "valueReference", "display"}) == "keep");
  // Written references are indexed: the report is found by its subject.
  REQUIRE(c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto ids = tx.find_by_identifier("Patient", mrn_system, "MRN-R");
    REQUIRE(ids);
    CHECK(*ids == std::vector<std::string>{(*r)[1].id});
    return {};
  }));
}

TEST_CASE("db: bundle: two entries with one conditional url name one resource; the later content is written once") {
  store::test::store_case c;
  const std::string url = conditional("Patient", mrn_system, "MRN-D");
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN-D", "Early"), "PUT", url),
                   entry(urn(2), observation("F-D", urn(1), "5"), "POST", "Observation"),
                   entry(urn(3), patient(mrn_system, "MRN-D", "Late"), "PUT", url),
                   entry(urn(4), observation("F-D2", urn(3), "6"), "POST", "Observation")});
  auto r = apply(c.rs, b);
  REQUIRE(r);
  CHECK((*r)[0].id == (*r)[2].id);
  CHECK((*r)[0].version_id == 1);  // written once
  CHECK((*r)[0].version_id == (*r)[2].version_id);
  CHECK((*r)[0].created);
  const auto p = read_json(c.rs, "Patient", (*r)[0].id);
  CHECK(reference_at(p, {"name", "0", "family"}) == "Late");
  CHECK(reference_at(read_json(c.rs, "Observation", (*r)[1].id), {"subject", "reference"}) == "Patient/" + (*r)[0].id);
  CHECK(reference_at(read_json(c.rs, "Observation", (*r)[3].id), {"subject", "reference"}) == "Patient/" + (*r)[0].id);
  CHECK(count_resources(c.tdb) == 3);
}

TEST_CASE("db: bundle: a conditional PUT matching several resources fails multiple-matches and writes nothing") {
  store::test::store_case c;
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-M")));
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-M")));
  auto b = bundle({entry(urn(1), observation("F-M", urn(2), "1"), "POST", "Observation"),
                   entry(urn(2), patient(mrn_system, "MRN-M"), "PUT", conditional("Patient", mrn_system, "MRN-M"))});
  auto r = apply(c.rs, b);
  CHECK(code_of(r) == store::error_codes::multiple_matches);
  CHECK(r.error().message.find("entry 1") != std::string::npos);
  CHECK(r.error().message.find("MRN-M") == std::string::npos);  // no identifier values in errors
  CHECK(count_resources(c.tdb) == 2);
}

TEST_CASE("db: bundle: identifiers with reserved characters are decoded from the url's encoding and escaping") {
  store::test::store_case c;
  const std::string system = "urn:oid:1.2.3|x";  // a '|' in the system too
  const std::string value = "A|B,C\\D$E F%+";
  auto make = [&] {
    return bundle({entry(urn(1), patient(system, value), "PUT", conditional("Patient", system, value))});
  };
  auto first = apply(c.rs, make());
  REQUIRE(first);
  CHECK((*first)[0].created);
  const auto p = read_json(c.rs, "Patient", (*first)[0].id);
  CHECK(reference_at(p, {"identifier", "0", "value"}) == value);
  auto second = apply(c.rs, make());
  REQUIRE(second);
  CHECK((*second)[0].id == (*first)[0].id);
  CHECK_FALSE((*second)[0].created);
  // The escaping alone, without percent-encoding, reads the same.
  auto plain = bundle({entry(urn(1), patient(system, value), "PUT",
                             "Patient?identifier=" + escape(system) + "|" + escape(value))});
  // (a space and '%' must be percent-encoded: the plain form has "%+" and a space)
  CHECK(code_of(apply(c.rs, plain)) == store::error_codes::invalid);
  auto plain_ok = bundle({entry(urn(1), patient("s,1", "v|2"), "PUT", "Patient?identifier=s\\,1|v\\|2")});
  auto r = apply(c.rs, plain_ok);
  REQUIRE(r);
  CHECK((*r)[0].created);
  auto r2 = apply(c.rs, plain_ok);
  REQUIRE(r2);
  CHECK((*r2)[0].id == (*r)[0].id);
  // An empty system: identifiers without one (identifier=|value).
  fhir::json_value no_system = json(R"({"resourceType":"Patient","identifier":[{"value":"bare-1"}]})");
  auto ns = bundle({entry(urn(1), no_system, "PUT", "Patient?identifier=%7Cbare-1")});
  auto n1 = apply(c.rs, ns);
  REQUIRE(n1);
  auto n2 = apply(c.rs, ns);
  REQUIRE(n2);
  CHECK((*n2)[0].id == (*n1)[0].id);
  CHECK_FALSE((*n2)[0].created);
}

TEST_CASE("db: bundle: a Bundle outside the contract is invalid, names the entry, and writes nothing") {
  store::test::store_case c;
  const auto good = [] { return entry(urn(1), patient(mrn_system, "MRN-I"), "POST", "Patient"); };
  const auto with_second = [&](fhir::json_value second) { return bundle({good(), std::move(second)}); };
  const std::vector<std::pair<std::string, fhir::json_value>> cases = [&] {
    std::vector<std::pair<std::string, fhir::json_value>> v;
    auto put = [&](const std::string& url) { return entry(urn(2), patient(mrn_system, "X"), "PUT", url); };
    v.emplace_back("not identifier", with_second(put("Patient?name=Doe")));
    v.emplace_back("a modifier", with_second(put("Patient?identifier:of-type=a|b|c")));
    v.emplace_back("two parameters", with_second(put("Patient?identifier=a|b&active=true")));
    v.emplace_back("no query", with_second(put("Patient/123")));
    v.emplace_back("another type", with_second(put("Observation?identifier=a|b")));
    v.emplace_back("bad percent", with_second(put("Patient?identifier=a|b%2")));
    v.emplace_back("bad percent digits", with_second(put("Patient?identifier=a|b%ZZ")));
    v.emplace_back("no system bar", with_second(put("Patient?identifier=b")));
    v.emplace_back("a list", with_second(put("Patient?identifier=a|b,c")));
    v.emplace_back("a composite", with_second(put("Patient?identifier=a|b$c")));
    v.emplace_back("unknown escape", with_second(put("Patient?identifier=a|b\\q")));
    v.emplace_back("lone escape", with_second(put("Patient?identifier=a|b\\")));
    v.emplace_back("empty value", with_second(put("Patient?identifier=a|")));
    v.emplace_back("two bars", with_second(put("Patient?identifier=a|b|c")));
    v.emplace_back("DELETE", with_second(entry(urn(2), patient(mrn_system, "X"), "DELETE", "Patient")));
    v.emplace_back("POST url", with_second(entry(urn(2), patient(mrn_system, "X"), "POST", "Observation")));
    v.emplace_back("fullUrl", with_second(entry("http://example.org/Patient/1", patient(mrn_system, "X"), "POST",
                                                "Patient")));
    v.emplace_back("same fullUrl", with_second(entry(urn(1), patient(mrn_system, "X"), "POST", "Patient")));
    v.emplace_back("unknown urn", with_second(entry(urn(2), observation("F", urn(9), "1"), "POST", "Observation")));
    v.emplace_back("no request", with_second(json(R"({"fullUrl":")" + urn(2) +
                                                  R"(","resource":{"resourceType":"Patient"}})")));
    v.emplace_back("no resource", with_second(json(R"({"fullUrl":")" + urn(2) +
                                                   R"(","request":{"method":"POST","url":"Patient"}})")));
    fhir::json_value own_id = patient(mrn_system, "X");
    own_id.set("id", fhir::json_value("not-the-match"));
    v.emplace_back("own id", with_second(entry(urn(2), own_id, "PUT", conditional("Patient", mrn_system, "X"))));
    v.emplace_back("no identifier parameter",
                   with_second(entry(urn(2),
                                     json(R"({"resourceType":"OperationOutcome",)"
                                          R"("issue":[{"severity":"error","code":"invalid"}]})"),
                                     "PUT", "OperationOutcome?identifier=a|b")));
    return v;
  }();
  for (const auto& [name, b] : cases) {
    CAPTURE(name);
    auto r = apply(c.rs, b);
    CHECK(code_of(r) == store::error_codes::invalid);
    if (!r) CHECK(r.error().message.find("entry 1") != std::string::npos);
  }
  // The Bundle itself.
  CHECK(code_of(apply(c.rs, json(R"({"resourceType":"Bundle","type":"batch"})"))) == "invalid");
  CHECK(code_of(apply(c.rs, json(R"({"resourceType":"Patient"})"))) == "invalid");
  CHECK(code_of(apply(c.rs, json(R"({"resourceType":"Bundle","type":"transaction","entry":{"a":1}})"))) == "invalid");
  auto empty = apply(c.rs, json(R"({"resourceType":"Bundle","type":"transaction"})"));
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(count_resources(c.tdb) == 0);
}

TEST_CASE("db: bundle: an entry failing at its write rolls the whole transaction back, message log completion included") {
  store::test::store_case c;
  store::message_log log(*c.db);
  auto m = log.receive(store::incoming_message{"MSH|^~\\&|LAB|MAIN|||20240301||ORU^R01|RB-1|P|2.5.1\r", "LAB", "MAIN",
                                               "RB-1", "ORU^R01"});
  REQUIRE(m);
  // Entry 0 and 1 are written, entry 2 is refused by the store (no such
  // resource type to index): nothing stays.
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN-RB"), "PUT", conditional("Patient", mrn_system, "MRN-RB")),
                   entry(urn(2), observation("F-RB", urn(1), "1"), "POST", "Observation"),
                   entry(urn(3), json(R"({"resourceType":"NoSuchType"})"), "POST", "NoSuchType")});
  auto r = c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto applied = store::apply_transaction_bundle(tx, b);
    if (!applied) return hearth::unexpected(applied.error());
    return store::message_log::complete(tx, m->id, store::message_status::processed, "AA", "",
                                        store::versioned_references(*applied));
  });
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("entry 2") != std::string::npos);
  CHECK(count_resources(c.tdb) == 0);
  auto rec = log.get(m->id);
  REQUIRE(rec);
  CHECK((*rec)->status == store::message_status::received);
  // Without the bad entry, all of it commits together.
  b.find("entry")->items().pop_back();
  std::vector<std::string> produced;
  REQUIRE(c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto applied = store::apply_transaction_bundle(tx, b);
    if (!applied) return hearth::unexpected(applied.error());
    produced = store::versioned_references(*applied);
    return store::message_log::complete(tx, m->id, store::message_status::processed, "AA", "", produced);
  }));
  CHECK(count_resources(c.tdb) == 2);
  rec = log.get(m->id);
  REQUIRE(rec);
  CHECK((*rec)->status == store::message_status::processed);
  CHECK((*rec)->resources == produced);
}

TEST_CASE("db: bundle: find_by_identifier sees the transaction's own writes and only current, exact matches") {
  store::test::store_case c;
  auto kept = c.rs.create("Patient", patient(mrn_system, "MRN-F"));
  REQUIRE(kept);
  auto gone = c.rs.create("Patient", patient(mrn_system, "MRN-G"));
  REQUIRE(gone);
  REQUIRE(c.rs.remove("Patient", gone->version.id));
  auto rolled_back = c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto f = tx.find_by_identifier("Patient", mrn_system, "MRN-F");
    REQUIRE(f);
    CHECK(*f == std::vector<std::string>{kept->version.id});
    auto g = tx.find_by_identifier("Patient", mrn_system, "MRN-G");
    REQUIRE(g);
    CHECK(g->empty());  // deleted
    auto other_system = tx.find_by_identifier("Patient", "http://other.example", "MRN-F");
    REQUIRE(other_system);
    CHECK(other_system->empty());
    auto case_differs = tx.find_by_identifier("Patient", mrn_system, "mrn-f");
    REQUIRE(case_differs);
    CHECK(case_differs->empty());
    auto other_type = tx.find_by_identifier("Observation", mrn_system, "MRN-F");
    REQUIRE(other_type);
    CHECK(other_type->empty());
    // Written in this transaction, not yet committed: found.
    auto fresh = tx.create("Patient", patient(mrn_system, "MRN-F"));
    REQUIRE(fresh);
    auto both = tx.find_by_identifier("Patient", mrn_system, "MRN-F");
    REQUIRE(both);
    CHECK(both->size() == 2);
    auto one = tx.find_by_identifier("Patient", mrn_system, "MRN-F", 1);
    REQUIRE(one);
    CHECK(one->size() == 1);
    CHECK(code_of(tx.find_by_identifier("OperationOutcome", "a", "b")) == store::error_codes::invalid);
    CHECK(code_of(tx.find_by_identifier("not a type", "a", "b")) == store::error_codes::invalid);
    return hearth::unexpected(hearth::error{"exception", "roll back", {}, hearth::error::npos});
  });
  CHECK(code_of(rolled_back) == "exception");
  // Rolled back: the uncommitted Patient is gone again.
  REQUIRE(c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto f = tx.find_by_identifier("Patient", mrn_system, "MRN-F");
    if (!f) return hearth::unexpected(f.error());
    CHECK(f->size() == 1);
    return {};
  }));
}

TEST_CASE("db: bundle: two database instances applying one conditional Bundle concurrently create one resource each") {
  // Two database objects are two processes' writers. On PostgreSQL the
  // lookup's advisory lock (and the audit head lock every write group takes)
  // orders them; on SQLite the database lock does. Either way the second
  // finds what the first created: one Patient and one Observation per key.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::resource_store rs1(*db1, store::test::default_indexer());
  store::resource_store rs2(*db2, store::test::default_indexer());
  constexpr int keys = 15;
  auto make = [](int k) {
    const std::string mrn = "MRN-C" + std::to_string(k);
    return bundle({entry(urn(1), patient(mrn_system, mrn), "PUT", conditional("Patient", mrn_system, mrn)),
                   entry(urn(2), observation("F-C" + std::to_string(k), urn(1), "1"), "PUT",
                         conditional("Observation", obs_system, "F-C" + std::to_string(k)))});
  };
  std::atomic<int> failures{0}, created{0};
  auto run = [&](store::resource_store& rs) {
    for (int k = 0; k < keys; ++k) {
      auto r = apply(rs, make(k));
      if (!r) {
        ++failures;
        continue;
      }
      for (const auto& a : *r) created += a.created ? 1 : 0;
    }
  };
  std::thread t1([&] { run(rs1); });
  std::thread t2([&] { run(rs2); });
  t1.join();
  t2.join();
  CHECK(failures == 0);
  CHECK(created == 2 * keys);
  CHECK(count_resources(tdb) == 2 * keys);
}
