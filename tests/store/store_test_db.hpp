#pragma once
// A throw-away database for one store test case, on the engine the run is for.
//
// The same test cases (named "db: ...") run on both engines (DESIGN.md "The
// same test suite runs against both"):
//   - SQLite by default, in a fresh temporary directory;
//   - PostgreSQL when the environment variable HEARTH_TEST_PG names a file
//     holding a libpq connection string: ctest's fixture writes it
//     (tests/support/pg_cluster, a cluster of its own on a free port). Each
//     case gets a schema of its own (search_path), dropped afterwards, so
//     cases may run in parallel on one cluster.
// By hand:
//   tests/support/pg_cluster start /tmp/pg
//   HEARTH_TEST_PG=/tmp/pg/conninfo hearth_store_tests -tc='db: *'
//   tests/support/pg_cluster stop /tmp/pg

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/resource_store.hpp>

#include "index_test_support.hpp"  // registry(), default_indexer(), json()

namespace hearth::store::test {

/// The PostgreSQL connection string of this run, or "" for SQLite.
inline std::string pg_conninfo() {
  const char* file = std::getenv("HEARTH_TEST_PG");
  if (file == nullptr || *file == '\0') return {};
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    throw std::runtime_error(std::string("HEARTH_TEST_PG: cannot read a connection string from ") + file);
  }
  return line;
}

/// A name no other case of any process uses at the same time.
inline std::string unique_name(const char* prefix) {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  return std::string(prefix) + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(rd() % 100000);
}

/// One test's database: removed (directory or schema) on destruction.
class test_db {
 public:
  /// On the engine of this run.
  test_db() : test_db(pg_conninfo().empty() ? engine::sqlite : engine::postgresql) {}
  /// On `e`, for the few cases about one engine's settings.
  explicit test_db(engine e) {
    if (e == engine::postgresql) {
      base_conninfo_ = pg_conninfo();
      if (base_conninfo_.empty()) throw std::runtime_error("PostgreSQL asked for, but HEARTH_TEST_PG is not set");
    }
    if (e == engine::sqlite) {
      kind_ = engine::sqlite;
      dir_ = std::filesystem::temp_directory_path() / unique_name("hearth-store-test-");
      location_ = (dir_ / "data").string();  // not created: open() must create it
    } else {
      kind_ = engine::postgresql;
      schema_ = unique_name("hearth_test_");
      admin(base_conninfo_) << "CREATE SCHEMA " + schema_;  // a generated name, not input
      location_ = base_conninfo_ + " options='-c search_path=" + schema_ + "'";
    }
  }
  test_db(const test_db&) = delete;
  test_db& operator=(const test_db&) = delete;
  ~test_db() {
    try {
      if (kind_ == engine::sqlite) {
        std::filesystem::remove_all(dir_);
      } else {
        admin(base_conninfo_) << "DROP SCHEMA " + schema_ + " CASCADE";
      }
    } catch (...) {
      // Best effort: the directory or cluster is temporary anyway.
    }
  }

  engine kind() const { return kind_; }
  /// The SQLite data directory (empty on PostgreSQL).
  std::string sqlite_dir() const { return kind_ == engine::sqlite ? location_ : std::string(); }
  const std::string& location() const { return location_; }

  database_config config(std::size_t pool_size = 1) const {
    database_config c;
    c.kind = kind_;
    c.location = location_;
    c.pool_size = pool_size;
    return c;
  }

  /// Opens the database; fails the test case when it cannot.
  std::unique_ptr<database> open(std::size_t pool_size = 1) const {
    auto db = database::open(config(pool_size));
    if (!db) throw std::runtime_error("database::open: " + db.error().code + ": " + db.error().message);
    return std::move(*db);
  }

  /// A raw connection, to look at rows the API hides.
  std::unique_ptr<soci::session> raw() const {
    if (kind_ == engine::sqlite) {
      return std::make_unique<soci::session>(*soci::factory_sqlite3(),
                                             "db=\"" + (std::filesystem::path(location_) / "hearth.db").string() + "\"");
    }
    return std::make_unique<soci::session>(*soci::factory_postgresql(), location_);
  }

 private:
  /// One connection per test process for creating and dropping schemas
  /// (PostgreSQL connections take tens of ms to open). Test thread only.
  static soci::session& admin(const std::string& conninfo) {
    static std::unique_ptr<soci::session> session;
    if (!session) {
      session = std::make_unique<soci::session>(*soci::factory_postgresql(), conninfo);
      *session << "SET client_min_messages TO WARNING";
    }
    return *session;
  }

  engine kind_ = engine::sqlite;
  std::filesystem::path dir_;
  std::string base_conninfo_;
  std::string schema_;
  std::string location_;
};

/// The error code of a result, or "ok": `CHECK(code_of(r) == "conflict")`.
template <class T>
std::string code_of(const hearth::result<T>& r) {
  return r ? std::string("ok") : r.error().code;
}

/// "a=1&b=2" as pairs (test text: no percent-encoding needed).
inline std::vector<std::pair<std::string, std::string>> pairs(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    const auto eq = item.find('=');
    out.emplace_back(std::string(item.substr(0, eq)),
                     eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

/// The usual start of a case: a database on this run's engine, opened, with a
/// resource store over it. `auto& [tdb, db, rs] = c;` names the parts.
struct store_case {
  explicit store_case(std::size_t pool_size = 1) : db(tdb.open(pool_size)), rs(*db, default_indexer()) {}
  test_db tdb;
  std::unique_ptr<database> db;
  resource_store rs;
};

}  // namespace hearth::store::test
