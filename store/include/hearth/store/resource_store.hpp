#pragma once
// hearth::store::resource_store — versioned FHIR resources: create, read,
// vread, update (and update-as-create), delete, history, and transactions of
// several writes, on either engine (R4 http.html).

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/history.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/reindex.hpp>
#include <hearth/store/resource_version.hpp>
#include <hearth/store/search_page.hpp>
#include <hearth/store/search_request.hpp>

namespace hearth::store {

/// Options of update.
struct update_options {
  /// If-Match: the version the client last saw. When set and the current
  /// version differs (or there is none), the update fails with "conflict"
  /// (checked inside the writing transaction; R4 http.html#concurrency).
  std::optional<std::int64_t> expected_version;
  /// Update-as-create (R4 http.html#update): when no resource has this id,
  /// create it with version 1. The REST layer decides from its capability
  /// statement; false makes an absent id "not-found".
  bool allow_create = true;
};

/// Options of delete.
struct delete_options {
  /// As update_options::expected_version.
  std::optional<std::int64_t> expected_version;
};

/// What a write did.
struct write_outcome {
  /// The version the resource is at now: the one written, or for an identical
  /// update the unchanged current one; for delete the tombstone. version_id
  /// is 0 when a delete found no resource at all.
  resource_version version;
  /// A resource came into existence (201 Created): create, update-as-create,
  /// or update of a deleted resource.
  bool created = false;
  /// A new version was written. False for an identical update (same content
  /// hash: R4 http.html#update leaves it to the server; Hearth keeps one
  /// version) and for deleting a deleted or absent resource (R4
  /// http.html#delete: not an error).
  bool changed = false;
};

/// What a conditional create found inside its transaction, and did.
struct conditional_create_outcome {
  /// The current resources matching the condition: 0 (the resource was
  /// written: `written`), 1 (nothing written: `match`), or 2 meaning more
  /// than one (nothing written).
  std::size_t matches = 0;
  /// The one match (matches == 1).
  std::optional<resource_version> match;
  /// The write (matches == 0).
  std::optional<write_outcome> written;
};

/// The labels in use on current resources (R4 resource-operations.html#meta,
/// system and type levels), as the search index holds them: the `_tag`,
/// `_security` (token) and `_profile` (uri) entries of every resource type.
/// The index keeps a coding's system and code (its display only folded for
/// :text), so codings come without display.
struct meta_summary {
  struct coding {
    std::string system;  ///< empty: the coding has no system
    std::string code;
    friend bool operator==(const coding&, const coding&) = default;
  };
  std::vector<std::string> profiles;  ///< meta.profile, distinct, sorted bytewise
  std::vector<coding> security;       ///< meta.security, distinct, sorted by (system, code)
  std::vector<coding> tags;           ///< meta.tag, likewise
};

/// A resource checked, hashed and indexed for a write to (type, id), made by
/// resource_store::prepare on any thread before the transaction that writes
/// it: the one writer thread then only writes (the CPU of checking and of
/// the FHIRPath indexing runs on the callers' threads, in parallel). Holds
/// the body with its id set; meta.versionId/lastUpdated are set at the
/// write. Move-only; written at most once.
class prepared_write {
 public:
  prepared_write(prepared_write&&) noexcept;
  prepared_write& operator=(prepared_write&&) noexcept;
  ~prepared_write();
  const std::string& type() const noexcept;
  const std::string& id() const noexcept;

  struct body;  ///< private (src/ only)
  explicit prepared_write(std::unique_ptr<body> b) noexcept;
  body& internals() noexcept { return *body_; }

 private:
  std::unique_ptr<body> body_;
};

/// The writes (and reads) of one transaction, handed to the function given to
/// resource_store::transaction. Everything it does commits together, or —
/// when the function returns an error, throws, or an operation hits a
/// database error — nothing does. Reads see the transaction's own writes.
///
/// Thread-safety and lifetime: valid only during that call, on the writer
/// thread that makes it; never store it, never hand it to another thread.
/// Do not block in the function (every other writer waits for it), and do not
/// call the resource_store's own write functions from it: they queue for the
/// writer thread that is running it, and would wait for ever.
class resource_tx {
 public:
  /// R4 create: the server assigns a new id (a random UUID), version 1.
  /// `resource` must be a JSON object whose resourceType is `type`; any id
  /// and meta.versionId/lastUpdated in it are replaced. Errors: "invalid";
  /// "not-supported" for a type that is not an R4 resource type (every
  /// write is indexed, and only R4 types have search parameters).
  hearth::result<write_outcome> create(std::string_view type, fhir::json_value resource);
  /// R4 update: a new version; see update_options. An id in `resource` must
  /// equal `id` (an absent one is set). Errors: "invalid", "conflict",
  /// "not-found" (absent and !allow_create).
  hearth::result<write_outcome> update(std::string_view type, std::string_view id,
                                       fhir::json_value resource, const update_options& opts = {});
  /// update() of a body prepared before the transaction (prepared_write):
  /// the same rules and errors, without the check and index work. An
  /// already-written (moved-from) one is "invalid".
  hearth::result<write_outcome> update(prepared_write&& write, const update_options& opts = {});
  /// R4 delete: a tombstone version; deleting a deleted or absent resource
  /// succeeds without writing (changed == false). Errors: "invalid", "conflict".
  hearth::result<write_outcome> remove(std::string_view type, std::string_view id,
                                       const delete_options& opts = {});
  /// The current version; errors "not-found", "deleted".
  hearth::result<resource_version> read(std::string_view type, std::string_view id);
  /// The ids of the current (not deleted) resources of `type` whose
  /// `identifier` search parameter has exactly this system and value (token
  /// matching: case-sensitive, search.html#token; an empty `system` matches
  /// identifiers without one, as `identifier=|value`), sorted, at most
  /// `limit`. Sees the transaction's own writes: the lookup of a conditional
  /// update (R4 http.html#cond-update), bundle_apply.hpp.
  ///
  /// Lookup-then-write inside one transaction cannot race with this
  /// process's other writes: they all run on the one writer thread. On
  /// PostgreSQL shared by several processes, the lookup first takes a
  /// transaction-scoped advisory lock keyed by (type, system, value), held
  /// until commit or rollback, so that two processes cannot both find
  /// nothing and both create. Errors: "invalid" (a bad type, or a type
  /// without an `identifier` token parameter), "exception".
  hearth::result<std::vector<std::string>> find_by_identifier(std::string_view type, std::string_view system,
                                                              std::string_view value, std::size_t limit = 16);
  /// The current (not deleted) resources of `query.type` matching `query`
  /// (criteria, compartment, _list; _sort, _count, includes, cursor and
  /// totals are ignored), in the store's default order, at most `limit`:
  /// the search of a conditional write (R4 http.html#ccreate,
  /// #cond-update), run in this transaction, so it sees the transaction's
  /// own writes and no other write lands between it and the write it
  /// decides. On PostgreSQL it first takes a transaction-scoped advisory
  /// lock keyed by the type (held until commit or rollback): the
  /// conditional writes of one type by processes sharing the database take
  /// turns. `query` must come from parse_search() over this store's
  /// definitions. Errors: those of resource_store::search's compiler
  /// ("not-supported", "invalid"), "exception".
  hearth::result<std::vector<resource_version>> find_matches(const search_request& query, std::size_t limit = 2);

  struct state;  ///< private (src/ only)
  explicit resource_tx(state& s) noexcept : s_(&s) {}
  /// The transaction's state, for the store's own components (src/ only: the
  /// type is complete nowhere else), e.g. the audit log appending the
  /// AuditEvent of a write in its transaction (audit_log.hpp).
  state& internals() noexcept { return *s_; }

 private:
  friend class resource_store;  // writes bodies it prepared off the writer thread
  state* s_;
};

/// Work run inside the transaction of a single write (create, update,
/// remove), after the write succeeded and before the commit: what must be
/// committed with the write or not at all (the AuditEvent that records it,
/// SECURITY.md "committed in the same transaction as the change it
/// records"). An error (or a throw) rolls the write back and is the write's
/// error. Runs on the writer thread, under resource_tx's rules.
using write_hook = std::function<hearth::result<void>(resource_tx&, const write_outcome&)>;

/// Resources with versions and history over one database.
///
/// Every write goes through the database's writer (group commit): the call
/// returns, or its future becomes ready, only once the transaction holding the
/// write has committed, so an answered write is durable (SQLite
/// synchronous=FULL; PostgreSQL synchronous_commit as configured on the
/// server). A write that fails (a version conflict, invalid input) is rolled
/// back alone, through a savepoint: the writes grouped with it still commit.
/// Reads run on the reader pool and see every answered write.
///
/// Every version written is indexed for search in the same transaction (the
/// tables of index_entry.hpp, through `ix`); a tombstone removes the rows.
///
/// Thread-safety: all member functions may be called concurrently from any
/// number of threads. Lifetime: the database and the indexer (and the
/// definitions behind it) must outlive the store; a
/// transaction function runs before transaction() returns (or its future is
/// ready), so it may capture the caller's locals by reference.
class resource_store {
 public:
  resource_store(database& db, const indexer& ix);

  /// One-write transactions; see resource_tx. `hook`, when set, runs in the
  /// same transaction after the write (see write_hook).
  hearth::result<write_outcome> create(std::string_view type, fhir::json_value resource,
                                       const write_hook& hook = {});
  hearth::result<write_outcome> update(std::string_view type, std::string_view id,
                                       fhir::json_value resource, const update_options& opts = {},
                                       const write_hook& hook = {});
  hearth::result<write_outcome> remove(std::string_view type, std::string_view id,
                                       const delete_options& opts = {}, const write_hook& hook = {});

  /// Checks, hashes and indexes `resource` for a write to (type, id) inside
  /// a later transaction (resource_tx::update(prepared_write&&)). An id in
  /// `resource` must equal `id` (an absent one is set). Errors: "invalid",
  /// "not-supported" (as create). Any thread; touches no database.
  hearth::result<prepared_write> prepare(std::string_view type, std::string_view id,
                                         fhir::json_value resource) const;
  /// resource_tx::find_by_identifier on the reader pool, outside any write
  /// transaction: what a transaction is likely to find (a planning guess
  /// that the transaction must check again; another write may land in
  /// between). Takes no lock. Errors: as that function.
  hearth::result<std::vector<std::string>> find_by_identifier(std::string_view type, std::string_view system,
                                                              std::string_view value, std::size_t limit = 16) const;

  /// R4 conditional create (http.html#ccreate), and the create of a
  /// conditional update that matches nothing (#cond-update): in one
  /// transaction, the search `condition` (resource_tx::find_matches) and,
  /// when it matches nothing, the write of `write` at its id (made by
  /// prepare(); for a create, at a new_id()), then `hook`, as create. A
  /// current resource at that id is not overwritten: "conflict" (it does not
  /// match the condition: R4 http.html#cond-update "409 Conflict"); a deleted
  /// one is brought back (created). One match, or several, writes nothing and
  /// runs no hook: the outcome says which, and `write` stays unwritten. Two
  /// conditional creates with the same condition, from this process or
  /// (PostgreSQL) from others sharing the database, therefore never both
  /// create. Errors: "invalid" (`write` of another type than the
  /// condition's, or written already), those of find_matches, "conflict",
  /// the hook's, "exception".
  hearth::result<conditional_create_outcome> conditional_create(const search_request& condition,
                                                                prepared_write& write, const write_hook& hook = {});

  /// R4 $meta at the system and type levels (resource-operations.html#meta):
  /// every distinct profile, security label and tag on the current, not
  /// deleted resources of `types` (read from the search index, on the
  /// reader pool). An empty list finds nothing. Errors: "invalid" (not a
  /// resource type of this store's definitions), "too-costly" (more than
  /// max_meta_values distinct values in all: the answer is one resource, and
  /// is not paged), "exception".
  hearth::result<meta_summary> meta_in_use(const std::vector<std::string>& types) const;
  /// Most distinct values (profiles, security labels and tags together)
  /// meta_in_use answers with: bounds the size of one answer.
  static constexpr std::size_t max_meta_values = 10000;

  /// R4 read: the current version. Errors: "not-found", "deleted" (410),
  /// "invalid" (bad type or id), "exception".
  hearth::result<resource_version> read(std::string_view type, std::string_view id) const;
  /// R4 vread: any version, a tombstone included (deleted == true; the REST
  /// layer answers 410 for it). Errors: "not-found", "invalid", "exception".
  hearth::result<resource_version> vread(std::string_view type, std::string_view id,
                                         std::int64_t version_id) const;
  /// R4 history (instance, type or system), newest first, one page.
  /// Errors: "not-found" (instance history of an unknown resource), "invalid"
  /// (bad cursor, type or id, _at with one bound), "too-costly" (count above
  /// history_query::max_count), "exception".
  hearth::result<history_page> history(const history_query& query) const;

  /// R4 search (search.html): one page of the resources of `query.type`
  /// matching every criterion, with its includes; see search_request.hpp and
  /// search_page.hpp. Runs on the reader pool; sees every answered write.
  /// `query` must come from parse_search() over the definitions this store's
  /// indexer was built from. Errors: "invalid" (a cursor of another search,
  /// or a malformed one), "not-supported" (modifiers that need the
  /// terminology service: token :in, :not-in, :above, :below; reference
  /// :above/:below), "too-costly" (_include/_revinclude reaching more than
  /// max_included resources), "exception".
  hearth::result<search_page> search(const search_request& query) const;
  /// Most resources _include and _revinclude add to one page, all rounds
  /// together: bounds the memory and time of one request.
  static constexpr std::size_t max_included = 5000;

  /// Brings the search index up to date with this store's indexer (see
  /// reindex.hpp): nothing when the database's index fingerprint matches;
  /// otherwise every current resource is reindexed in batches, off the
  /// writer thread except for the rows' rewrite, each batch committed with
  /// the job's position. Call it at start-up (it may run beside other work).
  /// Errors: "exception" (database), a body that cannot be read.
  hearth::result<reindex_report> reindex(const reindex_options& opts = {});

  /// Runs `fn` in one transaction on the writer thread and returns when it
  /// has committed (its result) or been rolled back (the error: fn's own, or
  /// "exception" when it threw or the commit failed).
  hearth::result<void> transaction(const std::function<hearth::result<void>(resource_tx&)>& fn);
  /// The same, answering through a future; `fn` is kept until it has run.
  std::future<hearth::result<void>> transaction_async(std::function<hearth::result<void>(resource_tx&)> fn);

  /// A new logical id as create assigns: a random (version 4) UUID, 36
  /// characters of the R4 id alphabet, revealing neither order nor count. For
  /// callers that must know an id before they write (a transaction Bundle's
  /// creates, referred to by the other entries: R4 http.html#trules), then
  /// write it with update (update-as-create).
  static std::string new_id();

  /// A new id that sorts by time: a version 7 UUID (RFC 9562 5.7: the
  /// milliseconds of `at`, then 74 random bits). For records written in time
  /// order and never meant to hide it, such as AuditEvents (whose `recorded`
  /// says as much): a unique index on them grows at its right edge instead
  /// of touching a random page for every insert.
  static std::string new_time_ordered_id(instant at);

  /// The clock that stamps meta.lastUpdated (system clock by default). Set it
  /// before the first write; tests use it to place versions in time. Hearth
  /// never lets lastUpdated go backwards: a version is stamped no earlier than
  /// the previous write.
  void set_clock(std::function<instant()> clock);

 private:
  database* db_;
  const indexer* indexer_;
  std::function<instant()> clock_;
};

}  // namespace hearth::store
