#pragma once
// The AuditEvent trail over the FHIR REST API: read and search answered from
// the audit log's own table (store/audit_log.hpp), not from the general
// resource tables. Private to fhir_api, which routes `AuditEvent` here and
// checks the scopes first (SECURITY.md: "Reading the audit trail is itself
// audited": the pipeline records these requests like any other).
//
// Thread-safety: both functions may run on many threads at once.

#include <string>

#include <hearth/store/audit_log.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// GET [base]/AuditEvent/[id] (R4 http.html#read): the event as stored (id
/// and meta included; an AuditEvent has one version, ETag W/"1"), in the
/// negotiated format. 404 for an unknown id, 400 for an invalid one.
http_response read_audit_event(const context& c, const store::audit_log& log, const std::string& id);

/// GET [base]/AuditEvent?... and POST [base]/AuditEvent/_search (`form`):
/// a searchset Bundle of one page, newest first unless `_sort=date`, with
/// the self and next links (the next one with a sealed cursor, as every
/// search's), Bundle.total when asked for or known, and an OperationOutcome
/// entry listing what lenient handling left out (audit_query.hpp says
/// which parameters are served).
http_response search_audit_events(const context& c, const store::audit_log& log, bool form);

}  // namespace hearth::server::rest
