#include <hearth/fhir/fhirpath_regex_cache.hpp>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>

#include "fhir/test_support.hpp"

// The cache is process-wide and other test cases use it too: these cases
// look at what changes while they run, and at the bounds, never at absolute
// counts.

using namespace hearth::fhir;
using namespace hearth::fhir::fhirpath;

namespace {

const json_value& patient() {
  static const json_value p = [] {
    auto r = parse_json(R"({"resourceType": "Patient", "id": "p1"})");
    REQUIRE(r.has_value());
    return std::move(r).value();
  }();
  return p;
}

// The expression's result: "true" / "false" / a string, or "ERROR code".
std::string eval(const std::string& src) {
  auto e = parse(src);
  if (!e) return "PARSE ERROR";
  auto r = evaluate(*e, patient(), hearth::fhir::test::registry());
  if (!r) return "ERROR " + r.error().code;
  if (r->size() != 1) return "SIZE " + std::to_string(r->size());
  auto s = to_string_value(r->front());
  return s ? *s : "?";
}

}  // namespace

TEST_CASE("fhirpath regex cache: a cached pattern gives the answers a fresh one gives") {
  struct row {
    const char* expr;
    const char* expected;
  };
  const row rows[] = {
      {"'abc123'.matches('[0-9]+')", "true"},
      {"'abc'.matches('[0-9]+')", "false"},
      {"'abc123'.matchesFull('[a-z]+[0-9]+')", "true"},
      {"'abc123x'.matchesFull('[a-z]+[0-9]+')", "false"},
      {"'a\\nb'.matches('^a.b$')", "true"},
      {"'2024-03-05'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1')", "05/03/2024"},
      {"'a-b-c'.replaceMatches('-', '+')", "a+b+c"},
  };
  const auto before = regex_cache_statistics();
  for (int round = 0; round < 3; ++round)
    for (const auto& r : rows) CHECK_MESSAGE(eval(r.expr) == r.expected, r.expr);
  const auto after = regex_cache_statistics();
  // matches/matchesFull/replaceMatches with one pattern share its compiled
  // form: rounds 2 and 3 are answered from the cache.
  CHECK(after.hits - before.hits >= 2 * std::size(rows));
  CHECK(after.entries <= after.max_entries);
}

TEST_CASE("fhirpath regex cache: an invalid pattern is an error every time, also from the cache") {
  for (int round = 0; round < 3; ++round) {
    CHECK(eval("'abc'.matches('(')") == "ERROR invalid");
    CHECK(eval("'aa'.matches('(a)\\\\1')") == "ERROR invalid");  // backreference: not for RE2
    CHECK(eval("'aa'.replaceMatches('(', 'x')") == "ERROR invalid");
    // A substitution naming a group the pattern lacks is checked per call.
    CHECK(eval("'aa'.replaceMatches('(a)', '$2')") == "ERROR invalid");
    CHECK(eval("'aa'.replaceMatches('(a)', '[$1]')") == "[a][a]");
  }
}

TEST_CASE("fhirpath regex cache: many distinct patterns stay within its bounds") {
  const auto before = regex_cache_statistics();
  REQUIRE(before.max_entries > 0);
  REQUIRE(before.max_pattern_bytes > 0);
  // Far more patterns than the cache holds, as a hostile client would send.
  const int n = static_cast<int>(before.max_entries) * 4;
  for (int i = 0; i < n; ++i) {
    const std::string p = "^a" + std::to_string(i) + "$";
    CHECK(eval("'a" + std::to_string(i) + "'.matches('" + p + "')") == "true");
    CHECK(eval("'a" + std::to_string(i + 1) + "'.matches('" + p + "')") == "false");
    const auto s = regex_cache_statistics();
    REQUIRE(s.entries <= s.max_entries);
    REQUIRE(s.pattern_bytes <= s.max_pattern_bytes);
  }
  const auto after = regex_cache_statistics();
  CHECK(after.entries == after.max_entries);  // full, not beyond
  CHECK(after.evictions - before.evictions >= static_cast<std::uint64_t>(n) - after.max_entries);
  // An evicted pattern is compiled again and answers as before.
  CHECK(eval("'a0'.matches('^a0$')") == "true");
  CHECK(eval("'a1'.matches('^a0$')") == "false");

  // Long patterns: the bound on their text holds before the one on their number.
  const std::string filler(3000, 'x');
  for (int i = 0; i < 60; ++i) {
    const std::string p = "^" + std::to_string(i) + filler + "$";
    CHECK(eval("'" + std::to_string(i) + filler + "'.matches('" + p + "')") == "true");
    const auto s = regex_cache_statistics();
    REQUIRE(s.pattern_bytes <= s.max_pattern_bytes);
    REQUIRE(s.entries <= s.max_entries);
  }
}

TEST_CASE("fhirpath regex cache: a pattern beyond the cache's memory budget still runs, uncached") {
  // \pL{1,100} compiles to over 100,000 instructions: within one call's
  // budget, beyond what one cached pattern may hold.
  const auto before = regex_cache_statistics();
  CHECK(eval("'abc'.matches('^\\\\pL{1,100}$')") == "true");
  CHECK(eval("'ab1'.matches('^\\\\pL{1,100}$')") == "false");
  const auto after = regex_cache_statistics();
  CHECK(after.misses - before.misses == 2);  // compiled each time
  CHECK(after.hits == before.hits);
  // Patterns beyond the evaluator's own limit are refused before any compiling.
  CHECK(eval("'a'.matches('" + std::string(5000, 'a') + "')") == "ERROR too-costly");
}

TEST_CASE("fhirpath regex cache: concurrent evaluations with evictions give correct answers") {
  // Each thread cycles through more patterns than the cache holds, so that
  // entries are evicted while other threads may still be matching with them.
  const int patterns = static_cast<int>(regex_cache_statistics().max_entries) + 50;
  constexpr int threads = 4;
  (void)patient();  // built once here, not raced for by the threads
  std::vector<int> wrong(threads, 0), done(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int k = 0; k < 2 * patterns; ++k) {
        const int i = (k * 7 + t * 13) % patterns;
        const std::string p = "^b" + std::to_string(i) + "$";
        const bool yes = (k + t) % 2 == 0;
        const std::string text = "b" + std::to_string(yes ? i : i + patterns);
        if (eval("'" + text + "'.matches('" + p + "')") != (yes ? "true" : "false")) ++wrong[t];
        ++done[t];
      }
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    CHECK(wrong[t] == 0);
    CHECK(done[t] == 2 * patterns);
  }
  const auto s = regex_cache_statistics();
  CHECK(s.entries <= s.max_entries);
}
