// Runs the official FHIRPath test suite for FHIR R4 (tests-fhir-r4.xml, from
// FHIR/fhir-test-cases) against Hearth's evaluator.
//
// Usage: fhirpath_conformance SUITE_DIR [--definitions DIR] [--min-pass N]
// SUITE_DIR holds tests-fhir-r4.xml and input/. Prints every failure, then
// exactly one line "N passed, M failed". Exit status 0 when N >= the minimum.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <pugixml.hpp>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/xml_reader.hpp>

namespace fs = std::filesystem;
using namespace hearth::fhir;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A result item written as the suite writes expected outputs.
std::string render(const fhirpath::value& v) {
  using K = fhirpath::value::kind;
  if (v.k == K::date || v.k == K::date_time) return "@" + v.t.to_string();
  if (v.k == K::time) return "@T" + v.t.to_string();
  if (v.k == K::node && v.json && (v.json->is_object() || v.json->is_array())) return "<" + std::string(v.fhir_type) + ">";
  if (v.k == K::node && v.json && v.json->is_string()) {
    auto t = v.fhir_type;
    if (t == "date" || t == "dateTime" || t == "instant") return "@" + v.json->str();
    if (t == "time") return "@T" + v.json->str();
  }
  auto s = fhirpath::to_string_value(v);
  return s ? *s : "<" + std::string(v.fhir_type) + ">";
}

bool output_matches(const fhirpath::value& v, const std::string& type, const std::string& expected) {
  std::string got = render(v);
  if (got == expected) return true;
  if (type.empty()) {
    // An output without a type (the suite gives none in its LowBoundary and
    // HighBoundary groups) is compared by value: a decimal with the same
    // digits and precision ("-0.0" is 0.0; FHIRPath has no negative zero), a
    // DateTime of day precision as the date it holds ("@2014-01-01").
    auto a = fhirpath::decimal::parse(got), b = fhirpath::decimal::parse(expected);
    if (a && b) return a->mantissa == b->mantissa && a->scale == b->scale;
    if (v.k == fhirpath::value::kind::date_time && v.t.t.prec <= hearth::fhir::fhirpath::temporal::precision::day)
      return got.ends_with("T") && got.substr(0, got.size() - 1) == expected;
    return false;
  }
  if (type == "decimal" || type == "integer") {
    auto a = fhirpath::decimal::parse(got), b = fhirpath::decimal::parse(expected);
    if (a && b) {
      // numerically equal
      auto x = *a, y = *b;
      while (x.scale < y.scale) { x.mantissa *= 10; ++x.scale; }
      while (y.scale < x.scale) { y.mantissa *= 10; ++y.scale; }
      return x.mantissa == y.mantissa;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SUITE_DIR [--definitions DIR] [--min-pass N] [--verbose]\n", argv[0]);
    return 2;
  }
  fs::path suite = argv[1];
  std::size_t min_pass = 0;
  fs::path defs_dir;
#ifdef HEARTH_DEFINITIONS_DIR
  defs_dir = HEARTH_DEFINITIONS_DIR;
#endif
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--min-pass" && i + 1 < argc) min_pass = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--definitions" && i + 1 < argc) defs_dir = argv[++i];
    else if (a == "--verbose") verbose = true;
  }
  auto defs = definitions::load(defs_dir);
  if (!defs) {
    std::fprintf(stderr, "cannot load definitions from %s: %s\n", defs_dir.c_str(), defs.error().message.c_str());
    return 2;
  }
  pugi::xml_document doc;
  auto xml_path = suite / "tests-fhir-r4.xml";
  if (!doc.load_file(xml_path.c_str())) {
    std::fprintf(stderr, "cannot read %s\n", xml_path.c_str());
    return 2;
  }
  std::map<std::string, hearth::result<json_value>> inputs;
  auto input = [&](const std::string& name) -> const hearth::result<json_value>& {
    auto it = inputs.find(name);
    if (it != inputs.end()) return it->second;
    std::string text = read_file(suite / "input" / name);
    hearth::result<json_value> r = name.ends_with(".json") ? parse_json(text) : parse_fhir_xml(text, *defs);
    return inputs.emplace(name, std::move(r)).first->second;
  };

  std::size_t passed = 0, failed = 0;
  for (auto test : doc.select_nodes("//test")) {
    pugi::xml_node t = test.node();
    std::string name = t.attribute("name").value();
    pugi::xml_node expr_node = t.child("expression");
    std::string source = expr_node.text().get();
    std::string invalid = expr_node.attribute("invalid").value();
    bool predicate = std::string(t.attribute("predicate").value()) == "true";
    std::string inputfile = t.attribute("inputfile").value();
    std::vector<std::pair<std::string, std::string>> expected;
    for (auto o : t.children("output")) expected.emplace_back(o.attribute("type").value(), o.text().get());

    std::string problem;
    json_value empty_resource = json_value::object();
    const json_value* resource = &empty_resource;
    if (!inputfile.empty()) {
      const auto& in = input(inputfile);
      if (!in) problem = "cannot read input " + inputfile + ": " + in.error().message;
      else resource = &*in;
    }
    if (problem.empty()) {
      auto parsed = fhirpath::parse(source);
      hearth::result<fhirpath::collection, hearth::error> result =
          parsed ? hearth::result<fhirpath::collection, hearth::error>(fhirpath::collection{})
                 : hearth::result<fhirpath::collection, hearth::error>(hearth::unexpected(parsed.error()));
      if (parsed) {
        fhirpath::context ctx;
        ctx.strict = true;
        result = fhirpath::evaluate(*parsed, *resource, *defs, ctx);
      }
      if (!invalid.empty()) {
        if (result) {
          problem = "expected an error (" + invalid + "), got " + std::to_string(result->size()) + " item(s)";
        } else if (result.error().code == "not-supported") {
          // Not knowing a function is not the error the test expects.
          problem = "expected an error (" + invalid + "), got not-supported: " + result.error().message;
        }
      } else if (!result) {
        problem = "error: " + result.error().message + " at " + result.error().location;
      } else {
        fhirpath::collection got = *result;
        if (predicate) {
          // predicate: the result as a Boolean (exists / singleton boolean).
          bool b = !got.empty();
          if (got.size() == 1 && got[0].k == fhirpath::value::kind::boolean) b = got[0].b;
          fhirpath::value v;
          v.k = fhirpath::value::kind::boolean;
          v.b = b;
          got = {v};
        }
        bool ok = got.size() == expected.size();
        for (std::size_t i = 0; ok && i < got.size(); ++i)
          ok = output_matches(got[i], expected[i].first, expected[i].second);
        if (!ok) {
          std::string e, g;
          for (auto& [ty, v] : expected) e += (e.empty() ? "" : ", ") + ty + ":" + v;
          for (auto& v : got) g += (g.empty() ? "" : ", ") + render(v);
          problem = "expected [" + e + "], got [" + g + "]";
        }
      }
    }
    if (problem.empty()) {
      ++passed;
      if (verbose) std::printf("PASS %s\n", name.c_str());
    } else {
      ++failed;
      std::printf("FAIL %s: %s\n    %s\n", name.c_str(), source.c_str(), problem.c_str());
    }
  }
  std::printf("%zu passed, %zu failed\n", passed, failed);
  return passed >= min_pass ? 0 : 1;
}
