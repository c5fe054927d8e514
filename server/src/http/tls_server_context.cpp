// The listeners' TLS server context (tls_server_context.hpp).
#include "tls_server_context.hpp"

#include <openssl/ssl.h>

#include <boost/system/error_code.hpp>

namespace hearth::server::detail {

namespace {

/// See make_server_tls_context: ECDHE with AEAD ciphers, for TLS 1.2.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

hearth::unexpected<hearth::error> invalid(std::string message) {
  return hearth::unexpected(hearth::error{"invalid", std::move(message), {}, hearth::error::npos});
}

}  // namespace

hearth::result<std::unique_ptr<boost::asio::ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                                                    const std::string& key_file,
                                                                                    std::string_view what) {
  namespace ssl = boost::asio::ssl;
  const std::string name(what);
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return invalid(name + ": this OpenSSL cannot require TLS 1.2");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_NO_TICKET);
  if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1) {
    return invalid(name + ": this OpenSSL supports none of the TLS 1.2 AEAD cipher suites");
  }
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return invalid("cannot load the " + name + " certificate chain (PEM) from " + cert_file + ": " + ec.message());
  }
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    return invalid("cannot load the " + name + " private key (PEM, unencrypted) from " + key_file + ": " +
                   ec.message());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return invalid("the " + name + " private key in " + key_file + " does not match the certificate in " +
                   cert_file);
  }
  return ctx;
}

}  // namespace hearth::server::detail
