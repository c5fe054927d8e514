#pragma once
// Access tokens for `hearth conformance --client-id ID --key FILE`: the
// client_credentials grant of SMART Backend Services (SMART App Launch 2.x,
// backend-services.html) with a private_key_jwt client assertion (RFC 7523),
// against any FHIR server's authorisation server, found through
// [base]/.well-known/smart-configuration (SMART App Launch 2.x,
// conformance.html "Using .well-known").
//
// The key never leaves this process; only the signed assertion is sent.
// Errors never hold a token or the key.

#include <functional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/server/conformance/http_client.hpp>
#include <hearth/server/jwt.hpp>

namespace hearth::server::conformance {

/// Asks for tokens of chosen scopes as one backend client. Thread-compatible
/// (one runner thread uses it).
class backend_client {
 public:
  using transport = std::function<hearth::result<client_response>(const client_request&)>;

  /// `fhir_base` without a trailing slash; `signing_key` a private RSA
  /// (RS384) or EC P-384 (ES384) key, the algorithms Backend Services
  /// requires servers to support.
  backend_client(std::string fhir_base, std::string client_id, jwt::key signing_key, transport http);

  /// The token endpoint from the server's SMART configuration (fetched once,
  /// then remembered). Errors: "unavailable" (no answer), "bad-response"
  /// (not 200, not JSON, no token_endpoint).
  hearth::result<std::string> token_endpoint();

  /// A fresh access token for `scopes` (space-separated): POSTs
  /// grant_type=client_credentials, scope, client_assertion_type
  /// (urn:ietf:params:oauth:client-assertion-type:jwt-bearer) and a new
  /// assertion (iss = sub = client id, aud = token endpoint, exp 5 minutes
  /// ahead, a random jti). Errors: "refused" (the server answered with an
  /// OAuth error: its `error` code in the message), "bad-response", "unavailable".
  hearth::result<std::string> token(std::string_view scopes);

 private:
  std::string base_, client_id_;
  jwt::key key_;
  transport http_;
  std::string token_endpoint_;
};

}  // namespace hearth::server::conformance
