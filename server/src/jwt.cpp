// JWS signing and verification over OpenSSL 3 libcrypto (jwt.hpp).

#include <hearth/server/jwt.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::server::jwt {

// ---------------------------------------------------------------------------
// OpenSSL ownership: one unique_ptr per type, so every path frees what it made.

namespace {

struct pkey_free { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct pkey_ctx_free { void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); } };
struct md_ctx_free { void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); } };
struct bio_free { void operator()(BIO* p) const noexcept { BIO_free(p); } };
struct bn_free { void operator()(BIGNUM* p) const noexcept { BN_free(p); } };
struct ecdsa_sig_free { void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); } };
struct param_bld_free { void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); } };
struct params_free { void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); } };

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ecdsa_sig_free>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, param_bld_free>;
using params_ptr = std::unique_ptr<OSSL_PARAM, params_free>;

hearth::unexpected<hearth::error> fail(std::string code, std::string message, std::string location = {}) {
  // OpenSSL's thread-local error queue is left empty: a later, unrelated
  // call must not report our failure. Its text is not copied into the
  // message either (it can name key parameters).
  ERR_clear_error();
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), std::move(location)});
}

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  // RFC 7515 section 2: base64url "with all trailing '=' characters omitted".
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

/// Strict base64url (RFC 7515 section 2): only the URL alphabet, no padding,
/// and canonical (the unused low bits of the last character are zero), so one
/// token has exactly one spelling.
std::optional<std::string> b64url_decode_strict(std::string_view text) {
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  auto bytes = base64::decode(text, true);
  if (!bytes || b64url(*bytes) != text) return std::nullopt;
  return bytes;
}

std::string bn_to_bytes(const BIGNUM* bn, int width = 0) {
  const int n = width > 0 ? width : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(n), '\0');
  if (n > 0 && BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), n) != n) return {};
  return out;
}

const EVP_MD* digest_of(algorithm alg) {
  return (alg == algorithm::es256 || alg == algorithm::rs256) ? EVP_sha256() : EVP_sha384();
}

bool is_ec(algorithm alg) { return alg == algorithm::es256 || alg == algorithm::es384; }

/// Coordinate (and R, S) length of a curve: RFC 7518 3.4 and 6.2.1.2.
std::size_t coordinate_bytes(key_type t) { return t == key_type::ec_p384 ? 48 : 32; }

/// Parses JSON we did not write (headers, payloads, JWKS): plain JSON rules,
/// duplicate keys refused (RFC 7515 5.2 lets us: "MUST either reject ...").
hearth::result<fhir::json_value> parse_plain_json(std::string_view text, std::size_t max_bytes) {
  fhir::json_read_options o;
  o.fhir_rules = false;
  o.max_bytes = max_bytes;
  // Headers and claims are flat; SMART's fhirContext nests a few levels.
  // 32 bounds the work without refusing any real token or key set.
  o.max_depth = 32;
  return fhir::parse_json(text, o);
}

const std::string* string_member(const fhir::json_value& obj, std::string_view name) {
  const fhir::json_value* v = obj.find(name);
  return v != nullptr && v->is_string() ? &v->str() : nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Algorithms

std::string_view to_string(algorithm alg) noexcept {
  switch (alg) {
    case algorithm::es256: return "ES256";
    case algorithm::es384: return "ES384";
    case algorithm::rs256: return "RS256";
    case algorithm::rs384: return "RS384";
  }
  return "";
}

std::optional<algorithm> parse_algorithm(std::string_view name) noexcept {
  for (algorithm a : {algorithm::es256, algorithm::es384, algorithm::rs256, algorithm::rs384})
    if (to_string(a) == name) return a;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Keys

struct key::impl {
  pkey_ptr pkey;                    // the OpenSSL key; public, or a pair
  key_type type = key_type::ec_p256;
  std::size_t bits = 0;
  bool has_private = false;
  std::string kid;
  std::optional<algorithm> alg;     // pinned by the JWK's `alg`
};

/// jwt.cpp's way into key's private parts (friend of key).
struct key_access {
  static key make(std::shared_ptr<const key::impl> p) { return key(std::move(p)); }
  static const key::impl& of(const key& k) { return *k.impl_; }
};

namespace {

/// Fills type and bits from the OpenSSL key; "invalid-key" for a type or
/// curve outside P-256, P-384 and RSA.
hearth::result<void> classify(key::impl& k) {
  EVP_PKEY* p = k.pkey.get();
  if (EVP_PKEY_is_a(p, "RSA")) {
    k.type = key_type::rsa;
    k.bits = static_cast<std::size_t>(EVP_PKEY_get_bits(p));
    return {};
  }
  if (EVP_PKEY_is_a(p, "EC")) {
    std::array<char, 80> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) != 1)
      return fail("invalid-key", "EC key without a named curve");
    const int nid = OBJ_txt2nid(group.data());
    if (nid == NID_X9_62_prime256v1) {
      k.type = key_type::ec_p256;
      k.bits = 256;
      return {};
    }
    if (nid == NID_secp384r1) {
      k.type = key_type::ec_p384;
      k.bits = 384;
      return {};
    }
    return fail("invalid-key", "EC curve other than P-256 and P-384");
  }
  return fail("invalid-key", "key type other than EC and RSA");
}

/// The public JWK members of `k` in RFC 7638's lexicographic order.
fhir::json_value required_members(const key::impl& k) {
  fhir::json_value jwk = fhir::json_value::object();
  EVP_PKEY* p = k.pkey.get();
  if (k.type == key_type::rsa) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_RSA_E, &e);
    bn_ptr nn(n), ee(e);
    // RFC 7518 6.3.1: n and e as unsigned big-endian, minimal length.
    jwk.set("e", b64url(ee ? bn_to_bytes(ee.get()) : std::string{}));
    jwk.set("kty", "RSA");
    jwk.set("n", b64url(nn ? bn_to_bytes(nn.get()) : std::string{}));
  } else {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    bn_ptr xx(x), yy(y);
    // RFC 7518 6.2.1.2: "MUST be the full size of a coordinate".
    const int width = static_cast<int>(coordinate_bytes(k.type));
    jwk.set("crv", k.type == key_type::ec_p384 ? "P-384" : "P-256");
    jwk.set("kty", "EC");
    jwk.set("x", b64url(xx ? bn_to_bytes(xx.get(), width) : std::string{}));
    jwk.set("y", b64url(yy ? bn_to_bytes(yy.get(), width) : std::string{}));
  }
  ERR_clear_error();
  return jwk;
}

std::string sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

/// A key pair from an OpenSSL key; kid = thumbprint.
hearth::result<key> pair_from(pkey_ptr p) {
  auto k = std::make_shared<key::impl>();
  k->pkey = std::move(p);
  k->has_private = true;
  if (auto c = classify(*k); !c) return hearth::unexpected(c.error());
  auto thumb = jwk_thumbprint(required_members(*k));
  if (!thumb) return hearth::unexpected(thumb.error());
  k->kid = *thumb;
  return key_access::make(std::move(k));
}

/// Never prompts: an encrypted PEM fails to load instead of reading a
/// password from the terminal (OpenSSL's default callback would).
int no_password(char*, int, int, void*) { return 0; }

/// The bytes of a base64url JWK member, or nullopt.
std::optional<std::string> jwk_bytes(const fhir::json_value& jwk, std::string_view name) {
  const std::string* s = string_member(jwk, name);
  if (s == nullptr || s->empty()) return std::nullopt;
  return b64url_decode_strict(*s);
}

/// An OpenSSL public key from parameters (EVP_PKEY_fromdata), checked.
hearth::result<pkey_ptr> public_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  params_ptr params(OSSL_PARAM_BLD_to_param(bld));
  pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return fail("invalid-key", "JWK does not describe a valid public key");
  pkey_ptr pkey(raw);
  // An EC point off the curve would allow invalid-curve attacks; RSA gets
  // OpenSSL's sanity checks on n and e.
  pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return fail("invalid-key", "JWK public key fails OpenSSL's key check");
  return pkey;
}

}  // namespace

hearth::result<key> key::generate_es256() {
  pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    return fail("invalid-key", "P-256 key generation failed");
  return pair_from(pkey_ptr(raw));
}

hearth::result<key> key::from_private_pem(std::string_view pem) {
  if (pem.size() > (64u << 10) || pem.size() > static_cast<std::size_t>(INT32_MAX))
    return fail("invalid-key", "PEM larger than any supported private key");
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return fail("invalid-key", "out of memory reading PEM");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr);
  if (raw == nullptr) return fail("invalid-key", "not an unencrypted PEM private key");
  return pair_from(pkey_ptr(raw));
}

hearth::result<key> key::load_private_pem(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail("io", "cannot read private key file");
  if (size > (64u << 10)) return fail("invalid-key", "private key file larger than any supported key");
  std::ifstream in(path, std::ios::binary);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return fail("io", "cannot read private key file");
  auto k = from_private_pem(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  return k;
}

hearth::result<key> key::from_jwk(const fhir::json_value& jwk) {
  if (!jwk.is_object()) return fail("invalid-key", "JWK is not a JSON object");
  // Private members of EC (d) and RSA (d, p, q, dp, dq, qi, oth): RFC 7518 6.2.2, 6.3.2.
  for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "oth"})
    if (jwk.find(m) != nullptr) return fail("invalid-key", "JWK in a public key set holds private key members");
  const std::string* kty = string_member(jwk, "kty");
  if (kty == nullptr) return fail("invalid-key", "JWK without kty", "kty");

  // RFC 7517 4.2: a key published for encryption does not verify signatures.
  if (const fhir::json_value* use = jwk.find("use"); use != nullptr && (!use->is_string() || use->str() != "sig"))
    return fail("unsupported-key", "JWK use is not sig", "use");

  auto k = std::make_shared<key::impl>();
  if (const fhir::json_value* kid = jwk.find("kid")) {
    if (!kid->is_string()) return fail("invalid-key", "JWK kid is not a string", "kid");
    k->kid = kid->str();
  }
  if (const fhir::json_value* alg = jwk.find("alg")) {
    if (!alg->is_string()) return fail("invalid-key", "JWK alg is not a string", "alg");
    k->alg = parse_algorithm(alg->str());
    if (!k->alg) return fail("unsupported-alg", "JWK alg is not one this server verifies", "alg");
  }

  param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bld) return fail("invalid-key", "out of memory building key");
  if (*kty == "EC") {
    const std::string* crv = string_member(jwk, "crv");
    if (crv == nullptr) return fail("invalid-key", "EC JWK without crv", "crv");
    if (*crv == "P-256") k->type = key_type::ec_p256;
    else if (*crv == "P-384") k->type = key_type::ec_p384;
    else return fail("unsupported-key", "EC curve other than P-256 and P-384", "crv");
    auto x = jwk_bytes(jwk, "x");
    auto y = jwk_bytes(jwk, "y");
    const std::size_t n = coordinate_bytes(k->type);
    if (!x || !y || x->size() != n || y->size() != n)
      return fail("invalid-key", "EC JWK coordinates missing, malformed or not full size", "x");
    // SEC 1 2.3.3 uncompressed point: 0x04 || X || Y.
    std::string point = "\x04" + *x + *y;
    const char* group = k->type == key_type::ec_p384 ? "P-384" : "P-256";
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
      return fail("invalid-key", "out of memory building key");
    auto p = public_from_params("EC", bld.get());
    if (!p) return hearth::unexpected(p.error());
    k->pkey = std::move(*p);
    k->bits = n * 8;
    if (k->alg && k->alg != (k->type == key_type::ec_p384 ? algorithm::es384 : algorithm::es256))
      return fail("invalid-key", "JWK alg does not fit its curve", "alg");
  } else if (*kty == "RSA") {
    auto n = jwk_bytes(jwk, "n");
    auto e = jwk_bytes(jwk, "e");
    if (!n || !e) return fail("invalid-key", "RSA JWK n or e missing or malformed", "n");
    // Bounds the modular arithmetic a key set can make us do: 16384 bits
    // is far beyond any RSA key in use (OpenSSL's own verify limit).
    if (n->size() > 2048 || e->size() > 8) return fail("invalid-key", "RSA JWK parameters too large", "n");
    bn_ptr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
    bn_ptr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
    if (!bn_n || !bn_e || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
      return fail("invalid-key", "out of memory building key");
    auto p = public_from_params("RSA", bld.get());
    if (!p) return hearth::unexpected(p.error());
    k->pkey = std::move(*p);
    k->type = key_type::rsa;
    k->bits = static_cast<std::size_t>(EVP_PKEY_get_bits(k->pkey.get()));
    if (k->alg && is_ec(*k->alg)) return fail("invalid-key", "JWK alg does not fit an RSA key", "alg");
  } else {
    return fail("unsupported-key", "JWK kty other than EC and RSA", "kty");
  }
  return key_access::make(std::move(k));
}

hearth::result<std::string> key::private_pem() const {
  if (!impl_->has_private) return fail("invalid-key", "key has no private part");
  bio_ptr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail("invalid-key", "cannot encode private key");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return fail("invalid-key", "cannot encode private key");
  return std::string(data, static_cast<std::size_t>(len));
}

hearth::result<void> key::save_private_pem(const std::filesystem::path& path) const {
  auto pem = private_pem();
  if (!pem) return hearth::unexpected(pem.error());
  // The temporary file sits beside the target, so rename() replaces it in
  // one step (POSIX rename is atomic within a file system).
  std::string tmp = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // POSIX: created with mode 0600, O_EXCL
  if (fd < 0) {
    OPENSSL_cleanse(pem->data(), pem->size());
    return fail("io", "cannot create temporary key file");
  }
  bool ok = true;
  std::error_code ec;
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace, ec);
  ok = !ec;
  for (std::size_t done = 0; ok && done < pem->size();) {
    const ssize_t n = ::write(fd, pem->data() + done, pem->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<std::size_t>(n);
  }
  OPENSSL_cleanse(pem->data(), pem->size());
  // fsync before rename: after a crash the new name never points at an empty file.
  if (ok && ::fsync(fd) != 0) ok = false;
  if (::close(fd) != 0) ok = false;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) {
    ::unlink(tmp.c_str());
    return fail("io", "cannot write private key file");
  }
  // The rename itself is durable once the directory is synced.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

key_type key::type() const noexcept { return impl_->type; }
std::size_t key::bits() const noexcept { return impl_->bits; }
bool key::has_private() const noexcept { return impl_->has_private; }
const std::string& key::kid() const noexcept { return impl_->kid; }
std::optional<algorithm> key::pinned_alg() const noexcept { return impl_->alg; }

bool key::accepts(algorithm alg) const noexcept {
  if (impl_->alg && *impl_->alg != alg) return false;
  switch (impl_->type) {
    case key_type::ec_p256: return alg == algorithm::es256;
    case key_type::ec_p384: return alg == algorithm::es384;
    // RFC 7518 3.3: "A key of size 2048 bits or larger MUST be used".
    case key_type::rsa: return !is_ec(alg) && impl_->bits >= 2048;
  }
  return false;
}

fhir::json_value key::public_jwk() const {
  const fhir::json_value req = required_members(*impl_);
  fhir::json_value jwk = fhir::json_value::object();
  jwk.set("kty", *req.find("kty"));
  for (const auto& m : req.members())
    if (m.key != "kty") jwk.set(m.key, m.value);
  if (!impl_->kid.empty()) jwk.set("kid", impl_->kid);
  std::optional<algorithm> alg = impl_->alg;
  if (!alg && impl_->type != key_type::rsa)
    alg = impl_->type == key_type::ec_p384 ? algorithm::es384 : algorithm::es256;
  if (alg) jwk.set("alg", std::string(to_string(*alg)));
  jwk.set("use", "sig");
  return jwk;
}

std::string key::thumbprint() const {
  auto t = jwk_thumbprint(required_members(*impl_));
  return t ? *t : std::string{};
}

hearth::result<std::string> jwk_thumbprint(const fhir::json_value& jwk) {
  const std::string* kty = jwk.is_object() ? string_member(jwk, "kty") : nullptr;
  if (kty == nullptr) return fail("invalid-key", "JWK without kty", "kty");
  // RFC 7638 section 3.2: required members only, lexicographic order.
  std::vector<std::string_view> names;
  if (*kty == "EC") names = {"crv", "kty", "x", "y"};
  else if (*kty == "RSA") names = {"e", "kty", "n"};
  else return fail("unsupported-key", "JWK kty other than EC and RSA", "kty");
  fhir::json_value canon = fhir::json_value::object();
  for (std::string_view n : names) {
    const std::string* v = string_member(jwk, n);
    if (v == nullptr) return fail("invalid-key", "JWK lacks a member its thumbprint needs", std::string(n));
    canon.set(n, *v);
  }
  // RFC 7638 3.3: the compact JSON (no whitespace); our writer escapes as
  // 3.3 asks for these base64url and ASCII values.
  const std::string digest = sha256(fhir::to_json(canon));
  if (digest.empty()) return fail("invalid-key", "SHA-256 failed");
  return b64url(digest);
}

// ---------------------------------------------------------------------------
// Key sets

hearth::result<key_set> key_set::from_jwks(std::string_view json) {
  auto doc = parse_plain_json(json, max_jwks_bytes);
  if (!doc) return fail("invalid-key", "JWKS is not valid JSON (or exceeds its limits)");
  const fhir::json_value* keys = doc->is_object() ? doc->find("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return fail("invalid-key", "JWKS has no keys array", "keys");
  key_set set;
  std::size_t i = 0;
  for (const auto& jwk : keys->items()) {
    const std::string where = "keys[" + std::to_string(i++) + "]";
    auto k = key::from_jwk(jwk);
    if (!k) {
      // RFC 7517 5: keys of a kty, curve or alg we do not take are skipped.
      if (k.error().code == "unsupported-key" || k.error().code == "unsupported-alg") continue;
      hearth::error e = std::move(k).error();
      e.location = where + (e.location.empty() ? "" : "." + e.location);
      return hearth::unexpected(std::move(e));
    }
    if (set.keys_.size() == max_keys) return fail("invalid-key", "JWKS holds more keys than allowed", "keys");
    set.keys_.push_back(std::move(*k));
  }
  return set;
}

void key_set::add(key k) { keys_.push_back(std::move(k)); }

fhir::json_value key_set::to_jwks() const {
  fhir::json_value arr = fhir::json_value::array();
  for (const auto& k : keys_) arr.push_back(k.public_jwk());
  fhir::json_value doc = fhir::json_value::object();
  doc.set("keys", std::move(arr));
  return doc;
}

// ---------------------------------------------------------------------------
// Signing

namespace {

/// The JWS signature of `input` (RFC 7518 3.3 / 3.4): for EC, R || S with
/// each integer left-padded to the coordinate size, converted from the DER
/// ECDSA-Sig-Value OpenSSL produces.
hearth::result<std::string> raw_sign(const key::impl& k, algorithm alg, std::string_view input) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest_of(alg), nullptr, k.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return fail("invalid-key", "signing failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return fail("invalid-key", "signing failed");
  sig.resize(len);
  if (!is_ec(alg)) return sig;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ecdsa_sig_ptr es(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())));
  if (!es) return fail("invalid-key", "signing failed");
  const int n = static_cast<int>(coordinate_bytes(k.type));
  std::string r = bn_to_bytes(ECDSA_SIG_get0_r(es.get()), n);
  std::string s = bn_to_bytes(ECDSA_SIG_get0_s(es.get()), n);
  if (r.empty() || s.empty()) return fail("invalid-key", "signing failed");
  return r + s;
}

}  // namespace

hearth::result<std::string> sign(const fhir::json_value& claims, const key& signing_key, const sign_options& opts) {
  if (!claims.is_object()) return fail("invalid-token", "JWT claims must be a JSON object");
  const key::impl& k = key_access::of(signing_key);
  if (!k.has_private) return fail("invalid-key", "signing needs a private key");
  algorithm alg = opts.alg.value_or(k.type == key_type::ec_p256   ? algorithm::es256
                                    : k.type == key_type::ec_p384 ? algorithm::es384
                                                                  : algorithm::rs256);
  if (!signing_key.accepts(alg)) return fail("unsupported-alg", "the key does not take this algorithm");
  fhir::json_value header = fhir::json_value::object();
  header.set("alg", std::string(to_string(alg)));
  header.set("typ", opts.typ);
  if (!k.kid.empty()) header.set("kid", k.kid);
  // RFC 7515 5.1: signing input = b64url(header) "." b64url(payload).
  std::string token = b64url(fhir::to_json(header)) + "." + b64url(fhir::to_json(claims));
  auto sig = raw_sign(k, alg, token);
  if (!sig) return hearth::unexpected(sig.error());
  token += '.';
  token += b64url(*sig);
  return token;
}

// ---------------------------------------------------------------------------
// Verification

namespace {

/// RFC 7515 4.1.9: typ is compared case-insensitively, and "application/"
/// may be left out.
std::string normalise_typ(std::string_view t) {
  std::string s(t);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::string_view prefix = "application/";
  if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0 && s.find('/', prefix.size()) == std::string::npos)
    s.erase(0, prefix.size());
  return s;
}

/// Checks `sig` over `input` with `k`. For EC, `sig` is R || S and becomes
/// DER for OpenSSL; a wrong length is a bad signature, never a truncation.
bool raw_verify(const key::impl& k, algorithm alg, std::string_view input, std::string_view sig) {
  std::string der;
  if (is_ec(alg)) {
    const std::size_t n = coordinate_bytes(k.type);
    if (sig.size() != 2 * n) return false;
    ecdsa_sig_ptr es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), static_cast<int>(n), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data() + n), static_cast<int>(n), nullptr);
    if (!es || r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(es.get(), &out);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    sig = der;
  }
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  // RSA keys default to PKCS#1 v1.5 padding, which RS256/RS384 are (RFC 7518 3.3).
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(alg), nullptr, k.pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

/// A NumericDate claim (RFC 7519 section 2: seconds since the epoch, may be
/// fractional): nullopt when absent; "invalid-token" when not a finite number.
hearth::result<std::optional<double>> numeric_date(const fhir::json_value& claims, std::string_view name) {
  const fhir::json_value* v = claims.find(name);
  if (v == nullptr) return std::optional<double>{};
  if (!v->is_number()) return fail("invalid-token", "time claim is not a number", std::string(name));
  const std::string& t = v->number_text();
  double d = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (ec != std::errc{} || end != t.data() + t.size() || !std::isfinite(d))
    return fail("invalid-token", "time claim is not a usable number", std::string(name));
  return std::optional<double>{d};
}

}  // namespace

hearth::result<verified_token> verify_signature(std::string_view token, const key_set& keys,
                                                const verify_options& opts) {
  if (token.size() > opts.max_token_bytes) return fail("invalid-token", "token larger than allowed");
  // RFC 7515 7.1: exactly three parts, two dots.
  const std::size_t d1 = token.find('.');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return fail("invalid-token", "token is not a compact JWS of three parts");
  const std::string_view h64 = token.substr(0, d1);
  const std::string_view p64 = token.substr(d1 + 1, d2 - d1 - 1);
  const std::string_view s64 = token.substr(d2 + 1);
  auto header_bytes = b64url_decode_strict(h64);
  auto payload_bytes = b64url_decode_strict(p64);
  auto sig = b64url_decode_strict(s64);
  if (!header_bytes || !payload_bytes || !sig || h64.empty() || p64.empty() || s64.empty())
    return fail("invalid-token", "token part is empty or not strict base64url");

  auto header = parse_plain_json(*header_bytes, opts.max_token_bytes);
  if (!header || !header->is_object()) return fail("invalid-token", "JOSE header is not a JSON object", "header");

  const fhir::json_value* alg_v = header->find("alg");
  if (alg_v == nullptr || !alg_v->is_string()) return fail("invalid-token", "JOSE header without alg", "header.alg");
  // The allow-list is the caller's, but only among the four: `none` and
  // HS* never parse (RFC 8725 3.1, 3.2).
  const std::optional<algorithm> alg = parse_algorithm(alg_v->str());
  if (!alg || std::find(opts.allowed_algs.begin(), opts.allowed_algs.end(), *alg) == opts.allowed_algs.end())
    return fail("unsupported-alg", "token algorithm not allowed", "header.alg");
  // RFC 7515 4.1.11: extensions we do not understand must be refused; we
  // understand none. Keys named in the token itself are never trusted
  // (SECURITY.md: embedded jwk, foreign jku/x5u).
  for (const char* m : {"crit", "jwk", "jku", "x5u", "x5c"})
    if (header->find(m) != nullptr) return fail("invalid-token", "JOSE header member not accepted", "header");
  if (opts.typ) {
    const std::string* typ = string_member(*header, "typ");
    if (typ == nullptr || normalise_typ(*typ) != normalise_typ(*opts.typ))
      return fail("invalid-token", "token typ is not the expected one", "header.typ");
  }
  std::optional<std::string> kid;
  if (const fhir::json_value* k = header->find("kid")) {
    if (!k->is_string()) return fail("invalid-token", "JOSE header kid is not a string", "header.kid");
    kid = k->str();
  }

  // The key: by kid, else the only key that takes the algorithm. The alg
  // must fit the key's own type (never the other way round: RFC 8725 3.1).
  const key* chosen = nullptr;
  bool kid_found = false;
  std::size_t candidates = 0;
  for (const key& k : keys.keys()) {
    if (kid && k.kid() != *kid) continue;
    kid_found = true;
    if (!k.accepts(*alg)) continue;
    ++candidates;
    chosen = &k;
  }
  if (candidates == 0 && kid && kid_found)
    return fail("unsupported-alg", "the key named by kid does not take the token's algorithm", "header.kid");
  if (candidates != 1)
    return fail("unknown-key", candidates == 0 ? "no key to verify the token with" : "several keys fit and the token names none",
                "header.kid");

  const std::string_view signing_input = token.substr(0, d2);
  if (!raw_verify(key_access::of(*chosen), *alg, signing_input, *sig)) return fail("bad-signature", "signature does not verify");

  auto claims = parse_plain_json(*payload_bytes, opts.max_token_bytes);
  if (!claims || !claims->is_object()) return fail("invalid-token", "JWT claims are not a JSON object", "payload");
  ERR_clear_error();
  return verified_token{std::move(*header), std::move(*claims), *alg, chosen->kid()};
}

hearth::result<verified_token> verify(std::string_view token, const key_set& keys, const verify_options& opts) {
  auto t = verify_signature(token, keys, opts);
  if (!t) return t;
  const fhir::json_value& c = t->claims;
  const auto now_tp = opts.clock ? opts.clock() : std::chrono::system_clock::now();
  const double now = std::chrono::duration<double>(now_tp.time_since_epoch()).count();
  const double leeway = static_cast<double>(opts.leeway.count());

  // RFC 7519 4.1.4: "the current date/time MUST be before" exp.
  auto exp = numeric_date(c, "exp");
  if (!exp) return hearth::unexpected(exp.error());
  if (!*exp) return fail("invalid-token", "token has no exp", "exp");
  if (!(now - leeway < **exp)) return fail("expired", "token has expired", "exp");
  // RFC 7519 4.1.5: "MUST be after or equal to" nbf.
  auto nbf = numeric_date(c, "nbf");
  if (!nbf) return hearth::unexpected(nbf.error());
  if (*nbf && **nbf > now + leeway) return fail("not-yet-valid", "token is not valid yet", "nbf");
  // A token issued in the future comes from a wrong clock or a forgery.
  auto iat = numeric_date(c, "iat");
  if (!iat) return hearth::unexpected(iat.error());
  if (*iat && **iat > now + leeway) return fail("not-yet-valid", "token issued in the future", "iat");
  // SMART Backend Services: the assertion's exp at most five minutes ahead.
  if (opts.max_lifetime && **exp > now + static_cast<double>(opts.max_lifetime->count()) + leeway)
    return fail("lifetime-too-long", "token lifetime exceeds the allowed maximum", "exp");

  // RFC 7519 4.1.1: iss is a case-sensitive string.
  const std::string* iss = string_member(c, "iss");
  if (iss == nullptr || opts.issuer.empty() || *iss != opts.issuer)
    return fail("wrong-issuer", "token issuer is not the expected one", "iss");
  // RFC 7519 4.1.3: aud is a string or an array of strings, one of which
  // must identify us.
  bool aud_ok = false;
  const fhir::json_value* aud = c.find("aud");
  if (aud != nullptr && aud->is_string()) {
    aud_ok = aud->str() == opts.audience;
  } else if (aud != nullptr && aud->is_array()) {
    for (const auto& a : aud->items()) {
      if (!a.is_string()) return fail("invalid-token", "aud array holds a non-string", "aud");
      aud_ok = aud_ok || a.str() == opts.audience;
    }
  }
  if (!aud_ok || opts.audience.empty()) return fail("wrong-audience", "token audience does not include this server", "aud");
  return t;
}

}  // namespace hearth::server::jwt
