// bench/fhir_core, part 1: FHIR JSON parse + serialise throughput
// (bench/RESULTS.md), against the
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

#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

#include "fhir_core.hpp"

namespace {

using hearth::bench::corpus_names;
const std::string& pick(int which) { return hearth::bench::corpus_text(which); }

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

// Registered at start-up (names carry the corpus); main() is fhir_core.cpp's.
const bool registered = [] {
  for (int i = 0; i < 3; ++i) {
    const std::string n = corpus_names[i];
    benchmark::RegisterBenchmark(("json/hearth_parse/" + n).c_str(), bm_hearth_parse, i);
    benchmark::RegisterBenchmark(("json/hearth_parse_write/" + n).c_str(), bm_hearth_parse_write, i);
    benchmark::RegisterBenchmark(("json/rapidjson_dom/" + n).c_str(), bm_rapidjson_dom, i);
    benchmark::RegisterBenchmark(("json/rapidjson_dom_write/" + n).c_str(), bm_rapidjson_dom_write, i);
  }
  return true;
}();

}  // namespace
