#pragma once
// The Bundles the FHIR REST API answers with: searchset (R4 search.html,
// bundle.html#searchset) and history (R4 http.html#history). Private to
// fhir_api. Pure; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/resource_version.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_format.hpp"
#include "rest_target.hpp"

namespace hearth::server::rest {

/// One Bundle.entry. The resource is either a stored version (its JSON text
/// spliced in as is for compact JSON) or a tree built here (the
/// OperationOutcome of a searchset); neither for a deleted version.
struct bundle_entry {
  /// Bundle.entry.fullUrl; empty: none (an outcome entry).
  std::string full_url;
  /// The stored version, or nullptr. Not owned: it must outlive write_bundle.
  const store::resource_version* stored = nullptr;
  /// A resource built in memory, used when `stored` is null; null: none.
  fhir::json_value built;
  /// The members after `resource` (search, request, response), in order:
  /// an object, possibly empty.
  fhir::json_value tail = fhir::json_value::object();
};

/// A Bundle to write.
struct bundle {
  std::string type;  ///< "searchset", "history"
  std::optional<std::int64_t> total;
  /// Bundle.link: relation, url.
  std::vector<std::pair<std::string, std::string>> links;
  std::vector<bundle_entry> entries;
};

/// Writes `b` in `fmt`. Compact JSON is streamed with the stored resources
/// copied in without being parsed again (DESIGN.md "returned without
/// re-serialising where possible"); XML and pretty JSON go through a tree.
/// Errors: a stored body that does not parse, or XML that cannot be written
/// (the caller answers 500: stored resources were checked when written).
hearth::result<std::string> write_bundle(const bundle& b, const response_format& fmt, const fhir::definitions& defs);

// Shared by the interactions that answer with a Bundle (search, history,
// Patient/$everything).

/// `base/Type/id`: Bundle.entry.fullUrl (R4 bundle.html#bundle-unique).
std::string entry_full_url(std::string_view base_url, const store::resource_version& v);

/// The tail of a searchset entry: {"search":{"mode":mode}} (R4
/// bundle.html#searchset: match, include, outcome).
fhir::json_value search_tail(std::string_view mode);

/// The OperationOutcome entry of a searchset listing what lenient handling
/// left out (search.html#errors: "the server SHOULD return ... an
/// OperationOutcome ... with search.mode = outcome").
bundle_entry outcome_entry(const std::vector<store::ignored_parameter>& ignored);

/// Adds the self link and, when `next_cursor` is not empty, the next link
/// (R4 search.html#paging, http.html#paging): opts.base_url + `path` with
/// the parameters `used`; next has `_cursor=next_cursor`, sealed with
/// cursor_key(opts) (rest_cursor.hpp), in place of any earlier _cursor.
void add_page_links(bundle& b, const api_options& opts, const std::string& path, const param_list& used,
                    const std::string& next_cursor);

/// A 200 carrying `b` in `fmt`; the 500 of internal_error (with
/// `request_id`) when it cannot be written.
http_response bundle_response(const bundle& b, const response_format& fmt, const fhir::definitions& defs,
                              std::string_view request_id);

}  // namespace hearth::server::rest
