// HL7 v2 parse throughput (Google Benchmark). Run through bench/run_hl7v2_parse,
// which also runs the python-hl7 baseline (bench/hl7v2_parse_python.py) on the
// same corpora and prints the ratio; results are kept in bench/RESULTS.md.
//
// Corpora (tests/data/hl7v2, synthetic messages; keep the lists the same as in
// hl7v2_parse_python.py):
//   mixed    ADT A01/A08 (v2.5.1, v2.3, Latin-1), ORU R01 lab panel, SIU S12,
//            MDM T02 note, and an ORU R01 carrying a ~20 KB base64 PDF
//   text     the same without the PDF: short, delimiter-dense segments
//   oru_pdf  the PDF message alone: one large field
//
// Benchmarks, per corpus:
//   copy/<c>                 baseline: copying each message into a std::string
//   parse_fields/<c>         parse(): the segment and field index, charset check
//   parse_unescape/<c>       parse(), then text() on every subcomponent of every
//                            field of every segment, walking with size()/at()
//                            (at(n) rescans from the start: O(n) per child)
//   parse_unescape_children/<c> the same walk with children() (one pass per level)
//   parse_unescape_append/<c> the children() walk with unescape_append() into one
//                            reused buffer: without text()'s allocation
//
// parse() takes its std::string by value and the message owns it, so each
// parse in the loop starts with a copy of the input (allocation + memcpy):
// that copy is part of every parse_* figure, as it is for a real caller that
// hands over a buffer it keeps. copy/<c> measures that copy alone.
//
// bytes/s counts the input bytes of the corpus; items/s counts messages.
//
// The sample folder defaults to the source tree's (HEARTH_HL7V2_DATA, set by
// bench/CMakeLists.txt); the environment variable HEARTH_HL7V2_DATA overrides it.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/escape.hpp>
#include <hearth/hl7v2/message.hpp>
#include <hearth/hl7v2/parser.hpp>

namespace {

namespace hl7 = hearth::hl7v2;

const std::vector<std::string> text_files = {
    "adt_a01.hl7", "adt_a08.hl7", "adt_a01_v23.hl7", "adt_a01_latin1.hl7",
    "oru_r01.hl7", "siu_s12.hl7", "mdm_t02.hl7",
};
const std::vector<std::string> pdf_files = {"oru_r01_pdf.hl7"};

struct corpus {
  std::string name;
  std::vector<std::string> messages;
  std::size_t bytes = 0;
};

std::string data_dir() {
  if (const char* env = std::getenv("HEARTH_HL7V2_DATA"); env != nullptr && *env != '\0') {
    return env;
  }
  return HEARTH_HL7V2_DATA;
}

// Loads the files; exits with a message when one is missing or does not parse,
// so that a broken corpus cannot pass for a fast parser.
corpus load(std::string name, const std::vector<std::string>& files) {
  corpus c{std::move(name), {}, 0};
  for (const auto& file : files) {
    const std::string path = data_dir() + "/" + file;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "hl7v2_parse: cannot read %s\n", path.c_str());
      std::exit(2);
    }
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto parsed = hl7::parse(bytes);
    if (!parsed) {
      std::fprintf(stderr, "hl7v2_parse: %s does not parse: %s\n", path.c_str(),
                   parsed.error().message.c_str());
      std::exit(2);
    }
    c.bytes += bytes.size();
    c.messages.push_back(std::move(bytes));
  }
  return c;
}

void set_counters(benchmark::State& state, const corpus& c) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.messages.size()));
  state.counters["msg_bytes"] = static_cast<double>(c.bytes) / static_cast<double>(c.messages.size());
}

void bm_copy(benchmark::State& state, const corpus& c) {
  for (auto _ : state) {
    for (const auto& m : c.messages) {
      std::string copy(m);
      benchmark::DoNotOptimize(copy.data());
      benchmark::ClobberMemory();
    }
  }
  set_counters(state, c);
}

void bm_parse_fields(benchmark::State& state, const corpus& c) {
  const hl7::parse_options opts;
  std::size_t segments = 0;
  for (auto _ : state) {
    for (const auto& m : c.messages) {
      auto parsed = hl7::parse(m, opts);  // copies m: see the note at the top
      if (!parsed) {
        state.SkipWithError("parse failed");
        return;
      }
      segments += parsed->segment_count();
    }
  }
  benchmark::DoNotOptimize(segments);
  set_counters(state, c);
}

// Calls visit(subcomponent) for every subcomponent of every field of `msg`,
// reaching each child with size() and at(n).
template <class Visit>
void walk_indexed(const hl7::message& msg, Visit&& visit) {
  for (const hl7::segment_view seg : msg) {
    const std::size_t fields = seg.field_count();
    for (std::size_t f = 1; f <= fields; ++f) {
      const hl7::element_view field = seg.field(f);
      if (field.literal()) {  // MSH-1, MSH-2: not split
        visit(field);
        continue;
      }
      const std::size_t reps = field.size();
      for (std::size_t r = 1; r <= reps; ++r) {
        const hl7::element_view rep = field.at(r);
        const std::size_t comps = rep.size();
        for (std::size_t k = 1; k <= comps; ++k) {
          const hl7::element_view comp = rep.at(k);
          const std::size_t subs = comp.size();
          for (std::size_t s = 1; s <= subs; ++s) visit(comp.at(s));
        }
      }
    }
  }
}

// The same walk with children(). An empty element has one empty child here
// (size() says 0), which adds nothing to the decoded length.
template <class Visit>
void walk_children(const hl7::message& msg, Visit&& visit) {
  for (const hl7::segment_view seg : msg) {
    const std::size_t fields = seg.field_count();
    for (std::size_t f = 1; f <= fields; ++f) {
      const hl7::element_view field = seg.field(f);
      if (field.literal()) {
        visit(field);
        continue;
      }
      for (const hl7::element_view rep : field.children()) {
        for (const hl7::element_view comp : rep.children()) {
          for (const hl7::element_view sub : comp.children()) visit(sub);
        }
      }
    }
  }
}

template <bool children>
void bm_parse_unescape(benchmark::State& state, const corpus& c) {
  const hl7::parse_options opts;
  std::size_t total = 0;
  for (auto _ : state) {
    for (const auto& m : c.messages) {
      auto parsed = hl7::parse(m, opts);
      if (!parsed) {
        state.SkipWithError("parse failed");
        return;
      }
      const auto visit = [&](const hl7::element_view& e) { total += e.text().size(); };
      if constexpr (children) {
        walk_children(*parsed, visit);
      } else {
        walk_indexed(*parsed, visit);
      }
    }
  }
  benchmark::DoNotOptimize(total);
  set_counters(state, c);
  state.counters["text_bytes"] =
      static_cast<double>(total) / static_cast<double>(state.iterations() * c.messages.size());
}

void bm_parse_unescape_append(benchmark::State& state, const corpus& c) {
  const hl7::parse_options opts;
  std::string buffer;
  std::size_t total = 0;
  for (auto _ : state) {
    for (const auto& m : c.messages) {
      auto parsed = hl7::parse(m, opts);
      if (!parsed) {
        state.SkipWithError("parse failed");
        return;
      }
      walk_children(*parsed, [&](const hl7::element_view& e) {
        buffer.clear();
        hl7::unescape_append(buffer, e.raw(), e.delimiters(), e.character_set());
        total += buffer.size();
      });
    }
  }
  benchmark::DoNotOptimize(total);
  set_counters(state, c);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::vector<std::string> mixed = text_files;
  mixed.insert(mixed.end(), pdf_files.begin(), pdf_files.end());
  // Loaded once, alive until main returns; the benchmarks capture references.
  static const std::vector<corpus> corpora = {
      load("mixed", mixed), load("text", text_files), load("oru_pdf", pdf_files)};

  for (const auto& c : corpora) {
    benchmark::RegisterBenchmark(("copy/" + c.name).c_str(), bm_copy, std::cref(c));
    benchmark::RegisterBenchmark(("parse_fields/" + c.name).c_str(), bm_parse_fields, std::cref(c));
    benchmark::RegisterBenchmark(("parse_unescape/" + c.name).c_str(), bm_parse_unescape<false>,
                                 std::cref(c));
    benchmark::RegisterBenchmark(("parse_unescape_children/" + c.name).c_str(),
                                 bm_parse_unescape<true>, std::cref(c));
    benchmark::RegisterBenchmark(("parse_unescape_append/" + c.name).c_str(),
                                 bm_parse_unescape_append, std::cref(c));
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
