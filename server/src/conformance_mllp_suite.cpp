// Running an MLLP suite (conformance/mllp_suite.hpp; the format and how
// answers are judged: tests/conformance/MLLP.md): each case on a connection
// of its own, its steps in order, then its FHIR checks.

#include <hearth/server/conformance/mllp_suite.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/message.hpp>
#include <hearth/hl7v2/mllp_frame.hpp>
#include <hearth/hl7v2/parser.hpp>

#include "hl7_time.hpp"

namespace hearth::server::conformance {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Reports show at most this much of one message or body (report.hpp:
/// "Bodies longer than 8 KiB are cut, saying so").
constexpr std::size_t max_shown_bytes = 8u << 10;

// --- text helpers -----------------------------------------------------------

/// Bytes as a report shows them: segments on lines of their own, the MLLP
/// framing bytes and other control characters named, cut at 8 KiB.
std::string render(std::string_view bytes) {
  std::string out;
  const std::size_t n = std::min(bytes.size(), max_shown_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      out += '\n';
    } else if (c == 0x0B) {
      out += "<VT>";
    } else if (c == 0x1C) {
      out += "<FS>";
    } else if (c == '\n') {
      out += "<LF>\n";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<%02X>", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (bytes.size() > n) out += "\n... (cut: " + std::to_string(bytes.size()) + " bytes in all)";
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

/// The fields of a header segment line (MSH, BHS, FHS), split on its own
/// field separator (the 4th character): index n - 1 holds field n for
/// n >= 2 (field 1 is the separator itself; HL7 v2.5.1 2.15.9.1).
std::vector<std::string_view> header_fields(std::string_view line) {
  std::vector<std::string_view> out;
  if (line.size() < 4) return out;
  const char sep = line[3];
  std::size_t start = 0;
  for (;;) {
    const std::size_t p = line.find(sep, start);
    out.push_back(line.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

/// Field n (n >= 2) of a header segment line, raw; empty when absent.
std::string_view header_field(std::string_view line, std::size_t n) {
  const auto f = header_fields(line);
  return n >= 2 && n - 1 < f.size() ? f[n - 1] : std::string_view{};
}

/// The first line (up to CR or LF) of `text` starting with `id`.
std::string_view first_segment(std::string_view text, std::string_view id) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find_first_of("\r\n", at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    if (line.starts_with(id) && line.size() > id.size()) return line;
    at = end + 1;
  }
  return {};
}

/// MSH-10 of a message as sent, read without parsing it (the message may
/// be malformed on purpose); empty when it cannot be read.
std::string sent_control_id(std::string_view message) {
  return std::string(header_field(first_segment(message, "MSH"), 10));
}

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}


std::string random_run_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 12; ++i) id += alphabet[rd() % 36];
  return id;
}

/// Ids unique within the process: every ${controlId} and ${caseId} of a
/// run differs (the run id makes them differ between runs). With a 12
/// character run id they stay within MSH-10's 20 characters (ST, v2.5.1)
/// for the first ten million.
std::string next_id(const std::string& run_id, char sep) {
  static std::atomic<std::uint64_t> counter{0};
  return run_id + sep + std::to_string(counter.fetch_add(1) + 1);
}

/// Percent-encodes what may not stand in a URL as it is (RFC 3986 2.1):
/// "|" of token searches, spaces. Escapes already there are kept.
std::string encode_url(std::string_view s) {
  static constexpr std::string_view allowed =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%";
  std::string out;
  for (const char c : s) {
    if (allowed.find(c) != std::string_view::npos) {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

// --- judging answers --------------------------------------------------------

/// What an answer says, for reports and comparisons.
struct ack_summary {
  std::string msa1, msa2, msh9;
  std::vector<std::string> err_codes;  ///< ERR-3.1 of each ERR, and ERR-1(r).4.1 (ELD)
  std::size_t err_segments = 0;
};

/// ERR-3.1 of every ERR (HL7 v2.5.1 2.15.5.3), and the code of every ERR-1
/// repetition (ELD.4, the form before v2.5, kept for backward compatibility).
ack_summary summarise(const hl7v2::message& m) {
  ack_summary s;
  s.msa1 = m.text("MSA-1");
  s.msa2 = m.text("MSA-2");
  const std::string code = m.text("MSH-9.1"), event = m.text("MSH-9.2"), structure = m.text("MSH-9.3");
  s.msh9 = code;
  if (!event.empty() || !structure.empty()) s.msh9 += "^" + event;
  if (!structure.empty()) s.msh9 += "^" + structure;
  for (std::size_t k = 1;; ++k) {
    const auto seg = m.find("ERR", k);
    if (!seg) break;
    ++s.err_segments;
    const std::string code = seg->field(3).component(1).text();
    if (!code.empty()) s.err_codes.push_back(code);
    const hl7v2::element_view eld = seg->field(1);
    for (std::size_t r = 1; r <= eld.size(); ++r) {
      const std::string c = eld.repetition(r).component(4).subcomponent(1).text();
      if (!c.empty()) s.err_codes.push_back(c);
    }
  }
  return s;
}

std::string describe(const ack_summary& s) {
  std::string out = "MSA-1 " + (s.msa1.empty() ? std::string("(empty)") : s.msa1) + ", MSA-2 '" + s.msa2 + "'";
  out += ", MSH-9 " + (s.msh9.empty() ? std::string("(empty)") : s.msh9);
  out += ", " + std::to_string(s.err_segments) + " ERR";
  if (!s.err_codes.empty()) out += " (codes " + join(s.err_codes) + ")";
  return out;
}

/// The expectation in words, for the report's "expected".
std::string describe(const mllp_expectation& e, std::string_view control_id) {
  if (e.no_answer) return "no answer within " + std::to_string(e.wait.count()) + " ms, the connection kept open";
  if (e.closed) return "the connection closed without an answer";
  std::vector<std::string> parts;
  if (e.batch) {
    parts.push_back("a batch of acknowledgments ([FHS] BHS {ACK} BTS [FTS]) referring to the batch sent");
    for (std::size_t i = 0; i < e.batch_messages.size(); ++i)
      parts.push_back("message " + std::to_string(i + 1) + ": " + describe(e.batch_messages[i], {}));
    if (e.implicit_accept) parts.push_back("accepted messages may go unacknowledged");
  } else {
    parts.push_back(e.ack.empty() ? std::string("an ACK") : "MSA-1 " + join(e.ack, " or "));
    if (e.control_id)
      parts.push_back(control_id.empty() ? "MSA-2 = the MSH-10 sent" : "MSA-2 '" + std::string(control_id) + "'");
    if (!e.msh9.empty()) parts.push_back("MSH-9 " + e.msh9);
    if (e.err) parts.push_back("an ERR segment");
    if (!e.err_code.empty()) parts.push_back("ERR-3 " + join(e.err_code, " or "));
  }
  if (e.same_as_step != 0) parts.push_back("the same MSA-1, MSA-2 and ERR-3 as step " + std::to_string(e.same_as_step));
  if (e.quiet.count() > 0) parts.push_back("then nothing more for " + std::to_string(e.quiet.count()) + " ms");
  if (e.close_accepted) parts.push_back("or the connection closed");
  return join(parts, "; ");
}

/// Judges a parsed answer; the problems found, joined.
std::string judge_parsed(const hl7v2::message& m, const mllp_expectation& e, std::string_view sent_control_id) {
  const ack_summary s = summarise(m);
  std::vector<std::string> problems;
  if (!m.find("MSA")) problems.push_back("the answer has no MSA segment");
  if (!e.ack.empty() && std::find(e.ack.begin(), e.ack.end(), s.msa1) == e.ack.end())
    problems.push_back("MSA-1 is '" + s.msa1 + "', expected " + join(e.ack, " or "));
  if (e.control_id && !sent_control_id.empty() && s.msa2 != sent_control_id)
    problems.push_back("MSA-2 is '" + s.msa2 + "', expected the MSH-10 sent, '" + std::string(sent_control_id) + "'");
  if (!e.msh9.empty()) {
    std::size_t c = 1, start = 0;
    for (;;) {
      const std::size_t p = e.msh9.find('^', start);
      const std::string want = e.msh9.substr(start, p == std::string::npos ? std::string::npos : p - start);
      const std::string got = m.text("MSH-9." + std::to_string(c));
      if (got != want) {
        problems.push_back("MSH-9." + std::to_string(c) + " is '" + got + "', expected '" + want + "'");
        break;
      }
      if (p == std::string::npos) break;
      start = p + 1;
      ++c;
    }
  }
  if (e.err && s.err_segments == 0) problems.push_back("no ERR segment");
  if (!e.err_code.empty()) {
    const bool found = std::any_of(s.err_codes.begin(), s.err_codes.end(), [&](const std::string& c) {
      return std::find(e.err_code.begin(), e.err_code.end(), c) != e.err_code.end();
    });
    if (!found) {
      problems.push_back(
          "no ERR with code " + join(e.err_code, " or ") +
          (s.err_codes.empty() ? std::string(" (none has a code)") : " (codes: " + join(s.err_codes) + ")"));
    }
  }
  return join(problems, "; ");
}

/// Whether an expectation is met by an implicit acceptance (2.10.3).
bool accepts_only(const mllp_expectation& e) {
  if (e.ack.empty() || e.err || !e.err_code.empty()) return false;
  return std::all_of(e.ack.begin(), e.ack.end(), [](const std::string& a) { return a == "AA" || a == "CA"; });
}

}  // namespace

std::string judge_ack(std::string_view ack, const mllp_expectation& e, std::string_view sent_control_id) {
  auto parsed = hl7v2::parse(std::string(ack));
  if (!parsed) {
    return "the answer is not a valid HL7 message (" + std::string(hl7v2::to_string(parsed.error().code)) + " at " +
           parsed.error().where.to_string() + ": " + parsed.error().message + ")";
  }
  return judge_parsed(*parsed, e, sent_control_id);
}

std::string judge_batch_ack(std::string_view answer, const mllp_expectation& e, std::string_view sent) {
  auto sent_batch = hl7v2::split_batch(sent);
  if (!sent_batch) return "the batch sent cannot be split (" + sent_batch.error().message + "): fix the suite";
  auto got = hl7v2::split_batch(answer);
  if (!got) {
    return "the answer is not a valid batch (" + std::string(hl7v2::to_string(got.error().code)) + ": " +
           got.error().message + ")";
  }
  std::vector<std::string> problems;
  const bool any_bhs =
      std::any_of(got->groups.begin(), got->groups.end(), [](const auto& g) { return !g.header.empty(); });
  if (!any_bhs) problems.push_back("the answer is not a batch: no BHS");
  // FHS-12 / BHS-12 reference the original's FHS-11 / BHS-11 (HL7 v2.5.1
  // 2.15.6.12, 2.15.2.12): the answer says which file and batch it answers.
  if (!sent_batch->file_header.empty()) {
    const std::string_view want = header_field(sent_batch->file_header, 11);
    if (got->file_header.empty()) {
      problems.push_back("the batch sent had an FHS, the answer has none");
    } else if (!want.empty() && header_field(got->file_header, 12) != want) {
      problems.push_back("FHS-12 is '" + std::string(header_field(got->file_header, 12)) +
                         "', expected the FHS-11 sent, '" + std::string(want) + "'");
    }
  }
  for (const hl7v2::batch_group& g : sent_batch->groups) {
    const std::string_view want = header_field(g.header, 11);
    if (g.header.empty() || want.empty()) continue;
    const bool found = std::any_of(got->groups.begin(), got->groups.end(),
                                   [&](const auto& r) { return header_field(r.header, 12) == want; });
    if (!found) problems.push_back("no BHS with BHS-12 = the BHS-11 sent, '" + std::string(want) + "'");
  }
  // The acknowledgments in the answer, by MSA-2.
  std::vector<std::pair<std::string, std::string>> acks;  // MSA-2, the ACK
  for (const hl7v2::batch_group& g : got->groups) {
    for (std::string_view m : g.messages) {
      auto parsed = hl7v2::parse(std::string(m));
      if (!parsed) {
        problems.push_back("a message of the answer is not valid HL7 (" + parsed.error().message + ")");
        continue;
      }
      acks.emplace_back(parsed->text("MSA-2"), std::string(m));
    }
  }
  std::vector<std::string> sent_ids;
  for (const hl7v2::batch_group& g : sent_batch->groups)
    for (std::string_view m : g.messages) sent_ids.push_back(sent_control_id(m));
  if (e.batch_messages.size() != 1 && e.batch_messages.size() != sent_ids.size()) {
    problems.push_back("the suite expects " + std::to_string(e.batch_messages.size()) +
                       " acknowledgments but the batch sent has " + std::to_string(sent_ids.size()) +
                       " messages: fix the suite");
    return join(problems, "; ");
  }
  for (std::size_t i = 0; i < sent_ids.size(); ++i) {
    const mllp_expectation& x = e.batch_messages.size() == 1 ? e.batch_messages[0] : e.batch_messages[i];
    const auto it = std::find_if(acks.begin(), acks.end(), [&](const auto& a) { return a.first == sent_ids[i]; });
    const std::string which = "message " + std::to_string(i + 1) + " (MSH-10 '" + sent_ids[i] + "')";
    if (it == acks.end()) {
      if (!(e.implicit_accept && accepts_only(x))) problems.push_back("no acknowledgment for " + which);
      continue;
    }
    if (std::string p = judge_ack(it->second, x, sent_ids[i]); !p.empty()) problems.push_back(which + ": " + p);
  }
  for (const auto& [msa2, ack] : acks) {
    if (std::find(sent_ids.begin(), sent_ids.end(), msa2) == sent_ids.end())
      problems.push_back("an acknowledgment for no message sent (MSA-2 '" + msa2 + "')");
  }
  return join(problems, "; ");
}

namespace {

// --- running ----------------------------------------------------------------

/// One case, on a connection of its own. Thread-compatible; lives for one case.
class case_runner {
 public:
  case_runner(const mllp_suite_options& opts, const std::string& run_id, const mllp_case& c)
      : opts_(opts), run_id_(run_id), case_(c), case_id_(next_id(run_id, '-')) {}

  case_result run() {
    case_result r;
    r.name = case_.name;
    r.description = case_.description;
    const auto started = steady::now();
    std::string failure;
    for (std::size_t i = 0; i < case_.steps.size() && failure.empty(); ++i) {
      failure = step(i);
      if (!failure.empty()) failure = "step " + std::to_string(i + 1) + ": " + failure;
    }
    conn_.reset();
    if (failure.empty()) {
      for (std::size_t i = 0; i < case_.fhir.size() && failure.empty(); ++i) {
        fhir_request_.clear();
        fhir_response_.clear();
        const auto retry_until =
            std::chrono::steady_clock::now() + std::chrono::seconds(case_.fhir[i].retry_seconds);
        failure = fhir_check(case_.fhir[i]);
        while (!failure.empty() && std::chrono::steady_clock::now() < retry_until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          fhir_request_.clear();
          fhir_response_.clear();
          failure = fhir_check(case_.fhir[i]);
        }
        if (!failure.empty()) {
          failure = "FHIR check " + std::to_string(i + 1) + ": " + failure;
          sent_log_ += "\n" + fhir_request_;
          received_log_ += "\n" + fhir_response_;
        }
      }
    }
    r.seconds = std::chrono::duration<double>(steady::now() - started).count();
    if (!failure.empty()) {
      r.status = outcome::failed;
      r.message = failure;
      r.expected = expected_;
      r.actual = actual_;
      r.request = sent_log_;
      r.response = received_log_;
    }
    return r;
  }

 private:
  std::string substitute(std::string_view text, bool in_message) {
    std::string out;
    std::size_t at = 0;
    for (;;) {
      const std::size_t p = text.find("${", at);
      if (p == std::string_view::npos) break;
      const std::size_t end = text.find('}', p);
      if (end == std::string_view::npos) break;  // the loader refuses these
      out.append(text.substr(at, p - at));
      const std::string_view name = text.substr(p + 2, end - p - 2);
      if (name == "runId") {
        out += run_id_;
      } else if (name == "caseId") {
        out += case_id_;
      } else if (name == "controlId" && in_message) {
        out += next_id(run_id_, '.');
      } else if (name == "now" && in_message) {
        out += hl7_now_dtm();
      } else {
        out.append(text.substr(p, end - p + 1));
      }
      at = end + 1;
    }
    out.append(text.substr(at));
    return out;
  }

  milliseconds timeout() const { return std::chrono::duration_cast<milliseconds>(opts_.mllp.timeout); }

  /// Connects unless connected; the failure, or empty.
  std::string connect() {
    if (conn_) return {};
    auto c = opts_.connect(opts_.mllp);
    if (!c || !*c) {
      const std::string why = c ? std::string("the connector gave no connection") : c.error().message;
      expected_ = "a connection to " + opts_.mllp.host + ":" + std::to_string(opts_.mllp.port);
      actual_ = why;
      return "cannot connect to the receiver: " + why;
    }
    conn_ = std::move(*c);
    return {};
  }

  /// Notes what a read brought; the connection is dropped once closed (the
  /// next step opens another, as a sender would).
  void take(mllp_raw_read r) {
    for (std::string& f : r.frames) pending_.push_back(std::move(f));
    if (r.oversized > 0) oversized_answers_ += r.oversized;
    if (r.closed) closed_ = true;
  }

  std::string write(std::string_view bytes) {
    auto w = conn_->write(bytes);
    if (w) return {};
    if (w.error().code == "closed") {
      closed_ = true;
      return {};
    }
    expected_ = "the bytes written within the timeout";
    actual_ = w.error().message;
    return "cannot write: " + w.error().message;
  }

  std::string step(std::size_t index) {
    const mllp_step& s = case_.steps[index];
    std::vector<std::string> texts;
    if (s.resend != 0) {
      texts = sent_[s.resend - 1];
    } else {
      for (const std::string& m : s.messages) texts.push_back(substitute(m, true));
    }
    sent_.push_back(texts);
    first_answers_.emplace_back();
    const std::string label = "step " + std::to_string(index + 1);

    if (closed_) {
      conn_.reset();
      closed_ = false;
      pending_.clear();
    }
    if (std::string f = connect(); !f.empty()) return f;

    const auto expectation = [&s](std::size_t i) -> const mllp_expectation& {
      return s.expect.size() == 1 ? s.expect[0] : s.expect[std::min(i, s.expect.size() - 1)];
    };
    std::string f;
    switch (s.framing) {
      case mllp_framing::normal:
        for (std::size_t i = 0; i < texts.size() && f.empty(); ++i) {
          sent_log_ += label + (s.resend ? " (step " + std::to_string(s.resend) + " sent again)" : std::string()) +
                       (texts.size() > 1 ? ", message " + std::to_string(i + 1) : std::string()) + ":\n" +
                       render(texts[i]);
          f = write(hl7v2::mllp_encode(texts[i]));
          if (f.empty()) f = answer(index, i, expectation(i), texts[i]);
        }
        break;
      case mllp_framing::one_write: {
        std::string bytes;
        for (const std::string& t : texts) hl7v2::mllp_encode(t, bytes);
        sent_log_ += label + " (" + std::to_string(texts.size()) + " blocks in one write):\n" + render(bytes);
        f = write(bytes);
        for (std::size_t i = 0; i < texts.size() && f.empty(); ++i) f = answer(index, i, expectation(i), texts[i]);
        break;
      }
      case mllp_framing::split: {
        const std::string bytes = hl7v2::mllp_encode(texts[0]);
        const std::size_t pieces = std::min(s.pieces, bytes.size());
        sent_log_ += label + " (one block in " + std::to_string(pieces) + " writes, " +
                     std::to_string(s.pause.count()) + " ms apart):\n" + render(bytes);
        for (std::size_t k = 0; k < pieces && f.empty() && !closed_; ++k) {
          const std::size_t from = k * bytes.size() / pieces, to = (k + 1) * bytes.size() / pieces;
          f = write(std::string_view(bytes).substr(from, to - from));
          if (f.empty() && k + 1 < pieces && !closed_ && s.pause.count() > 0) take(conn_->read(0, s.pause));
        }
        if (f.empty()) f = answer(index, 0, expectation(0), texts[0]);
        break;
      }
      case mllp_framing::junk_before: {
        const std::string bytes = s.junk + hl7v2::mllp_encode(texts[0]);
        sent_log_ += label + " (" + std::to_string(s.junk.size()) + " bytes before the start block):\n" + render(bytes);
        f = write(bytes);
        if (f.empty()) f = answer(index, 0, expectation(0), texts[0]);
        break;
      }
      case mllp_framing::no_end: {
        const std::string bytes = std::string(1, hl7v2::mllp_start_block) + texts[0];
        sent_log_ += label + " (a block never ended: no FS CR):\n" + render(bytes);
        f = write(bytes);
        if (f.empty()) f = answer(index, 0, expectation(0), texts[0]);
        break;
      }
      case mllp_framing::oversized: {
        std::string padded = texts[0];
        // An NTE (notes and comments, HL7 v2.5.1 2.15.10) carrying the padding: any
        // receiver may hold a note, so the message stays valid HL7 and only
        // its size is at issue.
        const char sep = padded.size() > 3 && padded.starts_with("MSH") ? padded[3] : '|';
        const std::string head = std::string("NTE") + sep + "1" + sep + sep;
        const std::size_t fill =
            s.size > padded.size() + head.size() + 1 ? s.size - padded.size() - head.size() - 1 : 1;
        padded += head + std::string(fill, 'X') + "\r";
        sent_log_ += label + " (one block of " + std::to_string(padded.size()) + " bytes):\n" + render(padded);
        f = write(hl7v2::mllp_encode(padded));
        if (f.empty()) f = answer(index, 0, expectation(0), texts[0]);
        break;
      }
    }
    if (!f.empty()) return f;

    // Nothing more, for as long as an expectation asks.
    milliseconds quiet{0};
    for (const mllp_expectation& e : s.expect) quiet = std::max(quiet, e.quiet);
    if (quiet.count() > 0 && pending_.empty() && !closed_) take(conn_->read(1, quiet));  // ends at the first answer
    if (!pending_.empty()) {
      expected_ = "no more answers than messages";
      actual_ = "a further answer: " + describe_frame(pending_.front());
      log_answer(label + ", a further answer", pending_.front());
      return "the receiver answered more than once: " + actual_;
    }
    return {};
  }

  std::string describe_frame(std::string_view frame) {
    auto parsed = hl7v2::parse(std::string(frame));
    if (!parsed) return "(not valid HL7)";
    return describe(summarise(*parsed));
  }

  void log_answer(const std::string& label, std::string_view frame) { received_log_ += label + ":\n" + render(frame); }

  /// The answer to message `i` of step `index`, judged against `e`.
  std::string answer(std::size_t index, std::size_t i, const mllp_expectation& e, const std::string& text) {
    const std::string label = "step " + std::to_string(index + 1) + (i > 0 ? ", answer " + std::to_string(i + 1) : "");
    const std::string cid = sent_control_id(text);
    expected_ = describe(e, cid);
    if (e.no_answer) {
      if (pending_.empty() && !closed_) take(conn_->read(1, e.wait));  // ends at the first answer
      if (!pending_.empty()) {
        actual_ = "an answer: " + describe_frame(pending_.front());
        log_answer(label, pending_.front());
        return "expected no answer, got one: " + actual_;
      }
      if (closed_) {
        actual_ = "the connection closed";
        received_log_ += label + ": the connection closed\n";
        return "expected no answer and the connection kept open; the receiver closed it";
      }
      received_log_ += label + ": no answer within " + std::to_string(e.wait.count()) + " ms\n";
      return {};
    }
    if (e.closed) {
      if (pending_.empty() && !closed_) take(conn_->read(1, timeout()));
      if (!pending_.empty()) {
        actual_ = "an answer: " + describe_frame(pending_.front());
        log_answer(label, pending_.front());
        return "expected the connection closed without an answer, got an answer: " + actual_;
      }
      if (!closed_) {
        actual_ = "the connection still open after " + std::to_string(opts_.mllp.timeout.count()) + " s";
        received_log_ += label + ": nothing, the connection open\n";
        return "expected the connection closed; it stayed open";
      }
      received_log_ += label + ": the connection closed\n";
      return {};
    }
    if (pending_.empty() && !closed_) take(conn_->read(1, timeout()));
    if (pending_.empty()) {
      if (closed_) {
        received_log_ += label + ": the connection closed without an answer\n";
        if (e.close_accepted) return {};
        actual_ = "the connection closed without an answer";
        return "the receiver closed the connection without answering";
      }
      actual_ = "no answer within " + std::to_string(opts_.mllp.timeout.count()) + " s";
      if (oversized_answers_ > 0) actual_ += " (an answer larger than the client's limit was dropped)";
      received_log_ += label + ": " + actual_ + "\n";
      return actual_;
    }
    const std::string frame = std::move(pending_.front());
    pending_.pop_front();
    log_answer(label, frame);
    if (i == 0) first_answers_[index] = frame;
    actual_ = e.batch ? std::string("the answer above") : describe_frame(frame);
    std::string problem = e.batch ? judge_batch_ack(frame, e, text) : judge_ack(frame, e, cid);
    if (e.same_as_step != 0) {
      const std::string& earlier = first_answers_[e.same_as_step - 1];
      std::string p;
      if (earlier.empty()) {
        p = "step " + std::to_string(e.same_as_step) + " had no answer to compare with";
      } else {
        auto a = hl7v2::parse(std::string(earlier));
        auto b = hl7v2::parse(std::string(frame));
        if (a && b) {
          ack_summary x = summarise(*a), y = summarise(*b);
          std::sort(x.err_codes.begin(), x.err_codes.end());
          std::sort(y.err_codes.begin(), y.err_codes.end());
          if (x.msa1 != y.msa1 || x.msa2 != y.msa2 || x.err_codes != y.err_codes) {
            p = "not the answer of step " + std::to_string(e.same_as_step) + " (" + describe(x) + ")";
          }
        }
      }
      if (!p.empty()) problem += (problem.empty() ? "" : "; ") + p;
    }
    return problem;
  }

  std::string fhir_check(const mllp_fhir_check& f) {
    std::string base = opts_.fhir_base;
    while (!base.empty() && base.back() == '/') base.pop_back();
    client_request req;
    req.method = "GET";
    req.url = base + "/" + encode_url(substitute(f.get, false));
    req.headers.emplace_back("Accept", "application/fhir+json");
    if (!opts_.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + opts_.token);
    fhir_request_ = "GET " + req.url + "\nAccept: application/fhir+json\n" +
                    (opts_.token.empty() ? std::string() : std::string("Authorization: Bearer ...\n"));
    expected_ = "status " + std::to_string(f.status);
    if (!opts_.http) {
      actual_ = "no HTTP transport";
      return "no HTTP transport given (mllp_suite_options::http)";
    }
    auto resp = opts_.http(req);
    if (!resp) {
      actual_ = resp.error().message;
      return "GET " + req.url + ": no response: " + resp.error().message;
    }
    fhir_response_ = "HTTP " + std::to_string(resp->status) + "\n";
    for (const auto& [k, v] : resp->headers) fhir_response_ += k + ": " + v + "\n";
    fhir_response_ += "\n" + std::string(resp->body.substr(0, max_shown_bytes));
    if (resp->body.size() > max_shown_bytes)
      fhir_response_ += "\n... (cut: " + std::to_string(resp->body.size()) + " bytes in all)";
    if (resp->status != f.status) {
      actual_ = "status " + std::to_string(resp->status);
      return "GET " + req.url + " answered " + std::to_string(resp->status) + ", expected " + std::to_string(f.status);
    }
    if (f.expressions.empty()) return {};
    if (opts_.definitions == nullptr) {
      expected_ = "the FHIR definitions, to evaluate FHIRPath";
      actual_ = "none given";
      return "no FHIR definitions given: the FHIRPath of the check cannot be evaluated";
    }
    fhir::json_read_options ro;
    ro.fhir_rules = false;
    auto body = fhir::parse_json(resp->body, ro);
    if (!body) {
      expected_ = "a JSON body";
      actual_ = body.error().message;
      return "the response body is not JSON: " + body.error().message;
    }
    for (const std::string& x : f.expressions) {
      const std::string expr_text = substitute(x, false);
      expected_ = expr_text + " gives true";
      auto expr = fhir::fhirpath::parse(expr_text);
      if (!expr) {
        actual_ = "not valid FHIRPath: " + expr.error().message;
        return "the FHIRPath '" + expr_text + "' is not valid (" + expr.error().location + "): " + expr.error().message;
      }
      auto result = fhir::fhirpath::evaluate(*expr, *body, *opts_.definitions);
      if (!result) {
        actual_ = "an evaluation error: " + result.error().message;
        return "'" + expr_text + "' could not be evaluated: " + result.error().message;
      }
      const bool is_true =
          result->size() == 1 && (*result)[0].k == fhir::fhirpath::value::kind::boolean && (*result)[0].b;
      if (!is_true) {
        std::vector<std::string> items;
        for (const auto& v : *result) {
          if (v.k == fhir::fhirpath::value::kind::boolean) {
            items.push_back(v.b ? "true" : "false");
          } else {
            items.push_back(fhir::fhirpath::to_string_value(v).value_or(fhir::fhirpath::type_name(v)));
          }
          if (items.size() == 5) break;
        }
        actual_ =
            result->empty() ? std::string("{} (empty)") : "{" + join(items) + (result->size() > 5 ? ", ..." : "") + "}";
        return "'" + expr_text + "' gave " + actual_ + ", not true";
      }
    }
    return {};
  }

  const mllp_suite_options& opts_;
  const std::string& run_id_;
  const mllp_case& case_;
  const std::string case_id_;  // ${caseId}
  std::unique_ptr<mllp_raw_stream> conn_;
  bool closed_ = false;                         // the receiver closed conn_
  std::deque<std::string> pending_;             // answers received, not yet judged
  std::size_t oversized_answers_ = 0;           // answers dropped by the client's limit
  std::vector<std::vector<std::string>> sent_;  // per step: the messages sent, placeholders replaced
  std::vector<std::string> first_answers_;      // per step: its first answer, or empty
  std::string sent_log_, received_log_;         // the report's request and response
  std::string fhir_request_, fhir_response_;    // the FHIR check being run
  std::string expected_, actual_;               // of the last check made
};

/// The names of the cases of a file that is not a valid suite, when it is
/// at least JSON with a "cases" array: they are reported failed, so that a
/// broken suite cannot hide its cases.
std::vector<std::string> case_names(const std::filesystem::path& file) {
  std::vector<std::string> out;
  std::error_code ec;
  if (std::filesystem::file_size(file, ec) > (16u << 20) || ec) return out;
  FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return out;
  std::string text;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  fhir::json_read_options ro;
  ro.fhir_rules = false;
  auto doc = fhir::parse_json(text, ro);
  if (!doc || !doc->is_object()) return out;
  const fhir::json_value* cases = doc->find("cases");
  if (cases == nullptr || !cases->is_array()) return out;
  for (const fhir::json_value& c : cases->items()) {
    const fhir::json_value* name = c.is_object() ? c.find("name") : nullptr;
    if (name != nullptr && name->is_string() && !name->str().empty()) out.push_back(name->str());
  }
  return out;
}

}  // namespace

suite_result run_mllp_suite(const std::filesystem::path& file, const mllp_suite_options& opts) {
  suite_result r;
  r.source = file.string();
  r.name = file.stem().string();
  const auto started = steady::now();
  const auto finish = [&r, started] {
    r.seconds = std::chrono::duration<double>(steady::now() - started).count();
    return r;
  };
  auto suite = load_mllp_suite(file);
  if (!suite) {
    r.error = "not a valid MLLP suite: " + suite.error().message +
              (suite.error().location.empty() ? std::string() : " (at " + suite.error().location + ")") +
              (suite.error().offset != hearth::error::npos ? " (byte " + std::to_string(suite.error().offset) + ")"
                                                           : std::string());
    for (const std::string& n : case_names(file)) {
      case_result c;
      c.name = n;
      c.status = outcome::failed;
      c.message = "not run: the suite file is not valid";
      r.cases.push_back(std::move(c));
    }
    return finish();
  }
  r.name = suite->name;
  r.description = suite->description;
  if (!opts.connect) {
    r.error = "no MLLP connector given (mllp_suite_options::connect): nothing can be sent";
    for (const mllp_case& c : suite->cases) {
      case_result cr;
      cr.name = c.name;
      cr.description = c.description;
      cr.status = outcome::failed;
      cr.message = "not run: no MLLP connector";
      r.cases.push_back(std::move(cr));
    }
    return finish();
  }
  const std::string run_id = opts.run_id.empty() ? random_run_id() : opts.run_id;
  for (std::size_t i = 0; i < suite->cases.size(); ++i) {
    const mllp_case& c = suite->cases[i];
    if (opts.progress) opts.progress(suite->name, c.name, i, suite->cases.size());
    if (!c.fhir.empty() && opts.fhir_base.empty()) {
      case_result cr;
      cr.name = c.name;
      cr.description = c.description;
      cr.status = outcome::skipped;
      cr.message = "needs a FHIR base (--fhir): the case checks what the receiver stored";
      r.cases.push_back(std::move(cr));
      continue;
    }
    try {
      r.cases.push_back(case_runner(opts, run_id, c).run());
    } catch (const std::exception& e) {
      // Nothing here throws for what a receiver sends; a failure to
      // allocate (a huge oversized block) or a bug must still not end the
      // run: the case fails, saying so, and the next one runs.
      case_result cr;
      cr.name = c.name;
      cr.description = c.description;
      cr.status = outcome::failed;
      cr.message = std::string("the runner failed: ") + e.what();
      r.cases.push_back(std::move(cr));
    }
  }
  return finish();
}

}  // namespace hearth::server::conformance
