// resource_store::meta_in_use: the profiles, security labels and tags in use
// on current resources, by type or across types (R4
// resource-operations.html#meta), on SQLite and PostgreSQL.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <hearth/store/error_codes.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

using coding = store::meta_summary::coding;

std::string labelled(const std::string& type, const std::string& meta, const std::string& rest = {}) {
  return R"({"resourceType":")" + type + R"(","meta":)" + meta + (rest.empty() ? "" : "," + rest) + "}";
}

const std::string obs_rest = R"("status":"final","code":{"text":"x"})";

store::meta_summary in_use(const store::resource_store& rs, const std::vector<std::string>& types) {
  auto m = rs.meta_in_use(types);
  REQUIRE(m.has_value());
  return std::move(*m);
}

}  // namespace

TEST_CASE("db: meta_in_use lists each distinct profile, security label and tag of current resources, sorted") {
  store::test::store_case c;
  auto& rs = c.rs;
  REQUIRE(rs.create("Patient", json(labelled("Patient",
                                             R"({"profile":["http://example.org/p2","http://example.org/p1"],)"
                                             R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],)"
                                             R"("tag":[{"system":"http://example.org/tags","code":"b","display":"B"},{"code":"local"}]})")))
              .has_value());
  // The same labels again, and one more tag: listed once each.
  REQUIRE(rs.create("Patient", json(labelled("Patient",
                                             R"({"profile":["http://example.org/p1"],)"
                                             R"("tag":[{"system":"http://example.org/tags","code":"b"},{"system":"http://example.org/tags","code":"a"}]})")))
              .has_value());
  REQUIRE(rs.create("Observation", json(labelled("Observation",
                                                 R"({"profile":["http://example.org/obs"],)"
                                                 R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"HIV"}],)"
                                                 R"("tag":[{"system":"http://example.org/tags","code":"z"}]})",
                                                 obs_rest)))
              .has_value());
  REQUIRE(rs.create("Patient", json(R"({"resourceType":"Patient","active":true})")).has_value());  // no labels

  const store::meta_summary patients = in_use(rs, {"Patient"});
  CHECK(patients.profiles == std::vector<std::string>{"http://example.org/p1", "http://example.org/p2"});
  CHECK(patients.security ==
        std::vector<coding>{{"http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"}});
  // Bytewise: a coding without system first.
  CHECK(patients.tags ==
        std::vector<coding>{{"", "local"}, {"http://example.org/tags", "a"}, {"http://example.org/tags", "b"}});

  const store::meta_summary both = in_use(rs, {"Observation", "Patient", "Patient"});
  CHECK(both.profiles ==
        std::vector<std::string>{"http://example.org/obs", "http://example.org/p1", "http://example.org/p2"});
  CHECK(both.security == std::vector<coding>{{"http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV"},
                                             {"http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"}});
  CHECK(both.tags.size() == 4);
  CHECK(both.tags.back() == coding{"http://example.org/tags", "z"});

  const store::meta_summary none = in_use(rs, {"Encounter"});
  CHECK(none.profiles.empty());
  CHECK(none.security.empty());
  CHECK(none.tags.empty());
  CHECK(in_use(rs, {}).tags.empty());
  CHECK(code_of(rs.meta_in_use({"NotAType"})) == "invalid");
}

TEST_CASE("db: meta_in_use forgets the labels of deleted resources and of replaced versions") {
  store::test::store_case c;
  auto& rs = c.rs;
  auto a = rs.create("Patient", json(labelled("Patient", R"({"tag":[{"system":"urn:t","code":"gone-on-delete"}]})")));
  REQUIRE(a.has_value());
  auto b = rs.create("Patient", json(labelled("Patient", R"({"tag":[{"system":"urn:t","code":"gone-on-update"}],)"
                                                         R"("profile":["http://example.org/old"]})")));
  REQUIRE(b.has_value());
  REQUIRE(rs.create("Patient", json(labelled("Patient", R"({"tag":[{"system":"urn:t","code":"stays"}]})"))).has_value());
  CHECK(in_use(rs, {"Patient"}).tags.size() == 3);

  REQUIRE(rs.remove("Patient", a->version.id).has_value());
  REQUIRE(rs.update("Patient", b->version.id,
                    json(R"({"resourceType":"Patient","id":")" + b->version.id +
                         R"(","meta":{"profile":["http://example.org/new"]}})"))
              .has_value());
  const store::meta_summary now = in_use(rs, {"Patient"});
  CHECK(now.tags == std::vector<coding>{{"urn:t", "stays"}});
  CHECK(now.profiles == std::vector<std::string>{"http://example.org/new"});
}

TEST_CASE("db: meta_in_use refuses more distinct values than max_meta_values") {
  store::test::store_case c;
  auto& rs = c.rs;
  // max_meta_values + 1 distinct tags, 500 per resource, written in one
  // transaction.
  constexpr std::size_t per_resource = 500;
  const std::size_t total = store::resource_store::max_meta_values + 1;
  auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    for (std::size_t first = 0; first < total; first += per_resource) {
      std::string tags;
      for (std::size_t i = first; i < std::min(total, first + per_resource); ++i) {
        tags += std::string(tags.empty() ? "" : ",") + R"({"system":"urn:many","code":"t)" + std::to_string(i) + "\"}";
      }
      auto w = tx.create("Basic", json(labelled("Basic", R"({"tag":[)" + tags + "]}", R"("code":{"text":"x"})")));
      if (!w) return hearth::unexpected(w.error());
    }
    return {};
  });
  REQUIRE(r.has_value());
  CHECK(code_of(rs.meta_in_use({"Basic"})) == "too-costly");
  // One fewer is answered.
  auto last = rs.search([] {
    auto q = store::parse_search(store::test::registry(), "Basic", std::vector<std::pair<std::string, std::string>>{{"_tag", "urn:many|t0"}});
    REQUIRE(q.has_value());
    return std::move(*q);
  }());
  REQUIRE(last.has_value());
  REQUIRE(last->matches.size() == 1);
  REQUIRE(rs.remove("Basic", last->matches.front().id).has_value());  // takes 500 tags away
  auto fewer = rs.meta_in_use({"Basic"});
  REQUIRE(fewer.has_value());
  CHECK(fewer->tags.size() == total - per_resource);
}
