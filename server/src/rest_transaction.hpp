#pragma once
// Batch and transaction Bundles (R4 http.html#transaction): POST [base] with
// a Bundle of type batch or transaction, answered with a batch-response or
// transaction-response Bundle. Private to fhir_api.
//
// A batch runs each entry as the request it describes, through the same
// router as a request of its own, and reports each outcome in its entry. A
// transaction follows the processing rules of http.html#trules: its writes
// (DELETE, then POST, then PUT and PATCH) run in one store transaction,
// after the urn:uuid fullUrls and conditional references among them are
// resolved; they all commit or none does. Its GETs run after the commit.
//
// Thread-safety: as the other interactions (stateless). Lifetime: the
// dispatcher is called only during the call.

#include <cstddef>
#include <functional>

#include <hearth/server/http_message.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// Answers a request as a request of its own would be answered (fhir_api's
/// router, formats and all): how a batch runs its entries.
using dispatcher = std::function<http_response(const http_request&)>;

/// Most entries one Bundle may hold. Every entry of a transaction is held in
/// memory and written by the one writer thread inside one database
/// transaction, which every other write waits for; 1000 entries keep that
/// wait in the tens of milliseconds and the memory bounded (the body limit
/// bounds the bytes, this bounds the work).
inline constexpr std::size_t max_bundle_entries = 1000;

/// POST [base]: the Bundle in the request body, answered as above. Errors of
/// the Bundle itself (not a Bundle, wrong type, too many entries, a malformed
/// entry) are an OperationOutcome: 400, 413 for too many entries; a
/// transaction that fails answers the failing entry's status for the whole.
http_response batch_or_transaction(const context& c, const dispatcher& dispatch);

}  // namespace hearth::server::rest
