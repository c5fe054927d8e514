// Pages of the default order read by an index walk or as a page of pks
// (search.cpp), on SQLite and PostgreSQL: every page the same as the general
// statement gives — the same matches, each once, in resource_pk order — for
// a driver alone or with other conditions, with its OR-ed values merged, and
// across pages by cursor. The data set is large enough (more than the walk's
// threshold of 256 matches of one code) for the walk to drive with other
// conditions too; the expectations are computed from what was written.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <hearth/store/search_request.hpp>

#include "store/store_test_db.hpp"

namespace doctest {
// Lists of ids in failure messages.
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string s = "{";
    for (const auto& i : v) s += (s.size() > 1 ? "," : "") + i;
    return String((s + "}").c_str());
  }
};
}  // namespace doctest

namespace store = hearth::store;
using store::test::json;
using store::test::pairs;

namespace {

using ids_t = std::vector<std::string>;


constexpr const char* code_a = "http://loinc.org|1111-1";  // common: 300 + 1 Observations
constexpr const char* code_b = "http://loinc.org|2222-2";  // 30 + 1
constexpr const char* code_r = "http://loinc.org|3333-3";  // rare: 3

/// What one Observation of the data set holds.
struct obs {
  std::string id;
  int a = 0;  ///< rows of code A (the "dup" Observation has two)
  bool b = false, r = false;
  std::string subject;  ///< "p1" or "p2"
  std::string status;
  bool category = false;
  std::string date;  ///< effectiveDateTime, a day
};

/// "2020-01-01" plus `days`.
std::string day(int days) {
  const std::chrono::year_month_day d(std::chrono::sys_days(std::chrono::year(2020) / 1 / 1) +
                                      std::chrono::days(days));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

/// The data set, written in one transaction in a known order (resource_pk
/// follows it), and searches over it.
struct walk_case : store::test::store_case {
  std::vector<obs> observations;  ///< in the order written (resource_pk order)

  walk_case() {
    auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
      auto put = [&](const std::string& type, const std::string& id, const std::string& body) {
        auto w = tx.update(type, id, json(body));
        if (!w) throw std::runtime_error("setting up " + id + ": " + w.error().message);
      };
      put("Patient", "p1", R"({"resourceType":"Patient","name":[{"family":"Smith"}]})");
      put("Patient", "p2", R"({"resourceType":"Patient","name":[{"family":"Jones"}]})");
      auto add = [&](obs o, const std::vector<std::string>& codings) {
        std::string c;
        for (const auto& token : codings) {
          const auto bar = token.find('|');
          c += std::string(c.empty() ? "" : ",") + R"({"system":")" + token.substr(0, bar) + R"(","code":")" +
               token.substr(bar + 1) + R"("})";
        }
        std::string body = R"({"resourceType":"Observation","status":")" + o.status + R"(","code":{"coding":[)" + c +
                           R"(]},"subject":{"reference":"Patient/)" + o.subject + R"("},"effectiveDateTime":")" +
                           o.date + R"(")";
        if (o.category) {
          body += R"(,"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}])";
        }
        put("Observation", o.id, body + "}");
        observations.push_back(std::move(o));
      };
      for (int i = 0; i < 300; ++i) {
        char id[8];
        std::snprintf(id, sizeof id, "a%03d", i);
        add(obs{id, 1, false, false, i % 2 == 0 ? "p1" : "p2", i % 3 == 0 ? "preliminary" : "final", i % 5 != 0, day(i)},
            {code_a});
        if (i % 10 == 9) {  // b00 .. b29 between them
          add(obs{"b" + std::to_string(100 + i / 10).substr(1), 0, true, false, "p1", "final", true, "2019-01-01"},
              {code_b});
        }
        if (i == 50 || i == 150 || i == 250) {
          add(obs{"r" + std::to_string(i / 100), 0, false, true, "p2", i == 150 ? "preliminary" : "final", true,
                  "2021-01-01"},
              {code_r});
        }
        if (i == 149) {  // code A twice (two index rows), and code B
          add(obs{"dup", 2, true, false, "p1", "final", true, "2020-06-01"}, {code_a, code_b, code_a});
        }
      }
      put("Observation", "gone", std::string(R"({"resourceType":"Observation","status":"final","code":{"coding":[)") +
                                     R"({"system":"http://loinc.org","code":"1111-1"}]},"subject":{"reference":"Patient/p1"}})");
      put("DiagnosticReport", "dr1", R"({"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},
          "result":[{"reference":"Observation/a010"},{"reference":"Observation/a011"},{"reference":"Observation/dup"}]})");
      put("DiagnosticReport", "dr2", R"({"resourceType":"DiagnosticReport","status":"preliminary","code":{"text":"x"},
          "result":[{"reference":"Observation/a020"}]})");
      put("List", "l1", R"({"resourceType":"List","status":"current","mode":"working",
          "entry":[{"item":{"reference":"Observation/a001"}},{"item":{"reference":"Observation/dup"}},
                   {"item":{"reference":"Observation/b00"}}]})");
      put("ValueSet", "vs1", R"({"resourceType":"ValueSet","status":"active","url":"http://example.org/vs/one"})");
      put("ValueSet", "vs2", R"({"resourceType":"ValueSet","status":"active","url":"http://example.org/vs/two"})");
      return {};
    });
    if (!r) throw std::runtime_error("setting up: " + r.error().message);
    auto gone = rs.remove("Observation", "gone");  // its index rows go with it
    if (!gone) throw std::runtime_error("deleting: " + gone.error().message);
  }

  hearth::result<store::search_page> search(std::string_view type, std::string_view query,
                                            std::optional<store::search_compartment> compartment = std::nullopt) {
    const auto p = pairs(query);
    auto req = store::parse_search(store::test::registry(), type, p, store::search_handling::strict, compartment);
    if (!req) return hearth::unexpected(req.error());
    return rs.search(*req);
  }

  /// Every match, page after page of `count` by cursor; each page checked
  /// to hold at most `count`; "error:<code>" when a page fails.
  ids_t paged(std::string_view type, const std::string& query, std::size_t count,
              std::optional<store::search_compartment> compartment = std::nullopt) {
    ids_t out;
    std::string cursor;
    for (int pages = 0; pages < 500; ++pages) {
      std::string q = query + "&_count=" + std::to_string(count);
      if (!cursor.empty()) q += "&_cursor=" + cursor;
      auto page = search(type, q, compartment);
      if (!page) return {"error:" + page.error().code};
      CHECK(page->matches.size() <= count);
      for (const auto& m : page->matches) out.push_back(m.id);
      cursor = page->next_cursor;
      if (cursor.empty()) break;
    }
    return out;
  }

  /// Every page of `count` by cursor, each as its ids.
  std::vector<ids_t> pages(std::string_view type, const std::string& query, std::size_t count) {
    std::vector<ids_t> out;
    std::string cursor;
    for (int n = 0; n < 500; ++n) {
      auto page = search(type, query + "&_count=" + std::to_string(count) + (cursor.empty() ? "" : "&_cursor=" + cursor));
      if (!page) return {{"error:" + page.error().code}};
      out.emplace_back();
      for (const auto& m : page->matches) out.back().push_back(m.id);
      cursor = page->next_cursor;
      if (cursor.empty()) break;
    }
    return out;
  }

  /// The Observations meeting `pred`, in the order written.
  ids_t expected(const std::function<bool(const obs&)>& pred) const {
    ids_t out;
    for (const obs& o : observations) {
      if (pred(o)) out.push_back(o.id);
    }
    return out;
  }
};

std::size_t occurrences(const ids_t& ids, const std::string& id) {
  return static_cast<std::size_t>(std::count(ids.begin(), ids.end(), id));
}

bool all_distinct(const ids_t& ids) { return std::set<std::string>(ids.begin(), ids.end()).size() == ids.size(); }

}  // namespace

TEST_CASE("db: search walk: a resource with the driver's value in two index rows comes once") {
  walk_case c;
  const ids_t with_a = c.expected([](const obs& o) { return o.a > 0; });
  REQUIRE(with_a.size() == 301);
  REQUIRE(occurrences(with_a, "dup") == 1);

  const std::string a = std::string("code=") + code_a;
  CHECK(c.paged("Observation", a, 1000) == with_a);
  CHECK(c.paged("Observation", a, 7) == with_a);
  // The page that ends on it, and the one that starts after it.
  CHECK(c.paged("Observation", a, 151) == with_a);
  CHECK(c.paged("Observation", a, 150) == with_a);

  // OR-ed values: "dup" holds A twice and B once.
  const std::string a_or_b = "code=" + std::string(code_a) + "," + code_b;
  const ids_t with_a_or_b = c.expected([](const obs& o) { return o.a > 0 || o.b; });
  REQUIRE(with_a_or_b.size() == 331);
  CHECK(c.paged("Observation", a_or_b, 1000) == with_a_or_b);
  CHECK(c.paged("Observation", a_or_b, 7) == with_a_or_b);
  CHECK(c.paged("Observation", "code=" + std::string(code_b) + "," + code_a, 9) == with_a_or_b);
  // The same value twice.
  CHECK(c.paged("Observation", a + "," + code_a, 7) == with_a);
}

TEST_CASE("db: search walk: paging a common code by _count=7 gives every match once, in the general order") {
  walk_case c;
  const ids_t with_a = c.expected([](const obs& o) { return o.a > 0; });
  const ids_t walked = c.paged("Observation", std::string("code=") + code_a, 7);
  CHECK(walked == with_a);
  CHECK(all_distinct(walked));
  // The same pages, page by page, from the three ways to a page: the index
  // walk (system|code: one index range), the page of pks (a code of any
  // system), the general statement (_lastUpdated is a condition on the
  // resource table, which neither of the others reads; every resource here
  // was written after 2000).
  const auto walk = c.pages("Observation", std::string("code=") + code_a, 7);
  const auto pks = c.pages("Observation", "code=1111-1", 7);
  const auto general = c.pages("Observation", "code=1111-1&_lastUpdated=ge2000-01-01", 7);
  CHECK(walk.size() == 43);
  CHECK(walk == general);
  CHECK(pks == general);
  CHECK(c.pages("Observation", std::string("code=") + code_a + "&_lastUpdated=ge2000-01-01", 7) == general);

  // The first page alone: 50 by default, a next page, no total unless asked.
  auto first = c.search("Observation", std::string("code=") + code_a);
  REQUIRE(first);
  REQUIRE(first->matches.size() == 50);
  CHECK(first->matches.front().id == "a000");
  CHECK(first->matches.back().id == with_a[49]);
  CHECK(!first->next_cursor.empty());
  CHECK(!first->total);
  // _total and _summary=count count every match.
  auto total = c.search("Observation", std::string("code=") + code_a + "&_total=accurate&_count=3");
  REQUIRE(total);
  CHECK(total->matches.size() == 3);
  CHECK(total->total == 301);
  auto counted = c.search("Observation", std::string("code=") + code_a + "&_summary=count");
  REQUIRE(counted);
  CHECK(counted->matches.empty());
  CHECK(counted->total == 301);
}

TEST_CASE("db: search walk: a rare code, alone and with other criteria") {
  walk_case c;
  const std::string r = std::string("code=") + code_r;
  CHECK(c.paged("Observation", r, 50) == ids_t{"r0", "r1", "r2"});
  CHECK(c.paged("Observation", r, 1) == ids_t{"r0", "r1", "r2"});
  CHECK(c.paged("Observation", r + "&status=final", 50) == ids_t{"r0", "r2"});
  CHECK(c.paged("Observation", r + "&subject=Patient/p1", 50).empty());
  CHECK(c.paged("Observation", "code=http://loinc.org|0000-0", 50).empty());
  auto rare = c.search("Observation", r);
  REQUIRE(rare);
  CHECK(rare->next_cursor.empty());
  CHECK(rare->total == 3);  // the first page is all there is
}

TEST_CASE("db: search walk: the driver with other criteria, :not, :missing, a chain, _has, _list, dates; pages of pks") {
  walk_case c;
  const std::string a = std::string("code=") + code_a;
  struct expectation {
    std::string query;
    std::function<bool(const obs&)> pred;
  };
  const std::vector<expectation> cases = {
      {a + "&status=final", [](const obs& o) { return o.a && o.status == "final"; }},
      {"status=final&" + a, [](const obs& o) { return o.a && o.status == "final"; }},
      {a + "&subject=Patient/p1", [](const obs& o) { return o.a && o.subject == "p1"; }},
      {"subject=Patient/p2&" + a, [](const obs& o) { return o.a && o.subject == "p2"; }},
      {a + "&status:not=final", [](const obs& o) { return o.a && o.status != "final"; }},
      {a + "&category:missing=true", [](const obs& o) { return o.a && !o.category; }},
      {a + "&category:missing=false", [](const obs& o) { return o.a && o.category; }},
      {a + "&subject:Patient.family=smith", [](const obs& o) { return o.a && o.subject == "p1"; }},
      {a + "&_has:DiagnosticReport:result:status=final",
       [](const obs& o) { return o.id == "a010" || o.id == "a011" || o.id == "dup"; }},
      {a + "&_list=l1", [](const obs& o) { return o.id == "a001" || o.id == "dup"; }},
      {a + "&date=ge2020-03-01&date=lt2020-04-01",
       [](const obs& o) { return o.a && o.date >= "2020-03-01" && o.date < "2020-04-01"; }},
      {a + "&" + "code=" + code_b, [](const obs& o) { return o.a && o.b; }},
      {"code=" + std::string(code_a) + "," + code_r + "&status=preliminary",
       [](const obs& o) { return (o.a || o.r) && o.status == "preliminary"; }},
      {a + "&status=final&subject=Patient/p2&category=laboratory",
       [](const obs& o) { return o.a && o.status == "final" && o.subject == "p2" && o.category; }},
      // No driver of many matches: pages of pks, or the general statement.
      {"date=ge2020-03-01&date=lt2020-04-01", [](const obs& o) { return o.date >= "2020-03-01" && o.date < "2020-04-01"; }},
      {"subject:Patient.family=smith", [](const obs& o) { return o.subject == "p1"; }},
      {"status=preliminary", [](const obs& o) { return o.status == "preliminary"; }},
      {"code=1111-1&status=final", [](const obs& o) { return o.a && o.status == "final"; }},
      {"code=1111-1&status:not=final", [](const obs& o) { return o.a && o.status != "final"; }},
      {"category:missing=true", [](const obs& o) { return !o.category; }},
      {"status:not=final&subject=Patient/p2", [](const obs& o) { return o.status != "final" && o.subject == "p2"; }},
      {std::string("code=") + code_r + "&date=2021-01-01", [](const obs& o) { return o.r; }},
      {"_has:DiagnosticReport:result:status=final&status=final",
       [](const obs& o) { return o.id == "a010" || o.id == "a011" || o.id == "dup"; }},
  };
  for (const auto& e : cases) {
    CAPTURE(e.query);
    const ids_t want = c.expected(e.pred);
    CHECK(c.paged("Observation", e.query, 1000) == want);
    CHECK(c.paged("Observation", e.query, 7) == want);
    // Page by page as with a condition on the resource table added, which
    // only the general statement and the walk can test (see the case above).
    CHECK(c.pages("Observation", e.query, 7) == c.pages("Observation", e.query + "&_lastUpdated=ge2000-01-01", 7));
  }

  // A compartment: Patient/p2's Observations with code A.
  const store::search_compartment p2{"Patient", "p2"};
  const ids_t p2_a = c.expected([](const obs& o) { return o.a && o.subject == "p2"; });
  CHECK(c.paged("Observation", a, 1000, p2) == p2_a);
  CHECK(c.paged("Observation", a, 7, p2) == p2_a);

  // Other parameter types as the driver: a reference, :Type, a uri.
  const ids_t of_p2 = c.expected([](const obs& o) { return o.subject == "p2"; });
  CHECK(c.paged("Observation", "subject=Patient/p2", 7) == of_p2);
  CHECK(c.paged("Observation", "subject:Patient=p2", 1000) == of_p2);
  CHECK(c.paged("Observation", "subject=Patient/p2,Patient/p1", 11) ==
        c.expected([](const obs&) { return true; }));
  CHECK(c.paged("ValueSet", "url=http://example.org/vs/two", 5) == ids_t{"vs2"});
  // A _sort takes the general statement: the same set.
  auto sorted = c.paged("Observation", a + "&_sort=-_id", 1000);
  CHECK(sorted.size() == 301);
  CHECK(sorted.front() == "dup");
}

TEST_CASE("db: search walk: _include from a walked page") {
  walk_case c;
  auto page = c.search("Observation", std::string("code=") + code_a + "&_count=3&_include=Observation:subject");
  REQUIRE(page);
  ids_t matches, included;
  for (const auto& m : page->matches) matches.push_back(m.id);
  for (const auto& i : page->included) included.push_back(i.id);
  CHECK(matches == ids_t{"a000", "a001", "a002"});
  std::sort(included.begin(), included.end());
  CHECK(included == ids_t{"p1", "p2"});
  // Only the page's references: a page of p1's Observations includes p1 alone.
  page = c.search("Observation", std::string("code=") + code_a + "&subject=Patient/p1&_count=5&_include=Observation:subject");
  REQUIRE(page);
  REQUIRE(page->matches.size() == 5);
  REQUIRE(page->included.size() == 1);
  CHECK(page->included[0].id == "p1");
  // _revinclude from the walked page: dr1 references a010 and a011.
  page = c.search("Observation", std::string("code=") + code_a + "&_count=12&_revinclude=DiagnosticReport:result");
  REQUIRE(page);
  REQUIRE(page->matches.size() == 12);
  REQUIRE(page->included.size() == 1);
  CHECK(page->included[0].id == "dr1");
}
