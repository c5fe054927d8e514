// Searches hearth_fuzz_search_parse (tests/fuzz/search_parse_fuzz.cpp) found
// wrong: queries parse_search accepts, within its limits (max_terms criteria
// of max_values values), whose SQL binds so many values that one GET held a
// database connection for minutes (binding by name is quadratic in their
// number), or that an SQLite with the default SQLITE_MAX_VARIABLE_NUMBER
// (32,766) or PostgreSQL (65,535) refuses (a 500). They are refused as
// "too-costly" (a 400) before any SQL runs; the inputs are also in
// tests/fuzz/corpus/hearth_fuzz_search_parse/.
#include <hearth/store/search_request.hpp>

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_store.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;

namespace {

using query = std::vector<std::pair<std::string, std::string>>;

/// `count` criteria `name`, each with the OR-ed `values`.
query repeated(const std::string& name, const std::vector<std::string>& values, std::size_t count) {
  std::string joined;
  for (const std::string& v : values) joined += (joined.empty() ? "" : ",") + v;
  return query(count, {name, joined});
}

/// Runs `q` on Observation; the error code, or "ok" with the match ids.
std::pair<std::string, std::vector<std::string>> run(store::resource_store& rs, const query& q) {
  auto req = store::parse_search(store::test::registry(), "Observation", q, store::search_handling::strict);
  REQUIRE_MESSAGE(req, (req ? std::string() : req.error().message));  // parse_search accepts it
  auto page = rs.search(*req);
  if (!page) return {page.error().code, {}};
  std::vector<std::string> ids;
  for (const auto& v : page->matches) ids.push_back(v.id);
  return {"ok", ids};
}

}  // namespace

TEST_CASE("db: search hostile: AND-ed date criteria of many values are too costly, not a database error") {
  store::test::store_case c;
  // 64 date criteria of 100 values: 96,072 bound values (each date criterion
  // is repeated per span class). The store took three minutes over it on an
  // empty database (Debian's SQLite allows 250,000 variables; the default
  // 32,766 makes it an "exception", a 500).
  std::vector<std::string> dates;
  for (int i = 0; i < 100; ++i) dates.push_back("ge2020-01-" + std::string(i % 28 < 9 ? "0" : "") + std::to_string(i % 28 + 1));
  const auto [code, ids] = run(c.rs, repeated("date", dates, 64));
  CHECK(code == store::error_codes::too_costly);
}

TEST_CASE("db: search hostile: chained criteria of many values are too costly") {
  store::test::store_case c;
  // 64 `focus._id` criteria of 100 ids: `focus` references any type, so
  // each criterion binds every type name as well: 15,745 values, which took
  // seconds to bind by name (quadratic in their number).
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back("v" + std::to_string(i));
  const auto [code, found] = run(c.rs, repeated("focus._id", ids, 64));
  CHECK(code == store::error_codes::too_costly);
  // The same through a two-step chain with :Type (12,918 values).
  const auto [code2, found2] = run(c.rs, repeated("subject:Patient.general-practitioner:Practitioner.name", ids, 63));
  CHECK(code2 == store::error_codes::too_costly);
}

TEST_CASE("db: search hostile: a large search within the limit still runs") {
  store::test::store_case c;
  auto put = [&](const char* id, const char* loinc) {
    auto r = c.rs.update("Observation", id,
                         store::test::json(std::string(R"({"resourceType":"Observation","status":"final",)") +
                                           R"("code":{"coding":[{"system":"http://loinc.org","code":")" + loinc +
                                           R"("}]}})"));
    REQUIRE(r);
  };
  put("glu", "2339-0");
  put("hr", "8867-4");
  // 20 criteria of 100 system|code values (4,021 bound values), the last
  // value of each the glucose code: AND of ORs, glucose only.
  std::vector<std::string> codes;
  for (int i = 0; i < 99; ++i) codes.push_back("http://loinc.org|" + std::to_string(90000 + i) + "-0");
  codes.push_back("http://loinc.org|2339-0");
  const auto [code, ids] = run(c.rs, repeated("code", codes, 20));
  REQUIRE(code == "ok");
  CHECK(ids == std::vector<std::string>{"glu"});
}
