// fhir_api: operations — $meta, $meta-add, $meta-delete (R4
// resource-operations.html), $validate (operation-resource-validate.html),
// Patient/$everything (patient-operation-everything.html), and the answer
// to operations Hearth does not offer.
#include <hearth/server/fhir_api.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

/// The valueMeta of the `return` parameter of a Parameters body.
fhir::json_value returned_meta(const http_response& r) {
  const fhir::json_value p = body_of(r);
  REQUIRE(str_at(p, {"resourceType"}) == "Parameters");
  const auto& params = p.find("parameter")->items();
  REQUIRE(params.size() == 1);
  CHECK(str_at(params[0], {"name"}) == "return");
  return *params[0].find("valueMeta");
}

/// "system|code" of each coding in meta[key].
std::vector<std::string> codings(const fhir::json_value& meta, std::string_view key) {
  std::vector<std::string> out;
  const fhir::json_value* a = meta.find(key);
  if (a == nullptr) return out;
  for (const auto& t : a->items()) out.push_back(str_at(t, {"system"}) + "|" + str_at(t, {"code"}));
  return out;
}

std::vector<std::string> profiles(const fhir::json_value& meta) {
  std::vector<std::string> out;
  const fhir::json_value* a = meta.find("profile");
  if (a == nullptr) return out;
  for (const auto& p : a->items()) out.push_back(p.str());
  return out;
}

std::string meta_params(std::string_view meta_json) {
  return R"({"resourceType":"Parameters","parameter":[{"name":"meta","valueMeta":)" + std::string(meta_json) + "}]}";
}

/// The severities and codes of an OperationOutcome, as "severity/code".
std::vector<std::string> issues_of(const http_response& r) {
  std::vector<std::string> out;
  const fhir::json_value oo = body_of(r);
  REQUIRE(str_at(oo, {"resourceType"}) == "OperationOutcome");
  for (const auto& i : oo.find("issue")->items()) out.push_back(str_at(i, {"severity"}) + "/" + str_at(i, {"code"}));
  return out;
}

bool has_issue(const std::vector<std::string>& issues, std::string_view severity_code) {
  for (const auto& i : issues) {
    if (i == severity_code) return true;
  }
  return false;
}

bool has_error(const std::vector<std::string>& issues) {
  for (const auto& i : issues) {
    if (i.starts_with("error/") || i.starts_with("fatal/")) return true;
  }
  return false;
}

std::string observation_of(const std::string& patient_id, std::string_view code) {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" +
         std::string(code) + R"("}]},"subject":{"reference":"Patient/)" + patient_id + "\"}}";
}

const std::string tagged_patient =
    R"({"resourceType":"Patient","meta":{"profile":["http://example.org/p1"],)"
    R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],)"
    R"("tag":[{"system":"http://example.org/tags","code":"a","display":"A"}]},"active":true})";

// --- $meta ---------------------------------------------------------------------

TEST_CASE("api: $meta of a resource and of one of its versions") {
  api_case c;
  const std::string id = c.create("Patient", tagged_patient);
  for (const http_response& r : {c.get("/Patient/" + id + "/$meta"), c.post("/Patient/" + id + "/$meta", "")}) {
    REQUIRE(r.status == 200);
    const fhir::json_value m = returned_meta(r);
    CHECK(str_at(m, {"versionId"}) == "1");
    CHECK(profiles(m) == std::vector<std::string>{"http://example.org/p1"});
    CHECK(codings(m, "tag") == std::vector<std::string>{"http://example.org/tags|a"});
    CHECK(codings(m, "security").size() == 1);
  }
  const http_response x = c.get("/Patient/" + id + "/$meta?_format=xml");
  REQUIRE(x.status == 200);
  CHECK(x.body.find("<valueMeta>") != std::string::npos);
  CHECK(x.body.find("http://example.org/p1") != std::string::npos);
  REQUIRE(c.put("/Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"(","active":false})").status == 200);
  const fhir::json_value v1 = returned_meta(c.get("/Patient/" + id + "/_history/1/$meta"));
  CHECK(codings(v1, "tag").size() == 1);
  const fhir::json_value v2 = returned_meta(c.get("/Patient/" + id + "/_history/2/$meta"));
  CHECK(str_at(v2, {"versionId"}) == "2");
  CHECK(codings(v2, "tag").empty());

  CHECK(c.get("/Patient/" + id + "/_history/9/$meta").status == 404);
  CHECK(c.get("/Patient/" + id + "/_history/x/$meta").status == 404);
  CHECK(c.get("/Patient/nobody/$meta").status == 404);
  REQUIRE(c.del("/Patient/" + id).status == 204);
  CHECK(c.get("/Patient/" + id + "/$meta").status == 410);
  CHECK(c.get("/Patient/" + id + "/_history/3/$meta").status == 410);
  CHECK(c.send("DELETE", "/Patient/" + id + "/_history/1/$meta").status == 405);
}

// --- $meta-add, $meta-delete -------------------------------------------------------

TEST_CASE("api: $meta-add adds profiles, security labels and tags as sets, writing a new version") {
  api_case c;
  const std::string id = c.create("Patient", tagged_patient);
  c.now += std::chrono::seconds(1);
  // "a" again with another display (the same tag: system+code), "b" new.
  const http_response r = c.post(
      "/Patient/" + id + "/$meta-add",
      meta_params(R"({"profile":["http://example.org/p1","http://example.org/p2"],)"
                  R"("tag":[{"system":"http://example.org/tags","code":"a","display":"other"},)"
                  R"({"system":"http://example.org/tags","code":"b"}],)"
                  R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMP"}]})"));
  REQUIRE(r.status == 200);
  const fhir::json_value m = returned_meta(r);
  CHECK(str_at(m, {"versionId"}) == "2");
  CHECK(profiles(m) == std::vector<std::string>{"http://example.org/p1", "http://example.org/p2"});
  CHECK(codings(m, "tag") == std::vector<std::string>{"http://example.org/tags|a", "http://example.org/tags|b"});
  CHECK(str_at(m.find("tag")->items()[0], {"display"}) == "A");  // the existing tag is kept as it was
  CHECK(codings(m, "security").size() == 2);
  const fhir::json_value read = body_of(c.get("/Patient/" + id));
  CHECK(str_at(read, {"meta", "versionId"}) == "2");
  CHECK(read.find("active")->as_bool());  // the rest of the resource is untouched

  // Adding what is there already changes nothing: no new version.
  const http_response again = c.post("/Patient/" + id + "/$meta-add",
                                     meta_params(R"({"tag":[{"system":"http://example.org/tags","code":"b"}]})"));
  REQUIRE(again.status == 200);
  CHECK(str_at(returned_meta(again), {"versionId"}) == "2");
}

TEST_CASE("api: $meta-delete removes by system+code and profile URL; absent ones are no error") {
  api_case c;
  const std::string id = c.create("Patient", tagged_patient);
  const http_response r = c.post(
      "/Patient/" + id + "/$meta-delete",
      meta_params(R"({"profile":["http://example.org/p1"],)"
                  R"("tag":[{"system":"http://example.org/tags","code":"a","display":"whatever"},)"
                  R"({"system":"http://example.org/tags","code":"never-there"}]})"));
  REQUIRE(r.status == 200);
  const fhir::json_value m = returned_meta(r);
  CHECK(str_at(m, {"versionId"}) == "2");
  CHECK(m.find("tag") == nullptr);      // emptied: removed, never an empty array
  CHECK(m.find("profile") == nullptr);
  CHECK(codings(m, "security").size() == 1);
  const fhir::json_value read = body_of(c.get("/Patient/" + id));
  CHECK(read.find("meta")->find("tag") == nullptr);

  const http_response none = c.post("/Patient/" + id + "/$meta-delete",
                                    meta_params(R"({"tag":[{"system":"http://example.org/tags","code":"a"}]})"));
  REQUIRE(none.status == 200);
  CHECK(str_at(returned_meta(none), {"versionId"}) == "2");
}

TEST_CASE("api: $meta-add and $meta-delete refuse what they cannot do") {
  api_case c;
  const std::string id = c.create("Patient", tagged_patient);
  const std::string tag = meta_params(R"({"tag":[{"system":"http://example.org/tags","code":"z"}]})");
  CHECK(c.post("/Patient/nobody/$meta-add", tag).status == 404);
  CHECK(c.get("/Patient/" + id + "/$meta-add").status == 405);
  CHECK(c.post("/Patient/$meta-add", tag).status == 400);
  CHECK(c.post("/Patient/" + id + "/_history/1/$meta-delete", tag).status == 400);
  CHECK(c.post("/Patient/" + id + "/$meta-add", R"({"resourceType":"Patient"})").status == 400);
  CHECK(c.post("/Patient/" + id + "/$meta-add", R"({"resourceType":"Parameters","parameter":[{"name":"x",)"
                                                R"("valueString":"y"}]})")
            .status == 400);
  CHECK(c.post("/Patient/" + id + "/$meta-add", R"({"resourceType":"Parameters"})").status == 400);
  CHECK(c.post("/Patient/" + id + "/$meta-add", "{not json").status == 400);
  CHECK(c.send("POST", "/Patient/" + id + "/$meta-add", tag, {{"Content-Type", "text/plain"}}).status == 415);
  // A Meta that breaks R4 structure (tag is a Coding array) is refused with the issues.
  const http_response bad = c.post("/Patient/" + id + "/$meta-add", meta_params(R"({"tag":"oops"})"));
  CHECK(bad.status == 400);
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"meta", "versionId"}) == "1");  // nothing written
  REQUIRE(c.del("/Patient/" + id).status == 204);
  CHECK(c.post("/Patient/" + id + "/$meta-add", tag).status == 410);
  CHECK(c.post("/Patient/" + id + "/$meta-delete", tag).status == 410);
}

// --- $validate -----------------------------------------------------------------

TEST_CASE("api: $validate of a valid resource: 200 and an information issue") {
  api_case c;
  const http_response r = c.post("/Patient/$validate", patient("Val"));
  REQUIRE(r.status == 200);
  const auto issues = issues_of(r);
  CHECK_FALSE(has_error(issues));
  CHECK(has_issue(issues, "information/informational"));
  CHECK(diagnostics(r).find("validation successful") != std::string::npos);
  // Nothing was stored.
  CHECK(entries(body_of(c.get("/Patient?family=Val"))).empty());
  // XML in, XML out.
  const http_response x =
      c.send("POST", "/Patient/$validate?_format=xml",
             R"(<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>)",
             {{"Content-Type", "application/fhir+xml"}});
  REQUIRE(x.status == 200);
  CHECK(x.header("Content-Type") == "application/fhir+xml; charset=utf-8");
  CHECK(x.body.find("OperationOutcome") != std::string::npos);
}

TEST_CASE("api: $validate of an invalid resource is still 200, the errors in the outcome") {
  api_case c;
  const http_response r = c.post("/Patient/$validate", R"({"resourceType":"Patient","nonsense":1,"active":"yes"})");
  REQUIRE(r.status == 200);
  const auto issues = issues_of(r);
  CHECK(has_error(issues));
  CHECK_FALSE(has_issue(issues, "information/informational"));
  // A resource of another type than the URL's: an error issue too.
  const auto other = issues_of(c.post("/Patient/$validate", observation_of("x", "1")));
  CHECK(has_issue(other, "error/invalid"));
}

TEST_CASE("api: $validate with Parameters: resource, mode and profile") {
  api_case c;
  const std::string id = c.create("Patient", patient("Mode"));
  const auto wrap = [](const std::string& resource, std::string_view extra) {
    std::string s = R"({"resourceType":"Parameters","parameter":[{"name":"resource","resource":)" + resource + "}";
    if (!extra.empty()) s += "," + std::string(extra);
    return s + "]}";
  };
  const std::string same_id = patient("Mode", R"("id":")" + id + "\"");
  CHECK_FALSE(has_error(issues_of(
      c.post("/Patient/$validate", wrap(patient("New"), R"({"name":"mode","valueCode":"create"})")))));
  CHECK_FALSE(has_error(
      issues_of(c.post("/Patient/" + id + "/$validate", wrap(same_id, R"({"name":"mode","valueCode":"update"})")))));
  // update: the id must equal the URL's.
  const auto wrong = issues_of(c.post("/Patient/" + id + "/$validate",
                                      wrap(patient("Mode", R"("id":"other")"), R"({"name":"mode","valueCode":"update"})")));
  CHECK(has_issue(wrong, "error/invalid"));
  // mode in the URL works the same.
  CHECK(has_issue(issues_of(c.post("/Patient/" + id + "/$validate?mode=update", patient("Mode"))), "error/invalid"));
  // update and delete need the instance level; a mode outside the value set is refused.
  CHECK(c.post("/Patient/$validate", wrap(same_id, R"({"name":"mode","valueCode":"update"})")).status == 400);
  CHECK(c.post("/Patient/$validate?mode=delete", "").status == 400);
  CHECK(c.post("/Patient/$validate", wrap(same_id, R"({"name":"mode","valueCode":"patch"})")).status == 400);
  CHECK(c.post("/Patient/$validate?mode=create", wrap(same_id, R"({"name":"mode","valueCode":"create"})")).status ==
        400);  // given twice
  // delete: no resource needed; the resource exists.
  const http_response del = c.post("/Patient/" + id + "/$validate?mode=delete", "");
  REQUIRE(del.status == 200);
  CHECK_FALSE(has_error(issues_of(del)));
  const auto gone = issues_of(c.post("/Patient/nobody/$validate?mode=delete", ""));
  CHECK(has_issue(gone, "warning/not-found"));
  CHECK_FALSE(has_error(gone));
  // A requested profile cannot be checked: an error issue, never a pass.
  const http_response prof =
      c.post("/Patient/$validate", wrap(patient("P"), R"({"name":"profile","valueCanonical":"http://example.org/sd"})"));
  REQUIRE(prof.status == 200);
  const auto pi = issues_of(prof);
  CHECK(has_issue(pi, "error/not-supported"));
  CHECK_FALSE(has_issue(pi, "information/informational"));
  // Profiles the resource claims are said to be unchecked.
  const auto claimed = issues_of(
      c.post("/Patient/$validate", R"({"resourceType":"Patient","meta":{"profile":["http://example.org/sd"]}})"));
  CHECK_FALSE(has_error(claimed));
  CHECK(claimed.size() == 2);  // the note about meta.profile, then "validation successful"
  // An unknown parameter, or a parameter without a name, is refused.
  CHECK(c.post("/Patient/$validate", wrap(patient("P"), R"({"name":"bogus","valueString":"x"})")).status == 400);
  CHECK(c.post("/Patient/$validate", wrap(patient("P"), R"({"valueString":"x"})")).status == 400);
}

TEST_CASE("api: $validate refuses what it cannot run") {
  api_case c;
  CHECK(c.get("/Patient/$validate").status == 405);
  CHECK(c.post("/Patient/$validate", "").status == 400);  // nothing to validate
  CHECK(c.post("/Patient/$validate", "{oops").status == 400);
  CHECK(c.post("/Patient/$validate", R"({"no":"resourceType"})").status == 400);
  CHECK(c.send("POST", "/Patient/$validate", patient("X"), {{"Content-Type", "text/plain"}}).status == 415);
  CHECK(c.post("/$validate", patient("X")).status == 400);
}

// --- Patient/$everything ----------------------------------------------------------

/// Follows next links from `target`, collecting "Type/id" of every entry;
/// fails on a repeat.
std::vector<std::string> collect(const api_case& c, std::string target, int* pages = nullptr) {
  std::vector<std::string> seen;
  std::set<std::string> unique;
  int n = 0;
  while (!target.empty()) {
    const http_response r = c.get(target);
    REQUIRE(r.status == 200);
    const fhir::json_value b = body_of(r);
    CHECK(str_at(b, {"type"}) == "searchset");
    for (const auto& e : entries(b)) {
      const std::string key = str_at(e, {"resource", "resourceType"}) + "/" + str_at(e, {"resource", "id"});
      CHECK(unique.insert(key).second);
      CHECK(str_at(e, {"search", "mode"}) == "match");
      seen.push_back(key);
    }
    const std::string next = link(b, "next");
    target = next.empty() ? "" : target_of(next);
    REQUIRE(++n < 50);
  }
  if (pages != nullptr) *pages = n;
  return seen;
}

struct everything_fixture {
  api_case c;
  std::string p, other;
  std::set<std::string> mine;  ///< "Type/id" of what $everything must list
  everything_fixture() {
    p = c.create("Patient", patient("Every"));
    other = c.create("Patient", patient("Else"));
    mine.insert("Patient/" + p);
    for (int i = 0; i < 3; ++i) mine.insert("Observation/" + c.create("Observation", observation_of(p, "1")));
    mine.insert("Condition/" + c.create("Condition", R"({"resourceType":"Condition","subject":{"reference":"Patient/)" +
                                                           p + "\"}}"));
    mine.insert("Encounter/" + c.create("Encounter", R"({"resourceType":"Encounter","status":"finished",)"
                                                     R"("class":{"code":"AMB"},"subject":{"reference":"Patient/)" +
                                                         p + "\"}}"));
    // A patient linking to ours is in its compartment (Patient.link).
    mine.insert("Patient/" + c.create("Patient", R"({"resourceType":"Patient","link":[{"other":{"reference":)"
                                                 R"("Patient/)" + p + R"("},"type":"seealso"}]})"));
    c.create("Observation", observation_of(other, "1"));  // someone else's
  }
};

TEST_CASE("api: Patient/$everything lists the patient first, then its compartment, with a total") {
  everything_fixture f;
  const http_response r = f.c.get("/Patient/" + f.p + "/$everything");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  const auto e = entries(b);
  REQUIRE(e.size() == f.mine.size());
  CHECK(str_at(e[0], {"fullUrl"}) == std::string(base) + "/Patient/" + f.p);
  CHECK(b.find("total")->number_text() == std::to_string(f.mine.size()));
  CHECK(link(b, "self") == std::string(base) + "/Patient/" + f.p + "/$everything");
  const auto all = collect(f.c, "/Patient/" + f.p + "/$everything");
  CHECK(std::set<std::string>(all.begin(), all.end()) == f.mine);
  // POST without a body is the same operation.
  CHECK(entries(body_of(f.c.post("/Patient/" + f.p + "/$everything", ""))).size() == f.mine.size());
}

TEST_CASE("api: Patient/$everything pages with _count and next links, every resource once") {
  everything_fixture f;
  for (const int count : {1, 2, 3, 7}) {
    CAPTURE(count);
    int pages = 0;
    const auto all = collect(f.c, "/Patient/" + f.p + "/$everything?_count=" + std::to_string(count), &pages);
    CHECK(std::set<std::string>(all.begin(), all.end()) == f.mine);
    CHECK(all.front() == "Patient/" + f.p);
    CHECK(pages >= static_cast<int>((f.mine.size() + count - 1) / count));
  }
  const fhir::json_value first = body_of(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_format=json"));
  CHECK(first.find("total") == nullptr);  // not known without counting every type
  const std::string next = link(first, "next");
  CHECK(next.find("_count=2") != std::string::npos);
  CHECK(next.find("_format=json") != std::string::npos);
  CHECK(next.find("_cursor=") != std::string::npos);
}

TEST_CASE("api: Patient/$everything with _type and _since") {
  everything_fixture f;
  const auto obs = collect(f.c, "/Patient/" + f.p + "/$everything?_type=Observation");
  CHECK(obs.size() == 3);
  for (const auto& k : obs) CHECK(k.starts_with("Observation/"));
  const auto two = collect(f.c, "/Patient/" + f.p + "/$everything?_type=Condition&_type=Patient,Encounter");
  CHECK(two.size() == 4);  // the patient, the linking patient, the condition, the encounter
  CHECK(two.front() == "Patient/" + f.p);

  f.c.now += std::chrono::hours(1);
  const std::string since = store::format_instant(f.c.now);
  const std::string late = f.c.create("Observation", observation_of(f.p, "2"));
  const auto recent = collect(f.c, "/Patient/" + f.p + "/$everything?_since=" + since);
  CHECK(recent == std::vector<std::string>{"Observation/" + late});

  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_type=Nonsense").status == 400);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_type=Organization").status == 400);  // not in the compartment
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_since=yesterday").status == 400);
  const http_response start = f.c.get("/Patient/" + f.p + "/$everything?start=2024-01-01");
  CHECK(start.status == 400);
  CHECK(issue_code(start) == "not-supported");
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=0").status == 400);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?nosuch=1").status == 200);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?nosuch=1", {{"Prefer", "handling=strict"}}).status == 400);
}

TEST_CASE("api: Patient/$everything cursors are checked strictly") {
  everything_fixture f;
  const fhir::json_value first = body_of(f.c.get("/Patient/" + f.p + "/$everything?_count=2"));
  const std::string next = target_of(link(first, "next"));
  REQUIRE(f.c.get(next).status == 200);
  const std::string cursor = next.substr(next.find("_cursor=") + 8);
  // Garbage, a truncated cursor, one for another patient, one naming another type.
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_cursor=garbage").status == 400);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_cursor=" + cursor.substr(0, cursor.size() - 3)).status ==
        400);
  CHECK(f.c.get("/Patient/" + f.other + "/$everything?_count=2&_cursor=" + cursor).status == 400);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_type=Observation&_cursor=" + cursor).status == 400);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_cursor=" + cursor + "%21").status == 400);
  // Sealed (rest_cursor.hpp): the text names no type, and any character
  // changed makes it refused.
  CHECK(cursor.find("Observation") == std::string::npos);
  CHECK(cursor.find("Patient") == std::string::npos);
  for (const std::size_t at : {std::size_t{0}, cursor.size() / 2, cursor.size() - 2}) {
    std::string altered = cursor;
    altered[at] = altered[at] == 'A' ? 'g' : 'A';  // different high bits: never the same bytes
    CHECK(f.c.get("/Patient/" + f.p + "/$everything?_count=2&_cursor=" + altered).status == 400);
  }
  // Another patient's cursor does not continue this patient's pages.
  f.c.create("Observation", observation_of(f.other, "2"));
  const fhir::json_value theirs = body_of(f.c.get("/Patient/" + f.other + "/$everything?_type=Observation&_count=1"));
  const std::string n = target_of(link(theirs, "next"));
  REQUIRE_FALSE(n.empty());
  const std::string their_cursor = n.substr(n.find("_cursor=") + 8);
  CHECK(f.c.get("/Patient/" + f.other + "/$everything?_type=Observation&_count=1&_cursor=" + their_cursor).status ==
        200);
  const http_response r =
      f.c.get("/Patient/" + f.p + "/$everything?_type=Observation&_count=1&_cursor=" + their_cursor);
  CHECK(r.status == 400);
  CHECK(issue_code(r) == "invalid");
}

TEST_CASE("api: Patient/$everything: absent 404, deleted 410, all patients 501, subsetting applies") {
  everything_fixture f;
  CHECK(f.c.get("/Patient/nobody/$everything").status == 404);
  const http_response all = f.c.get("/Patient/$everything");
  CHECK(all.status == 501);
  CHECK(issue_code(all) == "not-supported");
  CHECK(f.c.send("DELETE", "/Patient/" + f.p + "/$everything").status == 405);
  CHECK(f.c.post("/Patient/" + f.p + "/$everything", R"({"resourceType":"Parameters"})").status == 400);

  const fhir::json_value s = body_of(f.c.get("/Patient/" + f.p + "/$everything?_elements=id&_type=Observation"));
  for (const auto& e : entries(s)) {
    const fhir::json_value& r = *e.find("resource");
    CHECK(r.find("subject") == nullptr);
    CHECK(r.find("status") != nullptr);  // mandatory
  }
  CHECK(f.c.get("/Patient/" + f.p + "/$everything?_summary=count").status == 400);

  REQUIRE(f.c.del("/Patient/" + f.p).status == 204);
  CHECK(f.c.get("/Patient/" + f.p + "/$everything").status == 410);
}

// --- other operations ------------------------------------------------------------

TEST_CASE("api: operations Hearth does not offer are 501 not-supported") {
  api_case c;
  const std::string id = c.create("Patient", patient("Op"));
  for (const http_response& r : {c.post("/$export", "{}"), c.get("/Patient/$match"), c.get("/Observation/$lastn"),
                                 c.get("/Observation/" + id + "/$everything"),
                                 c.get("/Patient/" + id + "/_history/1/$nothing")}) {
    CHECK(r.status == 501);
    CHECK(issue_code(r) == "not-supported");
    CHECK(diagnostics(r).find("not supported yet") != std::string::npos);
  }
  CHECK(c.get("/Patient/" + id + "/$meta/extra").status == 404);
  CHECK(c.get("/$meta/extra").status == 404);
}

}  // namespace
}  // namespace hearth::server::test
