// Opening a database: URLs, migrations and their refusal of a newer schema,
// engine settings, compressed bodies.
#include <hearth/store/database.hpp>

#include <doctest/doctest.h>

#include <soci/sqlite3/soci-sqlite3.h>  // SQLite's API, in namespace sqlite_api
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>
#include <vector>
#include <string>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_store.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

TEST_CASE("store: parse_database_url") {
  auto sqlite = store::parse_database_url("sqlite:./data");
  REQUIRE(sqlite);
  CHECK(sqlite->kind == store::engine::sqlite);
  CHECK(sqlite->location == "./data");

  auto uri = store::parse_database_url("postgresql://hearth@db.example:5433/fhir");
  REQUIRE(uri);
  CHECK(uri->kind == store::engine::postgresql);
  CHECK(uri->location == "postgresql://hearth@db.example:5433/fhir");  // libpq reads it whole
  auto short_uri = store::parse_database_url("postgres://localhost/fhir");
  REQUIRE(short_uri);
  CHECK(short_uri->kind == store::engine::postgresql);

  auto conninfo = store::parse_database_url("postgresql:host=/run/pg dbname=fhir");
  REQUIRE(conninfo);
  CHECK(conninfo->kind == store::engine::postgresql);
  CHECK(conninfo->location == "host=/run/pg dbname=fhir");

  CHECK(code_of(store::parse_database_url("mysql://x")) == store::error_codes::invalid);
  CHECK(code_of(store::parse_database_url("sqlite:")) == store::error_codes::invalid);
  CHECK(code_of(store::parse_database_url("")) == store::error_codes::invalid);
  CHECK(store::to_string(store::engine::sqlite) == "sqlite");
  CHECK(store::to_string(store::engine::postgresql) == "postgresql");
}

TEST_CASE("store: format_instant writes R4 instants with milliseconds and Z") {
  using std::chrono::milliseconds;
  CHECK(store::format_instant(store::instant(milliseconds(0))) == "1970-01-01T00:00:00.000Z");
  CHECK(store::format_instant(store::instant(milliseconds(1709294400250))) == "2024-03-01T12:00:00.250Z");
  CHECK(store::format_instant(store::instant(milliseconds(951782399999))) == "2000-02-28T23:59:59.999Z");
  CHECK(store::format_instant(store::instant(milliseconds(951868800000))) == "2000-03-01T00:00:00.000Z");
}

TEST_CASE("db: open creates the schema at the known version and records it") {
  store::test::test_db tdb;
  auto db = tdb.open();
  CHECK(db->kind() == tdb.kind());
  CHECK(db->schema_version() == store::database::known_schema_version());
  CHECK(store::database::known_schema_version() >= 1);

  auto raw = tdb.raw();
  int version = 0, rows = 0;
  *raw << "SELECT MAX(version), COUNT(*) FROM schema_version", soci::into(version), soci::into(rows);
  CHECK(version == store::database::known_schema_version());
  CHECK(rows == store::database::known_schema_version());  // one row per migration applied
  int resources = -1;
  *raw << "SELECT COUNT(*) FROM resource", soci::into(resources);  // the tables exist, empty
  CHECK(resources == 0);
  raw.reset();

  // Opening again applies nothing twice.
  db.reset();
  auto again = tdb.open();
  CHECK(again->schema_version() == store::database::known_schema_version());
  auto raw2 = tdb.raw();
  *raw2 << "SELECT COUNT(*) FROM schema_version", soci::into(rows);
  CHECK(rows == store::database::known_schema_version());
}

TEST_CASE("db: a shared secret is drawn once and read back by every instance, after a restart too") {
  store::test::test_db tdb;
  std::string first;
  {
    auto db1 = tdb.open();
    auto db2 = tdb.open();  // a second process's database
    auto a = db1->shared_secret("cursor-key", 32);
    REQUIRE_MESSAGE(a, (a ? std::string() : a.error().message));
    CHECK(a->size() == 32);
    first = *a;
    auto b = db2->shared_secret("cursor-key", 32);
    REQUIRE(b);
    CHECK(*b == first);
    // Another name, another secret.
    auto other = db1->shared_secret("another", 32);
    REQUIRE(other);
    CHECK(*other != first);
    // Bad requests.
    CHECK(store::test::code_of(db1->shared_secret("", 32)) == "invalid");
    CHECK(store::test::code_of(db1->shared_secret("x", 8)) == "invalid");
    CHECK(store::test::code_of(db1->shared_secret("cursor-key", 16)) == "invalid");  // stored with 32
  }
  auto again = tdb.open();
  auto c = again->shared_secret("cursor-key", 32);
  REQUIRE(c);
  CHECK(*c == first);
}

TEST_CASE("db: a database newer than this binary is refused and left untouched") {
  store::test::test_db tdb;
  std::string id;
  {
    auto db = tdb.open();
    store::resource_store rs(*db, store::test::default_indexer());
    auto made = rs.create("Patient", json(R"({"resourceType":"Patient"})"));
    REQUIRE(made);
    id = made->version.id;
  }
  const int newer = store::database::known_schema_version() + 1;
  {
    auto raw = tdb.raw();
    *raw << "INSERT INTO schema_version (version, description, applied_at) VALUES (:v, 'from the future', 'x')",
        soci::use(newer);
  }
  auto refused = store::database::open(tdb.config());
  CHECK(code_of(refused) == store::error_codes::not_supported);
  CHECK(refused.error().message.find("version " + std::to_string(newer)) != std::string::npos);

  // Nothing was changed: the newer version is still recorded, the data there.
  auto raw = tdb.raw();
  int max_version = 0, resources = 0;
  *raw << "SELECT MAX(version) FROM schema_version", soci::into(max_version);
  *raw << "SELECT COUNT(*) FROM resource", soci::into(resources);
  CHECK(max_version == newer);
  CHECK(resources == 1);
}

TEST_CASE("db: bodies are stored zstd-compressed and read back exactly") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  // A realistic, repetitive resource: FHIR JSON compresses well.
  auto body = json(R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})");
  auto components = hearth::fhir::json_value::array();
  for (int i = 0; i < 200; ++i) {
    auto c = json(R"({"code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}]},
                      "valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}})");
    c.find("valueQuantity")->set("value", hearth::fhir::json_value::number(std::to_string(100 + i) + ".50"));
    components.push_back(std::move(c));
  }
  body.set("component", std::move(components));
  body.set("note", json(R"([{"text":"Zürich – naïve ✓ \"quoted\" \\ back"}])"));
  auto made = rs.create("Observation", body);
  REQUIRE(made);
  const std::string& stored_json = made->version.json;

  std::string column;
  auto raw = tdb.raw();
  const std::string id = made->version.id;
  if (tdb.kind() == store::engine::postgresql) {
    std::string hex;
    *raw << "SELECT encode(body, 'hex') FROM resource WHERE id = :id", soci::use(id), soci::into(hex);
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) column += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  } else {
    *raw << "SELECT body FROM resource WHERE id = :id", soci::use(id), soci::into(column);
  }
  REQUIRE(column.size() > 4);
  CHECK(static_cast<unsigned char>(column[0]) == 0x28);  // zstd frame magic 0xFD2FB528, little-endian
  CHECK(static_cast<unsigned char>(column[1]) == 0xB5);
  CHECK(static_cast<unsigned char>(column[2]) == 0x2F);
  CHECK(static_cast<unsigned char>(column[3]) == 0xFD);
  CHECK(column.size() * 4 < stored_json.size());
  std::string plain(ZSTD_getFrameContentSize(column.data(), column.size()), '\0');
  const std::size_t n = ZSTD_decompress(plain.data(), plain.size(), column.data(), column.size());
  REQUIRE_FALSE(ZSTD_isError(n));
  CHECK(plain == stored_json);

  auto read = rs.read("Observation", id);
  REQUIRE(read);
  CHECK(read->json == stored_json);
  const auto parsed = json(read->json);
  CHECK(parsed.find("component")->items()[3].find("valueQuantity")->find("value")->number_text() == "103.50");
  CHECK(parsed.find("note")->items()[0].find("text")->str() == "Zürich – naïve ✓ \"quoted\" \\ back");
}

TEST_CASE("store: SQLite runs in WAL mode in a file under the data directory") {
  store::test::test_db tdb(store::engine::sqlite);
  auto db = tdb.open();
  const auto file = std::filesystem::path(tdb.sqlite_dir()) / "hearth.db";
  CHECK(std::filesystem::is_regular_file(file));
  auto raw = tdb.raw();
  std::string mode;
  *raw << "PRAGMA journal_mode", soci::into(mode);
  CHECK(mode == "wal");
  // Writes go to the write-ahead log beside the file.
  store::resource_store rs(*db, store::test::default_indexer());
  REQUIRE(rs.create("Patient", json(R"({"resourceType":"Patient"})")));
  CHECK(std::filesystem::exists(file.string() + "-wal"));
}

TEST_CASE("store: SQLite writes its WAL through Hearth's coalescing VFS; commits past its buffer read back after a restart") {
  store::test::test_db tdb(store::engine::sqlite);
  std::vector<std::string> ids;
  {
    auto db = tdb.open();
    // The VFS is SQLite's default once a database is open (sqlite_wal_vfs.hpp).
    const sqlite_api::sqlite3_vfs* vfs = sqlite_api::sqlite3_vfs_find(nullptr);
    REQUIRE(vfs != nullptr);
    CHECK(std::string(vfs->zName) == "hearth-wal");
    store::resource_store rs(*db, store::test::default_indexer());
    // One transaction writing far more than the VFS holds back (1 MiB) and
    // than one write call may carry (64 KiB): many pages of bodies and index rows.
    const std::string filler(2000, 'x');
    REQUIRE(rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
      for (int i = 0; i < 600; ++i) {
        auto out = tx.create("Patient", json(R"({"resourceType":"Patient","name":[{"family":"F)" + std::to_string(i) +
                                             R"(","given":[")" + filler + R"("]}]})"));
        if (!out) return hearth::unexpected(out.error());
        ids.push_back(out->version.id);
      }
      return {};
    }));
    // Other connections (the reader pool) see the commit.
    auto r = rs.read("Patient", ids.back());
    REQUIRE(r);
    CHECK(r->json.find("F599") != std::string::npos);
    db->stop();
  }
  // Reopened (the WAL replayed or checkpointed): everything is there.
  auto db = tdb.open();
  store::resource_store rs(*db, store::test::default_indexer());
  for (std::size_t i = 0; i < ids.size(); i += 97) {
    auto r = rs.read("Patient", ids[i]);
    REQUIRE(r);
    CHECK(r->json.find("F" + std::to_string(i) + "\"") != std::string::npos);
  }
  auto raw = tdb.raw();
  std::string check;
  *raw << "PRAGMA integrity_check", soci::into(check);
  CHECK(check == "ok");
}

TEST_CASE("store: open fails cleanly when the data directory cannot be created") {
  store::test::test_db tdb(store::engine::sqlite);
  const auto blocker = std::filesystem::path(tdb.sqlite_dir()).parent_path();
  std::filesystem::create_directories(blocker);
  { std::ofstream(blocker / "file") << "not a directory"; }
  store::database_config c;
  c.kind = store::engine::sqlite;
  c.location = (blocker / "file" / "data").string();
  auto db = store::database::open(c);
  CHECK(code_of(db) == store::error_codes::exception);

  c.location = tdb.sqlite_dir();
  c.pool_size = 0;
  CHECK(code_of(store::database::open(c)) == store::error_codes::invalid);
}

TEST_CASE("store: PostgreSQL connection failures are errors and not exceptions") {
  store::database_config c;
  c.kind = store::engine::postgresql;
  // Port 1 on the loopback: nothing listens there; fails at once.
  c.location = "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2";
  auto db = store::database::open(c);
  CHECK(code_of(db) == store::error_codes::exception);
  CHECK(db.error().message.find("cannot open") != std::string::npos);
  CHECK(db.error().message.find("refused") != std::string::npos);  // libpq's reason is kept
  CHECK(db.error().message.find('\n') == std::string::npos);
}

TEST_CASE("db: migration 3 classes the date rows a version 2 database already has") {
  store::test::test_db tdb;
  // Rows written by this version: the reference the migration must reproduce.
  const char* rows_query = "SELECT resource_pk, param, grp, low, high, span, multi FROM idx_date"
                           " ORDER BY resource_pk, param, grp, low, high";
  using row = std::tuple<long long, long long, int, long long, long long, int, int>;
  auto read_rows = [&] {
    auto raw = tdb.raw();
    std::vector<row> out;
    row r;
    soci::statement st = (raw->prepare << rows_query, soci::into(std::get<0>(r)), soci::into(std::get<1>(r)),
                          soci::into(std::get<2>(r)), soci::into(std::get<3>(r)), soci::into(std::get<4>(r)),
                          soci::into(std::get<5>(r)), soci::into(std::get<6>(r)));
    st.execute();
    while (st.fetch()) out.push_back(r);
    return out;
  };
  {
    auto db = tdb.open();
    store::resource_store rs(*db, store::test::default_indexer());
    for (const char* body : {
             R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-06-03T10:00:00Z","end":"2020-06-03T12:00:00Z"}})",
             R"({"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},"period":{"start":"2020-02-01","end":"2020-02-20"}})",
             R"({"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},"period":{"start":"2020-02-01","end":"2020-09-20"}})",
             R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"IMP"},"period":{"start":"2020-01-01"}})",
             R"({"resourceType":"Patient","birthDate":"1970"})",
             R"({"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"a"},"subject":{"reference":"Patient/x"},"target":[{"dueDate":"2020-01-10"},{"dueDate":"2020-03-10"}]})",
         }) {
      const auto j = json(body);
      REQUIRE(rs.create(j.find("resourceType")->str(), j));
    }
  }
  const std::vector<row> expected = read_rows();
  std::set<int> spans;
  int multi = 0;
  for (const row& r : expected) {
    spans.insert(std::get<5>(r));
    multi += std::get<6>(r);
  }
  CHECK(spans == std::set<int>{0, 1, 2, 3});  // every class is there to compare
  CHECK(multi == 2);                          // the Goal's two due dates

  // Back to version 2's idx_date, as a database written before migration 3
  // (and without the audit tables of migration 4, which came after).
  {
    auto raw = tdb.raw();
    for (const char* statement : {"DROP INDEX idx_date_span", "DROP INDEX idx_date_multi",
                                  "ALTER TABLE idx_date DROP COLUMN span", "ALTER TABLE idx_date DROP COLUMN multi",
                                  "CREATE INDEX idx_date_1 ON idx_date (param, low, high, resource_pk)",
                                  "DROP TABLE audit_event", "DROP TABLE audit_event_ref", "DROP TABLE audit_head",
                                  "DELETE FROM schema_version WHERE version >= 3"}) {
      *raw << statement;  // the test's own constant text
    }
    if (tdb.kind() == store::engine::postgresql) *raw << "DROP FUNCTION audit_append_only()";
  }
  auto db = tdb.open();  // migrates
  CHECK(db->schema_version() == store::database::known_schema_version());
  CHECK(read_rows() == expected);
}
