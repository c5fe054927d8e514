// Integration tests of the HL7 v2 interface (issue 7): a real `hearth serve
// --mllp-port 0` receiving messages over MLLP sockets (Hearth's own client,
// Debian's python3-hl7 `mllp_send`, `hearth hl7 send`), answering with ACKs
// only after the resources, the message log entry and the AuditEvent are
// committed, checked through the FHIR REST API.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/hl7v2/mllp_frame.hpp>
#include <hearth/server/mllp_client.hpp>

#include "integration/hearth_process.hpp"

namespace fs = std::filesystem;
using hearth::test::command_output;
using hearth::test::hearth_process;
using hearth::test::http_connection;
using hearth::test::run_hearth;

namespace {

/// The OID of the test hospital's MRNs: PID-3.4 HD.2 with HD.3 ISO, which
/// the IG maps to Identifier.system urn:oid:... without any configuration.
constexpr const char* mrn_oid = "2.16.840.1.113883.3.4711";
constexpr const char* mrn_system = "urn:oid:2.16.840.1.113883.3.4711";

/// An ADT message (segments joined with CR) for patient `mrn`, control id
/// `control`, family name `family`.
std::string adt(const std::string& event, const std::string& control, const std::string& mrn,
                const std::string& family = "Doe", const std::string& birth = "19800215") {
  return "MSH|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105103000+0100||ADT^" + event + "^ADT_A01|" + control +
         "|P|2.5.1\r"
         "EVN|" + event + "|20241105103000+0100\r"
         "PID|1||" + mrn + "^^^HOSP&" + mrn_oid + "&ISO^MR||" + family + "^John^Q||" + birth +
         "|M|||1 Main St^^Springfield^IL^62701^USA^H||^PRN^PH^^^217^5551234\r";
}

std::string msa_code(const std::string& ack) {
  const auto at = ack.find("\rMSA|");
  return at == std::string::npos ? std::string() : ack.substr(at + 5, 2);
}

hearth::server::mllp_client_options client_to(std::uint16_t port) {
  hearth::server::mllp_client_options o;
  o.host = "127.0.0.1";
  o.port = port;
  o.timeout = std::chrono::seconds(30);
  return o;
}

/// Sends one message on a connection of its own; the answer, or "" on error.
std::string send_one(std::uint16_t port, const std::string& message, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto opts = client_to(port);
  opts.timeout = timeout;
  auto r = hearth::server::mllp_exchange(opts, {message});
  if (!r || r->empty()) return {};
  return r->front();
}

/// The search Bundle of Patient?identifier=system|mrn.
hearth::fhir::json_value patients_with(const hearth_process& server, const std::string& mrn) {
  http_connection c(server);
  const std::string system = mrn_system;
  std::string encoded;
  for (char ch : system + "|" + mrn) {
    if (ch == ':' || ch == '|') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(ch));
      encoded += buf;
    } else {
      encoded += ch;
    }
  }
  const auto r = c.request("GET", "/Patient?identifier=" + encoded);
  REQUIRE(r.status == 200);
  auto parsed = hearth::fhir::parse_json(r.body);
  REQUIRE(parsed);
  return std::move(*parsed);
}

std::size_t entry_count(const hearth::fhir::json_value& bundle) {
  const auto* entries = bundle.find("entry");
  return entries == nullptr ? 0 : entries->items().size();
}

const hearth::fhir::json_value& first_resource(const hearth::fhir::json_value& bundle) {
  return *bundle.find("entry")->items().front().find("resource");
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("hearth-mllp-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("mllp serve: an ADT is acknowledged after commit and its Patient is served; a resend changes nothing") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  REQUIRE(mllp != 0);

  const std::string a01 = adt("A01", "CTRL-0001", "MRN-1001");
  const std::string ack = send_one(mllp, a01);
  REQUIRE_MESSAGE(msa_code(ack) == "AA", ack);
  CHECK(ack.find("|CTRL-0001") != std::string::npos);  // MSA-2 names the message

  // The ACK came after the commit: the Patient is there at once.
  auto found = patients_with(server, "MRN-1001");
  REQUIRE(entry_count(found) == 1);
  const auto& patient = first_resource(found);
  CHECK(patient.find("gender")->str() == "male");
  CHECK(patient.find("birthDate")->str() == "1980-02-15");
  const std::string id = patient.find("id")->str();

  // The same bytes again: the same ACK, nothing new.
  const std::string again = send_one(mllp, a01);
  CHECK(again == ack);
  found = patients_with(server, "MRN-1001");
  REQUIRE(entry_count(found) == 1);
  CHECK(first_resource(found).find("meta")->find("versionId")->str() == "1");

  // An A08 with a new control id updates the same Patient.
  const std::string a08 = adt("A08", "CTRL-0002", "MRN-1001", "Doe-Smith");
  REQUIRE(msa_code(send_one(mllp, a08)) == "AA");
  found = patients_with(server, "MRN-1001");
  REQUIRE(entry_count(found) == 1);
  CHECK(first_resource(found).find("id")->str() == id);
  CHECK(first_resource(found).find("meta")->find("versionId")->str() == "2");

  // The AuditEvent of the message: DICOM 110107 Import, the Patient as entity.
  http_connection c(server);
  const auto events = c.request("GET", "/AuditEvent?type=110107&patient=Patient/" + id);
  REQUIRE(events.status == 200);
  auto parsed = hearth::fhir::parse_json(events.body);
  REQUIRE(parsed);
  CHECK(entry_count(*parsed) >= 2);
}

TEST_CASE("mllp serve: a reused control id with other bytes is rejected (AR, ERR 205) and changes nothing") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  REQUIRE(msa_code(send_one(mllp, adt("A04", "DUP-1", "MRN-2001"))) == "AA");
  const std::string other = send_one(mllp, adt("A04", "DUP-1", "MRN-2002"));
  CHECK_MESSAGE(msa_code(other) == "AR", other);
  CHECK(other.find("|205^") != std::string::npos);
  CHECK(entry_count(patients_with(server, "MRN-2002")) == 0);
}

TEST_CASE("mllp serve: bad messages are answered AR or AE with ERR, logged, and change nothing") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");

  // Not HL7 at all.
  const std::string junk = send_one(mllp, "hello, this is not a message");
  CHECK_MESSAGE(msa_code(junk) == "AR", junk);

  // An unknown message type (200) and an unsupported event (201).
  std::string zzz = adt("A01", "BAD-1", "MRN-3001");
  zzz.replace(zzz.find("ADT^A01^ADT_A01"), 15, "ZZZ^Z01");
  const std::string zack = send_one(mllp, zzz);
  CHECK_MESSAGE(msa_code(zack) == "AR", zack);
  CHECK(zack.find("|200^") != std::string::npos);

  // A content error: a birth date that is no date (102 at PID-7) -> AE.
  const std::string bad_date = send_one(mllp, adt("A04", "BAD-2", "MRN-3002", "Doe", "1980021X"));
  CHECK_MESSAGE(msa_code(bad_date) == "AE", bad_date);
  CHECK(bad_date.find("PID^1^7") != std::string::npos);
  CHECK(entry_count(patients_with(server, "MRN-3002")) == 0);

  // A processing id other than P, D, T (202).
  std::string training = adt("A04", "BAD-3", "MRN-3003");
  training.replace(training.find("|P|2.5.1"), 8, "|X|2.5.1");
  const std::string tack = send_one(mllp, training);
  CHECK_MESSAGE(msa_code(tack) == "AR", tack);
  CHECK(tack.find("|202^") != std::string::npos);
}

TEST_CASE("mllp serve: enhanced mode answers CA after commit; a batch gets a batch of ACKs") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");

  std::string enhanced = adt("A04", "ENH-1", "MRN-4001");
  enhanced.replace(enhanced.find("|P|2.5.1"), 8, "|P|2.5.1|||AL|NE");
  const std::string cack = send_one(mllp, enhanced);
  CHECK_MESSAGE(msa_code(cack) == "CA", cack);
  CHECK(entry_count(patients_with(server, "MRN-4001")) == 1);

  const std::string batch = "BHS|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105103000+0100||||BATCH-77\r" +
                            adt("A04", "B-1", "MRN-4002") + adt("A04", "B-2", "MRN-4003") + "BTS|2\r";
  const std::string reply = send_one(mllp, batch);
  REQUIRE_MESSAGE(reply.starts_with("BHS|"), reply);
  CHECK(reply.find("|BATCH-77\r") != std::string::npos);  // BHS-12: the batch it answers
  CHECK(reply.find("MSA|AA|B-1") != std::string::npos);
  CHECK(reply.find("MSA|AA|B-2") != std::string::npos);
  CHECK(reply.find("BTS|2") != std::string::npos);
  CHECK(entry_count(patients_with(server, "MRN-4002")) == 1);
  CHECK(entry_count(patients_with(server, "MRN-4003")) == 1);
}

TEST_CASE("mllp serve: real senders: python3-hl7's mllp_send and hearth hl7 send") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  temp_dir t;

  if (fs::exists("/usr/bin/mllp_send")) {
    const fs::path file = t.path / "python.hl7";
    {
      std::ofstream out(file, std::ios::binary);
      out << hearth::hl7v2::mllp_encode(adt("A04", "PY-1", "MRN-5001"));
    }
    const std::string cmd = "timeout 30 /usr/bin/mllp_send -p " + std::to_string(mllp) + " -f " + file.string() +
                            " 127.0.0.1 2>&1";
    std::string output;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[512];
      while (std::fgets(buf, sizeof buf, p) != nullptr) output += buf;
      CHECK(::pclose(p) == 0);
    }
    CHECK_MESSAGE(output.find("MSA|AA|PY-1") != std::string::npos, output);
    CHECK(entry_count(patients_with(server, "MRN-5001")) == 1);
  } else {
    MESSAGE("python3-hl7's mllp_send is not installed: that sender is not tried");
  }

  const fs::path file = t.path / "cli.hl7";
  {
    std::ofstream out(file, std::ios::binary);
    out << adt("A04", "CLI-1", "MRN-5002") << adt("A04", "CLI-2", "MRN-5003");
  }
  const command_output sent =
      run_hearth({"hl7", "send", file.string(), "--to", "127.0.0.1:" + std::to_string(mllp)});
  CHECK_MESSAGE(sent.status == 0, sent.err);
  CHECK(sent.out.find("MSA|AA|CLI-1") != std::string::npos);
  CHECK(sent.out.find("MSA|AA|CLI-2") != std::string::npos);
  CHECK(entry_count(patients_with(server, "MRN-5003")) == 1);

  // A rejected message: exit status 1.
  const fs::path bad = t.path / "bad.hl7";
  {
    std::ofstream out(bad, std::ios::binary);
    out << adt("A04", "CLI-3", "MRN-5004", "Doe", "1980021X");
  }
  const command_output refused =
      run_hearth({"hl7", "send", bad.string(), "--to", "127.0.0.1:" + std::to_string(mllp)});
  CHECK(refused.status == 1);
  CHECK(refused.out.find("MSA|AE|CLI-3") != std::string::npos);
}

TEST_CASE("mllp serve: kill -9 at random moments loses nothing acknowledged and duplicates nothing") {
  hearth_process server({"--mllp-port", "0"});
  std::mt19937 rng(12345);
  const int total = 60;
  std::set<int> acknowledged;
  int next = 0;
  for (int round = 0; round < 4 && next < total; ++round) {
    const std::uint16_t mllp = server.listening_port("mllp");
    REQUIRE(mllp != 0);
    std::atomic<bool> stop{false};
    std::atomic<int> sent_upto{next};
    // A sender thread sends messages one by one; the test kills the server
    // after a random delay, wherever the sender is.
    std::vector<int> acked_now;
    std::mutex mu;
    std::thread sender([&] {
      for (int i = next; i < total && !stop; ++i) {
        const std::string ack =
            send_one(mllp, adt("A04", "DUR-" + std::to_string(i), "MRN-D" + std::to_string(i)), std::chrono::seconds(5));
        if (msa_code(ack) == "AA") {
          std::lock_guard lock(mu);
          acked_now.push_back(i);
        } else {
          break;  // the server is gone: resend from here after the restart
        }
        sent_upto = i + 1;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    server.kill_now();
    stop = true;
    sender.join();
    for (int i : acked_now) acknowledged.insert(i);
    next = sent_upto;
    server.restart({"--mllp-port", "0"});
  }
  // Everything not yet sent (or not acknowledged), resent to the running server.
  const std::uint16_t mllp = server.listening_port("mllp");
  for (int i = 0; i < total; ++i) {
    if (acknowledged.contains(i)) continue;
    const std::string ack = send_one(mllp, adt("A04", "DUR-" + std::to_string(i), "MRN-D" + std::to_string(i)));
    REQUIRE_MESSAGE(msa_code(ack) == "AA", ack);
  }
  CHECK(acknowledged.size() > 0);
  for (int i = 0; i < total; ++i) {
    INFO("message " << i);
    CHECK(entry_count(patients_with(server, "MRN-D" + std::to_string(i))) == 1);
  }
}

// --- the admin API of the message log, and the metrics (hl7_admin.hpp) -------

namespace {

/// The first token `hearth token` prints for `server` with `scope`.
std::string minted(const hearth_process& server, const std::string& scope) {
  const command_output out = server.mint({"--scope", scope});
  REQUIRE_MESSAGE(out.status == 0, out.err);
  return out.out.substr(0, out.out.find('\n'));
}

std::pair<std::string, std::string> bearer(const std::string& token) { return {"Authorization", "Bearer " + token}; }

/// The admin API's answers are plain JSON, not FHIR: empty strings and arrays are allowed.
std::optional<hearth::fhir::json_value> plain_json(const std::string& body) {
  hearth::fhir::json_read_options jo;
  jo.fhir_rules = false;
  auto j = hearth::fhir::parse_json(body, jo);
  if (!j) return std::nullopt;
  return std::move(*j);
}

}  // namespace

TEST_CASE("mllp serve: the admin API lists a failed message, shows its ACK, refuses $reprocess of a processed one") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  REQUIRE(msa_code(send_one(mllp, adt("A01", "ADM-OK", "MRN-5001"))) == "AA");
  const std::string failed = adt("A04", "ADM-BAD", "MRN-5002", "Doe", "1980021X");  // PID-7 no date: 102
  const std::string ae = send_one(mllp, failed);
  REQUIRE_MESSAGE(msa_code(ae) == "AE", ae);

  http_connection c(server);
  const auto admin = bearer(minted(server, "hearth/admin"));

  // The default test token (system/*.cruds ...) is no administrator's.
  const auto refused = c.request("GET", "/admin/hl7/messages");
  CHECK(refused.status == 403);
  CHECK(refused.header("www-authenticate").find("insufficient_scope") != std::string::npos);
  CHECK(c.request("GET", "/admin/hl7/messages", {}, {{"Authorization", "Bearer not-a-token"}}).status == 401);

  const auto listed = c.request("GET", "/admin/hl7/messages?status=error", {}, {admin});
  REQUIRE_MESSAGE(listed.status == 200, listed.body);
  CHECK(listed.header("content-type") == "application/json");
  auto list = plain_json(listed.body);
  REQUIRE(list);
  const auto& messages = list->find("messages")->items();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find("control_id")->str() == "ADM-BAD");
  CHECK(messages[0].find("status")->str() == "error");
  const std::string id = messages[0].find("id")->number_text();

  const auto shown = c.request("GET", "/admin/hl7/messages/" + id, {}, {admin});
  REQUIRE_MESSAGE(shown.status == 200, shown.body);
  auto one = plain_json(shown.body);
  REQUIRE(one);
  CHECK(one->find("ack")->str().find("MSA|AE|ADM-BAD") != std::string::npos);
  CHECK(hearth::base64::decode(one->find("raw")->str()) == failed);
  CHECK_FALSE(one->find("error")->str().empty());
  CHECK(c.request("GET", "/admin/hl7/messages/999999", {}, {admin}).status == 404);

  // A processed message cannot be processed again: 409.
  auto processed = plain_json(c.request("GET", "/admin/hl7/messages?status=processed", {}, {admin}).body);
  REQUIRE(processed);
  const auto& done = processed->find("messages")->items();
  REQUIRE(done.size() == 1);
  const std::string done_id = done[0].find("id")->number_text();
  const auto conflict = c.request("POST", "/admin/hl7/messages/" + done_id + "/$reprocess", {}, {admin});
  CHECK_MESSAGE(conflict.status == 409, conflict.body);
  // The message in error runs again (nothing was fixed: in error still).
  const auto again = c.request("POST", "/admin/hl7/messages/" + id + "/$reprocess", {}, {admin});
  REQUIRE_MESSAGE(again.status == 200, again.body);
  const auto after = plain_json(again.body);
  REQUIRE(after);
  CHECK(after->find("status")->str() == "error");

  // Each call is in the audit trail (appended asynchronously: polled): an
  // operation, R for the reads, E for $reprocess.
  std::string events;
  for (int tries = 0; tries < 50; ++tries) {
    const auto found = c.request("GET", "/AuditEvent?subtype=operation&_count=100");
    REQUIRE_MESSAGE(found.status == 200, found.body);
    events = found.body;
    if (events.find(R"("action":"E")") != std::string::npos && events.find(R"("action":"R")") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(events.find(R"("action":"E")") != std::string::npos);
  CHECK(events.find(R"("action":"R")") != std::string::npos);

  // /metrics: the intake's counters by type, sender and outcome, and the listener's.
  const std::string metrics = c.request("GET", "/metrics").body;
  CHECK(metrics.find(R"(hearth_hl7_messages_total{type="ADT^A04",sender="ADTAPP",status="error"})") !=
        std::string::npos);
  CHECK(metrics.find(R"(hearth_hl7_messages_total{type="ADT^A01",sender="ADTAPP",status="processed"} 1)") !=
        std::string::npos);
  CHECK(metrics.find("hearth_hl7_processing_seconds") != std::string::npos);
  CHECK(metrics.find("\nhearth_mllp_frames_total 2\n") != std::string::npos);
  CHECK(metrics.find("\nhearth_mllp_connections_open ") != std::string::npos);
}

TEST_CASE("mllp serve: without MLLP there is no admin API") {
  hearth_process server;
  http_connection c(server);
  const auto r = c.request("GET", "/admin/hl7/messages", {}, {bearer(minted(server, "hearth/admin"))});
  CHECK(r.status == 404);
  CHECK(c.request("GET", "/metrics").body.find("hearth_mllp_") == std::string::npos);
}

namespace {

/// An ORU^R01 with one OBX for patient `mrn`, filler order number `filler`.
std::string oru(const std::string& control, const std::string& mrn, const std::string& filler) {
  return "MSH|^~\\&|LABSYS|GOODLAB|HEARTH|HEARTH|20241105110000+0100||ORU^R01^ORU_R01|" + control +
         "|P|2.5.1\r"
         "PID|1||" + mrn + "^^^HOSP&" + mrn_oid + "&ISO^MR||Doe^John||19800215|M\r"
         "OBR|1||" + filler + "^LABSYS^1.2.3.4.6^ISO|718-7^Hemoglobin^LN|||202411050800+0100" +
         std::string(15, '|') + "202411051015+0100||HM|F\r"
         "OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||13.6|g/dL^^UCUM|13.5-17.5|N|||F\r";
}

/// ADT^A40: the survivor `survivor_mrn` absorbs `prior_mrn` (MRG-1).
std::string a40(const std::string& control, const std::string& survivor_mrn, const std::string& prior_mrn) {
  return "MSH|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105120000+0100||ADT^A40^ADT_A39|" + control +
         "|P|2.5.1\r"
         "EVN|A40|20241105120000+0100\r"
         "PID|1||" + survivor_mrn + "^^^HOSP&" + mrn_oid + "&ISO^MR||Roe^Jane||19810316|F\r"
         "MRG|" + prior_mrn + "^^^HOSP&" + mrn_oid + "&ISO^MR\r";
}

/// The search Bundle of GET `target`.
hearth::fhir::json_value search(const hearth_process& server, const std::string& target) {
  http_connection c(server);
  const auto r = c.request("GET", target);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto parsed = hearth::fhir::parse_json(r.body);
  REQUIRE(parsed);
  return std::move(*parsed);
}

}  // namespace

TEST_CASE("mllp serve: an A40 moves the prior patient's results to the survivor and retires the prior patient") {
  hearth_process server({"--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  REQUIRE(msa_code(send_one(mllp, adt("A01", "MRG-A01-X", "MRN-6001"))) == "AA");
  REQUIRE(msa_code(send_one(mllp, oru("MRG-ORU-X", "MRN-6001", "FL-6001"))) == "AA");
  REQUIRE(msa_code(send_one(mllp, adt("A01", "MRG-A01-Y", "MRN-6002", "Roe"))) == "AA");
  const auto xs = patients_with(server, "MRN-6001");
  const auto ys = patients_with(server, "MRN-6002");
  REQUIRE(entry_count(xs) == 1);
  REQUIRE(entry_count(ys) == 1);
  const std::string x = first_resource(xs).find("id")->str();
  const std::string y = first_resource(ys).find("id")->str();
  REQUIRE(entry_count(search(server, "/Observation?subject=Patient/" + x)) == 1);
  REQUIRE(entry_count(search(server, "/DiagnosticReport?subject=Patient/" + x)) == 1);

  // An unknown prior patient: AE, ERR 204 at MRG-1, nothing moved.
  const std::string unknown = send_one(mllp, a40("MRG-A40-0", "MRN-6002", "MRN-6999"));
  CHECK_MESSAGE(msa_code(unknown) == "AE", unknown);
  CHECK(unknown.find("|204^") != std::string::npos);
  CHECK(entry_count(search(server, "/Observation?subject=Patient/" + x)) == 1);

  // Survivor Y, prior X.
  const std::string ack = send_one(mllp, a40("MRG-A40-1", "MRN-6002", "MRN-6001"));
  REQUIRE_MESSAGE(msa_code(ack) == "AA", ack);
  CHECK(entry_count(search(server, "/Observation?subject=Patient/" + x)) == 0);
  CHECK(entry_count(search(server, "/DiagnosticReport?subject=Patient/" + x)) == 0);
  const auto obs = search(server, "/Observation?subject=Patient/" + y);
  REQUIRE(entry_count(obs) == 1);
  CHECK(first_resource(obs).find("subject")->find("reference")->str() == "Patient/" + y);
  const auto report = search(server, "/DiagnosticReport?subject=Patient/" + y);
  REQUIRE(entry_count(report) == 1);
  CHECK(first_resource(report).find("subject")->find("reference")->str() == "Patient/" + y);

  // X: inactive, replaced-by Y; Y replaces X (R4 patient.html#links).
  const auto prior = first_resource(patients_with(server, "MRN-6001"));
  REQUIRE(prior.find("active") != nullptr);
  CHECK_FALSE(prior.find("active")->as_bool());
  REQUIRE(prior.find("link") != nullptr);
  CHECK(prior.find("link")->items()[0].find("type")->str() == "replaced-by");
  CHECK(prior.find("link")->items()[0].find("other")->find("reference")->str() == "Patient/" + y);
  const auto survivor = first_resource(patients_with(server, "MRN-6002"));
  REQUIRE(survivor.find("link") != nullptr);
  CHECK(survivor.find("link")->items()[0].find("type")->str() == "replaces");
  CHECK(survivor.find("link")->items()[0].find("other")->find("reference")->str() == "Patient/" + x);
  // The survivor's PID of the A40 updated it as an A08 would.
  CHECK(survivor.find("gender")->str() == "female");

  // Resent: the same ACK, nothing new.
  const std::string version = survivor.find("meta")->find("versionId")->str();
  CHECK(send_one(mllp, a40("MRG-A40-1", "MRN-6002", "MRN-6001")) == ack);
  CHECK(first_resource(patients_with(server, "MRN-6002")).find("meta")->find("versionId")->str() == version);

  // Later A08s of either patient (PID only) keep the merge's record.
  REQUIRE(msa_code(send_one(mllp, adt("A08", "MRG-A08-Y", "MRN-6002", "Roe-Smith"))) == "AA");
  REQUIRE(msa_code(send_one(mllp, adt("A08", "MRG-A08-X", "MRN-6001", "Doe-Smith"))) == "AA");
  const auto survivor2 = first_resource(patients_with(server, "MRN-6002"));
  CHECK(survivor2.find("meta")->find("versionId")->str() != version);  // the A08 was applied
  REQUIRE(survivor2.find("link") != nullptr);
  CHECK(survivor2.find("link")->items()[0].find("type")->str() == "replaces");
  const auto prior2 = first_resource(patients_with(server, "MRN-6001"));
  REQUIRE(prior2.find("active") != nullptr);
  CHECK_FALSE(prior2.find("active")->as_bool());
  REQUIRE(prior2.find("link") != nullptr);
  CHECK(prior2.find("link")->items()[0].find("type")->str() == "replaced-by");
}
