// Reindexing (reindex.hpp) on SQLite and PostgreSQL: a database whose index
// was built for other definitions is brought up to date in batches, and a job
// that stops resumes where it was.
#include <hearth/store/reindex.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <hearth/store/resource_store.hpp>
#include <hearth/store/search_request.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::json;

namespace {

long long count(const store::test::test_db& tdb, const std::string& query) {
  auto sql = tdb.raw();
  long long n = -1;
  *sql << query, soci::into(n);  // the test's own constant text
  return n;
}

std::size_t matches(store::resource_store& rs, const char* type, std::vector<std::pair<std::string, std::string>> q) {
  auto req = store::parse_search(store::test::registry(), type, q, store::search_handling::strict);
  REQUIRE(req);
  auto page = rs.search(*req);
  REQUIRE(page);
  return page->matches.size();
}

}  // namespace

TEST_CASE("index_fingerprint depends on the definitions and the options") {
  const auto& ix = store::test::default_indexer();
  const std::string fp = store::index_fingerprint(ix);
  CHECK(fp.size() == 16);
  CHECK(store::index_fingerprint(ix) == fp);
  store::indexer_options other;
  other.max_string_bytes = 100;
  const store::indexer ix2(store::test::registry(), other);
  CHECK(store::index_fingerprint(ix2) != fp);
}

TEST_CASE("db: reindex rebuilds an index made for other definitions, in resumable batches") {
  store::test::store_case c;
  for (int i = 0; i < 7; ++i) {
    REQUIRE(c.rs.update("Patient", "p" + std::to_string(i),
                        json(R"({"resourceType":"Patient","gender":"female","name":[{"family":"Doe"}]})")));
  }
  REQUIRE(c.rs.remove("Patient", "p6"));

  // A database without a recorded fingerprint: reindexed once, then up to date.
  auto first = c.rs.reindex();
  REQUIRE(first);
  CHECK_FALSE(first->was_up_to_date);
  CHECK(first->complete);
  CHECK(first->reindexed == 6);  // the deleted one has no index
  auto again = c.rs.reindex();
  REQUIRE(again);
  CHECK(again->was_up_to_date);
  CHECK(again->reindexed == 0);

  // Pretend the index was built by other definitions, and lost.
  {
    auto sql = c.tdb.raw();
    *sql << "UPDATE index_job SET fingerprint = 'older', next_pk = -1";
    for (const char* t : {"idx_string", "idx_token", "idx_date", "idx_number", "idx_quantity", "idx_reference",
                          "idx_uri"}) {
      *sql << std::string("DELETE FROM ") + t;  // the test's own table names
    }
  }
  CHECK(matches(c.rs, "Patient", {{"gender", "female"}}) == 0);

  // Two batches of two, then stop: four resources done, the position saved.
  store::reindex_options opts;
  opts.batch_size = 2;
  opts.max_batches = 2;
  auto partial = c.rs.reindex(opts);
  INFO((partial ? std::string() : partial.error().message));
  REQUIRE(partial);
  CHECK_FALSE(partial->complete);
  CHECK_FALSE(partial->resumed);
  CHECK(partial->reindexed == 4);
  CHECK(matches(c.rs, "Patient", {{"gender", "female"}}) == 4);
  CHECK(count(c.tdb, "SELECT COUNT(*) FROM index_job WHERE next_pk > 0") == 1);

  // The next call resumes there and finishes.
  opts.max_batches = 0;
  auto rest = c.rs.reindex(opts);
  REQUIRE(rest);
  CHECK(rest->resumed);
  CHECK(rest->complete);
  CHECK(rest->reindexed == 2);
  CHECK(matches(c.rs, "Patient", {{"gender", "female"}}) == 6);
  CHECK(matches(c.rs, "Patient", {{"family", "doe"}}) == 6);
  CHECK(count(c.tdb, "SELECT COUNT(*) FROM index_job WHERE next_pk = -1") == 1);
}
