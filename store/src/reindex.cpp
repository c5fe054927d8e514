#include <hearth/store/reindex.hpp>

#include <soci/soci.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_store.hpp>

#include "detail/body_codec.hpp"
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/param_key.hpp"

namespace hearth::store {
namespace {

using sql_int = long long;

/// The index format: bump it when what the index writer stores changes
/// (tables, columns, how an entry becomes a row), so databases reindex.
constexpr std::string_view index_format = "hearth-index-1";

/// next_pk of a finished job.
constexpr sql_int job_done = -1;

/// One resource of a batch, indexed off the writer thread.
struct batch_item {
  sql_int pk = 0;
  sql_int version = 0;
  std::string type;
  index_entries entries;
};

}  // namespace

std::string index_fingerprint(const indexer& ix) {
  detail::fnv1a h;
  auto mix = [&h](std::string_view s) { h.field(s); };
  mix(index_format);
  const indexer_options& o = ix.options();
  for (const std::size_t n : {o.max_string_bytes, o.max_composite_combinations, o.max_entries,
                              o.max_items_per_evaluation}) {
    mix(std::to_string(n));
  }
  for (const fhir::search_parameter& p : ix.definitions().all_search_parameters()) {
    mix(p.url);
    mix(to_string(p.type));
    mix(p.expression);
    for (const auto b : p.base) mix(b);
    for (const auto& c : p.components) {
      mix(c.definition);
      mix(c.expression);
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h.value));
  return buf;
}

hearth::result<reindex_report> resource_store::reindex(const reindex_options& opts) {
  database::impl& impl = db_->internals();
  const bool pg = impl.config.kind == engine::postgresql;
  const std::string fp = index_fingerprint(*indexer_);
  const std::size_t batch_size = std::max<std::size_t>(opts.batch_size, 1);
  reindex_report report;
  soci::session sql(impl.readers);
  try {
    // Where the index stands: no row (a database from before the index, or
    // never reindexed) counts as an unknown fingerprint.
    std::string stored_fp;
    sql_int next = 0;
    soci::indicator fp_ind = soci::i_null;
    sql << "SELECT fingerprint, next_pk FROM index_job", soci::into(stored_fp, fp_ind), soci::into(next);
    const bool have_row = sql.got_data() && fp_ind == soci::i_ok;
    if (have_row && stored_fp == fp && next == job_done) {
      report.was_up_to_date = report.complete = true;
      return report;
    }
    report.resumed = have_row && stored_fp == fp;
    if (!report.resumed) {
      next = 0;
      const std::string started =
          format_instant(std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
      auto r = impl.writer
                   ->submit([&](soci::session& w) -> hearth::result<void> {
                     w << "DELETE FROM index_job";
                     w << "INSERT INTO index_job (fingerprint, next_pk, started_at) VALUES (:fp, 0, :t)",
                         soci::use(fp), soci::use(started);
                     return {};
                   })
                   .get();
      if (!r) return hearth::unexpected(std::move(r).error());
    }
    const std::string select = std::string("SELECT resource_pk, type, version_id, ") +
                               (pg ? "encode(body, 'hex')" : "body") +
                               " FROM resource WHERE resource_pk >= :next AND deleted = 0"
                               " ORDER BY resource_pk LIMIT :n";
    for (std::size_t batches = 0;; ++batches) {
      if (opts.max_batches != 0 && batches == opts.max_batches) return report;  // resumable from `next`
      // Read and index the batch here, on the caller's thread.
      std::vector<batch_item> items;
      {
        sql_int pk = 0, version = 0;
        std::string type, body;
        const sql_int limit = static_cast<sql_int>(batch_size);
        soci::statement st = (sql.prepare << select, soci::into(pk), soci::into(type), soci::into(version),
                              soci::into(body), soci::use(next, "next"), soci::use(limit, "n"));
        st.execute();
        while (st.fetch()) {
          auto json_text = detail::body_from_column(pg, body);
          if (!json_text) return hearth::unexpected(std::move(json_text).error());
          auto json = fhir::parse_json(*json_text);
          if (!json) return hearth::unexpected(std::move(json).error());
          auto entries = indexer_->index(*json);
          if (!entries) return hearth::unexpected(std::move(entries).error());
          items.push_back(batch_item{pk, version, type, std::move(*entries)});
        }
      }
      const bool last_batch = items.size() < batch_size;
      const sql_int next_after = last_batch ? job_done : items.back().pk + 1;
      std::uint64_t rewritten = 0;
      // Rewrite the rows on the writer, with the position, in one transaction.
      // A resource changed since it was read already has rows from this
      // indexer (written with its new version): it is left as it is.
      auto r = impl.writer
                   ->submit([&](soci::session& w) -> hearth::result<void> {
                     detail::index_writer& iw = detail::index_writer_of(impl, w);
                     for (const batch_item& it : items) {
                       sql_int version = 0;
                       int deleted = 0;
                       w << "SELECT version_id, deleted FROM resource WHERE resource_pk = :pk", soci::into(version),
                           soci::into(deleted), soci::use(it.pk);
                       if (!w.got_data() || version != it.version || deleted != 0) continue;
                       iw.remove(it.pk);
                       iw.add(it.pk, it.type, it.entries);
                       ++rewritten;
                     }
                     w << "UPDATE index_job SET next_pk = :next WHERE fingerprint = :fp", soci::use(next_after),
                         soci::use(fp);
                     return {};
                   })
                   .get();
      if (!r) return hearth::unexpected(std::move(r).error());
      report.reindexed += rewritten;
      if (last_batch) {
        report.complete = true;
        return report;
      }
      next = next_after;
    }
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("reindex", e));
  }
}

}  // namespace hearth::store
