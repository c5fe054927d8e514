#include "store_search.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <utility>

#include <hearth/store/search_request.hpp>

namespace bench_store {
namespace {

using clock_type = std::chrono::steady_clock;
using query = std::vector<std::pair<std::string, std::string>>;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::string text(const query& q) {
  std::string s;
  for (const auto& [k, v] : q) s += (s.empty() ? "" : "&") + k + "=" + v;
  return s;
}

}  // namespace

void search_inputs::collect(const std::string& type, const hearth::fhir::json_value& r) {
  if (type == "Observation") {
    const auto* code = r.find("code");
    const auto* coding = code != nullptr ? code->find("coding") : nullptr;
    if (coding != nullptr && coding->is_array() && !coding->items().empty()) {
      const auto& c = coding->items()[0];
      const auto* system = c.find("system");
      const auto* value = c.find("code");
      if (system != nullptr && value != nullptr && system->is_string() && value->is_string()) {
        const std::string token = system->str() + "|" + value->str();
        if (std::find(codes.begin(), codes.end(), token) == codes.end()) codes.push_back(token);
      }
    }
  } else if (type == "Patient") {
    const auto* names = r.find("name");
    if (names != nullptr && names->is_array() && !names->items().empty()) {
      const auto* family = names->items()[0].find("family");
      if (family != nullptr && family->is_string() &&
          std::find(families.begin(), families.end(), family->str()) == families.end()) {
        families.push_back(family->str());
      }
    }
  }
}

std::vector<search_figures> run_searches(const hearth::store::resource_store& store,
                                         const hearth::fhir::definitions& defs, const search_inputs& in,
                                         std::size_t runs) {
  std::mt19937_64 rng(0x5ea4c4);  // fixed: the same queries every run
  auto pick = [&rng](const std::vector<std::string>& v) -> const std::string& {
    return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
  };
  auto week = [&rng]() {
    // A week in 2015-2024 (store_corpus.py spreads effective times over 2015-2025).
    const int day = std::uniform_int_distribution<int>(0, 3640)(rng);
    const auto start = std::chrono::sys_days(std::chrono::year(2015) / 1 / 1) + std::chrono::days(day);
    const auto end = start + std::chrono::days(7);
    auto fmt = [](std::chrono::sys_days d) {
      const std::chrono::year_month_day ymd(d);
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
      return std::string(buf);
    };
    return std::make_pair(fmt(start), fmt(end));
  };
  struct kind {
    const char* name;
    std::function<query()> make;
  };
  std::vector<kind> kinds;
  if (!in.codes.empty()) kinds.push_back({"token", [&] { return query{{"code", pick(in.codes)}}; }});
  kinds.push_back({"date", [&] {
                     const auto [from, to] = week();
                     return query{{"date", "ge" + from}, {"date", "lt" + to}};
                   }});
  if (!in.families.empty()) kinds.push_back({"chain", [&] { return query{{"subject.name", pick(in.families)}}; }});
  if (!in.codes.empty()) {
    kinds.push_back({"include", [&] {
                       return query{{"code", pick(in.codes)}, {"_include", "Observation:subject"}};
                     }});
  }

  std::vector<search_figures> out;
  for (const kind& k : kinds) {
    search_figures f;
    f.name = k.name;
    std::vector<double> ms;
    std::size_t matches = 0, included = 0;
    for (std::size_t i = 0; i < runs; ++i) {
      const query q = k.make();
      if (i == 0) f.example = "Observation?" + text(q);
      const auto t0 = clock_type::now();
      auto req = hearth::store::parse_search(defs, "Observation", q, hearth::store::search_handling::strict);
      auto page = req ? store.search(*req) : hearth::result<hearth::store::search_page>(hearth::unexpected(req.error()));
      ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
      if (!page) {
        if (f.failures++ == 0) std::fprintf(stderr, "search %s failed: %s\n", k.name, page.error().message.c_str());
        continue;
      }
      matches += page->matches.size();
      included += page->included.size();
    }
    f.runs = runs;
    f.p50_ms = percentile(ms, 0.50);
    f.p99_ms = percentile(ms, 0.99);
    f.max_ms = ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end());
    f.mean_matches = runs > 0 ? static_cast<double>(matches) / static_cast<double>(runs) : 0;
    f.mean_included = runs > 0 ? static_cast<double>(included) / static_cast<double>(runs) : 0;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace bench_store
