// The resource store on SQLite and PostgreSQL: versions and meta, identical
// updates, If-Match, update-as-create, delete, transactions, reopening.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/error_codes.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

const char* const patient = R"({"resourceType":"Patient","active":true,"name":[{"family":"Chalmers","given":["Peter"]}]})";

/// The stored JSON of a version, parsed.
hearth::fhir::json_value parsed(const store::resource_version& v) { return json(v.json); }

std::string meta_field(const store::resource_version& v, const char* key) {
  const auto body = parsed(v);
  const auto* meta = body.find("meta");
  REQUIRE(meta != nullptr);
  const auto* field = meta->find(key);
  REQUIRE(field != nullptr);
  return field->str();
}

/// A store holding one Patient, version 1 (doctest fixture).
struct patient_case : store::test::store_case {
  patient_case() {
    auto made = rs.create("Patient", json(patient));
    if (!made) throw std::runtime_error("setting up: " + made.error().message);
    v1 = std::move(*made);
    id = v1.version.id;
  }
  store::write_outcome v1;
  std::string id;
};

/// YYYY-MM-DDThh:mm:ss.sssZ: an R4 instant with milliseconds, in UTC. (By
/// hand: std::regex trips GCC 12's -Wmaybe-uninitialized in the sanitizer build.)
bool is_r4_instant_ms(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) return false;
  }
  return true;
}

/// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool is_r4_id(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

}  // namespace

TEST_CASE("ids: new_id is a version 4 UUID; new_time_ordered_id a version 7 one that sorts by its time") {
  auto uuid_shaped = [](const std::string& id) {
    if (id.size() != 36) return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash != (id[i] == '-')) return false;
      if (!dash && !std::isxdigit(static_cast<unsigned char>(id[i]))) return false;
    }
    return true;
  };
  const std::string v4 = store::resource_store::new_id();
  CHECK(uuid_shaped(v4));
  CHECK(v4[14] == '4');
  CHECK(std::string("89ab").find(v4[19]) != std::string::npos);

  using ms = std::chrono::milliseconds;
  const store::instant t0{ms(1'700'000'000'123)};  // 2023-11-14T22:13:20.123Z = 0x018bcfe5687b ms
  const std::string a = store::resource_store::new_time_ordered_id(t0);
  CHECK(uuid_shaped(a));
  CHECK(a.substr(0, 13) == "018bcfe5-687b");  // RFC 9562 5.7: the 48-bit big-endian milliseconds first
  CHECK(a[14] == '7');
  CHECK(std::string("89ab").find(a[19]) != std::string::npos);
  CHECK(store::resource_store::new_time_ordered_id(t0) != a);  // 74 random bits
  // Later milliseconds sort after, whatever the random bits.
  std::string prev = a;
  for (int i = 1; i <= 50; ++i) {
    const std::string next = store::resource_store::new_time_ordered_id(t0 + ms(i));
    CHECK(next > prev);
    prev = next;
  }
}

TEST_CASE("db: create assigns an id and version 1 and meta.lastUpdated") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;

  auto body = json(R"({"resourceType":"Patient","id":"client-chosen","meta":{"versionId":"7","source":"#a"},"active":true})");
  auto created = rs.create("Patient", body);
  REQUIRE(created);
  const store::resource_version& v = created->version;
  CHECK(created->created);
  CHECK(created->changed);
  CHECK(v.type == "Patient");
  CHECK(v.id != "client-chosen");  // R4 http.html#create: the server assigns the id
  CHECK(is_r4_id(v.id));
  CHECK(v.version_id == 1);
  CHECK_FALSE(v.deleted);
  CHECK(v.made_by == store::change::create);
  CHECK(meta_field(v, "versionId") == "1");
  const std::string last_updated = meta_field(v, "lastUpdated");
  CHECK(is_r4_instant_ms(last_updated));
  CHECK(last_updated == store::format_instant(v.last_updated));
  CHECK(meta_field(v, "source") == "#a");  // the rest of meta is kept
  CHECK(parsed(v).find("id")->str() == v.id);

  auto read = rs.read("Patient", v.id);
  REQUIRE(read);
  CHECK(read->json == v.json);
  CHECK(read->version_id == 1);
  CHECK(read->last_updated == v.last_updated);

  auto second = rs.create("Patient", json(patient));
  REQUIRE(second);
  CHECK(second->version.id != v.id);
}

TEST_CASE_FIXTURE(patient_case, "db: update makes a new version and vread reads each one") {

  auto body = json(patient);
  body.set("active", false);
  auto v2 = rs.update("Patient", id, body);
  REQUIRE(v2);
  CHECK_FALSE(v2->created);
  CHECK(v2->changed);
  CHECK(v2->version.version_id == 2);
  CHECK(v2->version.made_by == store::change::update);
  CHECK(meta_field(v2->version, "versionId") == "2");
  CHECK(v2->version.last_updated >= v1.version.last_updated);

  auto current = rs.read("Patient", id);
  REQUIRE(current);
  CHECK(current->version_id == 2);
  CHECK_FALSE(parsed(*current).find("active")->as_bool());

  auto old = rs.vread("Patient", id, 1);
  REQUIRE(old);
  CHECK(old->json == v1.version.json);
  CHECK(old->made_by == store::change::create);
  auto newer = rs.vread("Patient", id, 2);
  REQUIRE(newer);
  CHECK(newer->json == v2->version.json);

  auto missing = rs.vread("Patient", id, 3);
  CHECK(code_of(missing) == store::error_codes::not_found);
}

TEST_CASE_FIXTURE(patient_case, "db: an identical update makes no new version") {

  // The same content: members in another order, a stale meta, the id given.
  auto same = json(R"({"name":[{"given":["Peter"],"family":"Chalmers"}],"active":true,"resourceType":"Patient",
                       "meta":{"versionId":"99","lastUpdated":"2001-01-01T00:00:00Z"}})");
  auto again = rs.update("Patient", id, same);
  REQUIRE(again);
  CHECK_FALSE(again->changed);
  CHECK_FALSE(again->created);
  CHECK(again->version.version_id == 1);
  CHECK(again->version.json == v1.version.json);  // the current version, as stored

  auto h = rs.history(store::history_query::of_instance("Patient", id));
  REQUIRE(h);
  CHECK(h->entries.size() == 1);

  // Order inside an array is content: a different resource.
  auto reordered = json(R"({"resourceType":"Patient","active":true,"name":[{"family":"Chalmers","given":["Peter"]},{"text":"P"}]})");
  auto v2 = rs.update("Patient", id, reordered);
  REQUIRE(v2);
  CHECK(v2->changed);
  CHECK(v2->version.version_id == 2);
}

TEST_CASE("db: If-Match: a write expecting another version is a conflict") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  auto v1 = rs.create("Observation", json(R"({"resourceType":"Observation","status":"final"})"));
  REQUIRE(v1);
  const std::string id = v1->version.id;

  store::update_options expect1;
  expect1.expected_version = 1;
  auto v2 = rs.update("Observation", id, json(R"({"resourceType":"Observation","status":"amended"})"), expect1);
  REQUIRE(v2);
  CHECK(v2->version.version_id == 2);

  // A second writer that also read version 1 loses.
  auto stale = rs.update("Observation", id, json(R"({"resourceType":"Observation","status":"cancelled"})"), expect1);
  CHECK(code_of(stale) == store::error_codes::conflict);

  store::delete_options delete1;
  delete1.expected_version = 1;
  auto stale_delete = rs.remove("Observation", id, delete1);
  CHECK(code_of(stale_delete) == store::error_codes::conflict);

  // No version 1 of a resource that does not exist.
  auto absent = rs.update("Observation", "nope", json(R"({"resourceType":"Observation","status":"final"})"), expect1);
  CHECK(code_of(absent) == store::error_codes::conflict);
  CHECK(code_of(rs.read("Observation", "nope")) == store::error_codes::not_found);

  auto current = rs.read("Observation", id);
  REQUIRE(current);
  CHECK(current->version_id == 2);
  CHECK(parsed(*current).find("status")->str() == "amended");
}

TEST_CASE("db: update-as-create takes the client's id or is refused") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;

  auto made = rs.update("Patient", "p-1.a", json(patient));
  REQUIRE(made);
  CHECK(made->created);
  CHECK(made->changed);
  CHECK(made->version.version_id == 1);
  CHECK(made->version.id == "p-1.a");
  CHECK(made->version.made_by == store::change::create);
  CHECK(parsed(made->version).find("id")->str() == "p-1.a");

  store::update_options no_create;
  no_create.allow_create = false;
  auto refused = rs.update("Patient", "p-2", json(patient), no_create);
  CHECK(code_of(refused) == store::error_codes::not_found);
  CHECK(code_of(rs.read("Patient", "p-2")) == store::error_codes::not_found);

  // The body's id must be the request's (R4 http.html#update).
  auto mismatch = rs.update("Patient", "p-3", json(R"({"resourceType":"Patient","id":"p-4"})"));
  CHECK(code_of(mismatch) == store::error_codes::invalid);
  auto wrong_type = rs.update("Patient", "p-3", json(R"({"resourceType":"Observation"})"));
  CHECK(code_of(wrong_type) == store::error_codes::invalid);
}

TEST_CASE_FIXTURE(patient_case, "db: delete writes a tombstone and read is gone and history shows it") {

  auto gone = rs.remove("Patient", id);
  REQUIRE(gone);
  CHECK(gone->changed);
  CHECK(gone->version.version_id == 2);
  CHECK(gone->version.deleted);
  CHECK(gone->version.made_by == store::change::remove);
  CHECK(gone->version.json.empty());

  auto read = rs.read("Patient", id);
  CHECK(code_of(read) == store::error_codes::deleted);  // 410 Gone
  auto tombstone = rs.vread("Patient", id, 2);
  REQUIRE(tombstone);
  CHECK(tombstone->deleted);
  CHECK(tombstone->json.empty());
  auto before = rs.vread("Patient", id, 1);
  REQUIRE(before);
  CHECK(before->json == v1.version.json);

  // Deleting again, or deleting what never existed, succeeds and writes nothing.
  auto twice = rs.remove("Patient", id);
  REQUIRE(twice);
  CHECK_FALSE(twice->changed);
  CHECK(twice->version.version_id == 2);
  auto never = rs.remove("Patient", "never-was");
  REQUIRE(never);
  CHECK_FALSE(never->changed);
  CHECK(never->version.version_id == 0);

  auto h = rs.history(store::history_query::of_instance("Patient", id));
  REQUIRE(h);
  REQUIRE(h->entries.size() == 2);
  CHECK(h->entries[0].version_id == 2);
  CHECK(h->entries[0].deleted);
  CHECK(h->entries[0].made_by == store::change::remove);
  CHECK(h->entries[1].version_id == 1);

  // An update brings it back, as a new version (201 Created).
  auto back = rs.update("Patient", id, json(patient));
  REQUIRE(back);
  CHECK(back->created);
  CHECK(back->version.version_id == 3);
  CHECK(back->version.made_by == store::change::update);
  CHECK(rs.read("Patient", id));
}

TEST_CASE("db: bad types and ids and bodies are refused before anything is written") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  CHECK(code_of(rs.create("patient", json(R"({"resourceType":"patient"})"))) == store::error_codes::invalid);
  CHECK(code_of(rs.create("Patient", hearth::fhir::json_value::array())) == store::error_codes::invalid);
  CHECK(code_of(rs.create("Patient", json(R"({"resourceType":"Patient","meta":[1]})"))) == store::error_codes::invalid);
  CHECK(code_of(rs.update("Patient", "a b", json(patient))) == store::error_codes::invalid);
  CHECK(code_of(rs.update("Patient", std::string(65, 'a'), json(patient))) == store::error_codes::invalid);
  CHECK(code_of(rs.read("Patient", "")) == store::error_codes::invalid);
  CHECK(code_of(rs.read("Patient", "x'; DROP TABLE resource; --")) == store::error_codes::invalid);
  CHECK(code_of(rs.read("Patient", "unknown")) == store::error_codes::not_found);
  CHECK(rs.update("Patient", std::string(64, 'a'), json(patient)));  // 64 is the limit, not beyond
  CHECK(db->stats().writes == 1);
}

TEST_CASE("db: a transaction commits all of its writes or none") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  auto existing = rs.create("Patient", json(patient));
  REQUIRE(existing);
  const std::string pid = existing->version.id;

  std::string a, b;
  auto failed = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto x = tx.create("Observation", json(R"({"resourceType":"Observation","status":"final"})"));
    if (!x) return hearth::unexpected(x.error());
    a = x->version.id;
    auto y = tx.update("Patient", pid, json(R"({"resourceType":"Patient","active":false})"));
    if (!y) return hearth::unexpected(y.error());
    b = y->version.id;
    // The transaction sees its own writes.
    auto seen = tx.read("Observation", a);
    if (!seen) return hearth::unexpected(seen.error());
    store::update_options stale;
    stale.expected_version = 1;  // the update above made it 2
    auto z = tx.update("Patient", pid, json(patient), stale);
    if (!z) return hearth::unexpected(z.error());
    return {};
  });
  CHECK(code_of(failed) == store::error_codes::conflict);
  REQUIRE_FALSE(a.empty());
  CHECK(code_of(rs.read("Observation", a)) == store::error_codes::not_found);
  auto p = rs.read("Patient", pid);
  REQUIRE(p);
  CHECK(p->version_id == 1);
  CHECK(code_of(rs.vread("Patient", pid, 2)) == store::error_codes::not_found);

  // A function that throws rolls back as well.
  auto thrown = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto x = tx.create("Observation", json(R"({"resourceType":"Observation","status":"final"})"));
    a = x->version.id;
    throw std::runtime_error("a bug in the caller");
  });
  CHECK(code_of(thrown) == store::error_codes::exception);
  CHECK(code_of(rs.read("Observation", a)) == store::error_codes::not_found);

  store::history_query all;
  auto h = rs.history(all);
  REQUIRE(h);
  CHECK(h->entries.size() == 1);  // only the first create

  // All or nothing, the "all" half.
  std::string c1, c2;
  auto ok = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto x = tx.create("Observation", json(R"({"resourceType":"Observation","status":"final"})"));
    auto y = tx.update("Patient", pid, json(R"({"resourceType":"Patient","active":false})"));
    auto z = tx.remove("Patient", pid);
    if (!x || !y || !z) return hearth::unexpected(hearth::error{"exception", "unexpected", {}, hearth::error::npos});
    c1 = x->version.id;
    c2 = z->version.id;
    return {};
  });
  REQUIRE(ok);
  CHECK(rs.read("Observation", c1));
  CHECK(code_of(rs.read("Patient", pid)) == store::error_codes::deleted);
  auto tomb = rs.vread("Patient", pid, 3);
  REQUIRE(tomb);
  CHECK(tomb->deleted);
}

TEST_CASE("db: reopening the database keeps the data") {
  store::test::test_db tdb;
  std::string id;
  std::string json_v2;
  {
    auto db = tdb.open();
    store::resource_store rs(*db, store::test::default_indexer());
    auto v1 = rs.create("Patient", json(patient));
    REQUIRE(v1);
    id = v1->version.id;
    auto v2 = rs.update("Patient", id, json(R"({"resourceType":"Patient","active":false})"));
    REQUIRE(v2);
    json_v2 = v2->version.json;
  }
  auto db = tdb.open();
  CHECK(db->schema_version() == store::database::known_schema_version());
  store::resource_store rs(*db, store::test::default_indexer());
  auto read = rs.read("Patient", id);
  REQUIRE(read);
  CHECK(read->version_id == 2);
  CHECK(read->json == json_v2);
  auto h = rs.history(store::history_query::of_instance("Patient", id));
  REQUIRE(h);
  CHECK(h->entries.size() == 2);
  // Versions continue where they were.
  auto v3 = rs.update("Patient", id, json(patient));
  REQUIRE(v3);
  CHECK(v3->version.version_id == 3);
}
