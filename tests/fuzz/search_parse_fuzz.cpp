// libFuzzer target: FHIR search query strings from a hostile client, read as
// the REST server reads them: split at '&' and '=' and percent-decoded by the
// server's own splitter (server/src/rest_target.cpp, compiled in: it needs
// nothing but core), then store::parse_search() over the R4 definitions under
// strict and lenient handling, then store::detail::compile_search() for
// SQLite and PostgreSQL, and the SQLite statements run on an empty database
// with the store's schema.
//
// Input: the first byte picks a resource type from a fixed list (bits 0-4:
// '@' Patient, 'A' Observation, 'B' Encounter, ... '_' AuditEvent, so that a
// seed reads as text), a form body instead of a URL query (bit 5: '+' is a
// space; '`'..DEL) and a search in the compartment of Patient/example (bit
// 7); the rest is the query string (`a=b&c:mod=d,e&_include=...&_has:...`).
//
// Properties checked (a failure traps, so libFuzzer saves the input):
// - no crash, leak, UB, hang or stack overflow, whatever the query;
// - parse_search() ends in a request or an error with a code it documents
//   ("not-supported", "invalid", "too-costly") and a message;
// - a request keeps search_request's limits (max_terms, max_values,
//   max_chain_depth, max_count) and has at least one value per criterion;
// - lenient handling differs from strict only by leaving out what strict
//   refuses as "not-supported": strict success is lenient success with the
//   same request and nothing ignored; a strict error of another code is the
//   same error under lenient handling;
// - a parsed request compiles, or fails only with "not-supported" (what needs
//   the terminology service) or "too-costly" (too many values for one
//   statement); every bound value has its placeholder in the text and every
//   placeholder a bound value;
// - SQLite prepares and runs the statements resource_store::search() builds
//   from it (page and count), with every value bound.
//
// HEARTH_FUZZ_DEBUG=1 in the environment prints the size of each compiled
// search.

#include <hearth/fhir/definitions.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/search_request.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "detail/search_sql.hpp"
#include "fuzz_registry.hpp"
#include "rest_target.hpp"

namespace {

namespace s = hearth::store;
namespace rest = hearth::server::rest;

// Types with many kinds of search parameter (composites, chains, quantities,
// canonicals, _has targets) and the Patient compartment's members.
constexpr std::string_view types[32] = {
    "Patient",        "Observation",       "Encounter",         "Condition",
    "Procedure",      "MedicationRequest", "DiagnosticReport",  "Immunization",
    "AllergyIntolerance", "Practitioner",  "Organization",      "Location",
    "ServiceRequest", "Appointment",       "DocumentReference", "Specimen",
    "Coverage",       "RelatedPerson",     "Group",             "List",
    "Bundle",         "Composition",       "CarePlan",          "Claim",
    "Questionnaire",  "QuestionnaireResponse", "ValueSet",      "CodeSystem",
    "StructureDefinition", "Medication",   "Device",            "AuditEvent",
};

// A fixed "now" for `ap` on dates: the same input always compiles alike.
constexpr long long now_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

// An empty SQLite database with the store's schema (database::open migrates
// it), opened again without SOCI for the statements. Once per process.
class schema_db {
 public:
  schema_db() {
    dir_ = std::filesystem::temp_directory_path() /
           ("hearth-fuzz-search-" + std::to_string(static_cast<long long>(::getpid())));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    {
      s::database_config cfg;
      cfg.kind = s::engine::sqlite;
      cfg.location = dir_.string();
      cfg.pool_size = 1;
      auto db = s::database::open(cfg);
      if (!db) {
        std::fprintf(stderr, "search fuzzer: cannot create the database: %s\n", db.error().message.c_str());
        std::abort();
      }
    }  // closed: the schema is in hearth.db
    if (sqlite3_open_v2((dir_ / "hearth.db").c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "search fuzzer: cannot open the database\n");
      std::abort();
    }
  }
  ~schema_db() {
    sqlite3_close_v2(db_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  sqlite3* get() const { return db_; }

 private:
  std::filesystem::path dir_;
  sqlite3* db_ = nullptr;
};

const schema_db& database() {
  static const schema_db db;
  return db;
}

bool documented(const hearth::error& e) {
  return !e.message.empty() && (e.code == s::error_codes::not_supported || e.code == s::error_codes::invalid ||
                                e.code == s::error_codes::too_costly);
}

void check_request(const s::search_request& q) {
  const std::size_t terms = q.criteria.size() + q.includes.size() + q.revincludes.size() + q.sort.size();
  if (terms > s::search_request::max_terms || q.count > s::search_request::max_count) __builtin_trap();
  for (const s::search_criterion& c : q.criteria) {
    if (c.param == nullptr || c.values.empty() || c.values.size() > s::search_request::max_values) __builtin_trap();
    if (c.path.size() > s::search_request::max_chain_depth) __builtin_trap();
    for (const s::search_step& step : c.path) {
      if (step.param == nullptr || step.types.empty()) __builtin_trap();
    }
  }
  for (const s::search_sort_key& k : q.sort) {
    if (k.param == nullptr) __builtin_trap();
  }
}

// The placeholders of `t` (":b0", ...) and its binds match one to one.
void check_binds(const std::string& text, const s::detail::sql_text& t) {
  const std::string mark = ":" + t.prefix;
  std::vector<bool> used(t.binds.size(), false);
  for (std::size_t at = text.find(mark); at != std::string::npos; at = text.find(mark, at + 1)) {
    std::size_t i = at + mark.size();
    std::size_t n = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + static_cast<std::size_t>(text[i] - '0');
      digits = true;
      ++i;
    }
    if (!digits) continue;
    if (n >= used.size()) __builtin_trap();  // a placeholder with no value
    used[n] = true;
  }
  for (const bool u : used) {
    if (!u) __builtin_trap();  // a value with no placeholder
  }
}

struct statement {
  explicit statement(sqlite3_stmt* s) : s_(s) {}
  ~statement() { sqlite3_finalize(s_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  sqlite3_stmt* s_;
};

// Prepares, binds and runs `sql` on the empty database.
void run(const std::string& sql, std::initializer_list<const s::detail::sql_text*> binds) {
  sqlite3* db = database().get();
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "search fuzzer: SQLite refused a compiled search: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(raw);
    __builtin_trap();
  }
  const statement st(raw);
  // Each parameter of the statement by its index, its value found from its
  // name (":b12": prefix "b", value 12). Looking names up instead
  // (sqlite3_bind_parameter_index) costs time quadratic in their number.
  std::map<std::string, const s::detail::sql_text*, std::less<>> by_prefix;
  std::size_t values = 0;
  for (const s::detail::sql_text* t : binds) {
    by_prefix[t->prefix] = t;
    values += t->binds.size();
  }
  const int count = sqlite3_bind_parameter_count(raw);
  if (static_cast<std::size_t>(count) != values) __builtin_trap();  // a value without its placeholder
  for (int index = 1; index <= count; ++index) {
    const char* name = sqlite3_bind_parameter_name(raw, index);
    if (name == nullptr || name[0] != ':') __builtin_trap();
    std::string_view n(name + 1);
    const std::size_t digits = n.find_first_of("0123456789");
    if (digits == std::string_view::npos) __builtin_trap();
    const auto t = by_prefix.find(n.substr(0, digits));
    if (t == by_prefix.end()) __builtin_trap();
    const std::size_t i = std::stoul(std::string(n.substr(digits)));
    if (i >= t->second->binds.size()) __builtin_trap();  // a placeholder without its value
    const auto& v = t->second->binds[i];
    int rc = SQLITE_OK;
    if (const auto* k = std::get_if<long long>(&v)) rc = sqlite3_bind_int64(raw, index, *k);
    else if (const auto* d = std::get_if<double>(&v)) rc = sqlite3_bind_double(raw, index, *d);
    else {
      const std::string& text = std::get<std::string>(v);
      rc = sqlite3_bind_text(raw, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) __builtin_trap();
  }
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    std::fprintf(stderr, "search fuzzer: SQLite failed a compiled search: %s\n", sqlite3_errmsg(db));
    __builtin_trap();
  }
}

// The page and count statements of resource_store::search() (store/src/
// search.cpp run_page, run_count), first page.
void run_sqlite(const s::detail::compiled_search& cs) {
  const s::detail::sql_text limit{"k", {}, {50 + 1LL}};
  std::string text;
  if (cs.sort.empty()) {
    text = "SELECT r.resource_pk FROM resource r WHERE " + cs.where.text + " ORDER BY r.resource_pk";
  } else {
    std::string inner = "SELECT r.resource_pk";
    for (std::size_t i = 0; i < cs.sort.size(); ++i) {
      inner += ", " + cs.sort[i].expression + " AS k" + std::to_string(i);
    }
    inner += " FROM resource r WHERE " + cs.where.text;
    text = "SELECT q.resource_pk";
    for (std::size_t i = 0; i < cs.sort.size(); ++i) text += ", q.k" + std::to_string(i);
    text += " FROM (" + inner + ") q ORDER BY ";
    for (std::size_t i = 0; i < cs.sort.size(); ++i) {
      text += "q.k" + std::to_string(i) + (cs.sort[i].descending ? " DESC, " : ", ");
    }
    text += "q.resource_pk";
  }
  text += " LIMIT :k0";
  run(text, {&cs.where, &cs.sort_binds, &limit});
  run("SELECT COUNT(*) FROM resource r WHERE " + cs.where.text, {&cs.where});
}

void compile(const s::search_request& q) {
  for (const bool pg : {false, true}) {
    auto cs = s::detail::compile_search(q, hearth::fuzz::registry(), pg, now_ms);
    if (!cs) {
      // What needs the terminology service (token :in, ...), or more values
      // than one statement should bind.
      const std::string& code = cs.error().code;
      if ((code != s::error_codes::not_supported && code != s::error_codes::too_costly) ||
          cs.error().message.empty()) {
        __builtin_trap();
      }
      return;
    }
    check_binds(cs->where.text, cs->where);
    std::string sort_text;
    for (const s::detail::sort_column& col : cs->sort) sort_text += col.expression + " ";
    check_binds(sort_text, cs->sort_binds);
    if (cs->sort.size() != q.sort.size()) __builtin_trap();
    if (std::getenv("HEARTH_FUZZ_DEBUG") != nullptr) {
      // HEARTH_FUZZ_DEBUG=1: the size of what was compiled.
      std::fprintf(stderr, "%s: %zu criteria, %zu bound values, %zu bytes of SQL\n", pg ? "postgresql" : "sqlite",
                   q.criteria.size(), cs->where.binds.size() + cs->sort_binds.binds.size(), cs->where.text.size());
    }
    if (!pg) run_sqlite(*cs);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)hearth::fuzz::registry();
  (void)database();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view type = types[data[0] & 31];
  const bool form = (data[0] & 32) != 0;
  const bool compartment = (data[0] & 128) != 0;
  const std::string_view query(reinterpret_cast<const char*>(data) + 1, size - 1);

  rest::param_list params;
  if (form) {
    if (!rest::parse_params(query, true, params)) return 0;
  } else {
    auto target = rest::split("/" + std::string(type) + "?" + std::string(query), "");
    if (!target) return 0;
    params = std::move(target->params);
  }

  std::optional<s::search_compartment> comp;
  if (compartment) comp = s::search_compartment{"Patient", "example"};
  const auto& defs = hearth::fuzz::registry();
  auto strict = s::parse_search(defs, type, params, s::search_handling::strict, comp);
  auto lenient = s::parse_search(defs, type, params, s::search_handling::lenient, comp);

  if (strict) {
    check_request(*strict);
    if (!lenient || !lenient->ignored.empty() || lenient->criteria.size() != strict->criteria.size() ||
        lenient->includes.size() != strict->includes.size() || lenient->sort.size() != strict->sort.size()) {
      __builtin_trap();
    }
  } else {
    if (!documented(strict.error())) __builtin_trap();
    if (strict.error().code != s::error_codes::not_supported &&
        (lenient || lenient.error().code != strict.error().code || lenient.error().message != strict.error().message)) {
      __builtin_trap();
    }
  }
  if (!lenient) {
    if (!documented(lenient.error())) __builtin_trap();
    return 0;
  }
  check_request(*lenient);
  for (const s::ignored_parameter& i : lenient->ignored) {
    if (i.reason.empty()) __builtin_trap();
  }
  compile(*lenient);
  return 0;
}
