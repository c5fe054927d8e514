#include "detail/index_writer.hpp"

#include <soci/soci.h>

#include <string>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "detail/date_span.hpp"
#include "detail/param_key.hpp"
#include "detail/prepared.hpp"

namespace hearth::store::detail {
namespace {

using sql_int = long long;

/// Parameters served from the resource table, not the index.
bool served_by_resource_table(const fhir::search_parameter* p) {
  return p->code == "_id" || p->code == "_lastUpdated";
}

}  // namespace

struct index_writer::impl {
  explicit impl(soci::session& s) : sql(s) {}

  soci::session& sql;

  // One row of each table; the statements below are bound to these fields
  // (their addresses never change), set and executed row by row.
  sql_int pk = 0, key = 0;
  int grp = 0;
  std::string normalized, exact;                                   // idx_string
  std::string system, code, text, type_system, type_code;          // idx_token (system, code: idx_quantity too)
  sql_int low_ms = 0, high_ms = 0;                                 // idx_date
  int span = 0, multi = 0;
  double value = 0, low = 0, high = 0;                             // idx_number, idx_quantity
  std::string unit, canonical_unit;                                // idx_quantity
  double canonical_value = 0, canonical_low = 0, canonical_high = 0;
  int kind = 0;                                                    // idx_reference
  std::string target_type, target_id, target_version, url, identifier_system, identifier_value;
  std::string uri;                                                 // idx_uri

  std::unique_ptr<soci::statement> insert_string, insert_token, insert_date, insert_number, insert_quantity,
      insert_reference, insert_uri;
  std::vector<std::unique_ptr<soci::statement>> deletes;

  void prepare();
  void put(const string_entry& e);
  void put(const token_entry& e);
  void put(const date_entry& e);
  void put(const number_entry& e);
  void put(const quantity_entry& e);
  void put(const reference_entry& e);
  void put(const uri_entry& e);
};

void index_writer::impl::prepare() {
  using soci::use;
  insert_string = prepare_bound(sql,
                                 "INSERT INTO idx_string (resource_pk, param, grp, normalized, exact)"
                                 " VALUES (:pk, :param, :grp, :normalized, :exact)",
                                 use(pk), use(key), use(grp), use(normalized), use(exact));
  insert_token = prepare_bound(sql,
                                "INSERT INTO idx_token (resource_pk, param, grp, system, code, text, type_system,"
                                " type_code) VALUES (:pk, :param, :grp, :system, :code, :text, :type_system, :type_code)",
                                use(pk), use(key), use(grp), use(system), use(code), use(text), use(type_system), use(type_code));
  insert_date = prepare_bound(sql,
                               "INSERT INTO idx_date (resource_pk, param, grp, low, high, span, multi)"
                               " VALUES (:pk, :param, :grp, :low, :high, :span, :multi)",
                               use(pk), use(key), use(grp), use(low_ms), use(high_ms), use(span), use(multi));
  insert_number = prepare_bound(sql,
                                 "INSERT INTO idx_number (resource_pk, param, grp, value, low, high)"
                                 " VALUES (:pk, :param, :grp, :value, :low, :high)",
                                 use(pk), use(key), use(grp), use(value), use(low), use(high));
  insert_quantity = prepare_bound(
      sql,
      "INSERT INTO idx_quantity (resource_pk, param, grp, value, low, high, system, code, unit, canonical_unit,"
      " canonical_value, canonical_low, canonical_high) VALUES (:pk, :param, :grp, :value, :low, :high, :system,"
      " :code, :unit, :canonical_unit, :canonical_value, :canonical_low, :canonical_high)",
      use(pk), use(key), use(grp), use(value), use(low), use(high), use(system), use(code), use(unit),
      use(canonical_unit), use(canonical_value), use(canonical_low), use(canonical_high));
  insert_reference = prepare_bound(
      sql,
      "INSERT INTO idx_reference (resource_pk, param, grp, kind, target_type, target_id, target_version, url,"
      " identifier_system, identifier_value) VALUES (:pk, :param, :grp, :kind, :target_type, :target_id,"
      " :target_version, :url, :identifier_system, :identifier_value)",
      use(pk), use(key), use(grp), use(kind), use(target_type), use(target_id), use(target_version), use(url),
      use(identifier_system), use(identifier_value));
  insert_uri = prepare_bound(sql,
                              "INSERT INTO idx_uri (resource_pk, param, grp, uri) VALUES (:pk, :param, :grp, :uri)",
                              use(pk), use(key), use(grp), use(uri));
  for (const char* table :
       {"idx_string", "idx_token", "idx_date", "idx_number", "idx_quantity", "idx_reference", "idx_uri"}) {
    // Table names are constants of this file.
    deletes.push_back(prepare_bound(sql, (std::string("DELETE FROM ") + table + " WHERE resource_pk = :pk").c_str(),
                                     use(pk)));
  }
}

void index_writer::impl::put(const string_entry& e) {
  normalized = e.normalized;
  exact = e.exact;
  insert_string->execute(true);
}

void index_writer::impl::put(const token_entry& e) {
  system = e.system;
  code = e.code;
  text = e.text;
  type_system = e.type_system;
  type_code = e.type_code;
  insert_token->execute(true);
}

void index_writer::impl::put(const date_entry& e) {
  low_ms = e.range.low;
  high_ms = e.range.high;
  span = date_span_class(e.range.low, e.range.high);
  insert_date->execute(true);
}

void index_writer::impl::put(const number_entry& e) {
  value = e.value.value;
  low = e.value.low;
  high = e.value.high;
  insert_number->execute(true);
}

void index_writer::impl::put(const quantity_entry& e) {
  value = e.value.value;
  low = e.value.low;
  high = e.value.high;
  system = e.system;
  code = e.code;
  unit = e.unit;
  canonical_unit = e.canonical.unit;
  canonical_value = e.canonical.value.value;
  canonical_low = e.canonical.value.low;
  canonical_high = e.canonical.value.high;
  insert_quantity->execute(true);
}

void index_writer::impl::put(const reference_entry& e) {
  kind = static_cast<int>(e.target.kind);
  target_type = e.target.type;
  target_id = e.target.id;
  target_version = e.target.version;
  url = e.target.url;
  identifier_system = e.identifier_system;
  identifier_value = e.identifier_value;
  insert_reference->execute(true);
}

void index_writer::impl::put(const uri_entry& e) {
  uri = e.uri;
  insert_uri->execute(true);
}

index_writer::index_writer(soci::session& sql) : impl_(std::make_unique<impl>(sql)) { impl_->prepare(); }

index_writer::~index_writer() = default;

void index_writer::remove(long long pk) {
  impl_->pk = pk;
  for (auto& st : impl_->deletes) st->execute(true);
}

void index_writer::add(long long pk, std::string_view type, const index_entries& entries) {
  impl& m = *impl_;
  m.pk = pk;
  m.grp = 0;
  auto plain = [&](const auto& list) {
    for (const auto& e : list) {
      if (served_by_resource_table(e.param)) continue;
      m.key = param_key(type, e.param->code);
      m.put(e);
    }
  };
  plain(entries.strings);
  plain(entries.tokens);
  // idx_date.multi (migration 3): whether the resource has other values of
  // the same parameter.
  std::unordered_map<const fhir::search_parameter*, int> date_count;
  for (const date_entry& e : entries.dates) ++date_count[e.param];
  for (const date_entry& e : entries.dates) {
    if (served_by_resource_table(e.param)) continue;
    m.key = param_key(type, e.param->code);
    m.multi = date_count[e.param] > 1 ? 1 : 0;
    m.put(e);
  }
  m.multi = 0;  // composite components: never tested as several values
  plain(entries.numbers);
  plain(entries.quantities);
  plain(entries.references);
  plain(entries.uris);
  int grp = 0;
  for (const composite_entry& c : entries.composites) {
    m.grp = ++grp;
    for (std::size_t i = 0; i < c.components.size(); ++i) {
      m.key = component_key(type, c.param->code, i);
      std::visit([&](const auto& e) { m.put(e); }, c.components[i]);
    }
  }
}

}  // namespace hearth::store::detail
