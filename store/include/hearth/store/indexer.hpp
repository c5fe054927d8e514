#pragma once
// The search index extractor: turns a FHIR R4 resource (JSON) into the index
// entries (index_entry.hpp) of every SearchParameter that applies to its type
// — its own and those based on Resource and DomainResource (_id,
// _lastUpdated, _profile, _tag, _security, _source) — by evaluating each
// parameter's FHIRPath expression (FHIR R4 searchparameter.html, fhirpath.html)
// and converting each item by the parameter's type and the item's FHIR type.
// Pure: no database; the store writes what it returns.
//
// What is not indexed, by design (see unindexed()):
// - parameters without an expression: _text and _content (full-text search
//   over the narrative / the whole resource, not an index of values) and
//   _query (a named query);
// - `special` parameters: Location.near (a geographic distance search; the
//   query side needs Location.position's latitude and longitude, not a
//   value index);
// - a parameter whose expression (or a composite's component) does not
//   parse, or a composite whose component definition is unknown — none in
//   the R4 definitions.
//
// References and resolve(): R4 expressions such as
// `Observation.subject.where(resolve() is Patient)` need the type of the
// referenced resource. resolve() finds contained resources ("#id") and Bundle
// entries itself; for any other reference the indexer answers with a stub
// `{"resourceType": "<Type>", "id": "<id>"}` built from the reference text
// when it is relative ("Patient/1", with or without _history) or a RESTful
// absolute URL (".../Patient/1"), and with nothing otherwise. The type check
// thus comes from the reference text, as other servers do (HAPI FHIR does
// the same); nothing else of the referenced resource is visible.
//
// Problems: an expression that fails on one resource (a FHIRPath evaluation
// error), a malformed value, an item of a type a parameter kind cannot index,
// or a limit, is recorded in index_entries::problems with its parameter, and
// indexing goes on with the other parameters and values: one bad element
// must not make the whole resource unsearchable (nor unstorable). Only a
// value that is not a resource at all fails index().
//
// Thread-safety: built once, immutable afterwards; index() may be called from
// any number of threads at once. Lifetime: the definitions must outlive the
// indexer and every index_entries it returned (entries point at their
// SearchParameter), and must not be moved from while the indexer exists.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/index_entry.hpp>

namespace hearth::store {

/// Limits on what one resource may add to the index. Resources come from
/// clients; each limit bounds the work and the rows of one write.
struct indexer_options {
  /// Longest string entry, in bytes (exact and normalized each): a database
  /// index over longer keys is slow or refused (PostgreSQL's B-tree row limit
  /// is about 2.7 KB). Longer values are cut at a UTF-8 boundary and marked
  /// string_entry::truncated.
  std::size_t max_string_bytes = 2048;
  /// Most combinations one composite item may produce (the product of its
  /// components' value counts: a code with 3 codings and 1 value gives 3).
  std::size_t max_composite_combinations = 64;
  /// Most entries for one resource, all kinds together. The largest R4
  /// example (a Bundle of all search parameters) needs far fewer.
  std::size_t max_entries = 100'000;
  /// Most items one expression evaluation may produce (fhirpath::context::max_items).
  std::size_t max_items_per_evaluation = 100'000;
};

/// A search parameter the indexer leaves out, and why (for logs and the
/// CapabilityStatement).
struct unindexed_parameter {
  const fhir::search_parameter* param = nullptr;
  std::string reason;
};

class indexer {
 public:
  /// Compiles every search parameter expression of `defs` once (composite
  /// components as expressions relative to the composite's items). Never
  /// fails: a parameter that cannot be compiled is listed in unindexed().
  explicit indexer(const fhir::definitions& defs, indexer_options opts = {});

  indexer(indexer&&) noexcept;
  indexer& operator=(indexer&&) noexcept;
  ~indexer();

  /// The index entries of `resource`, a resource in FHIR JSON (an object with
  /// "resourceType"). Errors: "invalid" when it is not an object with a
  /// string resourceType, "not-supported" for a type that is not an R4
  /// resource type. Everything else is a problem inside the result.
  hearth::result<index_entries> index(const fhir::json_value& resource) const;
  /// The same for the parameters named in `codes` only (all when empty):
  /// what a caller needs of a few parameters costs those few evaluations.
  hearth::result<index_entries> index(const fhir::json_value& resource, std::span<const std::string_view> codes) const;

  /// The parameters index() evaluates for a resource type, sorted by code;
  /// empty for an unknown type.
  std::span<const fhir::search_parameter* const> parameters(std::string_view resource_type) const noexcept;

  /// The parameters never indexed, with the reason.
  std::span<const unindexed_parameter> unindexed() const noexcept;

  const indexer_options& options() const noexcept;

  /// The definitions it was built from.
  const fhir::definitions& definitions() const noexcept;

 private:
  struct impl;
  std::unique_ptr<const impl> impl_;
};

}  // namespace hearth::store
