// The executor of the mapping module's transaction Bundles on both engines
// (bundle_apply.hpp) and the identifier lookup inside a transaction it
// stands on (resource_tx::find_by_identifier): creates, conditional updates
// (create, update, identical, several matches), references between entries,
// the URL's encoding and escaping, refusals, and all-or-nothing.
#include <hearth/store/bundle_apply.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
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

/// A conditional create entry (R4 http.html#ccreate) as the mapping module writes it.
fhir::json_value create_if_none(const std::string& full_url, fhir::json_value resource, const std::string& system,
                                const std::string& value) {
  const std::string type = resource.find("resourceType")->str();
  fhir::json_value e = entry(full_url, std::move(resource), "POST", type);
  e.find("request")->set("ifNoneExist", fhir::json_value(conditional(type, system, value).substr(type.size() + 1)));
  return e;
}

TEST_CASE("db: bundle: a conditional create writes when nothing matches and leaves a match untouched") {
  store::test::store_case c;
  auto make = [](const std::string& family, const std::string& value) {
    return bundle({create_if_none(urn(1), patient(mrn_system, "MRN-C", family), mrn_system, "MRN-C"),
                   entry(urn(2), observation("F-C", urn(1), value), "PUT",
                         conditional("Observation", obs_system, "F-C"))});
  };
  auto first = apply(c.rs, make("First", "1"));
  REQUIRE(first);
  CHECK((*first)[0].created);
  CHECK((*first)[0].changed);
  CHECK((*first)[0].version_id == 1);
  // Again with other content: the stored Patient is the entry's result, not rewritten.
  auto second = apply(c.rs, make("Second", "2"));
  REQUIRE(second);
  CHECK((*second)[0].id == (*first)[0].id);
  CHECK_FALSE((*second)[0].created);
  CHECK_FALSE((*second)[0].changed);
  CHECK((*second)[0].version_id == 1);
  CHECK(reference_at(read_json(c.rs, "Patient", (*first)[0].id), {"name", "0", "family"}) == "First");
  // References to the entry point at the match.
  CHECK(reference_at(read_json(c.rs, "Observation", (*second)[1].id), {"subject", "reference"}) ==
        "Patient/" + (*first)[0].id);
  CHECK((*second)[1].version_id == 2);
  CHECK(count_resources(c.tdb) == 2);

  // Within one Bundle: a conditional create after a PUT of the same
  // identifier is that resource; a PUT after a conditional create writes over it.
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN-E", "Put"), "PUT", conditional("Patient", mrn_system, "MRN-E")),
                   create_if_none(urn(2), patient(mrn_system, "MRN-E", "Ignored"), mrn_system, "MRN-E"),
                   create_if_none(urn(3), patient(mrn_system, "MRN-C", "Ignored"), mrn_system, "MRN-C"),
                   entry(urn(4), patient(mrn_system, "MRN-C", "Later"), "PUT", conditional("Patient", mrn_system, "MRN-C"))});
  auto r = apply(c.rs, b);
  REQUIRE(r);
  CHECK((*r)[0].id == (*r)[1].id);
  CHECK((*r)[0].version_id == 1);
  CHECK((*r)[1].version_id == 1);
  CHECK(reference_at(read_json(c.rs, "Patient", (*r)[0].id), {"name", "0", "family"}) == "Put");
  CHECK((*r)[2].id == (*first)[0].id);
  CHECK((*r)[3].id == (*first)[0].id);
  CHECK((*r)[2].version_id == 2);
  CHECK((*r)[3].changed);
  CHECK(reference_at(read_json(c.rs, "Patient", (*first)[0].id), {"name", "0", "family"}) == "Later");
  CHECK(count_resources(c.tdb) == 3);

  // Several matches fail as for a conditional update; a bad ifNoneExist is invalid.
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-C")));
  auto many = apply(c.rs, bundle({create_if_none(urn(1), patient(mrn_system, "MRN-C"), mrn_system, "MRN-C")}));
  CHECK(code_of(many) == store::error_codes::multiple_matches);
  auto bad = bundle({create_if_none(urn(1), patient(mrn_system, "MRN-Z"), mrn_system, "MRN-Z")});
  bad.find("entry")->items()[0].find("request")->set("ifNoneExist", fhir::json_value("name=Doe"));
  CHECK(code_of(apply(c.rs, bad)) == store::error_codes::invalid);
  auto on_put = bundle({entry(urn(1), patient(mrn_system, "MRN-Z"), "PUT", conditional("Patient", mrn_system, "MRN-Z"))});
  on_put.find("entry")->items()[0].find("request")->set("ifNoneExist", fhir::json_value("identifier=a|b"));
  CHECK(code_of(apply(c.rs, on_put)) == store::error_codes::invalid);
  CHECK(count_resources(c.tdb) == 4);
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

// ---- Patient/$merge (ADT^A40) -------------------------------------------------

namespace {

/// A merge entry: POST Patient/$merge with a Parameters of the sources'
/// identifiers and the target's entry.
fhir::json_value merge_entry(const std::string& full_url, const std::vector<std::pair<std::string, std::string>>& sources,
                             const std::string& target_urn) {
  fhir::json_value params = json(R"({"resourceType":"Parameters"})");
  params.set("parameter", fhir::json_value::array());
  for (const auto& [system, value] : sources) {
    params.find("parameter")->push_back(json(R"({"name":"source-patient-identifier","valueIdentifier":{"system":")" +
                                             system + R"(","value":")" + value + R"("}})"));
  }
  params.find("parameter")->push_back(
      json(R"({"name":"target-patient","valueReference":{"reference":")" + target_urn + R"("}})"));
  return entry(full_url, std::move(params), "POST", "Patient/$merge");
}

/// The usual A40 Bundle: the survivor `target_mrn` (PUT), then its merge of `source_mrn`.
fhir::json_value merge_bundle(const std::string& target_mrn, const std::string& source_mrn) {
  return bundle({entry(urn(1), patient(mrn_system, target_mrn, "Survivor"), "PUT",
                       conditional("Patient", mrn_system, target_mrn)),
                 merge_entry(urn(2), {{mrn_system, source_mrn}}, urn(1))});
}

long long count_versions(store::test::test_db& tdb) {
  auto raw = tdb.raw();
  long long n = 0;
  *raw << "SELECT COUNT(*) FROM resource_history", soci::into(n);
  return n;
}

std::string created_id(store::resource_store& rs, const std::string& type, const fhir::json_value& resource) {
  auto r = rs.create(type, resource);
  REQUIRE(r);
  return r->version.id;
}

std::int64_t version_of(store::resource_store& rs, const std::string& type, const std::string& id) {
  auto v = rs.read(type, id);
  REQUIRE(v);
  return v->version_id;
}

/// The links of a Patient as "type other.reference" texts.
std::vector<std::string> links_of(const fhir::json_value& p) {
  std::vector<std::string> out;
  const fhir::json_value* links = p.find("link");
  if (links == nullptr) return out;
  for (const auto& l : links->items()) {
    out.push_back(l.find("type")->str() + " " + l.find("other")->find("reference")->str());
  }
  return out;
}

}  // namespace

TEST_CASE("db: bundle: a merge moves what referred to the source to the target and links the two Patients") {
  store::test::store_case c;
  // The prior patient X with a second identifier, and what refers to it.
  fhir::json_value x_resource = patient(mrn_system, "MRN-X", "Prior");
  x_resource.find("identifier")->push_back(json(R"({"system":"urn:temp","value":"T-1"})"));
  const std::string x = created_id(c.rs, "Patient", x_resource);
  const std::string px = "Patient/" + x;
  fhir::json_value obs = observation("F-X1", px, "7");
  // A second reference in an extension: not indexed, rewritten with the subject.
  obs.set("extension", json(R"([{"url":"http://example.org/about","valueReference":{"reference":")" + px + R"("}}])"));
  const std::string o = created_id(c.rs, "Observation", obs);
  const std::string e = created_id(
      c.rs, "Encounter",
      json(R"({"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":")" +
           px + R"("}})"));
  // Only an unindexed reference: not found, so not moved (the header says so).
  const std::string hidden = created_id(
      c.rs, "Basic",
      json(R"({"resourceType":"Basic","code":{"text":"note"},"extension":[{"url":"http://example.org/about","valueReference":{"reference":")" +
           px + R"("}}]})"));
  // A versioned reference names that version: kept.
  const std::string versioned = created_id(c.rs, "Observation", observation("F-X2", px + "/_history/1", "8"));
  // The records of what happened stay true.
  const std::string audit = created_id(
      c.rs, "AuditEvent",
      json(R"({"resourceType":"AuditEvent","type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110107"},)"
           R"("recorded":"2024-03-01T10:00:00Z","agent":[{"requestor":true,"who":{"display":"lab"}}],)"
           R"("source":{"observer":{"display":"hearth"}},"entity":[{"what":{"reference":")" + px + R"("}}]})"));
  const std::string prov = created_id(
      c.rs, "Provenance",
      json(R"({"resourceType":"Provenance","target":[{"reference":")" + px +
           R"("}],"recorded":"2024-03-01T10:00:00Z","agent":[{"who":{"display":"lab"}}]})"));
  // Another Patient's link to X is a record too.
  fhir::json_value w_resource = patient(mrn_system, "MRN-W", "Other");
  w_resource.set("link", json(R"([{"other":{"reference":")" + px + R"("},"type":"seealso"}])"));
  const std::string w = created_id(c.rs, "Patient", w_resource);
  const long long resources_before = count_resources(c.tdb);

  // Both identifiers of X locate it (R5 $merge: all must be in the one Patient).
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN-Y", "Survivor"), "PUT",
                         conditional("Patient", mrn_system, "MRN-Y")),
                   merge_entry(urn(2), {{mrn_system, "MRN-X"}, {"urn:temp", "T-1"}}, urn(1))});
  auto r = apply(c.rs, b);
  REQUIRE(r);
  const std::string y = (*r)[0].id;
  CHECK(count_resources(c.tdb) == resources_before + 1);  // Y only
  // The entries' results, then the moved resources (sorted by type and id).
  REQUIRE(r->size() == 4);
  CHECK((*r)[0].type == "Patient");
  CHECK((*r)[0].created);
  CHECK((*r)[0].version_id == 1);  // written once, with its link
  CHECK((*r)[1].type == "Patient");
  CHECK((*r)[1].id == x);
  CHECK((*r)[1].version_id == 2);
  CHECK((*r)[1].changed);
  CHECK_FALSE((*r)[1].created);
  CHECK((*r)[2].type == "Encounter");
  CHECK((*r)[2].id == e);
  CHECK((*r)[2].version_id == 2);
  CHECK((*r)[3].type == "Observation");
  CHECK((*r)[3].id == o);
  CHECK((*r)[3].version_id == 2);
  CHECK(store::versioned_references(*r) ==
        std::vector<std::string>{"Patient/" + y + "/_history/1", px + "/_history/2", "Encounter/" + e + "/_history/2",
                                 "Observation/" + o + "/_history/2"});

  // R4 patient.html#links: the source inactive and replaced-by, the target replaces.
  const auto xs = read_json(c.rs, "Patient", x);
  CHECK(xs.find("active")->is_bool());
  CHECK_FALSE(xs.find("active")->as_bool());
  CHECK(links_of(xs) == std::vector<std::string>{"replaced-by Patient/" + y});
  CHECK(reference_at(xs, {"name", "0", "family"}) == "Prior");  // otherwise as it was
  const auto ys = read_json(c.rs, "Patient", y);
  CHECK(links_of(ys) == std::vector<std::string>{"replaces " + px});
  CHECK(reference_at(ys, {"name", "0", "family"}) == "Survivor");

  // Moved: every "Patient/<x>" reference of a found resource.
  const auto os = read_json(c.rs, "Observation", o);
  CHECK(reference_at(os, {"subject", "reference"}) == "Patient/" + y);
  CHECK(reference_at(os, {"extension", "0", "valueReference", "reference"}) == "Patient/" + y);
  CHECK(reference_at(read_json(c.rs, "Encounter", e), {"subject", "reference"}) == "Patient/" + y);
  // Kept.
  CHECK(version_of(c.rs, "Basic", hidden) == 1);
  CHECK(reference_at(read_json(c.rs, "Basic", hidden), {"extension", "0", "valueReference", "reference"}) == px);
  CHECK(version_of(c.rs, "Observation", versioned) == 1);
  CHECK(version_of(c.rs, "AuditEvent", audit) == 1);
  CHECK(reference_at(read_json(c.rs, "AuditEvent", audit), {"entity", "0", "what", "reference"}) == px);
  CHECK(version_of(c.rs, "Provenance", prov) == 1);
  CHECK(reference_at(read_json(c.rs, "Provenance", prov), {"target", "0", "reference"}) == px);
  CHECK(version_of(c.rs, "Patient", w) == 1);
  // The moved references are indexed: the Observation is found by its new subject.
  REQUIRE(c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto ids = tx.find_by_identifier("Observation", obs_system, "F-X1");
    REQUIRE(ids);
    CHECK(*ids == std::vector<std::string>{o});
    return {};
  }));

  // The same message again: nothing written, the same results.
  const long long versions = count_versions(c.tdb);
  auto again = apply(c.rs, b);
  REQUIRE(again);
  CHECK(count_versions(c.tdb) == versions);
  REQUIRE(again->size() == 2);
  CHECK((*again)[0].id == y);
  CHECK_FALSE((*again)[0].changed);
  CHECK((*again)[0].version_id == 1);
  CHECK((*again)[1].id == x);
  CHECK_FALSE((*again)[1].changed);
  CHECK((*again)[1].version_id == 2);
}

TEST_CASE("db: bundle: a second merge into the same survivor keeps the first link; a target written only by a match") {
  store::test::store_case c;
  const std::string x1 = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X1"));
  const std::string x2 = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X2"));
  const std::string x3 = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X3"));
  auto first = apply(c.rs, merge_bundle("MRN-Y", "MRN-X1"));
  REQUIRE(first);
  const std::string y = (*first)[0].id;
  // The survivor's PUT carries no link (a PID has none): the stored ones stay.
  auto second = apply(c.rs, merge_bundle("MRN-Y", "MRN-X2"));
  REQUIRE(second);
  CHECK((*second)[0].id == y);
  CHECK((*second)[0].version_id == 2);
  CHECK(links_of(read_json(c.rs, "Patient", y)) ==
        std::vector<std::string>{"replaces Patient/" + x1, "replaces Patient/" + x2});
  const long long versions = count_versions(c.tdb);
  REQUIRE(apply(c.rs, merge_bundle("MRN-Y", "MRN-X2")));
  CHECK(count_versions(c.tdb) == versions);

  // A survivor the Bundle does not write (a conditional create that found
  // it) gets its link at the merge.
  fhir::json_value cc = entry(urn(1), patient(mrn_system, "MRN-Y", "Ignored"), "POST", "Patient");
  cc.find("request")->set("ifNoneExist", fhir::json_value("identifier=" + percent_encode(std::string(mrn_system) + "|MRN-Y")));
  auto third = apply(c.rs, bundle({std::move(cc), merge_entry(urn(2), {{mrn_system, "MRN-X3"}}, urn(1))}));
  REQUIRE(third);
  CHECK((*third)[0].id == y);
  CHECK((*third)[0].version_id == 3);  // the result is the version after the Bundle
  CHECK((*third)[0].changed);
  CHECK(links_of(read_json(c.rs, "Patient", y)) ==
        std::vector<std::string>{"replaces Patient/" + x1, "replaces Patient/" + x2, "replaces Patient/" + x3});
  CHECK(links_of(read_json(c.rs, "Patient", x3)) == std::vector<std::string>{"replaced-by Patient/" + y});

  // Two merges in one Bundle, as an A40 with two PID/MRG pairs.
  const std::string x4 = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X4"));
  const std::string x5 = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X5"));
  const std::string o4 = created_id(c.rs, "Observation", observation("F-4", "Patient/" + x4, "1"));
  const std::string o5 = created_id(c.rs, "Observation", observation("F-5", "Patient/" + x5, "1"));
  auto two = apply(c.rs, bundle({entry(urn(1), patient(mrn_system, "MRN-Z1"), "PUT", conditional("Patient", mrn_system, "MRN-Z1")),
                                 merge_entry(urn(2), {{mrn_system, "MRN-X4"}}, urn(1)),
                                 entry(urn(3), patient(mrn_system, "MRN-Z2"), "PUT", conditional("Patient", mrn_system, "MRN-Z2")),
                                 merge_entry(urn(4), {{mrn_system, "MRN-X5"}}, urn(3))}));
  REQUIRE(two);
  REQUIRE(two->size() == 6);
  CHECK((*two)[1].id == x4);
  CHECK((*two)[3].id == x5);
  CHECK(reference_at(read_json(c.rs, "Observation", o4), {"subject", "reference"}) == "Patient/" + (*two)[0].id);
  CHECK(reference_at(read_json(c.rs, "Observation", o5), {"subject", "reference"}) == "Patient/" + (*two)[2].id);
}

TEST_CASE("db: bundle: a merge whose source is unknown, ambiguous or the target fails and writes nothing") {
  store::test::store_case c;
  const std::string x = created_id(c.rs, "Patient", patient(mrn_system, "MRN-X"));
  const std::string o = created_id(c.rs, "Observation", observation("F-X", "Patient/" + x, "1"));
  const long long resources = count_resources(c.tdb);
  const long long versions = count_versions(c.tdb);
  const auto nothing_written = [&] {
    CHECK(count_resources(c.tdb) == resources);
    CHECK(count_versions(c.tdb) == versions);
    CHECK(version_of(c.rs, "Observation", o) == 1);
  };

  // Unknown: "not-found", at the merge entry, without the identifier.
  auto unknown = apply(c.rs, merge_bundle("MRN-Y", "MRN-NOBODY"));
  CHECK(code_of(unknown) == store::error_codes::not_found);
  if (!unknown) {
    CHECK(unknown.error().location == "Bundle.entry[1]");
    CHECK(unknown.error().message.find("entry 1") != std::string::npos);
    CHECK(unknown.error().message.find("MRN-NOBODY") == std::string::npos);
  }
  nothing_written();
  // One identifier known, another not: all must locate the Patient.
  auto partly = apply(c.rs, bundle({entry(urn(1), patient(mrn_system, "MRN-Y"), "PUT", conditional("Patient", mrn_system, "MRN-Y")),
                                    merge_entry(urn(2), {{mrn_system, "MRN-X"}, {mrn_system, "MRN-NOBODY"}}, urn(1))}));
  CHECK(code_of(partly) == store::error_codes::not_found);
  nothing_written();

  // The source is the target: invalid.
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-Y")));
  const long long with_y = count_resources(c.tdb);
  auto self = apply(c.rs, merge_bundle("MRN-Y", "MRN-Y"));
  CHECK(code_of(self) == store::error_codes::invalid);
  CHECK(count_resources(c.tdb) == with_y);

  // Identifiers locating two Patients, or one identifier on two: multiple-matches.
  auto two = apply(c.rs, bundle({entry(urn(1), patient(mrn_system, "MRN-Z"), "PUT", conditional("Patient", mrn_system, "MRN-Z")),
                                 merge_entry(urn(2), {{mrn_system, "MRN-X"}, {mrn_system, "MRN-Y"}}, urn(1))}));
  CHECK(code_of(two) == store::error_codes::multiple_matches);
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-X")));
  auto twice = apply(c.rs, merge_bundle("MRN-Z", "MRN-X"));
  CHECK(code_of(twice) == store::error_codes::multiple_matches);
  CHECK(version_of(c.rs, "Observation", o) == 1);
  CHECK(version_of(c.rs, "Patient", x) == 1);
}

TEST_CASE("db: bundle: a merge entry outside the contract is invalid and names the entry") {
  store::test::store_case c;
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-X")));
  const auto survivor = [] {
    return entry(urn(1), patient(mrn_system, "MRN-Y"), "PUT", conditional("Patient", mrn_system, "MRN-Y"));
  };
  std::vector<std::pair<std::string, fhir::json_value>> cases;
  cases.emplace_back("target not an entry", bundle({survivor(), merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(9))}));
  cases.emplace_back("target a later entry", bundle({merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(1)), survivor()}));
  cases.emplace_back("target not a Patient",
                     bundle({entry(urn(1), observation("F", "Patient/1", "1"), "POST", "Observation"),
                             merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(1))}));
  cases.emplace_back("target a plain reference",
                     bundle({survivor(), merge_entry(urn(2), {{mrn_system, "MRN-X"}}, "Patient/123")}));
  cases.emplace_back("no source", bundle({survivor(), merge_entry(urn(2), {}, urn(1))}));
  cases.emplace_back("target written again later",
                     bundle({survivor(), merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(1)),
                             entry(urn(3), patient(mrn_system, "MRN-Y"), "PUT", conditional("Patient", mrn_system, "MRN-Y"))}));
  {
    auto b = bundle({survivor(), merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(1))});
    b.find("entry")->items()[1].find("resource")->find("parameter")->push_back(
        json(R"({"name":"preview","valueBoolean":true})"));
    cases.emplace_back("another parameter", std::move(b));
  }
  {
    auto b = bundle({survivor(), merge_entry(urn(2), {{mrn_system, "MRN-X"}}, urn(1))});
    b.find("entry")->items()[1].find("resource")->find("parameter")->push_back(
        json(R"({"name":"target-patient","valueReference":{"reference":")" + urn(1) + R"("}})"));
    cases.emplace_back("two targets", std::move(b));
  }
  cases.emplace_back("not a Parameters", bundle({survivor(), entry(urn(2), patient(mrn_system, "MRN-X"), "POST",
                                                                   "Patient/$merge")}));
  for (const auto& [name, b] : cases) {
    CAPTURE(name);
    auto r = apply(c.rs, b);
    CHECK(code_of(r) == store::error_codes::invalid);
  }
  CHECK(count_resources(c.tdb) == 1);
}

// ---- planned before the transaction (prepare_transaction_bundle) ------------

namespace {

/// Plans `b` outside the transaction, optionally runs `between` (another
/// write landing after the planning), then applies the plan in a
/// transaction of its own.
hearth::result<std::vector<store::applied_resource>> apply_planned(store::resource_store& rs, const fhir::json_value& b,
                                                                   const std::function<void()>& between = {}) {
  store::prepared_bundle prepared = store::prepare_transaction_bundle(rs, b);
  if (between) between();
  std::optional<std::vector<store::applied_resource>> out;
  auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto applied = store::apply_transaction_bundle(tx, std::move(prepared));
    if (!applied) return hearth::unexpected(applied.error());
    out = std::move(*applied);
    return {};
  });
  if (!r) return hearth::unexpected(r.error());
  return std::move(*out);
}

}  // namespace

TEST_CASE("db: bundle: a Bundle planned before its transaction gives what planning inside it gives") {
  store::test::store_case c;
  auto make = [](const std::string& value) {
    return bundle({entry(urn(1), patient(mrn_system, "MRN-P"), "PUT", conditional("Patient", mrn_system, "MRN-P")),
                   entry(urn(2), observation("F-P", urn(1), value), "PUT", conditional("Observation", obs_system, "F-P")),
                   entry(urn(3), observation("F-P2", urn(1), "3"), "POST", "Observation"),
                   create_if_none(urn(4), patient(mrn_system, "MRN-P", "Ignored"), mrn_system, "MRN-P")});
  };
  auto first = apply_planned(c.rs, make("1"));
  REQUIRE(first);
  CHECK((*first)[0].created);
  CHECK((*first)[1].created);
  CHECK((*first)[3].id == (*first)[0].id);
  const std::string pat = "Patient/" + (*first)[0].id;
  // References and the search index of the prepared bodies name the ids.
  CHECK(reference_at(read_json(c.rs, "Observation", (*first)[1].id), {"subject", "reference"}) == pat);
  auto found = c.rs.find_by_identifier("Observation", obs_system, "F-P");
  REQUIRE(found);
  CHECK(*found == std::vector<std::string>{(*first)[1].id});
  // Again: conditional updates find what the first created; identical content writes nothing.
  auto second = apply_planned(c.rs, make("2"));
  REQUIRE(second);
  CHECK((*second)[0].id == (*first)[0].id);
  CHECK_FALSE((*second)[0].changed);
  CHECK((*second)[1].id == (*first)[1].id);
  CHECK((*second)[1].version_id == 2);
  CHECK(count_resources(c.tdb) == 4);
}

TEST_CASE("db: bundle: a write landing between the planning and the transaction is found, not duplicated") {
  store::test::store_case c;
  auto b = bundle({entry(urn(1), patient(mrn_system, "MRN-R2"), "PUT", conditional("Patient", mrn_system, "MRN-R2")),
                   entry(urn(2), observation("F-R3", urn(1), "4"), "POST", "Observation")});
  std::string raced;
  auto r = apply_planned(c.rs, b, [&] { raced = created_id(c.rs, "Patient", patient(mrn_system, "MRN-R2", "Raced")); });
  REQUIRE(r);
  // The plan had a new id for the Patient; the transaction found the one created meanwhile.
  CHECK((*r)[0].id == raced);
  CHECK_FALSE((*r)[0].created);
  CHECK(reference_at(read_json(c.rs, "Observation", (*r)[1].id), {"subject", "reference"}) == "Patient/" + raced);
  CHECK(count_resources(c.tdb) == 2);
  // A match removed in between: the transaction creates anew.
  auto again = apply_planned(c.rs, b, [&] { REQUIRE(c.rs.remove("Patient", raced)); });
  REQUIRE(again);
  CHECK((*again)[0].id != raced);
  CHECK((*again)[0].created);
}

TEST_CASE("db: bundle: what the planning cannot settle is left to the transaction: merges, and errors as before") {
  store::test::store_case c;
  const std::string x = created_id(c.rs, "Patient", patient(mrn_system, "MRN-PX", "Prior"));
  auto merged = apply_planned(c.rs, merge_bundle("MRN-PY", "MRN-PX"));
  REQUIRE(merged);
  CHECK((*merged)[1].id == x);
  CHECK(links_of(read_json(c.rs, "Patient", x)) == std::vector<std::string>{"replaced-by Patient/" + (*merged)[0].id});
  // Outside the contract: the same error as planning in the transaction, nothing written.
  auto bad = bundle({entry(urn(1), patient(mrn_system, "MRN-B"), "PUT", "Patient?name=Doe")});
  CHECK(code_of(apply_planned(c.rs, bad)) == store::error_codes::invalid);
  auto wrong_type = bundle({entry(urn(1), json(R"({"resourceType":"Patient","id":7})"), "PUT",
                                  conditional("Patient", mrn_system, "MRN-W"))});
  CHECK(code_of(apply_planned(c.rs, wrong_type)) == code_of(apply(c.rs, wrong_type)));
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-D2")));
  REQUIRE(c.rs.create("Patient", patient(mrn_system, "MRN-D2")));
  auto many = bundle({entry(urn(1), patient(mrn_system, "MRN-D2"), "PUT", conditional("Patient", mrn_system, "MRN-D2"))});
  CHECK(code_of(apply_planned(c.rs, many)) == store::error_codes::multiple_matches);
  CHECK(count_resources(c.tdb) == 4);
}

TEST_CASE("db: bundle: later updates of merged Patients keep the merge's links, and the source stays inactive") {
  store::test::store_case c;
  // Planned in the transaction (apply) and before it (apply_planned): the same.
  for (const bool planned : {false, true}) {
    CAPTURE(planned);
    const std::string sx = planned ? "MRN-LX2" : "MRN-LX1";
    const std::string sy = planned ? "MRN-LY2" : "MRN-LY1";
    auto run = [&](const fhir::json_value& b) { return planned ? apply_planned(c.rs, b) : apply(c.rs, b); };
    const std::string x = created_id(c.rs, "Patient", patient(mrn_system, sx, "Prior"));
    auto merged = run(merge_bundle(sy, sx));
    REQUIRE(merged);
    const std::string y = (*merged)[0].id;
    // ADT^A08 for each: PID only, no links (v2 has none), X written as active.
    fhir::json_value x_update = patient(mrn_system, sx, "Prior Renamed");
    x_update.set("active", fhir::json_value(true));
    auto ux = run(bundle({entry(urn(1), x_update, "PUT", conditional("Patient", mrn_system, sx))}));
    REQUIRE(ux);
    CHECK((*ux)[0].id == x);
    CHECK((*ux)[0].changed);
    const auto xs = read_json(c.rs, "Patient", x);
    CHECK(links_of(xs) == std::vector<std::string>{"replaced-by Patient/" + y});
    CHECK(xs.find("active")->is_bool());
    CHECK_FALSE(xs.find("active")->as_bool());
    auto uy = run(bundle(
        {entry(urn(1), patient(mrn_system, sy, "Survivor Renamed"), "PUT", conditional("Patient", mrn_system, sy))}));
    REQUIRE(uy);
    CHECK((*uy)[0].id == y);
    CHECK((*uy)[0].changed);
    const auto ys = read_json(c.rs, "Patient", y);
    CHECK(links_of(ys) == std::vector<std::string>{"replaces Patient/" + x});
    CHECK(ys.find("active") == nullptr);
    // The same update again writes nothing.
    auto again = run(bundle(
        {entry(urn(1), patient(mrn_system, sy, "Survivor Renamed"), "PUT", conditional("Patient", mrn_system, sy))}));
    REQUIRE(again);
    CHECK_FALSE((*again)[0].changed);
  }
}

TEST_CASE("db: bundle: a merge landing between the planning and the transaction is not undone") {
  store::test::store_case c;
  const std::string x = created_id(c.rs, "Patient", patient(mrn_system, "MRN-RX", "Prior"));
  const std::string y = created_id(c.rs, "Patient", patient(mrn_system, "MRN-RY", "Survivor"));
  // Planned while Y has no links; the A40 commits before the update's transaction.
  auto update = bundle(
      {entry(urn(1), patient(mrn_system, "MRN-RY", "Survivor Renamed"), "PUT", conditional("Patient", mrn_system, "MRN-RY"))});
  auto r = apply_planned(c.rs, update, [&] { REQUIRE(apply(c.rs, merge_bundle("MRN-RY", "MRN-RX"))); });
  REQUIRE(r);
  CHECK((*r)[0].id == y);
  CHECK(links_of(read_json(c.rs, "Patient", y)) == std::vector<std::string>{"replaces Patient/" + x});
}
