#include "detail/audit_writer.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <stdexcept>

#include <openssl/evp.h>

#include "detail/prepared.hpp"

namespace hearth::store::detail {

namespace {

/// Steps a statement past its one row: an unfinished SELECT keeps its read
/// snapshot open in SQLite (see version_writer.cpp).
void finish(soci::statement& st) {
  while (st.fetch()) {
  }
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not what the chain writes: refused
}

std::optional<std::array<std::uint8_t, 32>> digest_of_hex(std::string_view hex) noexcept {
  if (hex.size() != 64) return std::nullopt;
  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = hex_digit(hex[2 * i]);
    const int lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

std::optional<std::string> audit_link_hash(std::string_view prev_hex, std::string_view json) {
  const auto prev = digest_of_hex(prev_hex);
  if (!prev) return std::nullopt;
  // OpenSSL's SHA-256 (FIPS 180-4), not the store's portable one
  // (detail/sha256.hpp): every event of the process is hashed on the one
  // writer thread, and OpenSSL's uses the CPU's SHA extensions (measured:
  // ~1.5 µs instead of ~10-20 µs for a 2 KiB event).
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), prev->data(), prev->size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), json.data(), json.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) != 1 || size != 32) {
    return std::nullopt;  // the append fails (closed), the verification reports the link broken
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned int i = 0; i < size; ++i) {
    const std::uint8_t b = digest[i];
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

struct audit_writer::impl {
  impl(soci::session& sql, engine kind) {
    using soci::into;
    using soci::use;
    // PostgreSQL: the head row stays locked until the transaction ends, so
    // that another process's append waits for this one to commit (or roll
    // back) and then chains onto it. SQLite: the writer holds the database
    // lock from BEGIN IMMEDIATE already.
    head = prepare_bound(sql,
                         kind == engine::postgresql ? "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                                                    : "SELECT seq, hash FROM audit_head WHERE id = 1",
                         into(head_seq), into(head_hash));
    event = prepare_bound(
        sql,
        "INSERT INTO audit_event (seq, id, recorded, last_updated, type_system, type_code, subtype_system,"
        " subtype_code, action, outcome, json, prev_hash, hash) VALUES (:seq, :id, :recorded, :last_updated,"
        " :type_system, :type_code, :subtype_system, :subtype_code, :action, :outcome, :json, :prev_hash, :hash)",
        use(seq, "seq"), use(id, "id"), use(recorded, "recorded"), use(last_updated, "last_updated"),
        use(type_system, "type_system"), use(type_code, "type_code"), use(subtype_system, "subtype_system"),
        use(subtype_code, "subtype_code"), use(action, "action"), use(outcome, "outcome"), use(json, "json"),
        use(prev_hash, "prev_hash"), use(hash, "hash"));
    ref = prepare_bound(sql,
                        "INSERT INTO audit_event_ref (kind, ref_id, ref_type, seq) VALUES (:kind, :ref_id, :ref_type,"
                        " :seq)",
                        use(ref_kind, "kind"), use(ref_id, "ref_id"), use(ref_type, "ref_type"), use(seq, "seq"));
    move = prepare_bound(sql, "UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1", use(seq, "seq"),
                         use(hash, "hash"));
  }

  // The fields the statements are bound to (their addresses never change).
  long long head_seq = 0;
  std::string head_hash;
  long long seq = 0, recorded = 0, last_updated = 0;
  std::string id, type_system, type_code, subtype_system, subtype_code, action, outcome, json, prev_hash, hash;
  int ref_kind = 0;
  std::string ref_id, ref_type;

  std::unique_ptr<soci::statement> head, event, ref, move;
};

audit_writer::audit_writer(soci::session& sql, engine kind)
    : impl_(std::make_unique<impl>(sql, kind)), sql_(&sql), bulk_(kind == engine::postgresql) {}

audit_writer::~audit_writer() = default;

audit_chain_head audit_writer::read_head() {
  impl& m = *impl_;
  // The migration inserts the one row; without it the trail is damaged:
  // refuse to append rather than start a second chain.
  if (!m.head->execute(true)) throw std::runtime_error("the audit chain head is missing");
  audit_chain_head h{m.head_seq, m.head_hash};
  finish(*m.head);
  return h;
}

namespace {

/// Rows per multi-row INSERT on PostgreSQL: 64 events (13 values each) or
/// 512 references (4 each) keep a statement far below PostgreSQL's 65535
/// parameters and a few hundred KiB, while a batch of 1000 events takes
/// about 20 round trips instead of 6000.
constexpr std::size_t bulk_events = 64;
constexpr std::size_t bulk_refs = 512;

/// Builds one multi-row INSERT: constant text and :pN placeholders, each
/// value bound by reference (the caller's strings, or integers kept here).
class bulk_insert {
 public:
  bulk_insert(soci::session& sql, const char* head) : st_(sql), text_(head) {}

  void row_begin() { text_ += rows_++ == 0 ? "(" : ", ("; first_ = true; }
  void row_end() { text_ += ")"; }
  void value(const std::string& v) { st_.exchange(soci::use(v, next())); }
  void value(long long v) {
    ints_.push_back(v);
    st_.exchange(soci::use(ints_.back(), next()));
  }
  void run() {
    if (rows_ == 0) return;
    st_.alloc();
    // One-time: PQexecParams, one round trip, no named statement to free.
    st_.prepare(text_, soci::details::st_one_time_query);
    st_.define_and_bind();
    st_.execute(true);
  }

 private:
  std::string next() {
    std::string name = "p" + std::to_string(params_++);
    text_ += first_ ? ":" : ", :";
    text_ += name;
    first_ = false;
    return name;
  }

  soci::statement st_;
  std::string text_;
  std::deque<long long> ints_;  ///< stable addresses for the bound integers
  std::size_t rows_ = 0, params_ = 0;
  bool first_ = true;
};

}  // namespace

void audit_writer::insert_events(std::span<const prepared_audit_event> events, long long first_seq,
                                 const std::string& prev_hash, const std::vector<std::string>& hashes) {
  auto prev_of = [&](std::size_t i) -> const std::string& { return i == 0 ? prev_hash : hashes[i - 1]; };
  if (!bulk_) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      insert_event(events[i], first_seq + static_cast<long long>(i), prev_of(i), hashes[i]);
      for (const audit_ref& r : events[i].refs) insert_ref(r, first_seq + static_cast<long long>(i));
    }
    return;
  }
  for (std::size_t start = 0; start < events.size(); start += bulk_events) {
    bulk_insert ins(*sql_,
                    "INSERT INTO audit_event (seq, id, recorded, last_updated, type_system, type_code, subtype_system,"
                    " subtype_code, action, outcome, json, prev_hash, hash) VALUES ");
    for (std::size_t i = start; i < std::min(events.size(), start + bulk_events); ++i) {
      const prepared_audit_event& e = events[i];
      ins.row_begin();
      ins.value(first_seq + static_cast<long long>(i));
      ins.value(e.id);
      ins.value(e.recorded);
      ins.value(e.last_updated);
      ins.value(e.type_system);
      ins.value(e.type_code);
      ins.value(e.subtype_system);
      ins.value(e.subtype_code);
      ins.value(e.action);
      ins.value(e.outcome);
      ins.value(e.json);
      ins.value(prev_of(i));
      ins.value(hashes[i]);
      ins.row_end();
    }
    ins.run();
  }
  std::size_t in_statement = 0;
  std::optional<bulk_insert> refs;
  for (std::size_t i = 0; i < events.size(); ++i) {
    for (const audit_ref& r : events[i].refs) {
      if (!refs) refs.emplace(*sql_, "INSERT INTO audit_event_ref (kind, ref_id, ref_type, seq) VALUES ");
      refs->row_begin();
      refs->value(static_cast<long long>(r.kind));
      refs->value(r.id);
      refs->value(r.type);
      refs->value(first_seq + static_cast<long long>(i));
      refs->row_end();
      if (++in_statement == bulk_refs) {
        refs->run();
        refs.reset();
        in_statement = 0;
      }
    }
  }
  if (refs) refs->run();
}

void audit_writer::insert_event(const prepared_audit_event& e, long long seq, const std::string& prev_hash,
                                const std::string& hash) {
  impl& m = *impl_;
  m.seq = seq;
  m.id = e.id;
  m.recorded = e.recorded;
  m.last_updated = e.last_updated;
  m.type_system = e.type_system;
  m.type_code = e.type_code;
  m.subtype_system = e.subtype_system;
  m.subtype_code = e.subtype_code;
  m.action = e.action;
  m.outcome = e.outcome;
  m.json = e.json;
  m.prev_hash = prev_hash;
  m.hash = hash;
  m.event->execute(true);
}

void audit_writer::insert_ref(const audit_ref& r, long long seq) {
  impl& m = *impl_;
  m.ref_kind = r.kind;
  m.ref_id = r.id;
  m.ref_type = r.type;
  m.seq = seq;
  m.ref->execute(true);
}

void audit_writer::write_head(const audit_chain_head& h) {
  impl& m = *impl_;
  m.seq = h.seq;
  m.hash = h.hash;
  m.move->execute(true);
}

}  // namespace hearth::store::detail
