// The authorisation server's persisted state: refresh tokens (as hashes),
// revocations and assertion jtis in an append-only file (auth_server_detail.hpp,
// token_store). One fsync per change: a refresh token or a revocation that
// was answered is on disk.

#include "auth_server_detail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::server::auth::detail {

namespace {

namespace fs = std::filesystem;

/// Largest token file read at start. A refresh line is about 600 bytes;
/// 256 MiB is several hundred thousand live grants, beyond what one process
/// should hold in memory, and a bound on start-up time.
constexpr std::uintmax_t max_file_bytes = 256u << 20;
/// Longest line: a refresh line with an 8 KiB scope and its other fields.
constexpr std::size_t max_line_bytes = 32u << 10;
/// Compaction: when the file has at least this many lines and more than
/// compact_ratio lines per live record, it is rewritten with the live ones.
/// A rewrite of a few hundred short lines costs less than the fsyncs that
/// wrote them; the ratio keeps a large live set from being rewritten often.
constexpr std::size_t compact_min_lines = 256;
constexpr std::size_t compact_ratio = 4;
/// Expired records are dropped from memory at most this often.
constexpr std::int64_t sweep_interval_s = 60;
/// revocation_margin in seconds.
constexpr std::int64_t revocation_margin_s = revocation_margin.count();

hearth::error io_error(std::string message) {
  return hearth::error{"io", std::move(message), {}, hearth::error::npos};
}

hearth::error corrupt(std::size_t line) {
  return hearth::error{"corrupt", "the token file has an unreadable line", "line " + std::to_string(line),
                       hearth::error::npos};
}

fhir::json_value num(std::int64_t v) { return fhir::json_value::number(std::to_string(v)); }

/// Writes all of `text` to `fd`; false on an error.
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsync_dir(const fs::path& dir) {
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return false;
  const bool ok = ::fsync(d) == 0;
  ::close(d);
  return ok;
}

fhir::json_value refresh_line(const std::string& hash, const refresh_record& r) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "refresh");
  o.set("h", hash);
  o.set("family", r.family);
  o.set("client", r.client_id);
  o.set("sub", r.subject);
  o.set("scope", r.scope);
  o.set("patient", r.patient);
  o.set("encounter", r.encounter);
  o.set("fhirUser", r.fhir_user);
  o.set("exp", num(r.exp));
  return o;
}

}  // namespace

token_store::~token_store() {
  if (fd_ >= 0) ::close(fd_);
}

hearth::result<std::unique_ptr<token_store>> token_store::open(const fs::path& dir, std::int64_t now) {
  std::unique_ptr<token_store> s(new token_store());
  s->dir_ = dir;
  s->path_ = dir / "tokens.log";
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return hearth::unexpected(io_error("cannot create the auth state directory"));
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  // O_NOFOLLOW: the file is ours; a symlink there is someone else's doing.
  s->fd_ = ::open(s->path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s->fd_ < 0) return hearth::unexpected(io_error("cannot open the token file"));
  struct stat st {};
  if (::fstat(s->fd_, &st) != 0 || !S_ISREG(st.st_mode)) return hearth::unexpected(io_error("the token file is not a file"));
  if ((st.st_mode & 077) != 0) {
    // Refresh token hashes and revocations: readable by others, they show
    // who holds grants; writable by others, revocations could be undone.
    return hearth::unexpected(hearth::error{"insecure", "the token file is accessible to group or others (chmod 600)",
                                            s->path_.string(), hearth::error::npos});
  }
  if (static_cast<std::uintmax_t>(st.st_size) > max_file_bytes) {
    return hearth::unexpected(io_error("the token file is larger than 256 MiB"));
  }

  std::string text;
  {
    std::ifstream in(s->path_, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) return hearth::unexpected(io_error("cannot read the token file"));
  }
  fhir::json_read_options jo;
  jo.fhir_rules = false;  // empty strings are normal here
  jo.max_bytes = max_line_bytes;
  jo.max_depth = 2;
  std::size_t pos = 0;
  std::size_t line_no = 0;
  std::size_t good_end = 0;  // end of the last complete, readable line
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    ++line_no;
    if (nl == std::string::npos) {
      // A torn last line: the write was never acknowledged. Cut it off so
      // that the next append starts on a line of its own.
      break;
    }
    const std::string_view line(text.data() + pos, nl - pos);
    auto v = fhir::parse_json(line, jo);
    hearth::result<void> applied = v && v->is_object() ? s->apply(*v, now)
                                                        : hearth::result<void>(hearth::unexpected(corrupt(line_no)));
    if (!applied) {
      const bool last = text.find('\n', nl + 1) == std::string::npos;
      if (!last) return hearth::unexpected(corrupt(line_no));
      break;  // a last line garbled by a crash (e.g. NULs after a power loss): never acknowledged
    }
    ++s->lines_;
    pos = nl + 1;
    good_end = pos;
  }
  if (good_end < text.size()) {
    if (::ftruncate(s->fd_, static_cast<off_t>(good_end)) != 0 || ::fsync(s->fd_) != 0) {
      return hearth::unexpected(io_error("cannot cut a torn line off the token file"));
    }
  }
  s->drop_expired(now);
  if (s->lines_ >= compact_min_lines && s->lines_ > compact_ratio * s->live_records()) {
    if (auto r = s->compact(now); !r) return hearth::unexpected(std::move(r).error());
  }
  return s;
}

hearth::result<void> token_store::apply(const fhir::json_value& o, std::int64_t /*now*/) {
  const std::string op = str_member(o, "op");
  if (op == "refresh") {
    refresh_record r;
    const std::string h = str_member(o, "h");
    r.family = str_member(o, "family");
    r.client_id = str_member(o, "client");
    r.subject = str_member(o, "sub");
    r.scope = str_member(o, "scope");
    r.patient = str_member(o, "patient");
    r.encounter = str_member(o, "encounter");
    r.fhir_user = str_member(o, "fhirUser");
    const auto exp = int_member(o, "exp");
    if (h.empty() || r.family.empty() || r.client_id.empty() || !exp) return hearth::unexpected(corrupt(0));
    r.exp = *exp;
    family_record& f = families_[r.family];
    if (f.client_id.empty()) f.client_id = r.client_id;
    f.exp = std::max(f.exp, r.exp);
    refresh_[h] = std::move(r);
    return {};
  }
  if (op == "spend") {
    auto it = refresh_.find(str_member(o, "h"));
    if (it != refresh_.end()) it->second.spent = true;
    return {};
  }
  if (op == "access") {
    const std::string family = str_member(o, "family");
    const std::string jti = str_member(o, "jti");
    const auto exp = int_member(o, "exp");
    if (family.empty() || jti.empty() || !exp) return hearth::unexpected(corrupt(0));
    family_record& f = families_[family];
    f.access.emplace_back(jti, *exp);
    f.exp = std::max(f.exp, *exp);
    if (f.revoked) revoked_[jti] = *exp;
    return {};
  }
  if (op == "revoke_family") {
    auto it = families_.find(str_member(o, "family"));
    if (it != families_.end()) {
      it->second.revoked = true;
      for (const auto& [jti, exp] : it->second.access) revoked_[jti] = exp;
    }
    return {};
  }
  if (op == "revoke") {
    const std::string jti = str_member(o, "jti");
    const auto exp = int_member(o, "exp");
    if (jti.empty() || !exp) return hearth::unexpected(corrupt(0));
    revoked_[jti] = *exp;
    return {};
  }
  if (op == "assertion") {
    const std::string client = str_member(o, "client");
    const std::string jti = str_member(o, "jti");
    const auto exp = int_member(o, "exp");
    if (client.empty() || jti.empty() || !exp) return hearth::unexpected(corrupt(0));
    assertions_[client + '\n' + jti] = *exp;
    return {};
  }
  return hearth::unexpected(corrupt(0));
}

hearth::result<void> token_store::append(const fhir::json_value& line) {
  std::string text = fhir::to_json(line);
  text.push_back('\n');
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return hearth::unexpected(io_error("cannot stat the token file"));
  if (!write_all(fd_, text) || ::fsync(fd_) != 0) {
    // Leave no torn line behind for the next append to continue.
    if (::ftruncate(fd_, st.st_size) != 0) {
      // Nothing more to do: the next start cuts a torn last line off.
    }
    return hearth::unexpected(io_error("cannot write the token file"));
  }
  ++lines_;
  return {};
}

hearth::result<void> token_store::commit(const fhir::json_value& line, std::int64_t now) {
  if (auto w = append(line); !w) return w;
  if (auto a = apply(line, now); !a) return a;
  if (now - last_sweep_ >= sweep_interval_s) drop_expired(now);
  if (lines_ >= compact_min_lines && lines_ > compact_ratio * live_records()) {
    // A failed compaction leaves the old file in place: still correct.
    (void)compact(now);
  }
  return {};
}

void token_store::drop_expired(std::int64_t now) {
  last_sweep_ = now;
  std::erase_if(refresh_, [now](const auto& kv) { return kv.second.exp <= now; });
  // Revoked jtis (and the family lists they come from) stay for the margin.
  const std::int64_t cut = now - revocation_margin_s;
  std::erase_if(families_, [cut](const auto& kv) { return kv.second.exp <= cut; });
  for (auto& [id, f] : families_) {
    std::erase_if(f.access, [cut](const auto& a) { return a.second <= cut; });
  }
  std::erase_if(revoked_, [cut](const auto& kv) { return kv.second <= cut; });
  std::erase_if(assertions_, [now](const auto& kv) { return kv.second <= now; });
}

std::size_t token_store::live_records() const noexcept {
  std::size_t n = refresh_.size() + revoked_.size() + assertions_.size();
  for (const auto& [id, f] : families_) n += f.access.size() + (f.revoked ? 1 : 0);
  return n;
}

hearth::result<void> token_store::compact(std::int64_t now) {
  drop_expired(now);
  std::string text;
  std::size_t lines = 0;
  auto add = [&](const fhir::json_value& v) {
    fhir::write_json(text, v);
    text.push_back('\n');
    ++lines;
  };
  for (const auto& [h, r] : refresh_) {
    add(refresh_line(h, r));
    if (r.spent) {
      fhir::json_value o = fhir::json_value::object();
      o.set("op", "spend");
      o.set("h", h);
      add(o);
    }
  }
  for (const auto& [id, f] : families_) {
    for (const auto& [jti, exp] : f.access) {
      fhir::json_value o = fhir::json_value::object();
      o.set("op", "access");
      o.set("family", id);
      o.set("jti", jti);
      o.set("exp", num(exp));
      add(o);
    }
    if (f.revoked) {
      fhir::json_value o = fhir::json_value::object();
      o.set("op", "revoke_family");
      o.set("family", id);
      add(o);
    }
  }
  for (const auto& [jti, exp] : revoked_) {
    fhir::json_value o = fhir::json_value::object();
    o.set("op", "revoke");
    o.set("jti", jti);
    o.set("exp", num(exp));
    add(o);
  }
  for (const auto& [key, exp] : assertions_) {
    const std::size_t nl = key.find('\n');
    fhir::json_value o = fhir::json_value::object();
    o.set("op", "assertion");
    o.set("client", key.substr(0, nl));
    o.set("jti", key.substr(nl + 1));
    o.set("exp", num(exp));
    add(o);
  }
  // A temporary file beside the old one, fsync'd, renamed over it, and the
  // directory fsync'd: a crash leaves the old file or the whole new one.
  const fs::path tmp = dir_ / "tokens.log.tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return hearth::unexpected(io_error("cannot create the compacted token file"));
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return hearth::unexpected(io_error("cannot write the compacted token file"));
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return hearth::unexpected(io_error("cannot replace the token file"));
  }
  (void)fsync_dir(dir_);  // the rename is durable at the next fsync of the directory at worst
  // The new file is open for writing already; keep appending to it.
  ::close(fd_);
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  ::close(fd);
  if (fd_ < 0) return hearth::unexpected(io_error("cannot reopen the token file"));
  lines_ = lines;
  return {};
}

const refresh_record* token_store::find_refresh(const std::string& hash, std::int64_t now) const {
  auto it = refresh_.find(hash);
  if (it == refresh_.end() || it->second.exp <= now) return nullptr;
  return &it->second;
}

const family_record* token_store::find_family(const std::string& family) const {
  auto it = families_.find(family);
  return it == families_.end() ? nullptr : &it->second;
}

bool token_store::is_revoked(std::string_view jti, std::int64_t now) const {
  auto it = revoked_.find(std::string(jti));
  return it != revoked_.end() && it->second + revocation_margin_s > now;
}

bool token_store::assertion_seen(const std::string& client, const std::string& jti, std::int64_t now) const {
  auto it = assertions_.find(client + '\n' + jti);
  return it != assertions_.end() && it->second > now;
}

hearth::result<void> token_store::add_refresh(const std::string& hash, const refresh_record& r, std::int64_t now) {
  const fhir::json_value line = refresh_line(hash, r);
  return commit(line, now);
}

hearth::result<void> token_store::spend(const std::string& hash, std::int64_t now) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "spend");
  o.set("h", hash);
  return commit(o, now);
}

hearth::result<void> token_store::add_access(const std::string& family, const std::string& jti, std::int64_t exp,
                                             std::int64_t now) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "access");
  o.set("family", family);
  o.set("jti", jti);
  o.set("exp", num(exp));
  return commit(o, now);
}

hearth::result<void> token_store::revoke_family(const std::string& family, std::int64_t now) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "revoke_family");
  o.set("family", family);
  return commit(o, now);
}

hearth::result<void> token_store::revoke(const std::string& jti, std::int64_t exp, std::int64_t now) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "revoke");
  o.set("jti", jti);
  o.set("exp", num(exp));
  return commit(o, now);
}

hearth::result<void> token_store::revoke_client(const std::string& client, std::int64_t now) {
  std::vector<std::string> ids;
  for (const auto& [id, f] : families_) {
    if (f.client_id == client && !f.revoked) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    if (auto r = revoke_family(id, now); !r) return r;
  }
  return {};
}

hearth::result<void> token_store::remember_assertion(const std::string& client, const std::string& jti,
                                                     std::int64_t exp, std::int64_t now) {
  fhir::json_value o = fhir::json_value::object();
  o.set("op", "assertion");
  o.set("client", client);
  o.set("jti", jti);
  o.set("exp", num(exp));
  return commit(o, now);
}

// --- registered clients (clients.json) -----------------------------------------

namespace {

/// Largest clients.json read: max_registered_clients registrations of at
/// most max_registration_bytes each.
constexpr std::uintmax_t max_client_file_bytes = max_registered_clients * max_registration_bytes;

}  // namespace

hearth::result<std::optional<fhir::json_value>> read_client_file(const fs::path& dir) {
  const fs::path path = dir / "clients.json";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<fhir::json_value>();
    return hearth::unexpected(io_error("cannot open clients.json"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return hearth::unexpected(io_error("clients.json is not a file"));
  }
  if ((st.st_mode & 077) != 0) {
    // Writable by others, anyone could register a client; readable, it
    // tells which clients exist. As with the token file: refuse.
    ::close(fd);
    return hearth::unexpected(hearth::error{"insecure", "clients.json is accessible to group or others (chmod 600)",
                                            path.string(), hearth::error::npos});
  }
  if (static_cast<std::uintmax_t>(st.st_size) > max_client_file_bytes) {
    ::close(fd);
    return hearth::unexpected(io_error("clients.json is larger than the registry can hold"));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != text.size()) return hearth::unexpected(io_error("cannot read clients.json"));
  fhir::json_read_options jo;
  jo.fhir_rules = false;
  jo.max_bytes = static_cast<std::size_t>(max_client_file_bytes);
  jo.max_depth = 16;  // {"clients":[{"jwks":{"keys":[{"x5c":[...]}]}}]} is 7 deep
  auto v = fhir::parse_json(text, jo);
  if (!v || !v->is_object()) {
    // Written atomically: a file that does not parse was not written by us.
    return hearth::unexpected(hearth::error{"corrupt", "clients.json cannot be read as JSON", path.string(),
                                            hearth::error::npos});
  }
  return std::optional<fhir::json_value>(std::move(*v));
}

hearth::result<void> write_client_file(const fs::path& dir, const fhir::json_value& doc) {
  std::string text = fhir::to_json(doc);
  text.push_back('\n');
  const fs::path path = dir / "clients.json";
  const fs::path tmp = dir / "clients.json.tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return hearth::unexpected(io_error("cannot create clients.json.tmp"));
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return hearth::unexpected(io_error("cannot write clients.json.tmp"));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return hearth::unexpected(io_error("cannot replace clients.json"));
  }
  // The rename is what makes the change durable; without the directory's
  // fsync a crash could bring the old list back after we answered.
  if (!fsync_dir(dir)) return hearth::unexpected(io_error("cannot sync the auth state directory"));
  return {};
}

}  // namespace hearth::server::auth::detail
