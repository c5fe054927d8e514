// FHIR JSON parse + serialise throughput (bench/RESULTS.md), against the
// ceiling of the same run: RapidJSON's own DOM parse and write of the same
// bytes (the library our reader is built on, with no FHIR checks, doubles for
// numbers, no exact text). Corpus: tests/data/fhir/patient.json,
// observation.json, and a searchset Bundle of 100 entries built from them.
//
//   hearth_parse/<c>        hearth::fhir::parse_json (FHIR rules, duplicate keys,
//                           UTF-8, numbers as text, ordered members)
//   hearth_parse_write/<c>  parse_json then to_json (compact)
//   rapidjson_dom/<c>       rapidjson::Document::Parse (UTF-8 validated)
//   rapidjson_dom_write/<c> Parse then Writer into a StringBuffer

#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace {

std::string read_file(const std::string& name) {
  std::ifstream in(std::string(HEARTH_FHIR_DATA) + "/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string minified(const std::string& text) {
  return hearth::fhir::to_json(hearth::fhir::parse_json(text).value());
}

// A searchset Bundle of 100 entries, alternating the two resources.
std::string bundle_of_100(const std::string& patient, const std::string& observation) {
  std::string b = R"({"resourceType":"Bundle","id":"bench","type":"searchset","total":100,"entry":[)";
  for (int i = 0; i < 100; ++i) {
    if (i > 0) b += ',';
    const bool p = i % 2 == 0;
    b += R"({"fullUrl":"https://hearth.example/fhir/)";
    b += p ? "Patient/" : "Observation/";
    b += std::to_string(i);
    b += R"(","resource":)";
    b += p ? patient : observation;
    b += R"(,"search":{"mode":"match"}})";
  }
  b += "]}";
  return b;
}

struct corpus {
  std::string patient = read_file("patient.json");
  std::string observation = read_file("observation.json");
  std::string bundle = bundle_of_100(minified(patient), minified(observation));
};

const corpus& data() {
  static const corpus c;
  return c;
}

const std::string& pick(int which) {
  const corpus& c = data();
  return which == 0 ? c.patient : which == 1 ? c.observation : c.bundle;
}

void bm_hearth_parse(benchmark::State& state, int which) {
  const std::string& text = pick(which);
  for (auto _ : state) {
    auto v = hearth::fhir::parse_json(text);
    if (!v) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void bm_hearth_parse_write(benchmark::State& state, int which) {
  const std::string& text = pick(which);
  std::string out;
  for (auto _ : state) {
    auto v = hearth::fhir::parse_json(text);
    out.clear();
    hearth::fhir::write_json(out, *v);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void bm_rapidjson_dom(benchmark::State& state, int which) {
  const std::string& text = pick(which);
  for (auto _ : state) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
    if (d.HasParseError()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void bm_rapidjson_dom_write(benchmark::State& state, int which) {
  const std::string& text = pick(which);
  for (auto _ : state) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    benchmark::DoNotOptimize(sb.GetString());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

}  // namespace

int main(int argc, char** argv) {
  const char* names[] = {"patient", "observation", "bundle100"};
  for (int i = 0; i < 3; ++i) {
    const std::string n = names[i];
    benchmark::RegisterBenchmark(("hearth_parse/" + n).c_str(), bm_hearth_parse, i);
    benchmark::RegisterBenchmark(("hearth_parse_write/" + n).c_str(), bm_hearth_parse_write, i);
    benchmark::RegisterBenchmark(("rapidjson_dom/" + n).c_str(), bm_rapidjson_dom, i);
    benchmark::RegisterBenchmark(("rapidjson_dom_write/" + n).c_str(), bm_rapidjson_dom_write, i);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
