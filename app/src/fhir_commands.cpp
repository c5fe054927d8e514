#include "fhir_commands.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <iostream>
#include <optional>
#include <utility>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>
#include <hearth/server/validation_support.hpp>

#include "input.hpp"

namespace hearth::app {

namespace {

namespace fp = hearth::fhir::fhirpath;

void usage() {
  std::cerr << "usage: hearth fhirpath EXPRESSION FILE|- [--definitions DIR]\n"
               "  Evaluates EXPRESSION on the resource in FILE (FHIR JSON or XML) and prints\n"
               "  the result collection as a JSON array.\n";
}

// One item of the result as JSON: a node as its JSON, System values as the
// JSON primitive they correspond to, dates and times as strings, a Quantity
// as {"value", "unit"}.
hearth::fhir::json_value to_json_item(const fp::value& v) {
  using k = fp::value::kind;
  switch (v.k) {
    case k::node: return v.json != nullptr ? *v.json : hearth::fhir::json_value();
    case k::boolean: return v.b;
    case k::integer: return hearth::fhir::json_value::number(std::to_string(v.i));
    case k::decimal_: return hearth::fhir::json_value::number(v.d.to_string());
    case k::string: return v.s;
    case k::date:
    case k::date_time:
    case k::time: return v.t.to_string();
    case k::quantity: {
      hearth::fhir::json_value q = hearth::fhir::json_value::object();
      q.set("value", hearth::fhir::json_value::number(v.q.value.to_string()));
      q.set("unit", v.q.unit);
      return q;
    }
  }
  return {};
}


// A resource read from a command's input, with the registry it was read with.
struct input_resource {
  hearth::fhir::definitions defs;
  hearth::fhir::json_value resource;
};

// Reads FILE|- and the definitions in `dir`, and parses the input as FHIR XML
// when its first non-blank byte opens a tag, as FHIR JSON otherwise. Prints
// what went wrong and gives nothing when something did.
std::optional<input_resource> read_resource(const std::string& name, const std::string& dir) {
  std::string text;
  if (!read_input(name, text)) {
    std::cerr << "hearth: cannot read " << input_name(name) << "\n";
    return std::nullopt;
  }
  auto defs = hearth::fhir::definitions::load(dir);
  if (!defs) {
    std::cerr << "hearth: cannot load the FHIR definitions from " << dir << ": " << defs.error().message << "\n";
    return std::nullopt;
  }
  const std::size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const bool xml = first != std::string::npos && text[first] == '<';
  auto resource = xml ? hearth::fhir::parse_fhir_xml(text, *defs) : hearth::fhir::parse_json(text);
  if (!resource) {
    const auto& e = resource.error();
    std::cerr << "hearth: " << (xml ? "XML" : "JSON") << " error at " << e.location << " (offset " << e.offset
              << "): " << e.message << "\n";
    return std::nullopt;
  }
  return input_resource{std::move(defs).value(), std::move(resource).value()};
}

void write_stdout(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

void convert_usage() {
  std::cerr << "usage: hearth convert FILE|- --to json|xml [--definitions DIR] [--pretty]\n"
               "  Converts the resource in FILE (FHIR JSON or XML) to FHIR JSON or XML\n"
               "  (R4 json.html, xml.html) and prints it, after checking it against the R4\n"
               "  definitions (errors stop it; warnings go to stderr).\n";
}

void validate_usage() {
  std::cerr << "usage: hearth validate FILE|- [--profile URL]... [--package PATH]... [--json] [--definitions DIR]\n"
               "  Validates the resource in FILE (FHIR JSON or XML) against the R4 definitions\n"
               "  (structure, invariants, bindings), the profiles in its meta.profile and each\n"
               "  --profile; --package adds the StructureDefinitions of a FHIR package (an\n"
               "  npm-layout folder, or a JSON file of them). Prints one line per issue, or the\n"
               "  OperationOutcome with --json. Exit status 1 when there is an error.\n";
}

}  // namespace

int validate_main(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::vector<std::string> profiles;
  std::vector<std::filesystem::path> packages;
  std::string dir = default_definitions_dir();
  bool json = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--definitions" && i + 1 < args.size()) {
      dir = args[++i];
    } else if (args[i] == "--profile" && i + 1 < args.size()) {
      profiles.push_back(args[++i]);
    } else if (args[i] == "--package" && i + 1 < args.size()) {
      packages.emplace_back(args[++i]);
    } else if (args[i] == "--json") {
      json = true;
    } else if (args[i].starts_with("--")) {
      validate_usage();
      return 2;
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 1) {
    validate_usage();
    return 2;
  }
  auto input = read_resource(positional[0], dir);
  if (!input) return 1;
  hearth::server::validation_settings settings;
  settings.definitions_dir = dir;
  settings.packages = std::move(packages);
  const hearth::server::validation_support support(input->defs, std::move(settings));
  auto issues = support.validate(input->resource, profiles);
  if (!issues) {
    std::cerr << "hearth: cannot validate: " << issues.error().message << "\n";
    return 1;
  }
  if (json) {
    std::string out = hearth::fhir::to_json(hearth::fhir::to_operation_outcome(*issues), {.pretty = true});
    out.push_back('\n');
    write_stdout(out);
  } else {
    std::string out;
    for (const hearth::fhir::issue& i : *issues) {
      out += std::string(hearth::fhir::to_string(i.severity)) + " (" + i.code + ")" +
             (i.expression.empty() ? "" : " at " + i.expression) + ": " + i.diagnostics + "\n";
    }
    std::size_t errors = 0;
    for (const hearth::fhir::issue& i : *issues) errors += hearth::fhir::has_errors(std::span(&i, 1)) ? 1 : 0;
    out += errors == 0 ? "valid: no errors\n" : "invalid: " + std::to_string(errors) + " error(s)\n";
    write_stdout(out);
  }
  return hearth::fhir::has_errors(*issues) ? 1 : 0;
}

int fhirpath_main(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::string dir = default_definitions_dir();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--definitions" && i + 1 < args.size()) {
      dir = args[++i];
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 2) {
    usage();
    return 2;
  }
  const std::string& source = positional[0];
  auto expr = fp::parse(source);
  if (!expr) {
    std::cerr << "hearth: expression error at " << expr.error().location << ": " << expr.error().message << "\n";
    return 1;
  }
  auto input = read_resource(positional[1], dir);
  if (!input) return 1;
  auto result = fp::evaluate(*expr, input->resource, input->defs);
  if (!result) {
    std::cerr << "hearth: evaluation error at " << result.error().location << ": " << result.error().message << "\n";
    return 1;
  }
  hearth::fhir::json_value out = hearth::fhir::json_value::array();
  for (const fp::value& v : *result) out.push_back(to_json_item(v));
  std::string line = hearth::fhir::to_json(out);
  line.push_back('\n');
  write_stdout(line);
  return 0;
}

int convert_main(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::string dir = default_definitions_dir();
  std::string to;
  bool pretty = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--definitions" && i + 1 < args.size()) {
      dir = args[++i];
    } else if (args[i] == "--to" && i + 1 < args.size()) {
      to = args[++i];
    } else if (args[i] == "--pretty") {
      pretty = true;
    } else if (args[i].starts_with("--")) {
      convert_usage();
      return 2;
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 1 || (to != "json" && to != "xml")) {
    convert_usage();
    return 2;
  }
  auto input = read_resource(positional[0], dir);
  if (!input) return 1;
  // The structural check against the R4 definitions (resource_check.hpp):
  // errors stop the conversion, warnings are reported and it goes on.
  const hearth::fhir::issue_list issues = hearth::fhir::check_resource(input->resource, input->defs);
  for (const auto& i : issues) {
    std::cerr << "hearth: " << hearth::fhir::to_string(i.severity) << " (" << i.code << ")"
              << (i.expression.empty() ? "" : " at " + i.expression) << ": " << i.diagnostics << "\n";
  }
  if (hearth::fhir::has_errors(issues)) return 1;
  std::string out;
  if (to == "json") {
    out = hearth::fhir::to_json(input->resource, {.pretty = pretty});
  } else {
    hearth::fhir::xml_write_options opts;
    opts.pretty = pretty;
    auto xml = hearth::fhir::write_fhir_xml(input->resource, input->defs, opts);
    if (!xml) {
      const auto& e = xml.error();
      std::cerr << "hearth: cannot write XML: error at " << e.location << ": " << e.message << "\n";
      return 1;
    }
    out = std::move(xml).value();
  }
  if (!out.ends_with('\n')) out.push_back('\n');
  write_stdout(out);
  return 0;
}

std::string default_definitions_dir() {
  if (const char* env = std::getenv("HEARTH_DEFINITIONS_DIR"); env != nullptr && *env != '\0') return env;
  return HEARTH_DEFINITIONS_DIR;
}

}  // namespace hearth::app
