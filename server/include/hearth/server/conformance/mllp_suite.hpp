#pragma once
// The MLLP suites of `hearth conformance` (issue 9): a small JSON format,
// documented for suite authors in tests/conformance/MLLP.md, that says what
// to send to an MLLP receiver (HL7 v2.5.1 Appendix C), how to frame it,
// what acknowledgment to expect (HL7 v2.5.1 chapter 2: 2.9 message
// processing rules, 2.10.3 batches, 2.14.1 ACK, 2.15.5 ERR, 2.15.8 MSA), and
// what the receiver's FHIR server must hold afterwards.
//
// A suite is loaded whole (load_mllp_suite) before anything is sent: a file
// that cannot be read or is not a valid suite gives a suite_result whose
// `error` says why and where, never an exception or a partial run.
//
// The network is behind `mllp_connector` (server::mllp_raw_connect in
// production, a fake in tests) and `http_transport` (http_exchange): this
// header and its sources see no Asio or Beast.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/server/conformance/http_client.hpp>
#include <hearth/server/conformance/report.hpp>
#include <hearth/server/mllp_client.hpp>

namespace hearth::fhir {
class definitions;
}

namespace hearth::server::conformance {

/// Sends one request and returns the response, or an error when no HTTP
/// response came back at all (connection refused, timeout, ...).
using http_transport = std::function<hearth::result<client_response>(const client_request&)>;

/// Opens one connection to the MLLP receiver `opts` names.
using mllp_connector = std::function<hearth::result<std::unique_ptr<mllp_raw_stream>>(const mllp_client_options& opts)>;

/// How one MLLP suite is run. Plain value; the callables are called from the
/// thread calling run_mllp_suite only.
struct mllp_suite_options {
  mllp_client_options mllp;  ///< host, port, tls, ca/cert/key, timeout (the wait for each answer)
  /// How connections are opened: server::mllp_raw_connect in production.
  /// Null: the suite cannot run (its `error` says so).
  mllp_connector connect;
  /// The FHIR base of the server the receiver writes to ("http://h:8080/fhir",
  /// a trailing slash ignored). Empty: cases with FHIR checks are skipped,
  /// saying so.
  std::string fhir_base;
  http_transport http;  ///< for the FHIR checks (http_exchange in production)
  std::string token;    ///< bearer token for the FHIR checks; empty: none
  /// ${runId}: 12 lowercase letters and digits, fresh per run; empty: one is
  /// made up for this call.
  std::string run_id;
  /// Called before each case runs (or is skipped): suite name, case name,
  /// index (0-based), count.
  std::function<void(std::string_view, std::string_view, std::size_t, std::size_t)> progress;
  /// The FHIR R4 definitions, for the FHIRPath of the FHIR checks. Not
  /// owned; must outlive the call. Null: a FHIR check fails, saying so.
  const hearth::fhir::definitions* definitions = nullptr;
};

// ---------------------------------------------------------------------------
// The loaded form of a suite file (MLLP.md says what each member means in
// the JSON). Plain values.

/// How a step puts its message(s) on the connection. An MLLP block is
/// VT message FS CR (HL7 v2.5.1 Appendix C.4; MLLP Release 1 "Block Format").
enum class mllp_framing {
  normal,       ///< each message one block, one write, its answer awaited before the next
  split,        ///< the block cut into `pieces` writes, `pause` apart
  one_write,    ///< every message of the step, each a block, in a single write
  junk_before,  ///< `junk` bytes, then the block, in one write
  no_end,       ///< VT and the message, never FS CR
  oversized,    ///< the message padded (an NTE segment) to `size` bytes, then framed
};

/// "normal", "split", "one-write", "junk-before", "no-end", "oversized".
const char* to_string(mllp_framing f) noexcept;

/// What the answer to one message must be. Every member set is checked;
/// unset members are not.
struct mllp_expectation {
  /// MSA-1 is one of these (HL7 table 0008: AA AE AR CA CE CR); empty: any.
  std::vector<std::string> ack;
  /// MSA-2 equals the MSH-10 sent (2.15.8.2), when the MSH-10 sent can be read.
  bool control_id = true;
  /// The ACK's MSH-9, "ACK^A01^ACK": the components given must match.
  std::string msh9;
  /// At least one ERR segment (2.15.5).
  bool err = false;
  /// Some ERR's ERR-3.1 (v2.5 and later), or ERR-1.4.1 (the ELD form of
  /// earlier versions), is one of these table 0357 codes.
  std::vector<std::string> err_code;
  /// No answer: nothing within `wait`, and the connection stays open.
  bool no_answer = false;
  /// The receiver closes the connection without answering (within the
  /// options' timeout).
  bool closed = false;
  /// The receiver closing the connection without answering also meets the
  /// expectation (whatever else it says).
  bool close_accepted = false;
  /// 1-based number of an earlier step of the case: this answer's MSA-1,
  /// MSA-2 and ERR-3 codes equal that step's first answer's. 0: not checked.
  std::size_t same_as_step = 0;
  /// After the answers, nothing more comes for this long (0: not checked).
  std::chrono::milliseconds quiet{0};
  /// How long no_answer waits.
  std::chrono::milliseconds wait{2000};

  /// The answer is a batch of acknowledgments (2.10.3): [FHS] BHS {ACK} BTS
  /// [FTS]. Then `ack`, `msh9`, `err`, `err_code` and `control_id` above are
  /// not used: `batch_messages` says what each message's ACK must be.
  bool batch = false;
  /// One expectation per message of the batch sent, in order, or one for
  /// all of them; a message's ACK is the one whose MSA-2 is its MSH-10.
  std::vector<mllp_expectation> batch_messages;
  /// A message whose expected ACK is only AA or CA may have none in the
  /// answer batch: 2.10.3 lets the receiver acknowledge only the messages
  /// in error, the others being accepted implicitly.
  bool implicit_accept = false;
};

/// One write-and-answer exchange of a case, on the case's connection.
struct mllp_step {
  /// The messages, placeholders not yet replaced, segments ending in CR.
  std::vector<std::string> messages;
  /// 1-based number of an earlier step whose bytes are sent again,
  /// unchanged (placeholders as replaced then); 0: `messages` are sent.
  std::size_t resend = 0;
  mllp_framing framing = mllp_framing::normal;
  std::size_t pieces = 3;               ///< split: how many writes (2 or more)
  std::chrono::milliseconds pause{50};  ///< split: the pause between writes
  std::string junk = "\r\n";            ///< junk-before: the bytes written first
  std::size_t size = 16u << 20;         ///< oversized: the message's size in bytes
  /// One per message, or a single one for all of them.
  std::vector<mllp_expectation> expect;
};

/// A GET after the exchange, and what its response must be.
struct mllp_fhir_check {
  std::string get;  ///< relative to the FHIR base ("Patient?identifier=..."), placeholders not yet replaced
  unsigned status = 200;
  /// FHIRPath expressions on the response body, each of which must give
  /// true (a single Boolean true).
  std::vector<std::string> expressions;
  /// `retrySeconds`: for a receiver that acknowledges before it has written
  /// what a message produces, the check is made again (250 ms apart) for
  /// this long before it fails. 0 (the default): once, right after the
  /// last answer.
  unsigned retry_seconds = 0;
};

/// One case: steps on one connection, then the FHIR checks.
struct mllp_case {
  std::string name, description;
  std::vector<mllp_step> steps;
  std::vector<mllp_fhir_check> fhir;
};

/// One suite file.
struct mllp_suite {
  std::string name, description;
  std::vector<mllp_case> cases;
};

/// Parses a suite. `file` names it: its stem must be the suite's `name`, and
/// message files are read relative to its folder. Errors (code "invalid")
/// say what is wrong and where ("$.cases[2].steps[0].expect.ack"); JSON
/// syntax errors carry the byte offset. Never throws for bad input.
hearth::result<mllp_suite> parse_mllp_suite(std::string_view json_text, const std::filesystem::path& file);

/// Reads and parses a suite file ("unavailable" when it cannot be read).
hearth::result<mllp_suite> load_mllp_suite(const std::filesystem::path& file);

/// Judges one answer `ack` (an HL7 message) against `e`, for a message
/// whose MSH-10 was `sent_control_id` (empty: unknown). Returns what is wrong
/// in one line, or an empty string when the answer meets the expectation.
/// Used for single acknowledgments; batches are judged by judge_batch_ack.
std::string judge_ack(std::string_view ack, const mllp_expectation& e, std::string_view sent_control_id);

/// Judges a batch answer against `e` (e.batch set), the batch sent being
/// `sent` (after placeholders). Empty when it meets the expectation.
std::string judge_batch_ack(std::string_view answer, const mllp_expectation& e, std::string_view sent);

/// Loads and runs one suite file: one case_result per case, in order.
/// Never throws for bad input.
suite_result run_mllp_suite(const std::filesystem::path& file, const mllp_suite_options& opts);

}  // namespace hearth::server::conformance
