#pragma once
// SMART on FHIR scope enforcement inside the REST layer (issue 6
// "Enforcement"): what the principal of a request (its verified access
// token, access_token.hpp) may do with which resources, decided with
// auth::decide (smart_scopes.hpp) and applied by every interaction. The
// policy is here, in one place; the interactions only ask. Private to
// fhir_api.
//
// SMART App Launch 2.2 scopes-and-launch-context, as SECURITY.md sums it up:
// c create; r read, vread, instance history; u update, update-as-create,
// patch; d delete; s type/system search and type/system history. patient/
// scopes need a patient in context and reach only the R4 Patient
// compartment of that patient (CompartmentDefinition Patient); granular
// scopes (`?param=value`) reach only what matches their query. Write does
// not imply read.
//
// How each rule is applied:
// - Type level first: an interaction no scope grants is 403 (OperationOutcome
//   "forbidden", naming the interaction and the type, never data), before
//   anything is read. With enforcement on, a request without a principal is
//   401 "login" (fhir_api.cpp), GET /metadata excepted. $validate and
//   unknown operations need a principal only.
// - Reads of one resource (read, vread, instance history, $meta) under a
//   patient-level or granular grant: a resource the grant does not reach is
//   answered exactly as one that does not exist (404, the same body), so that
//   "does not exist" and "not yours" cannot be told apart (SECURITY.md). A
//   deleted resource is then also 404 (its tombstone holds nothing to check
//   against the grant, and a 410 would say it existed). Unrestricted grants
//   (user/ or system/ without a filter) take the plain path: no extra work.
// - Membership of a version is decided in memory where it can be exactly:
//   the compartment from the version's own search index entries (the
//   indexer: the entries the store's compartment search uses), granular
//   filters of token parameters (plain `code`, `system|code`, `|code`,
//   `system|`) and of reference parameters (`Type/id`) likewise. Anything
//   else is asked of the store: a search `[type]?_id=<id>&<filter>` with the
//   compartment restriction (one query per way the token reaches the type),
//   which sees current versions only; an older version that cannot be
//   checked in memory is answered as absent, and left out of instance
//   history (fail closed).
// - Searches under a patient-level grant become the compartment search of
//   the patient in context (for Patient: the patient and the patients whose
//   link references it, as the R4 compartment says); a compartment search of
//   another patient is 403. Granular filters are added as criteria (several
//   filters of a type are an OR: expressed when every filter is one
//   parameter of the same name, as one comma-joined criterion; otherwise
//   403). A token reaching a type both through a filtered user/system grant
//   and through the patient compartment is searched by the first way only
//   (one query cannot express the union: narrower, never wider). Chained
//   criteria and _has need an unrestricted s on every type they traverse,
//   _list an unrestricted r or s on List (403 otherwise). _include and
//   _revinclude results the token can neither read nor search (type not
//   granted, outside the compartment, not matching the filters) are dropped
//   from the page. Totals count what the token may see; links carry the
//   request's own parameters.
// - Type and system history need an unrestricted s (patient-level or
//   granular grants: 403, the store cannot filter history by compartment or
//   filter); system history leaves out the types the token may not search
//   without restriction (AuditEvent under "*").
// - Writes: the letter, and under a patient-level or granular grant the
//   current version (when there is one) and the new content must both be
//   reached by the grant (403 otherwise; the write then names the version
//   checked, so a concurrent change is a conflict). A patch answers with its
//   result only to a token that may read it (otherwise as return=minimal);
//   $meta-add/$meta-delete need u and r (they answer with the meta).
// - Conditional create/update/patch/delete: the write letter, and the
//   search runs as a search with the token's grants: it needs s, and cannot
//   find what the token cannot see (If-None-Exist answers the match it
//   finds). Conditional references in a transaction likewise.
// - Batch: each entry goes through the router with the Bundle's principal.
//   Transaction: every entry is checked before anything commits (a PATCH's
//   result inside the store transaction, where it is computed); one denial
//   fails the whole with 403 and the entry's location (Bundle.entry[i]).
// - Patient/$everything: the Patient must be one the token may read or
//   search (else as absent: another patient than the one in context under
//   patient-level grants); each compartment type is included only as the
//   token may search or read it (left out when not granted, or when its
//   filters cannot be applied exactly).
// - AuditEvent: "*" never covers it; only an explicit user/ or system/
//   AuditEvent scope does (r, s). Creating, changing or deleting an
//   AuditEvent through the API is refused for everyone, with or without
//   enforcement: 405 with Allow: GET (the trail is immutable; SECURITY.md
//   "Audit"); 403 inside a transaction, whose POST [base] is allowed.
// - User-level scopes are taken as unrestricted: Hearth keeps no per-user
//   access lists; system/ scopes likewise (SMART Backend Services).
//
// Thread-safety: pure functions over the context (and the store, which is
// thread-safe); indexer_source builds its indexer once, thread-safely.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/smart_scopes.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/resource_version.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// The indexer membership checks evaluate versions with: the one
/// api_options::indexer names (the store's), or one of its own, built on
/// first use (compiling every search parameter takes a moment; requests that
/// need no such check never pay for it). Thread-safe; the definitions (and a
/// given indexer) must outlive it.
class indexer_source {
 public:
  indexer_source(const fhir::definitions& defs, const store::indexer* given) : defs_(defs), given_(given) {}
  const store::indexer& get() const;

 private:
  const fhir::definitions& defs_;
  const store::indexer* given_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<store::indexer> own_;
};

/// One way a token reaches resources of a type: the resources in the
/// compartment of the patient in context (patient/ scopes) or anywhere
/// (user/, system/), matching at least one of the filters (granular scopes;
/// an empty list: no filter).
struct reach {
  bool compartment = false;
  /// OR of ANDs, as auth::access_decision::filters.
  std::vector<std::vector<auth::query_param>> filters;

  bool unrestricted() const noexcept { return !compartment && filters.empty(); }
};

/// What the token may do for one interaction on one type.
struct access {
  bool allowed = false;
  /// Refused for everyone, scopes or not: a write of an AuditEvent (405).
  bool immutable = false;
  auth::interaction what = auth::interaction::read;
  std::string type;  ///< empty for system-wide interactions
  auth::deny_reason reason = auth::deny_reason::none;
  /// When allowed: the ways the token reaches the type, a union. One way,
  /// unrestricted, when some grant is (or enforcement is off).
  std::vector<reach> ways;

  bool unrestricted() const noexcept { return allowed && ways.size() == 1 && ways.front().unrestricted(); }
};

/// Whether the request is checked at all (api_options::enforce_authorization).
bool enforced(const context& c) noexcept;

/// What the request's principal may do: `what` on `type` (empty for
/// search-system and history-system). For interaction::operation,
/// `operation_permission` is the one letter needed. Enforcement off: allowed
/// and unrestricted, except AuditEvent writes (immutable).
access authorize(const context& c, auth::interaction what, std::string_view type,
                 auth::permission_bits operation_permission = 0);

/// Access that reaches the resources either of two accesses reach (read or
/// search, for _include and $everything): allowed when either is.
access either(access a, const access& b);

/// The answer to a denied access: 403 "forbidden" naming the interaction and
/// the type (and the fixed sentence of the reason); 405 for an immutable type.
http_response forbidden(const context& c, const access& a);
/// 403 for a request the checks cannot restrict exactly (a chain through a
/// restricted type, granular filters that cannot be combined): `why` is a
/// fixed sentence.
http_response forbidden(const context& c, const access& a, std::string_view why);

/// The 401 of a request with no principal while enforcement is on (RFC 6750
/// 3: WWW-Authenticate: Bearer; OperationOutcome code "login").
http_response unauthenticated(const context& c);

/// The hearth::error a check fails with inside helpers that return errors
/// (code "forbidden": status_of_store_error makes it 403).
hearth::error forbidden_error(const access& a, std::string_view why = {});

/// The answer to a read of a resource the token may not see: exactly the
/// store's not-found (404) for a resource (`version` false) or a version
/// (`version` true: vread, $meta of a version).
http_response hidden(const context& c, bool version);

/// The answer to a write of a resource the token may not reach: `absent`,
/// what the same write of a resource that does not exist is answered,
/// recorded in the trail as the 403 it is (http_response::audit_status).
http_response hidden_write(http_response absent);

/// The current version of `type`/`id` for a read-like interaction under
/// `a` (allowed): the store's answer, except that under a restricted grant a
/// resource the grant does not reach, or a deleted one, is answered as one
/// that does not exist (hidden). nullopt: `answer` holds the response.
std::optional<store::resource_version> current_for_read(const context& c, const access& a, const std::string& type,
                                                        const std::string& id, http_response& answer);

/// The current version of `type`/`id` before a write under `a` (allowed):
/// nothing when `a` is unrestricted or there is no live version; the
/// version when `a` reaches it. Errors: "forbidden" when it does not; the
/// store's.
hearth::result<std::optional<store::resource_version>> current_for_write(const context& c, const access& a,
                                                                         const std::string& type,
                                                                         const std::string& id);

/// Whether a stored, live version is reached by `a`: in memory where exact,
/// else (only for the current version) by a store search. Errors: the
/// store's, and "exception" for a body that does not parse.
hearth::result<bool> reaches(const context& c, const access& a, const store::resource_version& v);

/// Whether content about to be written (`resource`, of `type`) is reached by
/// `a`, in memory only: false when it cannot be decided exactly.
bool reaches_content(const context& c, const access& a, const fhir::json_value& resource);

/// Restricts a parsed search (or a conditional interaction's) to what `a`
/// (a search access, allowed) reaches: the patient compartment, granular
/// filters as criteria; checks chains, _has and _list. Errors: "forbidden"
/// when it cannot be restricted exactly; the parse errors of a filter.
hearth::result<void> restrict_search(const context& c, const access& a, store::search_request& req);

/// The criteria that restrict a search of Patient/`patient_id`'s
/// compartment to what `a` (allowed) reaches: none when it is unrestricted;
/// the filters of a way that fits (a compartment way only for the patient in
/// context). nullopt when no way fits exactly (Patient/$everything then
/// leaves the type out).
std::optional<param_list> compartment_criteria(const context& c, const access& a, std::string_view patient_id);

/// Removes from `included` (a search page's _include/_revinclude results)
/// every resource the token may neither read nor search. Errors: the store's.
hearth::result<void> drop_unreadable(const context& c, std::vector<store::resource_version>& included);

/// Keeps of an instance history page (`entries`) what `a` (a read access
/// that reaches `current`, the resource's current version) shows: every
/// tombstone, and the versions reached; a version that cannot be checked in
/// memory only when it is `current`. Errors: "exception" for a body that
/// does not parse.
hearth::result<void> filter_instance_history(const context& c, const access& a, const store::resource_version& current,
                                             std::vector<store::resource_version>& entries);

/// Whether the token may read `v` (for answers that would show a resource
/// the request did not send: a patch's result, a meta change): r on the
/// type and `v` reached. Always true with enforcement off.
hearth::result<bool> may_read(const context& c, const store::resource_version& v);

/// The write hook of this request (api_options::make_write_hook), or none.
store::write_hook write_hook_of(const context& c);

}  // namespace hearth::server::rest
