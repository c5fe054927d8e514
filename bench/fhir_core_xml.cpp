// bench/fhir_core, part 2: FHIR XML read (XML -> Hearth's JSON tree) and
// write (JSON tree -> XML) throughput (bench/RESULTS.md), against the ceiling
// of the same run: pugixml parsing the same bytes into its own DOM (the
// library the reader is built on; no FHIR rules, no registry, no conversion).
// Corpus: the JSON corpus of fhir_core.hpp written as XML by the writer.
//
//   xml/hearth_read/<c>    parse_fhir_xml (registry-driven, limits, DOCTYPE refused)
//   xml/hearth_write/<c>   write_fhir_xml of the parsed JSON (compact)
//   xml/pugixml_dom/<c>    pugi::xml_document::load_buffer (default options)

#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>

#include <pugixml.hpp>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>

#include "fhir_core.hpp"

namespace {

namespace f = hearth::fhir;

struct xml_corpus {
  f::json_value json[3];
  std::string xml[3];
};

const xml_corpus& data() {
  static const xml_corpus c = [] {
    xml_corpus x;
    for (int i = 0; i < 3; ++i) {
      x.json[i] = f::parse_json(hearth::bench::corpus_text(i)).value();
      auto w = f::write_fhir_xml(x.json[i], hearth::bench::definitions());
      if (!w) throw std::runtime_error("cannot write the corpus as XML: " + w.error().message);
      x.xml[i] = std::move(w).value();
    }
    return x;
  }();
  return c;
}

void bm_hearth_read(benchmark::State& state, int which) {
  const std::string& text = data().xml[which];
  for (auto _ : state) {
    auto v = f::parse_fhir_xml(text, hearth::bench::definitions());
    if (!v) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void bm_hearth_write(benchmark::State& state, int which) {
  const f::json_value& v = data().json[which];
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto x = f::write_fhir_xml(v, hearth::bench::definitions());
    if (!x) state.SkipWithError("write failed");
    bytes += x ? x->size() : 0;
    benchmark::DoNotOptimize(x);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void bm_pugixml_dom(benchmark::State& state, int which) {
  const std::string& text = data().xml[which];
  for (auto _ : state) {
    pugi::xml_document doc;
    auto r = doc.load_buffer(text.data(), text.size());
    if (!r) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

const bool registered = [] {
  for (int i = 0; i < 3; ++i) {
    const std::string n = hearth::bench::corpus_names[i];
    benchmark::RegisterBenchmark(("xml/hearth_read/" + n).c_str(), bm_hearth_read, i);
    benchmark::RegisterBenchmark(("xml/hearth_write/" + n).c_str(), bm_hearth_write, i);
    benchmark::RegisterBenchmark(("xml/pugixml_dom/" + n).c_str(), bm_pugixml_dom, i);
  }
  return true;
}();

}  // namespace
