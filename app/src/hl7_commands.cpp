#include "hl7_commands.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/mapping/config.hpp>
#include <hearth/mapping/convert.hpp>
#include <hearth/terminology/registry.hpp>

#include "fhir_commands.hpp"
#include "input.hpp"
#ifdef HEARTH_WITH_SERVE
#include "hl7_send_command.hpp"
#endif

namespace hearth::app {

namespace {

// Largest input `hl7 inspect` reads: a day's batch file of a busy feed.
constexpr std::size_t max_input_bytes = std::size_t{1} << 30;

// An element as nested JSON arrays down to subcomponents; every string decoded.
// Splitting follows the bytes: an empty field is [[[""]]].
void append_element(std::string& out, const hearth::hl7v2::element_view& e) {
  if (e.depth() == hearth::hl7v2::level::subcomponent) {
    hearth::fhir::write_json_string(out, e.text());
    return;
  }
  out.push_back('[');
  bool first = true;
  for (const auto child : e.children()) {
    if (!first) out.push_back(',');
    first = false;
    append_element(out, child);
  }
  out.push_back(']');
}

std::string to_json(const hearth::hl7v2::message& msg) {
  std::string out;
  out.reserve(msg.raw().size() * 2);
  out.push_back('[');
  bool first_segment = true;
  for (const auto seg : msg) {
    if (!first_segment) out.push_back(',');
    first_segment = false;
    out.push_back('[');
    hearth::fhir::write_json_string(out, seg.id());
    for (std::size_t f = 1; f <= seg.field_count(); ++f) {
      out.push_back(',');
      const auto field = seg.field(f);
      if (field.literal()) {
        hearth::fhir::write_json_string(out, field.raw());  // MSH-1, MSH-2 as written
      } else {
        append_element(out, field);
      }
    }
    out.push_back(']');
  }
  out.push_back(']');
  return out;
}

void usage() {
  std::cerr << "usage: hearth hl7 inspect FILE|-\n"
               "  Prints each HL7 v2 message of FILE (or standard input) as one line of JSON:\n"
               "  segments > fields > repetitions > components > subcomponents, decoded.\n"
               "usage: hearth hl7 convert FILE|- [--config FILE]\n"
               "  Converts each HL7 v2 message of FILE (or standard input) to a FHIR R4\n"
               "  transaction Bundle (HL7 v2-to-FHIR IG), printed as one line of JSON.\n"
               "  --config FILE: per-sender mapping settings (JSON; see hearth/mapping/config.hpp).\n"
#ifdef HEARTH_WITH_SERVE
               "usage: hearth hl7 send FILE... --to HOST:PORT [--tls] [--ca FILE] [--cert FILE --key FILE]\n"
               "  Sends each message over MLLP and prints each answer (hearth hl7 send --help).\n"
#endif
               ;
}

// Reads `name` whole, within the input limit, without a UTF-8 byte order mark;
// `skipped` is the number of bytes dropped at the start. False after a message.
bool read_messages(const std::string& name, std::string& input, std::size_t& skipped) {
  if (!read_input(name, input)) {
    std::cerr << "hearth: cannot read " << input_name(name) << "\n";
    return false;
  }
  if (input.size() > max_input_bytes) {
    std::cerr << "hearth: input larger than " << (max_input_bytes >> 20) << " MiB\n";
    return false;
  }
  // A UTF-8 byte order mark some editors put at the start of a file is not
  // part of HL7; drop it rather than call the file malformed.
  skipped = 0;
  if (input.rfind("\xEF\xBB\xBF", 0) == 0) {
    input.erase(0, 3);
    skipped = 3;
  }
  return true;
}

void print_error(std::size_t index, const hearth::hl7v2::error& e, std::size_t base) {
  std::cerr << "hearth: message " << index << ", " << e.where.to_string();
  if (e.where.offset != hearth::error::npos) std::cerr << " (offset " << base + e.where.offset << ")";
  std::cerr << ": error " << static_cast<int>(e.code) << " " << hearth::hl7v2::to_string(e.code) << ": " << e.message
            << "\n";
}

}  // namespace

int hl7_inspect(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    usage();
    return 2;
  }
  std::string input;
  if (!read_input(args[0], input)) {
    std::cerr << "hearth: cannot read " << input_name(args[0]) << "\n";
    return 1;
  }
  if (input.size() > max_input_bytes) {
    std::cerr << "hearth: input larger than " << (max_input_bytes >> 20) << " MiB\n";
    return 1;
  }
  // A UTF-8 byte order mark some editors put at the start of a file is not
  // part of HL7; drop it rather than call the file malformed.
  std::size_t skipped = 0;  // keeps reported offsets those of the file
  if (input.rfind("\xEF\xBB\xBF", 0) == 0) {
    input.erase(0, 3);
    skipped = 3;
  }
  const auto pieces = hearth::hl7v2::split_batch(input);
  if (!pieces) {
    const auto& e = pieces.error();
    std::cerr << "hearth: " << e.where.to_string() << " (offset " << skipped + e.where.offset << "): error "
              << static_cast<int>(e.code) << " " << hearth::hl7v2::to_string(e.code) << ": " << e.message << "\n";
    return 1;
  }
  std::size_t index = 0;
  for (const auto& group : pieces->groups) {
    for (const std::string_view raw : group.messages) {
      ++index;
      const std::size_t base = skipped + static_cast<std::size_t>(raw.data() - input.data());
      auto msg = hearth::hl7v2::parse(std::string(raw));
      if (!msg) {
        const auto& e = msg.error();
        std::cerr << "hearth: message " << index << ", " << e.where.to_string();
        if (e.where.offset != hearth::error::npos) std::cerr << " (offset " << base + e.where.offset << ")";
        std::cerr << ": error " << static_cast<int>(e.code) << " " << hearth::hl7v2::to_string(e.code) << ": "
                  << e.message << "\n";
        return 1;
      }
      std::string line = to_json(*msg);
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  }
  if (index == 0) {
    std::cerr << "hearth: no HL7 v2 message in the input\n";
    return 1;
  }
  return 0;
}

int hl7_convert(const std::vector<std::string>& args) {
  std::string file;
  std::string config_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (file.empty() && (args[i] == "-" || args[i].rfind("--", 0) != 0)) {
      file = args[i];
    } else {
      usage();
      return 2;
    }
  }
  if (file.empty()) {
    usage();
    return 2;
  }
  hearth::mapping::mapping_config config;
  if (!config_path.empty()) {
    auto loaded = hearth::mapping::mapping_config::load(config_path);
    if (!loaded) {
      const auto& e = loaded.error();
      std::cerr << "hearth: mapping configuration " << config_path << ": " << e.location << ": " << e.message << "\n";
      return 1;
    }
    config = std::move(*loaded);
  }
  // The R4 ConceptMaps add mapped codings (mapping::convert_options): a
  // registry that cannot be loaded only loses those, and says so.
  const std::filesystem::path dir = default_definitions_dir();
  hearth::fhir::terminology_files files;
  files.valuesets = dir / "valuesets.json";
  files.v2_tables = dir / "v2-tables.json";
  files.v3_codesystems = dir / "v3-codesystems.json";
  files.conceptmaps = dir / "conceptmaps.json";
  auto terminology = hearth::terminology::registry::load(files);
  if (!terminology) {
    std::cerr << "hearth: warning: the R4 terminology was not loaded (" << terminology.error().message
              << "): codings are not translated through its ConceptMaps\n";
  }
  hearth::mapping::convert_options convert_opts;
  if (terminology) convert_opts.terminology = &*terminology;
  std::string input;
  std::size_t skipped = 0;
  if (!read_messages(file, input, skipped)) return 1;
  const auto pieces = hearth::hl7v2::split_batch(input);
  if (!pieces) {
    const auto& e = pieces.error();
    std::cerr << "hearth: " << e.where.to_string() << " (offset " << skipped + e.where.offset << "): error "
              << static_cast<int>(e.code) << " " << hearth::hl7v2::to_string(e.code) << ": " << e.message << "\n";
    return 1;
  }
  std::size_t index = 0;
  int status = 0;
  for (const auto& group : pieces->groups) {
    for (const std::string_view raw : group.messages) {
      ++index;
      const std::size_t base = skipped + static_cast<std::size_t>(raw.data() - input.data());
      auto msg = hearth::hl7v2::parse(std::string(raw));
      if (!msg) {
        print_error(index, msg.error(), base);
        status = 1;
        continue;
      }
      const auto& sender = config.for_sender(msg->text("MSH-3.1"), msg->text("MSH-4.1"));
      auto out = hearth::mapping::convert(*msg, sender, convert_opts);
      if (!out) {
        print_error(index, out.error(), base);
        status = 1;
        continue;
      }
      // Warnings (what could not be mapped) go to standard error; the Bundle is still printed.
      for (const auto& w : out->warnings) {
        std::cerr << "hearth: message " << index << ", " << w.where.to_string() << ": warning "
                  << static_cast<int>(w.code) << ": " << w.text << "\n";
      }
      std::string line = hearth::fhir::to_json(out->bundle);
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  }
  if (index == 0) {
    std::cerr << "hearth: no HL7 v2 message in the input\n";
    return 1;
  }
  return status;
}

int hl7_main(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "inspect") {
    return hl7_inspect(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "convert") {
    return hl7_convert(std::vector<std::string>(args.begin() + 1, args.end()));
  }
#ifdef HEARTH_WITH_SERVE
  if (!args.empty() && args[0] == "send") {
    return hl7_send(std::vector<std::string>(args.begin() + 1, args.end()));
  }
#endif
  usage();
  return 2;
}

}  // namespace hearth::app
