// Loading an MLLP suite (conformance/mllp_suite.hpp; the format is documented
// in tests/conformance/MLLP.md). Strict on purpose: an unknown member, a
// code that is not in HL7 table 0008, a step that refers to a later one,
// or an unknown placeholder is an error naming where it is, so that a
// misspelt "expcet" cannot make a case check nothing.

#include <hearth/server/conformance/mllp_suite.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::server::conformance {

const char* to_string(mllp_framing f) noexcept {
  switch (f) {
    case mllp_framing::normal:
      return "normal";
    case mllp_framing::split:
      return "split";
    case mllp_framing::one_write:
      return "one-write";
    case mllp_framing::junk_before:
      return "junk-before";
    case mllp_framing::no_end:
      return "no-end";
    case mllp_framing::oversized:
      return "oversized";
  }
  return "normal";
}

namespace {

using fhir::json_value;
namespace fs = std::filesystem;

/// Largest suite file or message file: 16 MiB, far beyond any suite or
/// message a conformance case needs, while bounding what one file can make
/// the runner read.
constexpr std::uintmax_t max_file_bytes = 16u << 20;
/// Largest oversized message: 256 MiB. The runner holds it in memory to
/// send it; a receiver's limit worth testing (10 MiB for Hearth, as for
/// many engines) is far below.
constexpr std::size_t max_oversized_bytes = 256u << 20;
/// Longest pause or wait a suite may ask for: 10 minutes, so that a typo
/// cannot hang a run for days.
constexpr std::int64_t max_wait_ms = 600'000;
/// Most pieces a split block may be cut into.
constexpr std::int64_t max_pieces = 100'000;

/// The placeholders a suite may use (MLLP.md "Placeholders"); the runner
/// replaces them. ${controlId} only in messages: each occurrence is a fresh
/// id, which a FHIR check could not know.
constexpr std::string_view message_placeholders[] = {"runId", "caseId", "controlId", "now"};
constexpr std::string_view check_placeholders[] = {"runId", "caseId"};

/// The first "${...}" that is not a placeholder of `known`, as an error
/// message; nullopt when there is none.
template <std::size_t N>
std::optional<std::string> unknown_placeholder(std::string_view text, const std::string_view (&known)[N]) {
  for (std::size_t at = text.find("${"); at != std::string_view::npos; at = text.find("${", at + 2)) {
    const std::size_t end = text.find('}', at);
    if (end == std::string_view::npos) return "\"${\" without its closing \"}\"";
    const std::string_view name = text.substr(at + 2, end - at - 2);
    if (std::find(std::begin(known), std::end(known), name) == std::end(known)) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string("${") + std::string(k) + "}";
      return "unknown placeholder \"${" + std::string(name.substr(0, 40)) + "}\" (known here: " + list + ")";
    }
  }
  return std::nullopt;
}

/// Segments separated by CR, LF or CRLF, as HL7 wants them: each ending in
/// CR (HL7 v2.5.1 2.5.2 "segment terminator"), blank lines dropped.
std::string normalise_segments(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 1);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) end = text.size();
    if (end > i) {
      out.append(text.substr(i, end - i));
      out.push_back('\r');
    }
    i = end + 1;
  }
  return out;
}

hearth::unexpected<hearth::error> invalid(std::string message, std::string where) {
  return hearth::unexpected(hearth::error{"invalid", std::move(message), std::move(where), hearth::error::npos});
}

/// Reads a whole file, at most max_file_bytes.
hearth::result<std::string> read_file(const fs::path& p) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(p, ec);
  if (ec)
    return hearth::unexpected(
        hearth::error{"unavailable", "cannot read " + p.string() + ": " + ec.message(), {}, hearth::error::npos});
  if (size > max_file_bytes) {
    return hearth::unexpected(
        hearth::error{"too-long", p.string() + " is larger than 16 MiB", {}, hearth::error::npos});
  }
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return hearth::unexpected(hearth::error{"unavailable", "cannot read " + p.string(), {}, hearth::error::npos});
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Reads one suite, stopping at the first problem: one clear error with
/// its place is what a suite author needs.
class reader {
 public:
  explicit reader(fs::path file) : file_(std::move(file)) {}

  hearth::result<mllp_suite> suite(const json_value& doc) {
    if (!doc.is_object()) return invalid("a suite is a JSON object", "$");
    if (auto ok = known(doc, "$", {"name", "description", "cases"}); !ok) return hearth::unexpected(ok.error());
    mllp_suite s;
    if (auto ok = required_string(doc, "name", "$", s.name); !ok) return hearth::unexpected(ok.error());
    if (s.name != file_.stem().string()) {
      return invalid("the suite's name must be its file name without .json (\"" + file_.stem().string() + "\")",
                     "$.name");
    }
    if (auto ok = optional_string(doc, "description", "$", s.description); !ok) return hearth::unexpected(ok.error());
    const json_value* cases = doc.find("cases");
    if (cases == nullptr || !cases->is_array() || cases->size() == 0)
      return invalid("a suite needs \"cases\", a non-empty array", "$.cases");
    std::set<std::string> names;
    for (std::size_t i = 0; i < cases->size(); ++i) {
      const std::string where = "$.cases[" + std::to_string(i) + "]";
      auto c = one_case(cases->items()[i], where);
      if (!c) return hearth::unexpected(c.error());
      if (!names.insert(c->name).second) return invalid("two cases are named \"" + c->name + "\"", where + ".name");
      s.cases.push_back(std::move(*c));
    }
    return s;
  }

 private:
  hearth::result<void> known(const json_value& obj, const std::string& where,
                             std::initializer_list<std::string_view> allowed) {
    for (const fhir::json_member& m : obj.members()) {
      if (std::find(allowed.begin(), allowed.end(), m.key) == allowed.end())
        return invalid("unknown member \"" + m.key + "\" (see tests/conformance/MLLP.md)", where + "." + m.key);
    }
    return {};
  }

  hearth::result<void> required_string(const json_value& obj, std::string_view key, const std::string& where,
                                       std::string& out) {
    const json_value* v = obj.find(key);
    if (v == nullptr || !v->is_string() || v->str().empty())
      return invalid("\"" + std::string(key) + "\" is required, a non-empty string", where + "." + std::string(key));
    out = v->str();
    return {};
  }

  hearth::result<void> optional_string(const json_value& obj, std::string_view key, const std::string& where,
                                       std::string& out) {
    const json_value* v = obj.find(key);
    if (v == nullptr) return {};
    if (!v->is_string())
      return invalid("\"" + std::string(key) + "\" must be a string", where + "." + std::string(key));
    out = v->str();
    return {};
  }

  hearth::result<void> optional_bool(const json_value& obj, std::string_view key, const std::string& where, bool& out) {
    const json_value* v = obj.find(key);
    if (v == nullptr) return {};
    if (!v->is_bool())
      return invalid("\"" + std::string(key) + "\" must be true or false", where + "." + std::string(key));
    out = v->as_bool();
    return {};
  }

  /// An integer member within [lo, hi]; absent: `out` untouched.
  hearth::result<bool> optional_int(const json_value& obj, std::string_view key, const std::string& where,
                                    std::int64_t lo, std::int64_t hi, std::int64_t& out) {
    const json_value* v = obj.find(key);
    if (v == nullptr) return false;
    const std::string place = where + "." + std::string(key);
    if (!v->is_number()) return invalid("\"" + std::string(key) + "\" must be a whole number", place);
    const std::string& t = v->number_text();
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || end != t.data() + t.size())
      return invalid("\"" + std::string(key) + "\" must be a whole number", place);
    if (n < lo || n > hi) {
      return invalid(
          "\"" + std::string(key) + "\" must be between " + std::to_string(lo) + " and " + std::to_string(hi), place);
    }
    out = n;
    return true;
  }

  /// A string or an array of strings, each one of `allowed` (when given).
  hearth::result<void> string_list(const json_value& v, const std::string& where, std::vector<std::string>& out,
                                   std::initializer_list<std::string_view> allowed = {}) {
    std::vector<const json_value*> items;
    if (v.is_string()) {
      items.push_back(&v);
    } else if (v.is_array() && v.size() > 0) {
      for (const json_value& i : v.items()) items.push_back(&i);
    } else {
      return invalid("must be a string or a non-empty array of strings", where);
    }
    for (const json_value* i : items) {
      if (!i->is_string() || i->str().empty())
        return invalid("must be a string or a non-empty array of strings", where);
      if (allowed.size() > 0 && std::find(allowed.begin(), allowed.end(), i->str()) == allowed.end()) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return invalid("\"" + i->str() + "\" is not one of " + list, where);
      }
      out.push_back(i->str());
    }
    return {};
  }

  hearth::result<mllp_case> one_case(const json_value& v, const std::string& where) {
    if (!v.is_object()) return invalid("a case is a JSON object", where);
    if (auto ok = known(v, where, {"name", "description", "steps", "fhir"}); !ok) return hearth::unexpected(ok.error());
    mllp_case c;
    if (auto ok = required_string(v, "name", where, c.name); !ok) return hearth::unexpected(ok.error());
    if (auto ok = optional_string(v, "description", where, c.description); !ok) return hearth::unexpected(ok.error());
    const json_value* steps = v.find("steps");
    if (steps == nullptr || !steps->is_array() || steps->size() == 0)
      return invalid("a case needs \"steps\", a non-empty array", where + ".steps");
    for (std::size_t i = 0; i < steps->size(); ++i) {
      auto s = step(steps->items()[i], where + ".steps[" + std::to_string(i) + "]", i + 1);
      if (!s) return hearth::unexpected(s.error());
      c.steps.push_back(std::move(*s));
    }
    if (const json_value* fhir = v.find("fhir")) {
      if (!fhir->is_array() || fhir->size() == 0) return invalid("\"fhir\" must be a non-empty array", where + ".fhir");
      for (std::size_t i = 0; i < fhir->size(); ++i) {
        auto f = fhir_check(fhir->items()[i], where + ".fhir[" + std::to_string(i) + "]");
        if (!f) return hearth::unexpected(f.error());
        c.fhir.push_back(std::move(*f));
      }
    }
    return c;
  }

  /// One message: a string (segments separated by CR, LF or CRLF), an
  /// array of segment strings, or {"file": path}.
  hearth::result<std::string> message(const json_value& v, const std::string& where) {
    std::string text;
    if (v.is_string()) {
      text = v.str();
    } else if (v.is_array() && v.size() > 0) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        const json_value& seg = v.items()[i];
        if (!seg.is_string()) return invalid("a message's segments are strings", where + "[" + std::to_string(i) + "]");
        text += seg.str();
        text += '\r';
      }
    } else if (v.is_object()) {
      if (auto ok = known(v, where, {"file"}); !ok) return hearth::unexpected(ok.error());
      std::string name;
      if (auto ok = required_string(v, "file", where, name); !ok) return hearth::unexpected(ok.error());
      auto loaded = message_file(name, where + ".file");
      if (!loaded) return hearth::unexpected(loaded.error());
      text = std::move(*loaded);
    } else {
      return invalid("a message is a string, an array of segments, or {\"file\": ...}", where);
    }
    text = normalise_segments(text);
    if (text.empty()) return invalid("the message is empty", where);
    if (text.find_first_of(std::string_view("\x0B\x1C", 2)) != std::string::npos)
      return invalid("a message must not hold VT or FS, the MLLP framing bytes (use \"framing\" instead)", where);
    if (auto bad = unknown_placeholder(text, message_placeholders)) return invalid(*bad, where);
    return text;
  }

  hearth::result<std::string> message_file(const std::string& name, const std::string& where) {
    fs::path p(name);
    if (p.is_relative()) p = file_.parent_path() / p;
    auto text = read_file(p);
    if (!text) return invalid(text.error().message, where);
    return std::move(*text);
  }

  hearth::result<mllp_step> step(const json_value& v, const std::string& where, std::size_t number) {
    if (!v.is_object()) return invalid("a step is a JSON object", where);
    if (auto ok = known(v, where, {"message", "messages", "file", "resend", "framing", "expect"}); !ok)
      return hearth::unexpected(ok.error());
    mllp_step s;
    const int sources = (v.find("message") ? 1 : 0) + (v.find("messages") ? 1 : 0) + (v.find("file") ? 1 : 0) +
                        (v.find("resend") ? 1 : 0);
    if (sources != 1)
      return invalid("a step has exactly one of \"message\", \"messages\", \"file\" and \"resend\"", where);
    if (const json_value* m = v.find("message")) {
      auto text = message(*m, where + ".message");
      if (!text) return hearth::unexpected(text.error());
      s.messages.push_back(std::move(*text));
    } else if (const json_value* ms = v.find("messages")) {
      if (!ms->is_array() || ms->size() == 0)
        return invalid("\"messages\" must be a non-empty array", where + ".messages");
      for (std::size_t i = 0; i < ms->size(); ++i) {
        auto text = message(ms->items()[i], where + ".messages[" + std::to_string(i) + "]");
        if (!text) return hearth::unexpected(text.error());
        s.messages.push_back(std::move(*text));
      }
    } else if (const json_value* f = v.find("file")) {
      if (!f->is_string() || f->str().empty()) return invalid("\"file\" must be a path", where + ".file");
      json_value wrapped = json_value::object();
      wrapped.set("file", *f);
      auto text = message(wrapped, where);
      if (!text) return hearth::unexpected(text.error());
      s.messages.push_back(std::move(*text));
    } else {
      std::int64_t n = 0;
      auto got = optional_int(v, "resend", where, 1, static_cast<std::int64_t>(number) - 1, n);
      if (!got) {
        if (number == 1) return invalid("the first step has no earlier step to send again", where + ".resend");
        return hearth::unexpected(got.error());
      }
      s.resend = static_cast<std::size_t>(n);
    }

    if (const json_value* f = v.find("framing")) {
      if (auto ok = framing(*f, where + ".framing", s); !ok) return hearth::unexpected(ok.error());
    }
    if (s.resend != 0 && s.framing != mllp_framing::normal)
      return invalid("a resend is sent as it was first sent, framed normally", where + ".framing");
    const bool single = s.framing == mllp_framing::split || s.framing == mllp_framing::junk_before ||
                        s.framing == mllp_framing::no_end || s.framing == mllp_framing::oversized;
    if (single && s.messages.size() != 1)
      return invalid(std::string("framing \"") + to_string(s.framing) + "\" sends exactly one message",
                     where + ".framing");
    if (s.framing == mllp_framing::oversized && s.size < s.messages[0].size() + 16)
      return invalid("\"size\" must exceed the message's own size by 16 bytes at least", where + ".framing.size");

    const json_value* e = v.find("expect");
    if (e == nullptr) return invalid("a step needs \"expect\"", where + ".expect");
    const std::size_t count = s.resend != 0 ? 0 : s.messages.size();  // a resend's count is its step's
    if (e->is_array()) {
      if (e->size() == 0) return invalid("\"expect\" must not be an empty array", where + ".expect");
      if (count != 0 && e->size() != count) {
        return invalid("\"expect\" as an array has one expectation per message (" + std::to_string(count) + ")",
                       where + ".expect");
      }
      for (std::size_t i = 0; i < e->size(); ++i) {
        auto x = expectation(e->items()[i], where + ".expect[" + std::to_string(i) + "]", number, false);
        if (!x) return hearth::unexpected(x.error());
        s.expect.push_back(std::move(*x));
      }
    } else {
      auto x = expectation(*e, where + ".expect", number, false);
      if (!x) return hearth::unexpected(x.error());
      s.expect.push_back(std::move(*x));
    }
    return s;
  }

  hearth::result<void> framing(const json_value& v, const std::string& where, mllp_step& s) {
    std::string kind;
    const json_value* obj = nullptr;
    if (v.is_string()) {
      kind = v.str();
    } else if (v.is_object()) {
      obj = &v;
      if (auto ok = required_string(v, "kind", where, kind); !ok) return ok;
    } else {
      return invalid("\"framing\" is a string or an object with \"kind\"", where);
    }
    if (kind == "normal") {
      s.framing = mllp_framing::normal;
    } else if (kind == "split") {
      s.framing = mllp_framing::split;
    } else if (kind == "one-write") {
      s.framing = mllp_framing::one_write;
    } else if (kind == "junk-before") {
      s.framing = mllp_framing::junk_before;
    } else if (kind == "no-end") {
      s.framing = mllp_framing::no_end;
    } else if (kind == "oversized") {
      s.framing = mllp_framing::oversized;
    } else {
      return invalid("unknown framing \"" + kind + "\" (normal, split, one-write, junk-before, no-end, oversized)",
                     obj ? where + ".kind" : where);
    }
    if (obj == nullptr) return {};
    switch (s.framing) {
      case mllp_framing::split: {
        if (auto ok = known(*obj, where, {"kind", "pieces", "pauseMs"}); !ok) return ok;
        std::int64_t pieces = static_cast<std::int64_t>(s.pieces), pause = s.pause.count();
        if (auto ok = optional_int(*obj, "pieces", where, 2, max_pieces, pieces); !ok)
          return hearth::unexpected(ok.error());
        if (auto ok = optional_int(*obj, "pauseMs", where, 0, max_wait_ms, pause); !ok)
          return hearth::unexpected(ok.error());
        s.pieces = static_cast<std::size_t>(pieces);
        s.pause = std::chrono::milliseconds(pause);
        return {};
      }
      case mllp_framing::junk_before: {
        if (auto ok = known(*obj, where, {"kind", "junk"}); !ok) return ok;
        if (const json_value* j = obj->find("junk")) {
          if (!j->is_string() || j->str().empty())
            return invalid("\"junk\" must be a non-empty string", where + ".junk");
          if (j->str().find('\x0B') != std::string::npos)
            return invalid("\"junk\" must not hold VT: it would start a block", where + ".junk");
          s.junk = j->str();
        }
        return {};
      }
      case mllp_framing::oversized: {
        if (auto ok = known(*obj, where, {"kind", "size"}); !ok) return ok;
        std::int64_t size = static_cast<std::int64_t>(s.size);
        if (auto ok = optional_int(*obj, "size", where, 1, static_cast<std::int64_t>(max_oversized_bytes), size); !ok)
          return hearth::unexpected(ok.error());
        s.size = static_cast<std::size_t>(size);
        return {};
      }
      default:
        return known(*obj, where, {"kind"});
    }
  }

  hearth::result<mllp_expectation> expectation(const json_value& v, const std::string& where, std::size_t step_number,
                                               bool in_batch) {
    if (!v.is_object()) return invalid("an expectation is a JSON object", where);
    if (in_batch) {
      if (auto ok = known(v, where, {"ack", "controlId", "msh9", "err", "errCode"}); !ok)
        return hearth::unexpected(ok.error());
    } else {
      if (auto ok = known(v, where,
                          {"ack", "controlId", "msh9", "err", "errCode", "noAnswer", "waitMs", "closed", "orClosed",
                           "sameAckAs", "quietMs", "batch"});
          !ok)
        return hearth::unexpected(ok.error());
    }
    mllp_expectation e;
    if (const json_value* a = v.find("ack")) {
      if (auto ok = string_list(*a, where + ".ack", e.ack, {"AA", "AE", "AR", "CA", "CE", "CR"}); !ok)
        return hearth::unexpected(ok.error());
    }
    if (auto ok = optional_bool(v, "controlId", where, e.control_id); !ok) return hearth::unexpected(ok.error());
    if (auto ok = optional_string(v, "msh9", where, e.msh9); !ok) return hearth::unexpected(ok.error());
    if (auto ok = optional_bool(v, "err", where, e.err); !ok) return hearth::unexpected(ok.error());
    if (const json_value* c = v.find("errCode")) {
      if (auto ok = string_list(*c, where + ".errCode", e.err_code); !ok) return hearth::unexpected(ok.error());
    }
    if (auto ok = optional_bool(v, "noAnswer", where, e.no_answer); !ok) return hearth::unexpected(ok.error());
    if (auto ok = optional_bool(v, "closed", where, e.closed); !ok) return hearth::unexpected(ok.error());
    if (auto ok = optional_bool(v, "orClosed", where, e.close_accepted); !ok) return hearth::unexpected(ok.error());
    std::int64_t n = e.wait.count();
    if (auto ok = optional_int(v, "waitMs", where, 1, max_wait_ms, n); !ok) return hearth::unexpected(ok.error());
    e.wait = std::chrono::milliseconds(n);
    n = 0;
    if (auto ok = optional_int(v, "quietMs", where, 1, max_wait_ms, n); !ok) return hearth::unexpected(ok.error());
    e.quiet = std::chrono::milliseconds(n);
    n = 0;
    if (v.find("sameAckAs") != nullptr) {
      if (step_number <= 1)
        return invalid("the first step has no earlier answer to compare with", where + ".sameAckAs");
      auto ok = optional_int(v, "sameAckAs", where, 1, static_cast<std::int64_t>(step_number) - 1, n);
      if (!ok) return hearth::unexpected(ok.error());
      e.same_as_step = static_cast<std::size_t>(n);
    }
    if (const json_value* b = v.find("batch")) {
      const std::string bw = where + ".batch";
      if (!b->is_object()) return invalid("\"batch\" is a JSON object", bw);
      if (auto ok = known(*b, bw, {"acks", "implicitAccept"}); !ok) return hearth::unexpected(ok.error());
      e.batch = true;
      if (auto ok = optional_bool(*b, "implicitAccept", bw, e.implicit_accept); !ok)
        return hearth::unexpected(ok.error());
      const json_value* acks = b->find("acks");
      if (acks == nullptr || !acks->is_array() || acks->size() == 0)
        return invalid("\"acks\" is required: one expectation per message of the batch", bw + ".acks");
      for (std::size_t i = 0; i < acks->size(); ++i) {
        auto x = expectation(acks->items()[i], bw + ".acks[" + std::to_string(i) + "]", step_number, true);
        if (!x) return hearth::unexpected(x.error());
        e.batch_messages.push_back(std::move(*x));
      }
      if (!e.ack.empty() || !e.msh9.empty() || e.err || !e.err_code.empty() || v.find("controlId") != nullptr)
        return invalid("a batch answer is judged per message: put ack, msh9, err, errCode in \"acks\"", bw);
    }
    // Contradictions: nothing to judge an answer by when none is expected.
    const int outcomes = (e.no_answer ? 1 : 0) + (e.closed ? 1 : 0);
    if (outcomes > 1) return invalid("\"noAnswer\" and \"closed\" exclude each other", where);
    if (outcomes == 1 && (!e.ack.empty() || !e.msh9.empty() || e.err || !e.err_code.empty() || e.batch ||
                          e.same_as_step != 0 || e.close_accepted || e.quiet.count() != 0)) {
      return invalid("an expectation of no answer (noAnswer, closed) cannot also say what the answer is", where);
    }
    if (v.find("waitMs") != nullptr && !e.no_answer)
      return invalid("\"waitMs\" is how long \"noAnswer\" waits; without it, the options' timeout applies", where);
    return e;
  }

  hearth::result<mllp_fhir_check> fhir_check(const json_value& v, const std::string& where) {
    if (!v.is_object()) return invalid("a FHIR check is a JSON object", where);
    if (auto ok = known(v, where, {"get", "status", "expressions", "retrySeconds"}); !ok)
      return hearth::unexpected(ok.error());
    mllp_fhir_check f;
    if (auto ok = required_string(v, "get", where, f.get); !ok) return hearth::unexpected(ok.error());
    if (f.get.find("://") != std::string::npos || f.get.starts_with("/"))
      return invalid("\"get\" is relative to the FHIR base (\"Patient?identifier=...\")", where + ".get");
    if (auto bad = unknown_placeholder(f.get, check_placeholders)) return invalid(*bad, where + ".get");
    std::int64_t status = f.status;
    if (auto ok = optional_int(v, "status", where, 100, 599, status); !ok) return hearth::unexpected(ok.error());
    f.status = static_cast<unsigned>(status);
    std::int64_t retry = 0;
    if (auto ok = optional_int(v, "retrySeconds", where, 0, 60, retry); !ok) return hearth::unexpected(ok.error());
    f.retry_seconds = static_cast<unsigned>(retry);
    if (const json_value* x = v.find("expressions")) {
      if (auto ok = string_list(*x, where + ".expressions", f.expressions); !ok) return hearth::unexpected(ok.error());
      for (const std::string& e : f.expressions) {
        if (auto bad = unknown_placeholder(e, check_placeholders)) return invalid(*bad, where + ".expressions");
      }
    }
    return f;
  }

  fs::path file_;
};

}  // namespace

hearth::result<mllp_suite> parse_mllp_suite(std::string_view json_text, const std::filesystem::path& file) {
  fhir::json_read_options ro;
  ro.fhir_rules = false;  // a suite is plain JSON
  ro.max_bytes = max_file_bytes;
  auto doc = fhir::parse_json(json_text, ro);
  if (!doc) {
    hearth::error e = doc.error();
    e.code = "invalid";
    e.message = "not valid JSON: " + e.message;
    return hearth::unexpected(std::move(e));
  }
  return reader(file).suite(*doc);
}

hearth::result<mllp_suite> load_mllp_suite(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return hearth::unexpected(text.error());
  return parse_mllp_suite(*text, file);
}

}  // namespace hearth::server::conformance
