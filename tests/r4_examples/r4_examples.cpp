// The official R4 examples (npm hl7.fhir.r4.examples 4.0.1, fetched by
// scripts/fetch-definitions) through the FHIR core: every resource must
//   1. read as FHIR JSON (parse_json),
//   2. pass the structural check against the R4 definitions with no error
//      (check_resource; warnings are counted, not failures),
//   3. convert to XML and back to the same resource (write_fhir_xml,
//      parse_fhir_xml; compared as the XML form carries it, see
//      tests/fhir/xml_round_trip.hpp),
//   4. evaluate every R4 search parameter expression of its type without an
//      error (what the store's indexer does with it).
// The examples named in --known-invalid (one "FILE  WHY" per line) break R4
// themselves: for them the check must report an error (else they fail).
// Prints each failure (file, step, location, message), then one line
// `N passed, M failed`; exits 1 when anything failed or fewer than
// --min-pass passed.
//
// Usage: r4_examples DIR [--known-invalid FILE] [--min-pass N] [--definitions DIR]

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>

#include "../fhir/xml_round_trip.hpp"

namespace fs = std::filesystem;
using namespace hearth::fhir;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--min-pass N] [--definitions DIR]\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  std::size_t min_pass = 0;
  fs::path defs_dir = HEARTH_DEFINITIONS_DIR;
  std::set<std::string> known_invalid;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--known-invalid" && i + 1 < argc) {
      std::istringstream list(read_file(argv[++i]));
      for (std::string line; std::getline(list, line);)
        if (!line.empty() && line[0] != '#') known_invalid.insert(line.substr(0, line.find(' ')));
    } else if (a == "--min-pass" && i + 1 < argc) min_pass = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--definitions" && i + 1 < argc) defs_dir = argv[++i];
  }
  auto defs = definitions::load(defs_dir);
  if (!defs) {
    std::fprintf(stderr, "cannot load definitions: %s\n", defs.error().message.c_str());
    return 2;
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json" && !e.path().filename().string().starts_with(".") &&
        e.path().filename() != "package.json")
      files.push_back(e.path());
  if (ec || files.empty()) {
    std::fprintf(stderr, "no examples in %s\n", dir.c_str());
    return 2;
  }
  std::sort(files.begin(), files.end());

  std::size_t passed = 0, failed = 0, warnings = 0, invalid_found = 0, evaluations = 0;
  // The search parameter expressions, compiled once per resource type.
  std::map<std::string, std::vector<std::pair<const search_parameter*, fhirpath::expression>>, std::less<>> compiled;
  auto expressions_of = [&](const std::string& type) -> const auto& {
    auto it = compiled.find(type);
    if (it != compiled.end()) return it->second;
    auto& list = compiled[type];
    for (const search_parameter* sp : defs->search_parameters(type)) {
      if (sp->expression.empty()) continue;
      auto e = fhirpath::parse(sp->expression);
      if (e) list.emplace_back(sp, std::move(e).value());
    }
    return list;
  };
  auto fail = [&](const fs::path& f, const char* step, const std::string& where, const std::string& what) {
    ++failed;
    std::printf("FAIL %s: %s%s%s: %s\n", f.filename().c_str(), step, where.empty() ? "" : " at ", where.c_str(),
                what.c_str());
  };
  for (const auto& f : files) {
    auto j = parse_json(read_file(f));
    if (!j) {
      fail(f, "read", j.error().location, j.error().message);
      continue;
    }
    const issue_list issues = check_resource(*j, *defs);
    if (known_invalid.contains(f.filename().string())) {
      if (has_errors(issues)) ++invalid_found;
      else fail(f, "check", "", "listed as invalid, but the check finds no error");
      continue;
    }
    if (has_errors(issues)) {
      for (const auto& i : issues)
        if (i.severity == issue_severity::error || i.severity == issue_severity::fatal) {
          fail(f, "check", i.expression, i.code + ": " + i.diagnostics);
          break;
        }
      continue;
    }
    warnings += issues.size();
    auto x = write_fhir_xml(*j, *defs);
    if (!x) {
      fail(f, "write xml", x.error().location, x.error().message);
      continue;
    }
    auto back = parse_fhir_xml(*x, *defs);
    if (!back) {
      fail(f, "read xml", back.error().location, back.error().message);
      continue;
    }
    if (!(test::xml_canonical(*back, *defs) == test::xml_canonical(*j, *defs))) {
      fail(f, "round trip", "", "the resource read back from XML differs");
      continue;
    }
    bool evaluated = true;
    for (const auto& [sp, e] : expressions_of(j->find("resourceType")->str())) {
      ++evaluations;
      auto r = fhirpath::evaluate(e, *j, *defs);
      if (!r) {
        fail(f, "search parameter", std::string(sp->code), r.error().code + ": " + r.error().message);
        evaluated = false;
        break;
      }
    }
    if (!evaluated) continue;
    ++passed;
  }
  std::printf("%zu passed, %zu failed (%zu known invalid, rejected; %zu warnings from the check; "
              "%zu search parameter evaluations)\n",
              passed, failed, invalid_found, warnings, evaluations);
  return failed == 0 && passed >= min_pass ? 0 : 1;
}
