#include <hearth/server/jwt.hpp>

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::server::jwt {
namespace {

using namespace std::chrono_literals;
using fhir::json_value;

constexpr std::int64_t now_s = 1'700'000'000;
constexpr const char* issuer = "https://hearth.example/auth";
constexpr const char* audience = "https://hearth.example/fhir";

std::chrono::system_clock::time_point at(std::int64_t s) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(s));
}

verify_options options(std::int64_t now = now_s) {
  verify_options o;
  o.allowed_algs = {algorithm::es256};
  o.issuer = issuer;
  o.audience = audience;
  o.clock = [now] { return at(now); };
  return o;
}

json_value claims(std::int64_t exp = now_s + 300) {
  json_value c = json_value::object();
  c.set("iss", issuer);
  c.set("sub", "client-1");
  c.set("aud", audience);
  c.set("exp", json_value::number(std::to_string(exp)));
  c.set("iat", json_value::number(std::to_string(now_s)));
  c.set("jti", "a-unique-id");
  return c;
}

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string b64url_decode(std::string_view s) { return base64::decode(s, true).value(); }

key make_key() { return key::generate_es256().value(); }

key_set set_of(const key& k) {
  key_set s;
  s.add(k);
  return s;
}

/// The code of the error verify() gives, "" when it succeeds.
std::string verify_code(std::string_view token, const key_set& keys, const verify_options& o) {
  auto r = verify(token, keys, o);
  return r ? std::string{} : r.error().code;
}

/// The token's three parts.
struct parts {
  std::string header, payload, signature;
};
parts split(const std::string& t) {
  const auto d1 = t.find('.');
  const auto d2 = t.find('.', d1 + 1);
  return {t.substr(0, d1), t.substr(d1 + 1, d2 - d1 - 1), t.substr(d2 + 1)};
}

// RFC 7515 appendix A.3: the ES256 example key (public part) and JWS.
constexpr const char* rfc7515_a3_jwks =
    R"({"keys":[{"kty":"EC","crv":"P-256",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";
constexpr const char* rfc7515_a3_jws =
    "eyJhbGciOiJFUzI1NiJ9"
    "."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// OpenSSL key helpers for the RSA cases (the test makes its own keys).
struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr rsa_key(unsigned bits) { return pkey_ptr(EVP_RSA_gen(bits)); }

std::string pem_of(EVP_PKEY* p) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, p, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return s;
}

/// RS256 signature of `input` made with OpenSSL directly (for keys the
/// library refuses to sign with).
std::string rs256_raw(EVP_PKEY* p, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, p) == 1);
  REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

/// A temporary directory, removed at the end of the case.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "hearth-jwt-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

TEST_CASE("jwt: sign then verify round trip, header has alg, typ and kid") {
  const key k = make_key();
  CHECK(k.type() == key_type::ec_p256);
  CHECK(k.has_private());
  CHECK(k.kid() == k.thumbprint());
  auto token = sign(claims(), k);
  REQUIRE(token);
  auto v = verify(*token, set_of(k), options());
  REQUIRE(v);
  CHECK(v->alg == algorithm::es256);
  CHECK(v->kid == k.kid());
  CHECK(v->claims == claims());
  CHECK(v->header.find("alg")->str() == "ES256");
  CHECK(v->header.find("typ")->str() == "JWT");
  CHECK(v->header.find("kid")->str() == k.kid());
  // RFC 7518 3.4: R || S, 64 bytes for ES256, not DER.
  CHECK(b64url_decode(split(*token).signature).size() == 64);
}

TEST_CASE("jwt: the public JWKS of our key round-trips through JSON and verifies") {
  const key k = make_key();
  key_set mine = set_of(k);
  const std::string jwks = fhir::to_json(mine.to_jwks());
  auto loaded = key_set::from_jwks(jwks);
  REQUIRE(loaded);
  REQUIRE(loaded->keys().size() == 1);
  const key& pub = loaded->keys()[0];
  CHECK_FALSE(pub.has_private());
  CHECK(pub.kid() == k.kid());
  CHECK(pub.thumbprint() == k.thumbprint());
  CHECK(pub.pinned_alg() == algorithm::es256);
  const json_value jwk = k.public_jwk();
  CHECK(jwk.find("d") == nullptr);
  CHECK(jwk.find("use")->str() == "sig");
  CHECK(jwk_thumbprint(jwk).value() == k.kid());
  auto token = sign(claims(), k);
  REQUIRE(token);
  CHECK(verify_code(*token, *loaded, options()).empty());
  // A public key cannot sign.
  auto no = sign(claims(), pub);
  REQUIRE_FALSE(no);
  CHECK(no.error().code == "invalid-key");
}

TEST_CASE("jwt: RFC 7515 appendix A.3 ES256 example verifies") {
  auto keys = key_set::from_jwks(rfc7515_a3_jwks);
  REQUIRE(keys);
  REQUIRE(keys->keys().size() == 1);
  verify_options o = options(1'300'819'000);  // before the example's exp
  auto v = verify_signature(rfc7515_a3_jws, *keys, o);
  REQUIRE(v);
  CHECK(v->claims.find("iss")->str() == "joe");
  CHECK(v->claims.find("http://example.com/is_root")->as_bool());
  CHECK(v->kid.empty());
  // The example has no aud: full verification passes exp and iss, then stops at aud.
  o.issuer = "joe";
  CHECK(verify_code(rfc7515_a3_jws, *keys, o) == "wrong-audience");
  CHECK(verify_code(rfc7515_a3_jws, *keys, options(1'300'819'380 + 60)) == "expired");
  // Another signature length or a flipped bit fails.
  std::string bad = rfc7515_a3_jws;
  bad[bad.size() - 10] = bad[bad.size() - 10] == 'A' ? 'B' : 'A';
  CHECK(verify_signature(bad, *keys, o).error().code == "bad-signature");
}

TEST_CASE("jwt: RFC 7638 section 3.1 thumbprint") {
  auto jwk = fhir::parse_json(
      R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})");
  REQUIRE(jwk);
  CHECK(jwk_thumbprint(*jwk).value() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // The same key loaded as a key: its own thumbprint agrees.
  auto k = key::from_jwk(*jwk);
  REQUIRE(k);
  CHECK(k->thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  CHECK(k->kid() == "2011-04-29");
  CHECK(k->bits() == 2048);
  CHECK(jwk_thumbprint(json_value::object()).error().code == "invalid-key");
}

TEST_CASE("jwt: tampered payload, header or signature is a bad signature") {
  const key k = make_key();
  const std::string token = sign(claims(), k).value();
  const parts p = split(token);
  const key_set keys = set_of(k);

  json_value c = claims();
  c.set("sub", "someone-else");
  CHECK(verify_code(p.header + "." + b64url(fhir::to_json(c)) + "." + p.signature, keys, options()) == "bad-signature");

  json_value h = fhir::parse_json(b64url_decode(p.header)).value();
  h.set("typ", "at+jwt");
  CHECK(verify_code(b64url(fhir::to_json(h)) + "." + p.payload + "." + p.signature, keys, options()) ==
        "bad-signature");

  std::string sig = p.signature;
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  CHECK(verify_code(p.header + "." + p.payload + "." + sig, keys, options()) == "bad-signature");
  // A signature of the wrong length (R || S truncated) is bad, not truncated further.
  const std::string short_sig = b64url(b64url_decode(p.signature).substr(0, 63));
  CHECK(verify_code(p.header + "." + p.payload + "." + short_sig, keys, options()) == "bad-signature");
  // A DER signature (what OpenSSL produces natively) is not R || S.
  CHECK(verify_code(p.header + "." + p.payload + "." + b64url(std::string("\x30\x44\x02\x20", 4) +
                                                              std::string(68, '\x01')),
                    keys, options()) == "bad-signature");
}

TEST_CASE("jwt: alg none and HS256 with the public key as secret are refused") {
  const key k = make_key();
  const key_set keys = set_of(k);
  verify_options o = options();
  o.allowed_algs = {algorithm::es256, algorithm::es384, algorithm::rs256, algorithm::rs384};
  const std::string payload = b64url(fhir::to_json(claims()));

  const std::string none = b64url(R"({"alg":"none","typ":"JWT"})");
  CHECK_FALSE(verify(none + "." + payload + ".", keys, o));
  CHECK(verify_code(none + "." + payload + ".AAAA", keys, o) == "unsupported-alg");
  CHECK(verify_code(b64url(R"({"alg":"None"})") + "." + payload + ".AAAA", keys, o) == "unsupported-alg");

  // The classic confusion attack: HMAC keyed with the public key's text.
  const std::string header = b64url(R"({"alg":"HS256","typ":"JWT","kid":")" + k.kid() + R"("})");
  const std::string input = header + "." + payload;
  const std::string secret = fhir::to_json(k.public_jwk());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len) != nullptr);
  const std::string forged = input + "." + b64url(std::string(reinterpret_cast<const char*>(mac), mac_len));
  CHECK(verify_code(forged, keys, o) == "unsupported-alg");
}

TEST_CASE("jwt: an algorithm outside the caller's list or not fitting the key is refused") {
  const key k = make_key();
  const key_set keys = set_of(k);
  const std::string token = sign(claims(), k).value();
  verify_options o = options();
  o.allowed_algs = {algorithm::rs256};
  CHECK(verify_code(token, keys, o) == "unsupported-alg");
  o.allowed_algs = {};
  CHECK(verify_code(token, keys, o) == "unsupported-alg");

  // RS256 in the header, the EC key named by kid: the key decides, not the header.
  o.allowed_algs = {algorithm::es256, algorithm::rs256};
  const parts p = split(token);
  const std::string rs_kid = b64url(R"({"alg":"RS256","kid":")" + k.kid() + R"("})");
  CHECK(verify_code(rs_kid + "." + p.payload + "." + p.signature, keys, o) == "unsupported-alg");
  const std::string rs_nokid = b64url(R"({"alg":"RS256"})");
  CHECK(verify_code(rs_nokid + "." + p.payload + "." + p.signature, keys, o) == "unknown-key");
  // ES384 claimed for a P-256 key.
  o.allowed_algs = {algorithm::es384};
  const std::string es384 = b64url(R"({"alg":"ES384","kid":")" + k.kid() + R"("})");
  CHECK(verify_code(es384 + "." + p.payload + "." + p.signature, keys, o) == "unsupported-alg");
}

TEST_CASE("jwt: key choice by kid, and without kid only when one key fits") {
  const key k = make_key();
  const key other = make_key();
  const std::string token = sign(claims(), k).value();
  CHECK(verify_code(token, set_of(other), options()) == "unknown-key");
  key_set both;
  both.add(other);
  both.add(k);
  CHECK(verify_code(token, both, options()).empty());
  CHECK(verify_code(token, key_set{}, options()) == "unknown-key");

  // The RFC example has no kid: one EC key verifies it, two are ambiguous.
  key_set rfc = key_set::from_jwks(rfc7515_a3_jwks).value();
  verify_options o = options(1'300'819'000);
  CHECK(verify_signature(rfc7515_a3_jws, rfc, o));
  rfc.add(k);
  CHECK(verify_signature(rfc7515_a3_jws, rfc, o).error().code == "unknown-key");
}

TEST_CASE("jwt: exp, nbf and iat with the leeway edges") {
  const key k = make_key();
  const key_set keys = set_of(k);
  auto with = [&](const char* name, std::int64_t value) {
    json_value c = claims();
    c.set(name, json_value::number(std::to_string(value)));
    return sign(c, k).value();
  };
  // exp: valid while now - leeway < exp (RFC 7519 4.1.4).
  CHECK(verify_code(with("exp", now_s - 59), keys, options()).empty());
  CHECK(verify_code(with("exp", now_s - 60), keys, options()) == "expired");
  CHECK(verify_code(with("exp", now_s - 3600), keys, options()) == "expired");
  verify_options strict = options();
  strict.leeway = 0s;
  CHECK(verify_code(with("exp", now_s + 1), keys, strict).empty());
  CHECK(verify_code(with("exp", now_s), keys, strict) == "expired");
  // nbf / iat: not after now + leeway.
  CHECK(verify_code(with("nbf", now_s + 60), keys, options()).empty());
  CHECK(verify_code(with("nbf", now_s + 61), keys, options()) == "not-yet-valid");
  CHECK(verify_code(with("iat", now_s + 60), keys, options()).empty());
  CHECK(verify_code(with("iat", now_s + 61), keys, options()) == "not-yet-valid");
  // exp is required and must be a number.
  json_value no_exp = claims();
  REQUIRE(no_exp.erase("exp"));
  CHECK(verify_code(sign(no_exp, k).value(), keys, options()) == "invalid-token");
  json_value str_exp = claims();
  str_exp.set("exp", "1700000300");
  CHECK(verify_code(sign(str_exp, k).value(), keys, options()) == "invalid-token");
  // NumericDate may be fractional (RFC 7519 section 2).
  json_value frac = claims();
  frac.set("exp", json_value::number("1700000100.5"));
  CHECK(verify_code(sign(frac, k).value(), keys, options()).empty());
}

TEST_CASE("jwt: max lifetime for SMART Backend Services assertions") {
  const key k = make_key();
  verify_options o = options();
  o.max_lifetime = 300s;
  o.leeway = 0s;
  CHECK(verify_code(sign(claims(now_s + 300), k).value(), set_of(k), o).empty());
  CHECK(verify_code(sign(claims(now_s + 301), k).value(), set_of(k), o) == "lifetime-too-long");
  CHECK(verify_code(sign(claims(now_s + 3600), k).value(), set_of(k), o) == "lifetime-too-long");
}

TEST_CASE("jwt: iss and aud, aud as an array") {
  const key k = make_key();
  const key_set keys = set_of(k);
  json_value c = claims();
  c.set("iss", "https://evil.example/issuer-value");
  auto r = verify(sign(c, k).value(), keys, options());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "wrong-issuer");
  // Messages never carry claims or the token.
  CHECK(r.error().message.find("evil") == std::string::npos);

  c = claims();
  c.set("aud", "https://other.example/fhir");
  CHECK(verify_code(sign(c, k).value(), keys, options()) == "wrong-audience");
  json_value arr = json_value::array();
  arr.push_back("https://other.example/fhir");
  arr.push_back(audience);
  c.set("aud", arr);
  CHECK(verify_code(sign(c, k).value(), keys, options()).empty());
  json_value arr2 = json_value::array();
  arr2.push_back("https://other.example/fhir");
  c.set("aud", arr2);
  CHECK(verify_code(sign(c, k).value(), keys, options()) == "wrong-audience");
  REQUIRE(c.erase("aud"));
  CHECK(verify_code(sign(c, k).value(), keys, options()) == "wrong-audience");
  // An unconfigured verifier (empty issuer) refuses everything.
  verify_options unset = options();
  unset.issuer.clear();
  CHECK(verify_code(sign(claims(), k).value(), keys, unset) == "wrong-issuer");
}

TEST_CASE("jwt: typ is checked when asked, as RFC 7515 4.1.9 compares it") {
  const key k = make_key();
  sign_options so;
  so.typ = "at+jwt";
  const std::string at = sign(claims(), k, so).value();
  const std::string plain = sign(claims(), k).value();
  verify_options o = options();
  o.typ = "application/AT+JWT";
  CHECK(verify_code(at, set_of(k), o).empty());
  CHECK(verify_code(plain, set_of(k), o) == "invalid-token");
}

TEST_CASE("jwt: header members that bring their own key, or crit, are refused") {
  const key k = make_key();
  const parts p = split(sign(claims(), k).value());
  for (const char* extra : {R"("jwk":{})", R"("jku":"https://evil.example/jwks")", R"("x5u":"https://x")",
                            R"("crit":["exp"])"}) {
    CAPTURE(extra);
    const std::string h = b64url(R"({"alg":"ES256","kid":")" + k.kid() + R"(",)" + extra + "}");
    CHECK(verify_code(h + "." + p.payload + "." + p.signature, set_of(k), options()) == "invalid-token");
  }
}

TEST_CASE("jwt: malformed compact serialisation is an invalid token") {
  const key k = make_key();
  const key_set keys = set_of(k);
  const std::string token = sign(claims(), k).value();
  const parts p = split(token);
  CHECK(verify_code("", keys, options()) == "invalid-token");
  CHECK(verify_code("abc", keys, options()) == "invalid-token");
  CHECK(verify_code(token + ".", keys, options()) == "invalid-token");
  CHECK(verify_code(token + ".AAAA", keys, options()) == "invalid-token");
  CHECK(verify_code(p.header + ".." + p.signature, keys, options()) == "invalid-token");
  CHECK(verify_code(p.header + "." + p.payload + "." + p.signature + "==", keys, options()) == "invalid-token");
  CHECK(verify_code(p.header + "=." + p.payload + "." + p.signature, keys, options()) == "invalid-token");
  // Standard base64 characters are not base64url.
  std::string plus = token;
  plus[5] = '+';
  CHECK(verify_code(plus, keys, options()) == "invalid-token");
  CHECK(verify_code(" " + token, keys, options()) == "invalid-token");
  // Non-canonical: 64 bytes leave 4 unused bits in the last character.
  std::string sig = p.signature;
  REQUIRE(sig.size() == 86);
  sig.back() = sig.back() == 'B' ? 'C' : 'B';
  const bool canonical_b = b64url(b64url_decode(sig)) == sig;
  REQUIRE_FALSE(canonical_b);
  CHECK(verify_code(p.header + "." + p.payload + "." + sig, keys, options()) == "invalid-token");
  // Header or payload that is not a JSON object.
  CHECK(verify_code(b64url("[1]") + "." + p.payload + "." + p.signature, keys, options()) == "invalid-token");
  CHECK(verify_code(b64url("{\"alg\":\"ES256\"") + "." + p.payload + "." + p.signature, keys, options()) ==
        "invalid-token");
  // Duplicate keys in the header (RFC 7515 5.2) are refused.
  CHECK(verify_code(b64url(R"({"alg":"ES256","alg":"ES256"})") + "." + p.payload + "." + p.signature, keys,
                    options()) == "invalid-token");
}

TEST_CASE("jwt: a token over the size limit is refused before parsing") {
  const key k = make_key();
  json_value c = claims();
  c.set("scope", std::string(16u << 10, 'a'));
  const std::string big = sign(c, k).value();
  REQUIRE(big.size() > (16u << 10));
  CHECK(verify_code(big, set_of(k), options()) == "invalid-token");
  verify_options larger = options();
  larger.max_token_bytes = 64u << 10;
  CHECK(verify_code(big, set_of(k), larger).empty());
}

TEST_CASE("jwt: RS256 and RS384 with a 2048-bit RSA key") {
  pkey_ptr rsa = rsa_key(2048);
  REQUIRE(rsa);
  auto k = key::from_private_pem(pem_of(rsa.get()));
  REQUIRE(k);
  CHECK(k->type() == key_type::rsa);
  CHECK(k->bits() == 2048);
  auto pub = key_set::from_jwks(fhir::to_json(set_of(*k).to_jwks()));
  REQUIRE(pub);
  verify_options o = options();
  o.allowed_algs = {algorithm::rs256, algorithm::rs384};
  const std::string rs256 = sign(claims(), *k).value();
  auto v = verify(rs256, *pub, o);
  REQUIRE(v);
  CHECK(v->alg == algorithm::rs256);
  sign_options so;
  so.alg = algorithm::rs384;
  auto v384 = verify(sign(claims(), *k, so).value(), *pub, o);
  REQUIRE(v384);
  CHECK(v384->alg == algorithm::rs384);
  // RSA keys never take ES algorithms, and the RS token fails with an EC key set.
  so.alg = algorithm::es256;
  CHECK(sign(claims(), *k, so).error().code == "unsupported-alg");
  o.allowed_algs = {algorithm::rs256, algorithm::es256};
  CHECK(verify_code(rs256, set_of(make_key()), o) == "unknown-key");
  // Tampered RSA signature.
  parts p = split(rs256);
  p.signature[3] = p.signature[3] == 'A' ? 'B' : 'A';
  CHECK(verify_code(p.header + "." + p.payload + "." + p.signature, *pub, o) == "bad-signature");
}

TEST_CASE("jwt: an RSA key under 2048 bits neither signs nor verifies") {
  pkey_ptr rsa = rsa_key(1024);
  REQUIRE(rsa);
  auto k = key::from_private_pem(pem_of(rsa.get()));
  REQUIRE(k);
  CHECK(k->bits() == 1024);
  CHECK_FALSE(k->accepts(algorithm::rs256));
  CHECK(sign(claims(), *k).error().code == "unsupported-alg");
  // A token signed with it by OpenSSL directly, as an attacker's tool would.
  const std::string input = b64url(R"({"alg":"RS256","kid":")" + k->kid() + R"("})") + "." +
                            b64url(fhir::to_json(claims()));
  const std::string token = input + "." + b64url(rs256_raw(rsa.get(), input));
  auto pub = key_set::from_jwks(fhir::to_json(set_of(*k).to_jwks()));
  REQUIRE(pub);
  verify_options o = options();
  o.allowed_algs = {algorithm::rs256};
  CHECK(verify_code(token, *pub, o) == "unsupported-alg");
}

TEST_CASE("jwt: PEM save and load round trip, mode 0600, atomic replace") {
  temp_dir dir;
  const auto path = dir.path / "signing-key.pem";
  const key k = make_key();
  REQUIRE(k.save_private_pem(path));
  const auto perms = std::filesystem::status(path).permissions();
  CHECK((perms & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  auto loaded = key::load_private_pem(path);
  REQUIRE(loaded);
  CHECK(loaded->kid() == k.kid());
  CHECK(loaded->has_private());
  CHECK(verify_code(sign(claims(), *loaded).value(), set_of(k), options()).empty());

  // Replacing the file with another key leaves only the new one, no temporaries.
  const key k2 = make_key();
  REQUIRE(k2.save_private_pem(path));
  CHECK(key::load_private_pem(path).value().kid() == k2.kid());
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);

  CHECK(key::load_private_pem(dir.path / "missing.pem").error().code == "io");
  std::ofstream(dir.path / "junk.pem") << "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n";
  CHECK(key::load_private_pem(dir.path / "junk.pem").error().code == "invalid-key");
  CHECK(key::from_jwk(k.public_jwk()).value().private_pem().error().code == "invalid-key");
  CHECK(k.save_private_pem(dir.path / "no-such-dir" / "k.pem").error().code == "io");
}

TEST_CASE("jwt: JWKS loading: skipped, refused and malformed keys") {
  // Unknown kty and use "enc" are skipped (RFC 7517 5).
  auto skip = key_set::from_jwks(
      R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},)"
      R"({"kty":"oct","k":"c2VjcmV0"},)"
      R"({"kty":"EC","crv":"P-256","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  REQUIRE(skip);
  CHECK(skip->keys().empty());
  // Private members are refused.
  auto priv = key_set::from_jwks(
      R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]})");
  REQUIRE_FALSE(priv);
  CHECK(priv.error().code == "invalid-key");
  CHECK(priv.error().location == "keys[0]");
  // A point not on the curve (first character of y changed; still canonical base64url).
  auto bad_point = key_set::from_jwks(
      R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  REQUIRE_FALSE(bad_point);
  CHECK(bad_point.error().code == "invalid-key");
  // Short coordinate, alg not fitting the curve, not JSON, no keys array.
  CHECK_FALSE(key_set::from_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})"));
  CHECK_FALSE(key_set::from_jwks(
      R"({"keys":[{"kty":"EC","crv":"P-256","alg":"RS256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})"));
  CHECK_FALSE(key_set::from_jwks("not json"));
  CHECK_FALSE(key_set::from_jwks(R"({"kty":"EC"})"));
  // Too many keys.
  std::string many = R"({"keys":[)";
  for (std::size_t i = 0; i <= key_set::max_keys; ++i)
    many += std::string(i ? "," : "") +
            R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
  many += "]}";
  CHECK(key_set::from_jwks(many).error().code == "invalid-key");
}

TEST_CASE("jwt: algorithm names") {
  CHECK(parse_algorithm("ES256") == algorithm::es256);
  CHECK(parse_algorithm("RS384") == algorithm::rs384);
  CHECK_FALSE(parse_algorithm("none"));
  CHECK_FALSE(parse_algorithm("HS256"));
  CHECK_FALSE(parse_algorithm("es256"));
  CHECK_FALSE(parse_algorithm("PS256"));
  CHECK(to_string(algorithm::es384) == "ES384");
}

}  // namespace
}  // namespace hearth::server::jwt
