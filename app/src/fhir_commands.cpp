#include "fhir_commands.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/xml_reader.hpp>

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

}  // namespace

int fhirpath_main(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  // The R4 definitions: --definitions, else $HEARTH_DEFINITIONS_DIR, else where
  // the build put them.
  std::string dir = HEARTH_DEFINITIONS_DIR;
  if (const char* env = std::getenv("HEARTH_DEFINITIONS_DIR"); env != nullptr && *env != '\0') dir = env;
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
  std::string text;
  if (!read_input(positional[1], text)) {
    std::cerr << "hearth: cannot read " << input_name(positional[1])
              << "\n";
    return 1;
  }
  auto defs = hearth::fhir::definitions::load(dir);
  if (!defs) {
    std::cerr << "hearth: cannot load the FHIR definitions from " << dir << ": " << defs.error().message << "\n";
    return 1;
  }
  // XML when the first non-blank byte opens a tag, JSON otherwise.
  const std::size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const bool xml = first != std::string::npos && text[first] == '<';
  auto resource = xml ? hearth::fhir::parse_fhir_xml(text, *defs) : hearth::fhir::parse_json(text);
  if (!resource) {
    const auto& e = resource.error();
    std::cerr << "hearth: " << (xml ? "XML" : "JSON") << " error at " << e.location << " (offset " << e.offset
              << "): " << e.message << "\n";
    return 1;
  }
  auto result = fp::evaluate(*expr, *resource, *defs);
  if (!result) {
    std::cerr << "hearth: evaluation error at " << result.error().location << ": " << result.error().message << "\n";
    return 1;
  }
  hearth::fhir::json_value out = hearth::fhir::json_value::array();
  for (const fp::value& v : *result) out.push_back(to_json_item(v));
  std::string line = hearth::fhir::to_json(out);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

}  // namespace hearth::app
