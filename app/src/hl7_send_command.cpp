// `hearth hl7 send FILE... --to HOST:PORT`: an MLLP client (issue 7,
// "Operating it") over server/mllp_client.hpp, printing each acknowledgment.
#include "hl7_send_command.hpp"

#include <charconv>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/hl7v2/batch.hpp>
#include <hearth/server/mllp_client.hpp>

#include "input.hpp"

namespace hearth::app {

namespace {

int usage(std::ostream& out, int status) {
  out << "usage: hearth hl7 send FILE... --to HOST:PORT [--tls] [--ca FILE] [--cert FILE --key FILE]\n"
         "                          [--timeout SECONDS]\n\n"
         "Sends each HL7 v2 message of each FILE (\"-\": standard input) over MLLP, one frame\n"
         "per message, waiting for each answer; a file holding a batch (FHS or BHS) is sent\n"
         "as one frame. Prints every answer, segments on lines of their own, then a blank line.\n\n"
         "  --to HOST:PORT   the receiver ([IPv6]:PORT for an IPv6 address)\n"
         "  --tls            MLLP over TLS; the receiver's certificate is verified\n"
         "  --ca FILE        PEM CA certificates to trust (default: the system's)\n"
         "  --cert, --key    client certificate and key, for receivers requiring mTLS\n"
         "  --timeout S      longest wait for each step and each answer (default 30)\n\n"
         "Exit status: 0 when every answer accepts (MSA-1 AA or CA), 1 when one does not,\n"
         "2 for usage errors, unreadable files, or a failed connection.\n";
  return status;
}

/// Every MSA-1 of an answer (one for an ACK, one per ACK in a batch).
std::vector<std::string> ack_codes(std::string_view answer) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = answer.find("MSA", pos)) != std::string_view::npos) {
    const bool at_segment_start = pos == 0 || answer[pos - 1] == '\r' || answer[pos - 1] == '\n';
    if (at_segment_start && pos + 6 <= answer.size()) out.emplace_back(answer.substr(pos + 4, 2));
    pos += 3;
  }
  return out;
}

}  // namespace

/// "HOST:PORT" or "[V6]:PORT".
bool parse_host_port(std::string_view to, std::string& host, std::uint16_t& port) {
  std::size_t colon = to.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == to.size()) return false;
  std::string_view h = to.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return false;
    h = h.substr(1, h.size() - 2);
  }
  const std::string_view p = to.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

int hl7_send(const std::vector<std::string>& args) {
  server::mllp_client_options opts;
  std::vector<std::string> files;
  std::string to;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") return usage(std::cout, 0);
    if (a == "--tls") {
      opts.tls = true;
    } else if (a == "--to") {
      if (!value(to)) return usage(std::cerr, 2);
    } else if (a == "--ca") {
      if (!value(opts.ca_file)) return usage(std::cerr, 2);
    } else if (a == "--cert") {
      if (!value(opts.cert_file)) return usage(std::cerr, 2);
    } else if (a == "--key") {
      if (!value(opts.key_file)) return usage(std::cerr, 2);
    } else if (a == "--timeout") {
      std::string t;
      if (!value(t)) return usage(std::cerr, 2);
      unsigned s = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), s);
      if (ec != std::errc() || end != t.data() + t.size() || s == 0 || s > 3600) {
        std::cerr << "hearth hl7 send: --timeout must be 1..3600 seconds\n";
        return 2;
      }
      opts.timeout = std::chrono::seconds(s);
    } else if (a.starts_with("--")) {
      std::cerr << "hearth hl7 send: unknown flag " << a << "\n";
      return usage(std::cerr, 2);
    } else {
      files.push_back(a);
    }
  }
  if (files.empty() || to.empty()) return usage(std::cerr, 2);
  if (!parse_host_port(to, opts.host, opts.port)) {
    std::cerr << "hearth hl7 send: --to must be HOST:PORT\n";
    return 2;
  }
  if ((opts.cert_file.empty() != opts.key_file.empty()) || (!opts.cert_file.empty() && !opts.tls)) {
    std::cerr << "hearth hl7 send: --cert and --key go together, with --tls\n";
    return 2;
  }

  // The frames: each message of a plain file on its own, a batch file whole
  // (the receiver splits it and answers with a batch, HL7 v2.5.1 2.10.3).
  std::vector<std::string> frames;
  for (const std::string& f : files) {
    std::string text;
    if (!read_input(f, text)) {
      std::cerr << "hearth hl7 send: cannot read " << input_name(f) << "\n";
      return 2;
    }
    auto split = hl7v2::split_batch(text);
    if (!split) {
      std::cerr << "hearth hl7 send: " << input_name(f) << ": " << split.error().message << "\n";
      return 2;
    }
    bool enveloped = !split->file_header.empty();
    for (const hl7v2::batch_group& g : split->groups) enveloped = enveloped || !g.header.empty();
    if (enveloped) {
      frames.push_back(std::move(text));
      continue;
    }
    for (const hl7v2::batch_group& g : split->groups)
      for (std::string_view m : g.messages) frames.emplace_back(m);
  }
  if (frames.empty()) {
    std::cerr << "hearth hl7 send: no message to send\n";
    return 2;
  }

  auto answers = server::mllp_exchange(opts, frames);
  if (!answers) {
    std::cerr << "hearth hl7 send: " << answers.error().message << "\n";
    return 2;
  }
  bool all_accepted = true;
  for (const std::string& answer : *answers) {
    std::string shown = answer;
    for (char& c : shown)
      if (c == '\r') c = '\n';
    if (!shown.empty() && shown.back() != '\n') shown.push_back('\n');
    std::cout << shown << "\n";
    const std::vector<std::string> codes = ack_codes(answer);
    if (codes.empty()) all_accepted = false;
    for (const std::string& c : codes) all_accepted = all_accepted && (c == "AA" || c == "CA");
  }
  std::cout.flush();
  return all_accepted ? 0 : 1;
}

}  // namespace hearth::app
