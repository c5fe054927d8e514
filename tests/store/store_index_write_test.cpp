// The search index rows each write leaves behind (tables of migration 2), on
// SQLite and PostgreSQL: written with a version, replaced by the next, removed
// by a delete, untouched by a write that fails.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <string>

#include <hearth/store/error_codes.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

/// Rows of `table` for resource (type, id), read through a raw connection.
long long rows(const store::test::test_db& tdb, const std::string& table, const std::string& type,
               const std::string& id, const std::string& where = "1 = 1") {
  auto sql = tdb.raw();
  long long n = -1;
  // Table names and conditions are the test's own constants.
  *sql << "SELECT COUNT(*) FROM " + table +
              " t JOIN resource r ON r.resource_pk = t.resource_pk WHERE r.type = :type AND r.id = :id AND " + where,
      soci::into(n), soci::use(type), soci::use(id);
  return n;
}

const char* const all_tables[] = {"idx_string", "idx_token", "idx_date", "idx_number",
                                  "idx_quantity", "idx_reference", "idx_uri"};

}  // namespace

TEST_CASE("db: a version's index rows are written with it, replaced by the next, removed by a delete") {
  store::test::store_case c;
  auto made = c.rs.create("Patient", json(R"({"resourceType":"Patient","gender":"female","birthDate":"1974-12-25",
      "name":[{"family":"Müller","given":["Anna"]}],"managingOrganization":{"reference":"Organization/o1"}})"));
  REQUIRE(made);
  const std::string id = made->version.id;
  CHECK(rows(c.tdb, "idx_string", "Patient", id, "t.exact = 'Müller' AND t.normalized = 'muller'") >= 1);
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'female'") == 1);
  CHECK(rows(c.tdb, "idx_date", "Patient", id) == 1);  // birthdate
  CHECK(rows(c.tdb, "idx_reference", "Patient", id,
             "t.target_type = 'Organization' AND t.target_id = 'o1'") >= 1);
  // _id and _lastUpdated are answered from the resource table, not indexed.
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = '" + id + "'") == 0);

  auto v2 = c.rs.update("Patient", id, json(R"({"resourceType":"Patient","gender":"male",
      "name":[{"family":"Schmidt"}]})"));
  REQUIRE(v2);
  CHECK(rows(c.tdb, "idx_string", "Patient", id, "t.exact = 'Müller'") == 0);
  CHECK(rows(c.tdb, "idx_string", "Patient", id, "t.exact = 'Schmidt'") >= 1);
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'female'") == 0);
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'male'") == 1);
  CHECK(rows(c.tdb, "idx_date", "Patient", id) == 0);
  CHECK(rows(c.tdb, "idx_reference", "Patient", id) == 0);

  // A write that fails (If-Match on an old version) changes nothing.
  auto stale = c.rs.update("Patient", id, json(R"({"resourceType":"Patient","gender":"other"})"),
                           store::update_options{1, true});
  CHECK(code_of(stale) == "conflict");
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'male'") == 1);
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'other'") == 0);

  REQUIRE(c.rs.remove("Patient", id));
  for (const char* table : all_tables) {
    INFO(table);
    CHECK(rows(c.tdb, table, "Patient", id) == 0);
  }
  // Re-created after the delete: indexed again.
  REQUIRE(c.rs.update("Patient", id, json(R"({"resourceType":"Patient","gender":"unknown"})")));
  CHECK(rows(c.tdb, "idx_token", "Patient", id, "t.code = 'unknown'") == 1);
}

TEST_CASE("db: composite entries keep their components together; quantities get canonical units") {
  store::test::store_case c;
  auto made = c.rs.create("Observation", json(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
      "valueQuantity":{"value":100,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})"));
  REQUIRE(made);
  const std::string id = made->version.id;
  // value-quantity: one plain row; code-value-quantity and combo-code-value-quantity:
  // one component row each, in groups > 0.
  CHECK(rows(c.tdb, "idx_quantity", "Observation", id, "t.grp = 0") >= 1);
  CHECK(rows(c.tdb, "idx_quantity", "Observation", id, "t.grp > 0") >= 1);
  CHECK(rows(c.tdb, "idx_token", "Observation", id, "t.grp > 0 AND t.code = '2339-0'") >= 1);
  CHECK(rows(c.tdb, "idx_quantity", "Observation", id,
             "t.grp = 0 AND t.canonical_unit = 'm-3.g' AND t.canonical_value = 1000") >= 1);
  // Each composite group pairs the code with the value.
  CHECK(rows(c.tdb, "idx_token", "Observation", id,
             "t.grp > 0 AND EXISTS (SELECT 1 FROM idx_quantity q WHERE q.resource_pk = t.resource_pk"
             " AND q.grp = t.grp)") >= 1);
}

TEST_CASE("db: a rolled-back transaction leaves no index rows; an unknown type is refused") {
  store::test::store_case c;
  std::string id;
  auto r = c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto made = tx.create("Patient", json(R"({"resourceType":"Patient","gender":"female"})"));
    if (!made) return hearth::unexpected(made.error());
    id = made->version.id;
    return hearth::unexpected(hearth::error{"invalid", "the caller changed its mind", {}, hearth::error::npos});
  });
  CHECK(code_of(r) == "invalid");
  REQUIRE(!id.empty());
  auto sql = c.tdb.raw();
  long long n = -1;
  *sql << "SELECT COUNT(*) FROM idx_token", soci::into(n);
  CHECK(n == 0);

  CHECK(code_of(c.rs.create("Spaceship", json(R"({"resourceType":"Spaceship"})"))) == "not-supported");
}
