// libFuzzer target: the HL7 v2 -> FHIR mapping on hostile messages, run as
// `hearth hl7 convert` runs it (app/src/hl7_commands.cpp): split_batch(),
// parse() with the default limits, the default per-sender settings
// (mapping_config{}: no configuration file), convert() with the R4
// terminology, then the Bundle serialised.
//
// Input: when the first byte is an upper-case letter (MSH, FHS, BHS...), the
// input is the message (or batch) itself; otherwise the first byte picks one
// of the mapped message types below, whose valid MSH is put before the rest
// of the input, so that mutations land in the segments each family's map
// reads instead of being refused at MSH-9.
//
// Properties checked (a failure traps, so libFuzzer saves the input):
// - no crash, leak, UB or stack overflow (ASan/UBSan), whatever the input;
// - convert() ends in one of its documented outcomes: a Bundle, or an error
//   with a table 0357 code it documents (100-103, 200, 201, 204, 205) and a
//   message;
// - a Bundle keeps the contract of mapping/convert.hpp: a transaction whose
//   entries have a unique urn:uuid fullUrl, a resource and a PUT or POST
//   request with a url; a conditional update's url and a conditional
//   create's ifNoneExist decode (search.html#escaping, percent-encoding) to
//   one identifier=system|value the resource carries; it passes
//   fhir::check_resource against the R4 definitions (what the store checks
//   before it writes anything, and what the mapping tests require of every
//   Bundle); its JSON reads back to the same value; converting the message
//   again gives the same bytes;
// - the ACK the MLLP listener builds from the warnings or the error parses.
//
// HEARTH_FUZZ_DEBUG=1 in the environment prints what each message became.

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/mapping/config.hpp>
#include <hearth/mapping/convert.hpp>
#include <hearth/terminology/registry.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_registry.hpp"

namespace {

namespace f = hearth::fhir;
namespace h = hearth::hl7v2;
namespace m = hearth::mapping;

// One MSH per family the mapping knows (convert.hpp), with an offset on
// MSH-7: the default settings have no defaultOffset.
constexpr std::string_view msh_prefix = "MSH|^~\\&|FUZZAPP|FUZZFAC|HEARTH|HEARTH|20240305143015+0100||";
constexpr std::string_view msh_suffix = "|FUZZ0001|P|2.5.1\r";
constexpr std::string_view message_types[] = {
    "ADT^A01^ADT_A01", "ADT^A08^ADT_A01", "ADT^A40^ADT_A39", "ORU^R01^ORU_R01", "SIU^S12^SIU_S12",
    "MDM^T02^MDM_T02", "ORM^O01^ORM_O01", "OML^O21^OML_O21", "VXU^V04^VXU_V04",
};

// The R4 terminology, as `hearth hl7 convert` loads it; nullptr when it
// cannot be loaded (the command then maps without ConceptMaps too).
const hearth::terminology::registry* terminology() {
  static const auto reg = [] {
    const std::string dir = HEARTH_DEFINITIONS_DIR;
    f::terminology_files files;
    files.valuesets = dir + "/valuesets.json";
    files.v2_tables = dir + "/v2-tables.json";
    files.v3_codesystems = dir + "/v3-codesystems.json";
    files.conceptmaps = dir + "/conceptmaps.json";
    return hearth::terminology::registry::load(files);
  }();
  return reg ? &*reg : nullptr;
}

// The settings `hearth hl7 convert` uses without --config.
const m::mapping_config& default_config() {
  static const m::mapping_config config;
  return config;
}

const f::json_value* member(const f::json_value& v, std::string_view key) {
  return v.is_object() ? v.find(key) : nullptr;
}

bool is_string(const f::json_value* v) { return v != nullptr && v->is_string() && !v->str().empty(); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// convert.hpp: "identifier=<system>|<value>", system and value with `\`,
// `|`, `,` and `$` escaped by `\` (R4 search.html#escaping), then
// percent-encoded. Traps unless it reads back to an identifier the resource
// carries.
void check_identifier_query(std::string_view query, const f::json_value& resource) {
  if (!query.starts_with("identifier=")) __builtin_trap();
  query.remove_prefix(11);
  // One parameter: a second one, or a fragment, would change the search.
  if (query.find_first_of("&#") != std::string_view::npos) __builtin_trap();
  std::string decoded;
  for (std::size_t i = 0; i < query.size(); ++i) {
    if (query[i] != '%') {
      decoded += query[i];
      continue;
    }
    if (i + 2 >= query.size() || hex_digit(query[i + 1]) < 0 || hex_digit(query[i + 2]) < 0) __builtin_trap();
    decoded += static_cast<char>(hex_digit(query[i + 1]) * 16 + hex_digit(query[i + 2]));
    i += 2;
  }
  std::string parts[2];
  std::size_t k = 0;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    const char c = decoded[i];
    if (c == '\\') {
      if (i + 1 == decoded.size()) __builtin_trap();
      const char next = decoded[++i];
      if (next != '\\' && next != '|' && next != ',' && next != '$') __builtin_trap();
      parts[k] += next;
    } else if (c == '|') {
      if (++k > 1) __builtin_trap();
    } else if (c == ',' || c == '$') {
      __builtin_trap();  // a list of values or a composite
    } else {
      parts[k] += c;
    }
  }
  if (k != 1 || parts[0].empty() || parts[1].empty()) __builtin_trap();
  const f::json_value* ids = member(resource, "identifier");
  if (ids == nullptr || !ids->is_array()) __builtin_trap();
  for (const f::json_value& id : ids->items()) {
    const f::json_value* system = member(id, "system");
    const f::json_value* value = member(id, "value");
    if (is_string(system) && is_string(value) && system->str() == parts[0] && value->str() == parts[1]) return;
  }
  __builtin_trap();  // the resource does not carry the identifier it is found by
}

// mapping/convert.hpp's Bundle contract.
void check_contract(const f::json_value& bundle) {
  const f::json_value* type = member(bundle, "resourceType");
  if (!is_string(type) || type->str() != "Bundle") __builtin_trap();
  const f::json_value* kind = member(bundle, "type");
  if (!is_string(kind) || kind->str() != "transaction") __builtin_trap();
  const f::json_value* entries = member(bundle, "entry");
  if (entries == nullptr) return;  // no entry at all: check_resource judges it
  if (!entries->is_array()) __builtin_trap();
  std::set<std::string> urls;
  for (const f::json_value& e : entries->items()) {
    const f::json_value* full_url = member(e, "fullUrl");
    if (!is_string(full_url) || !full_url->str().starts_with("urn:uuid:") || full_url->str().size() != 45) {
      __builtin_trap();
    }
    if (!urls.insert(full_url->str()).second) __builtin_trap();  // one entry per fullUrl
    const f::json_value* resource = member(e, "resource");
    if (resource == nullptr || !is_string(member(*resource, "resourceType"))) __builtin_trap();
    const f::json_value* request = member(e, "request");
    if (request == nullptr) __builtin_trap();
    const f::json_value* method = member(*request, "method");
    if (!is_string(method) || (method->str() != "PUT" && method->str() != "POST")) __builtin_trap();
    const f::json_value* url = member(*request, "url");
    if (!is_string(url)) __builtin_trap();
    // Conditional updates and creates (convert.hpp): found again by an
    // identifier the resource carries. A plain POST names the type only,
    // or is a merge.
    const std::string& type = member(*resource, "resourceType")->str();
    const std::string& u = url->str();
    if (method->str() == "PUT") {
      if (!u.starts_with(type + "?")) __builtin_trap();
      check_identifier_query(std::string_view(u).substr(type.size() + 1), *resource);
    } else if (u != type && u != "Patient/$merge") {
      __builtin_trap();
    }
    if (const f::json_value* if_none = member(*request, "ifNoneExist")) {
      if (!is_string(if_none) || method->str() != "POST") __builtin_trap();
      check_identifier_query(if_none->str(), *resource);
    }
  }
}

void check_bundle(const h::message& msg, const m::sender_config& cfg, const m::convert_options& opts,
                  const m::conversion& out) {
  check_contract(out.bundle);
  const f::issue_list issues = f::check_resource(out.bundle, hearth::fuzz::registry());
  if (f::has_errors(issues)) {
    // What is invalid, for whoever reads the crash report.
    for (const f::issue& i : issues) std::fprintf(stderr, "%s: %s\n", i.expression.c_str(), i.diagnostics.c_str());
    __builtin_trap();
  }
  const std::string json = f::to_json(out.bundle);
  auto back = f::parse_json(json);
  if (!back || !(*back == out.bundle)) __builtin_trap();
  // The same message always converts to the same bytes (convert.hpp).
  auto again = m::convert(msg, cfg, opts);
  if (!again || f::to_json(again->bundle) != json) __builtin_trap();
  for (const h::ack_issue& w : out.warnings) {
    if (w.text.empty()) __builtin_trap();
  }
}

void check_error(const h::error& e) {
  const int code = static_cast<int>(e.code);
  const bool documented = (code >= 100 && code <= 103) || code == 200 || code == 201 || code == 204 || code == 205;
  if (!documented || e.message.empty()) __builtin_trap();
}

// The ACK the MLLP listener answers with (server/src/hl7_intake.cpp): the
// warnings of a conversion, or its error, as ERR segments. It must parse.
void check_ack(const h::message& msg, const hearth::result<m::conversion, h::error>& out) {
  h::ack_options ack_opts;
  ack_opts.control_id = "FUZZACK1";
  ack_opts.timestamp = "20260101000000+0000";
  std::optional<std::string> ack;
  if (out) {
    ack = h::build_ack(msg, h::outcome::accepted, out->warnings, ack_opts);
  } else {
    const h::ack_issue issue(out.error());
    ack = h::build_ack(msg, h::outcome::error, {&issue, 1}, ack_opts);
  }
  if (ack && !h::parse(*ack)) __builtin_trap();
}

bool debug() {
  static const bool on = std::getenv("HEARTH_FUZZ_DEBUG") != nullptr;
  return on;
}

// hl7_convert() for one input.
void convert_all(std::string_view input) {
  const auto pieces = h::split_batch(input);
  if (!pieces) return;
  m::convert_options opts;
  opts.terminology = terminology();
  for (const h::batch_group& group : pieces->groups) {
    for (const std::string_view raw : group.messages) {
      auto msg = h::parse(std::string(raw));
      if (!msg) continue;  // the parser's own fuzzer covers what it refuses
      const m::sender_config& cfg = default_config().for_sender(msg->text("MSH-3.1"), msg->text("MSH-4.1"));
      auto out = m::convert(*msg, cfg, opts);
      if (debug()) {
        // HEARTH_FUZZ_DEBUG=1: what each message became, for writing seeds.
        if (out) std::fprintf(stderr, "converted: %s\n", f::to_json(out->bundle).c_str());
        else std::fprintf(stderr, "error %d at %s: %s\n", static_cast<int>(out.error().code),
                          out.error().where.to_string().c_str(), out.error().message.c_str());
      }
      if (out) {
        check_bundle(*msg, cfg, opts, *out);
      } else {
        check_error(out.error());
      }
      check_ack(*msg, out);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Loaded before the first input, so that no input is charged for it.
  (void)hearth::fuzz::registry();
  (void)terminology();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const unsigned char first = data[0];
  if (first >= 'A' && first <= 'Z') {
    convert_all(input);
    return 0;
  }
  std::string text(msh_prefix);
  text += message_types[first % std::size(message_types)];
  text += msh_suffix;
  text += input.substr(1);
  convert_all(text);
  return 0;
}
