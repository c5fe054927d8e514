// The ACK builder (HL7 v2.5.1 2.9, 2.14.1, 2.15.5, 2.15.8, 2.15.9).

#include <hearth/hl7v2/ack.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/core/utf8.hpp>
#include <hearth/hl7v2/writer.hpp>

namespace hearth::hl7v2 {
namespace {

// Longest value read from an unparsable message's MSH: ST fields such as MSH-10
// and the HD components of MSH-3..6 are at most 199 characters from v2.7 on
// (20 in v2.5.1). An ACK must not echo a megabyte of garbage.
constexpr std::size_t max_echoed_bytes = 199;

// MSA-3 is ST(80) in v2.3/v2.4 (2.15.8.3): receivers of those versions often
// read it into a fixed buffer.
constexpr std::size_t msa3_max_bytes = 80;

// Our own issue texts are short; the cap only guards a caller's mistake.
constexpr std::size_t max_issue_text_bytes = 2048;

// ---------------------------------------------------------------- versions

// MSH-12.1 as far as the ACK's form depends on it.
struct version_info {
  bool known = false;  // a "2.x[.y]" version was read
  int minor = 0;       // 5 for "2.5.1"
  int patch = 0;       // 1 for "2.5.1"
};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Reads up to 3 digits into n; returns the digits read.
std::size_t read_number(std::string_view s, std::size_t i, int& n) noexcept {
  std::size_t start = i;
  n = 0;
  while (i < s.size() && is_digit(s[i]) && i - start < 3) n = n * 10 + (s[i++] - '0');
  return i - start;
}

version_info parse_version(std::string_view v) noexcept {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  version_info out;
  if (v.size() < 3 || v[0] != '2' || v[1] != '.') return out;
  std::size_t i = 2;
  std::size_t n = read_number(v, i, out.minor);
  if (n == 0 || out.minor < 1) return out;
  i += n;
  if (i < v.size()) {
    if (v[i] != '.') return out;
    n = read_number(v, i + 1, out.patch);
    if (n == 0) return out;
    i += 1 + n;
    if (i != v.size()) return out;
  }
  out.known = true;
  return out;
}

// ERR in the v2.5 form (ERR-2..8, one segment per issue) from v2.5 on
// (2.15.5); before that ERR-1 ELD only (v2.3 2.16.5) and MSA-3 for the text.
// An unknown version gets the older form, which every version still reads
// (ERR-1 and MSA-3 are kept "for backward compatibility" in v2.5).
bool has_v25_err(const version_info& v) noexcept { return v.known && v.minor >= 5; }

// MSH-9.3, the message structure, exists from v2.3.1 on (2.15.9.9). An
// unknown version gets it: a receiver of an older version ignores a component
// it does not know (2.9 rule: extra components are ignored).
bool has_message_structure(const version_info& v) noexcept {
  return !v.known || v.minor > 3 || (v.minor == 3 && v.patch >= 1);
}

// -------------------------------------------------------------- conditions

// Table 0155, accept/application acknowledgment conditions.
enum class condition { always, never, error_only, success_only };

// Empty or unknown: AL (see build_ack in ack.hpp for why).
condition parse_condition(std::string_view raw) noexcept {
  raw = hearth::text::trim(raw);
  if (hearth::text::iequals(raw, "NE")) return condition::never;
  if (hearth::text::iequals(raw, "ER")) return condition::error_only;
  if (hearth::text::iequals(raw, "SU")) return condition::success_only;
  return condition::always;
}

bool send_under(condition c, outcome o) noexcept {
  switch (c) {
    case condition::never: return false;
    case condition::error_only: return o != outcome::accepted;
    case condition::success_only: return o == outcome::accepted;
    case condition::always: break;
  }
  return true;
}

// Valued: not empty, and not the HL7 null "" (which for MSH-15/16 means
// nothing more than "not valued").
bool valued(std::string_view raw) noexcept {
  raw = hearth::text::trim(raw);
  return !raw.empty() && raw != "\"\"";
}

ack_code application_code(outcome o) noexcept {
  switch (o) {
    case outcome::error: return ack_code::AE;
    case outcome::rejected: return ack_code::AR;
    case outcome::accepted: break;
  }
  return ack_code::AA;
}

ack_code commit_code(outcome o) noexcept {
  switch (o) {
    case outcome::error: return ack_code::CE;
    case outcome::rejected: return ack_code::CR;
    case outcome::accepted: break;
  }
  return ack_code::CA;
}

// -------------------------------------------------------------------- text

std::size_t utf8_length(unsigned char lead) noexcept {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  return 2;
}

// `s` fit for the ACK: control characters become spaces (a CR would end the
// segment), invalid UTF-8 and, when the ACK's character set is not UTF-8,
// every non-ASCII character becomes '?'; at most max_bytes bytes, cut at a
// character boundary.
std::string clean(std::string_view s, bool ascii_only, std::size_t max_bytes) {
  const bool valid = hearth::utf8::find_invalid(s) == hearth::utf8::npos;
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::string_view piece;
    if (c < 0x80) {
      piece = (c < 0x20 || c == 0x7F) ? std::string_view(" ") : s.substr(i, 1);
      ++i;
    } else if (valid) {
      const std::size_t len = std::min(utf8_length(c), s.size() - i);
      piece = ascii_only ? std::string_view("?") : s.substr(i, len);
      i += len;
    } else {
      piece = "?";
      ++i;
    }
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
  }
  return out;
}

// ---------------------------------------------------- timestamp, control id

struct utc_time {
  int year, month, day, hour, minute, second;
};

utc_time now_utc() {
  using namespace std::chrono;
  const auto secs = floor<seconds>(system_clock::now());
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  return {static_cast<int>(ymd.year()),       static_cast<int>(unsigned(ymd.month())),
          static_cast<int>(unsigned(ymd.day())), static_cast<int>(hms.hours().count()),
          static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count())};
}

// "YYYYMMDDHHMMSS": DTM to the second (2.A.22).
std::string dtm_seconds(const utc_time& t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return buf;
}

std::string now_dtm() { return dtm_seconds(now_utc()) + "+0000"; }

// The time to the second and a 6-digit counter: unique within a process for up
// to a million ACKs a second. The counter starts at a random value, so that
// several hearth processes behind one load balancer are unlikely to collide.
std::string next_control_id() {
  static std::atomic<std::uint32_t> counter{[] {
    try {
      return static_cast<std::uint32_t>(std::random_device{}());
    } catch (...) {  // no entropy source: the clock will do
      return static_cast<std::uint32_t>(
          std::chrono::steady_clock::now().time_since_epoch().count());
    }
  }()};
  const std::uint32_t n = counter.fetch_add(1, std::memory_order_relaxed) % 1'000'000u;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06u", static_cast<unsigned>(n));
  return dtm_seconds(now_utc()) + buf;
}

// ------------------------------------------------------------------ fields

// Sets `field` to an HD (or any composite) given in the default notation,
// "^" between components and "&" between subcomponents, re-encoded.
void set_composite(segment_builder& seg, std::size_t field, std::string_view notation,
                   bool ascii_only) {
  std::size_t component = 1;
  for (std::size_t start = 0;; ++component) {
    const std::size_t end = std::min(notation.find('^', start), notation.size());
    const std::string_view comp = notation.substr(start, end - start);
    std::size_t sub = 1;
    for (std::size_t s = 0;; ++sub) {
      const std::size_t e = std::min(comp.find('&', s), comp.size());
      const std::string_view text = comp.substr(s, e - s);
      if (!text.empty()) {
        seg.set(field, 1, component, sub, clean(text, ascii_only, max_echoed_bytes));
      }
      if (e == comp.size()) break;
      s = e + 1;
    }
    if (end == notation.size()) break;
    start = end + 1;
  }
}

// set_raw, unless the value is empty: the writer then leaves trailing empty
// fields out (2.5.3).
void copy_raw(segment_builder& seg, std::size_t field, std::string_view raw) {
  if (!raw.empty()) seg.set_raw(field, raw);
}

void set_ack_type(segment_builder& msh, bool enhanced) {
  // An ACK is not itself acknowledged (2.9.2, 2.9.3): in enhanced mode say so
  // with NE in MSH-15 and MSH-16; in original mode leave both empty, as the
  // mode requires.
  if (enhanced) {
    msh.set(15, "NE");
    msh.set(16, "NE");
  }
}

// ------------------------------------------------------------- ERR, MSA-3

bool valid_segment_id(std::string_view id) noexcept {
  if (id.size() != 3) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || is_digit(c); });
}

// ERL.1 and ERL.2: the segment id and its occurrence among segments with that
// id (1 for the first PID), from the issue's position and the ids of the
// message's segments. Unknown parts stay empty (id "", sequence 0).
struct segment_location {
  std::string id;
  std::size_t sequence = 0;
};

segment_location locate(const position& w, std::span<const std::string_view> ids) {
  segment_location out;
  if (valid_segment_id(w.segment_id)) out.id = w.segment_id;
  if (w.segment_index == 0 || w.segment_index > ids.size()) return out;
  const std::string_view at = ids[w.segment_index - 1];
  if (out.id.empty() && valid_segment_id(at)) out.id = std::string(at);
  if (out.id.empty() || at != out.id) return out;
  out.sequence = static_cast<std::size_t>(
      std::count(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(w.segment_index), at));
  return out;
}

// The highest segment index the first `n` issues refer to: how many segment
// ids locate() needs.
std::size_t ids_needed(std::span<const ack_issue> issues) noexcept {
  std::size_t most = 0;
  for (const ack_issue& i : issues) most = std::max(most, i.where.segment_index);
  return most;
}

void set_number(segment_builder& seg, std::size_t field, std::size_t rep, std::size_t comp,
                std::size_t sub, std::size_t value) {
  if (value != 0) seg.set(field, rep, comp, sub, std::to_string(value));
}

std::string code_number(error_code c) {
  return std::to_string(static_cast<unsigned>(c));
}

// MSA-3 (before 2.5) and the ERR segments, after MSA.
void write_issues(message_builder& b, segment_builder& msa, std::span<const ack_issue> issues,
                  const version_info& version, std::span<const std::string_view> ids,
                  bool ascii_only) {
  if (issues.empty()) return;
  if (has_v25_err(version)) {
    // HL7 v2.5.1 2.15.5: one ERR per issue.
    for (const ack_issue& issue : issues) {
      segment_builder& err = b.add("ERR");
      const segment_location loc = locate(issue.where, ids);
      if (!loc.id.empty()) {
        // ERR-2 ERL (2.A.27): segment id^sequence^field^repetition^component^subcomponent.
        err.set(2, 1, 1, 1, loc.id);
        set_number(err, 2, 1, 2, 1, loc.sequence);
        set_number(err, 2, 1, 3, 1, issue.where.field);
        set_number(err, 2, 1, 4, 1, issue.where.repetition);
        set_number(err, 2, 1, 5, 1, issue.where.component);
        set_number(err, 2, 1, 6, 1, issue.where.subcomponent);
      }
      // ERR-3 CWE: code^text^HL70357 (table 0357).
      err.set(3, 1, 1, 1, code_number(issue.code));
      err.set(3, 1, 2, 1, to_string(issue.code));
      err.set(3, 1, 3, 1, "HL70357");
      err.set(4, to_string(issue.sev));  // ERR-4, table 0516
      const std::string text = clean(issue.text, ascii_only, max_issue_text_bytes);
      if (!text.empty()) err.set(8, text);  // ERR-8 user message
    }
    return;
  }
  // Before v2.5 (v2.3 2.16.5.1): one ERR whose ERR-1 repeats an ELD per issue,
  // segment id^sequence^field position^code identifying error (CE:
  // code&text&HL70357); the first issue's text goes in MSA-3.
  const std::string text = clean(issues.front().text, ascii_only, msa3_max_bytes);
  if (!text.empty()) msa.set(3, text);
  segment_builder& err = b.add("ERR");
  std::size_t rep = 1;
  for (const ack_issue& issue : issues) {
    const segment_location loc = locate(issue.where, ids);
    if (!loc.id.empty()) {
      err.set(1, rep, 1, 1, loc.id);
      set_number(err, 1, rep, 2, 1, loc.sequence);
      set_number(err, 1, rep, 3, 1, issue.where.field);
    }
    err.set(1, rep, 4, 1, code_number(issue.code));
    err.set(1, rep, 4, 2, to_string(issue.code));
    err.set(1, rep, 4, 3, "HL70357");
    ++rep;
  }
}

// ---------------------------------------------------- unparsable messages

bool is_alnum(char c) noexcept {
  return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// A plausible delimiter: printable ASCII, neither a letter, a digit nor a space.
bool plausible_delimiter(char c) noexcept { return c > ' ' && c < 0x7F && !is_alnum(c); }

// What can be read of an MSH that the parser refused.
struct raw_header {
  std::string_view body;  // the input after a BOM and leading blank lines
  char field_sep = '\0';  // '\0': no MSH, nothing read
  encoding enc;           // MSH-2 when plausible, else the default: to split components
  std::string_view fields[17];  // fields[n]: MSH-n as sent (n = 2..16)

  // Component k of the first repetition of MSH-n; empty when absent.
  std::string_view component(std::size_t n, std::size_t k) const noexcept {
    std::string_view v = fields[n];
    v = v.substr(0, std::min(v.find(enc.repetition), v.size()));
    for (; k > 1; --k) {
      const std::size_t c = v.find(enc.component);
      if (c == std::string_view::npos) return {};
      v.remove_prefix(c + 1);
    }
    return v.substr(0, std::min(v.find(enc.component), v.size()));
  }
};

raw_header read_header(std::string_view raw) {
  raw_header h;
  if (raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);  // UTF-8 BOM
  while (!raw.empty() && (raw.front() == '\r' || raw.front() == '\n' || raw.front() == ' ' ||
                          raw.front() == '\t' || raw.front() == '\x0B')) {
    raw.remove_prefix(1);
  }
  h.body = raw;
  if (raw.size() < 4 || raw.substr(0, 3) != "MSH" || !plausible_delimiter(raw[3])) return h;
  h.field_sep = raw[3];
  const std::string_view line = raw.substr(0, std::min(raw.find_first_of("\r\n"), raw.size()));
  // MSH-1 is the separator itself; MSH-2 starts after it.
  std::size_t start = 4;
  for (std::size_t n = 2; n <= 16 && start <= line.size(); ++n) {
    const std::size_t end = std::min(line.find(h.field_sep, start), line.size());
    h.fields[n] = line.substr(start, end - start);
    start = end + 1;
  }
  // MSH-2 (2.15.9.2): 4 or 5 distinct delimiters, none the field separator.
  const std::string_view msh2 = h.fields[2];
  bool plausible = msh2.size() == 4 || msh2.size() == 5;
  for (std::size_t i = 0; plausible && i < msh2.size(); ++i) {
    plausible = plausible_delimiter(msh2[i]) && msh2[i] != h.field_sep &&
                msh2.find(msh2[i], i + 1) == std::string_view::npos;
  }
  if (plausible) {
    h.enc.field = h.field_sep;
    h.enc.component = msh2[0];
    h.enc.repetition = msh2[1];
    h.enc.escape = msh2[2];
    h.enc.subcomponent = msh2[3];
  }
  return h;
}

// The ids of the first `n` segments of an unparsable input (lines that are
// not blank, as the parser counts them).
std::vector<std::string_view> raw_segment_ids(const raw_header& h, std::size_t n) {
  std::vector<std::string_view> ids;
  std::string_view rest = h.body;
  while (ids.size() < n && !rest.empty()) {
    const std::size_t end = std::min(rest.find_first_of("\r\n"), rest.size());
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (line.empty()) continue;
    std::size_t id_end = 3;
    if (h.field_sep != '\0') id_end = std::min(line.find(h.field_sep), id_end);
    ids.push_back(line.substr(0, id_end));
  }
  return ids;
}

// MSH-n of an unparsable input, an HD, into field `to` of the ACK's MSH: the
// components of its first repetition, cleaned and escaped afresh.
void copy_hd(segment_builder& msh, std::size_t to, const raw_header& h, std::size_t n) {
  std::string_view v = h.fields[n];
  v = v.substr(0, std::min(v.find(h.enc.repetition), v.size()));
  // HD has 3 components (2.A.33); more is garbage, not to be echoed.
  for (std::size_t component = 1; component <= 3; ++component) {
    const std::size_t end = std::min(v.find(h.enc.component), v.size());
    const std::string text = clean(v.substr(0, end), false, max_echoed_bytes);
    if (!text.empty()) msh.set(to, 1, component, 1, text);
    if (end == v.size()) break;
    v.remove_prefix(end + 1);
  }
}

}  // namespace

std::string_view to_string(ack_code code) noexcept {
  switch (code) {
    case ack_code::AA: return "AA";
    case ack_code::AE: return "AE";
    case ack_code::AR: return "AR";
    case ack_code::CA: return "CA";
    case ack_code::CE: return "CE";
    case ack_code::CR: return "CR";
  }
  return "";
}

std::string_view to_string(ack_mode mode) noexcept {
  return mode == ack_mode::enhanced ? "enhanced" : "original";
}

std::string_view to_string(severity sev) noexcept {
  switch (sev) {
    case severity::error: return "E";
    case severity::warning: return "W";
    case severity::information: return "I";
  }
  return "";
}

ack_mode mode_of(const message& msg) noexcept {
  // HL7 v2.5.1 2.9.2: original mode when MSH-15 and MSH-16 are both not valued.
  const segment_view msh = msg.header();
  return valued(msh.field(15).raw()) || valued(msh.field(16).raw()) ? ack_mode::enhanced
                                                                    : ack_mode::original;
}

std::optional<std::string> build_ack(const message& original, outcome status,
                                     std::span<const ack_issue> issues,
                                     const ack_options& opts) {
  const segment_view in = original.header();
  const bool enhanced = mode_of(original) == ack_mode::enhanced;

  // Which ACK, and whether to send it (2.9.2, 2.9.3, table 0155).
  ack_code code = application_code(status);
  if (!enhanced) {
    // 2.9.2: acknowledgments are not acknowledged.
    if (hearth::text::trim(in.field(9).component(1).raw()) == "ACK") return std::nullopt;
  } else if (opts.application_ack) {
    // 2.9.3.2: the application acknowledgment, as MSH-16 asks.
    if (!send_under(parse_condition(in.field(16).component(1).raw()), status)) return std::nullopt;
  } else {
    // 2.9.3.1: the accept (commit) acknowledgment, as MSH-15 asks.
    if (!send_under(parse_condition(in.field(15).component(1).raw()), status)) return std::nullopt;
    code = commit_code(status);
  }

  const version_info version = parse_version(in.field(12).component(1).raw());
  // The ACK is written in the original's character set (MSH-18 is copied):
  // text of ours that is not ASCII is only safe when that set is UTF-8.
  const bool ascii_only = original.character_set() != charset::utf8;
  const encoding& enc = original.delimiters();

  message_builder b(enc);
  segment_builder& msh = b.add("MSH");
  // 2.14.1 / 2.15.9.3-6: the ACK goes back where the message came from. The
  // fields are copied as sent: the ACK uses the same delimiters and charset.
  if (opts.sending_application.empty()) {
    copy_raw(msh, 3, in.field(5).raw());
  } else {
    set_composite(msh, 3, opts.sending_application, ascii_only);
  }
  if (opts.sending_facility.empty()) {
    copy_raw(msh, 4, in.field(6).raw());
  } else {
    set_composite(msh, 4, opts.sending_facility, ascii_only);
  }
  copy_raw(msh, 5, in.field(3).raw());
  copy_raw(msh, 6, in.field(4).raw());
  msh.set(7, opts.timestamp.empty() ? now_dtm() : clean(opts.timestamp, true, 64));
  // MSH-9: ACK^<trigger of the original>^ACK (2.14.1; no MSH-9.3 before
  // v2.3.1; "ACK" alone when the original names no trigger).
  const std::string_view trigger = in.field(9).component(2).raw();
  std::string type = "ACK";
  if (!trigger.empty()) {
    type.append(1, enc.component).append(trigger);
    if (has_message_structure(version)) type.append(1, enc.component).append("ACK");
  }
  msh.set_raw(9, type);
  msh.set(10, opts.control_id.empty() ? next_control_id()
                                      : clean(opts.control_id, ascii_only, max_echoed_bytes));
  copy_raw(msh, 11, in.field(11).raw());  // processing id: P, T, D as received
  copy_raw(msh, 12, in.field(12).raw());  // version, with its internationalisation code
  set_ack_type(msh, enhanced);
  copy_raw(msh, 18, in.field(18).raw());  // character set (2.15.9.18)

  // 2.15.8: MSA-1 acknowledgment code, MSA-2 the original's control id.
  segment_builder& msa = b.add("MSA");
  msa.set(1, to_string(code));
  copy_raw(msa, 2, in.field(10).raw());

  issues = issues.first(std::min(issues.size(), opts.max_issues));
  std::vector<std::string_view> ids;
  const std::size_t needed = std::min(ids_needed(issues), original.segment_count());
  ids.reserve(needed);
  for (std::size_t n = 1; n <= needed; ++n) ids.push_back(original.segment(n).id());
  write_issues(b, msa, issues, version, ids, ascii_only);
  return b.str("\r");
}

std::string build_reject_for_unparsable(std::string_view raw, const error& why,
                                        const ack_options& opts) {
  const raw_header h = read_header(raw);
  const bool have_msh = h.field_sep != '\0';
  const version_info version = parse_version(h.component(12, 1));
  const bool enhanced = have_msh && (valued(h.fields[15]) || valued(h.fields[16]));
  const ack_code code = enhanced && !opts.application_ack ? ack_code::CR : ack_code::AR;

  // Default delimiters and UTF-8 (MSH-18 empty): nothing of the input's
  // encoding can be trusted.
  message_builder b;
  segment_builder& msh = b.add("MSH");
  if (!opts.sending_application.empty()) {
    set_composite(msh, 3, opts.sending_application, false);
  } else if (have_msh) {
    copy_hd(msh, 3, h, 5);
  }
  if (!opts.sending_facility.empty()) {
    set_composite(msh, 4, opts.sending_facility, false);
  } else if (have_msh) {
    copy_hd(msh, 4, h, 6);
  }
  if (have_msh) {
    copy_hd(msh, 5, h, 3);
    copy_hd(msh, 6, h, 4);
  }
  msh.set(7, opts.timestamp.empty() ? now_dtm() : clean(opts.timestamp, true, 64));
  msh.set(9, 1, "ACK");
  const std::string trigger = clean(h.component(9, 2), false, max_echoed_bytes);
  if (!trigger.empty()) {
    msh.set(9, 2, trigger);
    if (has_message_structure(version)) msh.set(9, 3, "ACK");
  }
  msh.set(10, opts.control_id.empty() ? next_control_id()
                                      : clean(opts.control_id, false, max_echoed_bytes));
  const std::string processing_id = clean(h.component(11, 1), false, max_echoed_bytes);
  if (!processing_id.empty()) msh.set(11, processing_id);
  const std::string version_id = clean(h.component(12, 1), false, max_echoed_bytes);
  if (!version_id.empty()) msh.set(12, version_id);
  set_ack_type(msh, enhanced);

  segment_builder& msa = b.add("MSA");
  msa.set(1, to_string(code));
  const std::string control_id = clean(h.fields[10], false, max_echoed_bytes);
  if (!control_id.empty()) msa.set(2, control_id);

  const ack_issue issue(why);
  const std::span<const ack_issue> issues(&issue, 1);
  const std::vector<std::string_view> ids = raw_segment_ids(h, ids_needed(issues));
  write_issues(b, msa, issues, version, ids, false);
  return b.str("\r");
}

}  // namespace hearth::hl7v2
