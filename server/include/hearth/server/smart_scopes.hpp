#pragma once
// hearth::server::auth — SMART on FHIR scopes: parsed from the OAuth `scope`
// string, checked against a FHIR REST access, serialised back, compared for
// narrowing. Pure: no I/O, no clock, no global state.
//
// SMART App Launch 2.2 scopes-and-launch-context:
//   resource scope  (patient|user|system) "/" (Type|"*") "." permissions ["?" query]
//   permissions     v2: an in-order subset of "cruds", each letter at most once;
//                   v1: "read" (= rs), "write" (= cud), "*" (= cruds)
//   query           name=value("&"name=value)*, v2 only ("finer-grained
//                   resource constraints using search parameters")
//   context scopes  launch, launch/patient, launch/encounter, openid, fhirUser,
//                   profile, offline_access, online_access
// Scope tokens are separated by spaces (RFC 6749 3.3).
//
// Everything here is a plain value type: copyable, no thread-safety concerns
// beyond those of a std::vector; nothing keeps a pointer into its input.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::server::auth {

/// The part before "/": whose data a resource scope reaches.
/// SMART App Launch 2.2 scopes-and-launch-context "Scopes for requesting FHIR resources".
enum class scope_level : std::uint8_t {
  patient,  ///< the patient in context (compartment); needs a `patient` launch context
  user,     ///< whatever the user in context may access
  system,   ///< backend services, no user (SMART Backend Services)
};

/// "patient", "user", "system".
std::string_view to_string(scope_level level) noexcept;

/// Permission letters as bits; a scope holds any combination. Write does not
/// imply read (SMART App Launch 2.2 "scope requirements").
using permission_bits = std::uint8_t;
namespace permission {
inline constexpr permission_bits create = 1U << 0;  ///< c: create
inline constexpr permission_bits read = 1U << 1;    ///< r: read, vread, instance history
inline constexpr permission_bits update = 1U << 2;  ///< u: update, update-as-create, patch
inline constexpr permission_bits remove = 1U << 3;  ///< d: delete
inline constexpr permission_bits search = 1U << 4;  ///< s: type/system search and history
inline constexpr permission_bits all = 0x1F;        ///< cruds (v1 `*`)
}  // namespace permission

/// The letters in canonical order: permission::read | permission::search -> "rs".
std::string permission_letters(permission_bits bits);

/// One `name=value` of a granular scope's query, as written (not
/// percent-decoded: the search layer parses it as it parses a URL query).
struct query_param {
  std::string name;   ///< a search parameter name, possibly with a modifier ("code:in")
  std::string value;  ///< non-empty
  friend bool operator==(const query_param&, const query_param&) = default;
  friend auto operator<=>(const query_param&, const query_param&) = default;
};

/// One resource scope, normalised to v2 meaning.
struct resource_scope {
  scope_level level = scope_level::patient;
  /// An R4 resource type, or "*" for every type.
  std::string resource_type;
  /// Never 0.
  permission_bits permissions = 0;
  /// Granular filter: every parameter must match (FHIR search: parameters
  /// are ANDed). Empty: no filter. Sorted by name, then value.
  std::vector<query_param> query;
  friend bool operator==(const resource_scope&, const resource_scope&) = default;
};

/// The non-resource scopes, as bits of scope_set::context.
/// SMART App Launch 2.2 "Scopes for requesting context data" / "identity data".
using context_bits = std::uint16_t;
namespace context_scope {
inline constexpr context_bits launch = 1U << 0;            ///< `launch` (EHR launch)
inline constexpr context_bits launch_patient = 1U << 1;    ///< `launch/patient`
inline constexpr context_bits launch_encounter = 1U << 2;  ///< `launch/encounter`
inline constexpr context_bits openid = 1U << 3;            ///< `openid`
inline constexpr context_bits fhir_user = 1U << 4;         ///< `fhirUser`
inline constexpr context_bits profile = 1U << 5;           ///< `profile` (SMART v1 identity scope)
inline constexpr context_bits offline_access = 1U << 6;    ///< `offline_access`
inline constexpr context_bits online_access = 1U << 7;     ///< `online_access`
/// `hearth/admin`: Hearth's own administration scope (the client
/// registration endpoint, auth_server.hpp). Not a SMART scope: its prefix is
/// no SMART level, so it can never be read as a resource scope. Granted by
/// the token endpoint only to clients allowed it, through client_credentials.
inline constexpr context_bits hearth_admin = 1U << 8;
}  // namespace context_scope

/// A parsed scope string. Normalised: resource scopes with the same level,
/// type and query are merged into one (their permissions ORed), and the list
/// is sorted (level, type, query), so equal grants compare equal.
struct scope_set {
  std::vector<resource_scope> resources;
  context_bits context = 0;
  bool has(context_bits c) const noexcept { return (context & c) == c; }
  friend bool operator==(const scope_set&, const scope_set&) = default;
};

/// Bounds on untrusted scope strings, each with its reason. The defaults are
/// what the token endpoint uses.
struct scope_limits {
  /// The whole string. An app asks for a few dozen scopes of a few dozen
  /// bytes; 8 KiB bounds the work done before any scope is looked at.
  std::size_t max_input_bytes = 8 * 1024;
  /// Scope tokens. decide() walks every resource scope on every request, so
  /// its cost is bounded by this; one scope per R4 resource type (~145) and
  /// level would already be unusual.
  std::size_t max_scopes = 256;
  /// One scope token. The longest R4 type name is about 30 characters; the
  /// rest is a granular query, bounded below.
  std::size_t max_scope_bytes = 1024;
  /// The query part after "?". Each granular parameter becomes a search
  /// filter on every matching read and search; a handful of system|code
  /// pairs fit in 512 bytes.
  std::size_t max_query_bytes = 512;
  /// Parameters in one query, for the same reason.
  std::size_t max_query_params = 8;
};

/// What parse_scopes does with a scope it cannot parse or does not know.
enum class parse_mode : std::uint8_t {
  strict,   ///< an error: "malformed scopes rejected" (token endpoint, RFC 6749 5.2 invalid_scope)
  lenient,  ///< the scope is dropped and its index reported
};

/// What parse_scopes returns.
struct parse_outcome {
  scope_set scopes;
  /// Lenient mode: the 0-based indexes (among the space-separated tokens) of
  /// the scopes dropped, ascending. Always empty in strict mode.
  std::vector<std::size_t> dropped;
};

/// True when the name is a concrete R4 resource type. fhir::definitions
/// ::is_resource_type fits: [&](std::string_view t) { return defs.is_resource_type(t); }.
using resource_type_predicate = std::function<bool(std::string_view)>;

/// Parses a space-separated scope string. Runs of spaces separate as one
/// space does; an empty string is an empty scope set (grants nothing).
///
/// Errors (code "invalid_scope", RFC 6749 5.2; the message never holds
/// input text; location "scope[i]" and offset = the token's byte offset
/// when one scope is at fault):
/// - in both modes: the string beyond max_input_bytes, more than max_scopes
///   tokens;
/// - strict mode only: any token that is malformed, too long, of an unknown
///   resource type, or not a scope this server knows.
hearth::result<parse_outcome, hearth::error> parse_scopes(std::string_view text, parse_mode mode,
                                                          const resource_type_predicate& is_resource_type,
                                                          const scope_limits& limits = {});

/// The normalised v2 string: resource scopes in scope_set order, then the
/// context scopes in the order of the context_scope bits. Parsing it again
/// gives an equal scope_set.
std::string to_string(const scope_set& scopes);

/// Whether every access `requested` grants is also granted by `granted`, for
/// a refresh or a token exchange ("a refresh may narrow scope, never widen",
/// RFC 6749 6). Conservative: a resource scope is covered, letter by letter,
/// by a granted scope of the same level, of the same type or "*", whose
/// query parameters are all among the requested scope's (an added parameter
/// narrows). Context scopes must all be granted.
bool is_subset(const scope_set& requested, const scope_set& granted);

// --- decisions -------------------------------------------------------------

/// The FHIR REST interactions (R4 http.html), as the decision sees them.
enum class interaction : std::uint8_t {
  read,
  vread,
  history_instance,
  search_type,
  history_type,
  search_system,
  history_system,
  create,
  update,
  patch,
  remove,     ///< delete
  operation,  ///< an extended operation: the caller says which permission it needs
};

/// "read", "vread", "history-instance", ..., "delete", "operation".
std::string_view to_string(interaction i) noexcept;

/// The permission letter an interaction needs (SMART App Launch 2.2
/// scopes-and-launch-context, the c/r/u/d/s table): r for read, vread,
/// history-instance; s for searches and type/system history; c create;
/// u update and patch; d delete. 0 for operation (the caller decides).
permission_bits required_permission(interaction i) noexcept;

/// What the token says about the launch context.
struct launch_context {
  /// The `patient` token response parameter; empty: no patient in context,
  /// and patient/ scopes grant nothing.
  std::string patient_id;
};

/// One access to check. Holds views: valid as long as the caller's strings.
struct access_request {
  interaction what = interaction::read;
  /// The resource type; empty for search-system and history-system, which
  /// only "*" scopes grant (the caller checks a `_type` search type by type).
  std::string_view resource_type;
  /// The caller's statement that the access stays inside the compartment of
  /// the patient in context (R4 CompartmentDefinition Patient): the resource
  /// is in it, or the search is restricted to it. Only then do patient/
  /// scopes apply.
  bool patient_compartment = false;
  /// For interaction::operation: exactly one permission bit the operation
  /// needs (several letters: ask once per letter). Ignored otherwise.
  permission_bits operation_permission = 0;
};

/// Why access was denied.
enum class deny_reason : std::uint8_t {
  none,                      ///< allowed
  invalid_request,           ///< the request itself is inconsistent (programmer error; fails closed)
  no_scope_for_type,         ///< no scope names this type (or "*")
  missing_permission,        ///< scopes name the type, none with the needed letter
  no_patient_in_context,     ///< only patient/ scopes would grant it, and no patient is in context
  outside_patient_compartment,  ///< only patient/ scopes would grant it, and the access leaves the compartment
};

/// A fixed sentence for a denial (no input text).
std::string_view to_string(deny_reason r) noexcept;

/// Bits of scope_level, for access_decision::levels.
inline constexpr std::uint8_t level_bit(scope_level l) noexcept {
  return static_cast<std::uint8_t>(1U << static_cast<unsigned>(l));
}

/// The answer to decide().
struct access_decision {
  bool allowed = false;
  /// When denied: why. deny_reason::none when allowed.
  deny_reason reason = deny_reason::none;
  /// When allowed: the levels (level_bit) of the scopes that grant it.
  std::uint8_t levels = 0;
  /// When allowed: the granular filters. Empty: no filter applies (some
  /// granting scope has none). Otherwise the resource must match at least
  /// one entry, and an entry matches when all its parameters match (the
  /// union of the granting scopes' filters). Searches add it as criteria;
  /// reads check the resource against it. Deduplicated.
  std::vector<std::vector<query_param>> filters;
};

/// Decides one access. Every scope that names the type (or "*") with the
/// needed letter grants it, except patient/ scopes when no patient is in
/// context or the access is not a Patient-compartment access. Fails closed
/// on an inconsistent request.
access_decision decide(const scope_set& scopes, const launch_context& context, const access_request& request);

}  // namespace hearth::server::auth
