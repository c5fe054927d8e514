#pragma once
// The search compiler: a search_request (already checked by parse_search)
// becomes SQL over the resource and index tables (migrations.cpp, version 2)
// with every value a bound parameter (SECURITY.md: "SQL is built with bound
// parameters only"). The text holds only constants of this compiler, aliases
// it numbers itself, and :bN placeholders.
//
// Shape: every criterion is `r.resource_pk IN (SELECT resource_pk FROM
// idx_... WHERE param IN (...) AND <value>)` (or `(r.type, r.id) IN (...)`
// for reverse chains and _list), never a correlated EXISTS: both planners can
// then start from the index of the most selective criterion instead of
// probing the index once per resource of the type.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/store/search_request.hpp>

namespace hearth::store::detail {

/// A bound value: integers (keys, instants in ms, pks), doubles, text.
using sql_value = std::variant<long long, double, std::string>;

/// SQL text with its bound values, named :<prefix>0, :<prefix>1, ... in
/// order; texts combined into one statement use different prefixes.
struct sql_text {
  std::string prefix = "b";
  std::string text;
  std::vector<sql_value> binds;
  /// Appends `v` and returns its placeholder.
  std::string bind(sql_value v);
};

/// What kind of value a sort key column holds (how to read it into a cursor).
enum class sort_value_kind : std::uint8_t { integer, real, text };

/// One _sort key as SQL: an expression over the resource alias `r`.
struct sort_column {
  std::string expression;
  sort_value_kind kind = sort_value_kind::integer;
  bool descending = false;
};

/// A search compiled: the WHERE condition over alias `r` (a row of
/// `resource`), and the _sort key expressions. Both refer to `binds`.
struct compiled_search {
  sql_text where;  ///< "r.type = :b0 AND r.deleted = 0 AND ..."
  std::vector<sort_column> sort;  ///< in _sort order; empty: by resource_pk
  sql_text sort_binds{"s", {}, {}};  ///< the values the sort expressions bind (:s0, ...)
};

/// Compiles `q`. `now_ms` is the time `ap` on dates measures its margin
/// from. `prefix` names the placeholders of `where` (:b0, ...): texts that
/// share one statement need different ones. Errors: "not-supported" for what
/// needs the terminology service (token :in, :not-in, :above, :below) and
/// modifiers the index cannot answer; "invalid" for a value the compiler
/// cannot read (parse_search checks them first, so only for requests built
/// by hand).
hearth::result<compiled_search> compile_search(const search_request& q, const fhir::definitions& defs,
                                               bool postgresql, long long now_ms, std::string prefix = "b");

/// One value of a criterion as a condition on the rows of its index table,
/// for search.cpp's index walk (rows of one parameter in resource_pk order).
struct index_rows {
  std::string table;      ///< "idx_token"
  std::string condition;  ///< "x.param IN (:d0) AND (x.system = :d1 AND x.code = :d2)"
};

/// The rows of the index table of `c` (a criterion of `q` on a parameter of
/// q.type itself, without a path) that hold value `v` of it, as alias `x`:
/// the same test the compiled search makes of them (compile_search), its
/// values bound in `out`. Errors: "not-supported" for a criterion with a
/// path, on _id, _lastUpdated, a composite or special parameter, or with
/// :missing; as compile_search otherwise.
hearth::result<index_rows> compile_index_rows(sql_text& out, const search_request& q, const search_criterion& c,
                                              const search_value& v, const std::string& x,
                                              const fhir::definitions& defs, bool postgresql, long long now_ms);

/// One condition of a search as the pks of the resources meeting it, from
/// the index tables alone (search.cpp's page of pks).
struct pk_set {
  sql_text pks;          ///< "SELECT x0.resource_pk FROM idx_token x0 WHERE ...", its own binds
  bool negated = false;  ///< the search wants the pks not in it (:not, :missing=true)
};

/// The conditions of `q` as pk_sets, each criterion's (date criteria on one
/// parameter together, as compile_search), placeholders named by `prefix`
/// and the set's position (:b0_0, :b1_0, ...). Index rows exist only for
/// current, not deleted resources, and their param names the type: a
/// resource in a set is one of q.type, and current. nullopt when `q` has a
/// compartment, _list or _sort, a criterion that is not of the form
/// `r.resource_pk [NOT] IN (subquery)` (_id, _lastUpdated, _has, composite),
/// or no positive one. Errors: as compile_search.
hearth::result<std::optional<std::vector<pk_set>>> compile_pk_sets(const search_request& q,
                                                                   const fhir::definitions& defs, bool postgresql,
                                                                   long long now_ms, const std::string& prefix);

/// The greatest text any index value can hold before it in byte order, as
/// the upper end of a prefix range: `prefix + text_ceiling` (U+10FFFF).
inline constexpr const char* text_ceiling = "\xF4\x8F\xBF\xBF";

}  // namespace hearth::store::detail
