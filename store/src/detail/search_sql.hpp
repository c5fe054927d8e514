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
/// from. Errors: "not-supported" for what needs the terminology service
/// (token :in, :not-in, :above, :below) and modifiers the index cannot
/// answer; "invalid" for a value the compiler cannot read (parse_search
/// checks them first, so only for requests built by hand).
hearth::result<compiled_search> compile_search(const search_request& q, const fhir::definitions& defs,
                                               bool postgresql, long long now_ms);

/// The greatest text any index value can hold before it in byte order, as
/// the upper end of a prefix range: `prefix + text_ceiling` (U+10FFFF).
inline constexpr const char* text_ceiling = "\xF4\x8F\xBF\xBF";

}  // namespace hearth::store::detail
