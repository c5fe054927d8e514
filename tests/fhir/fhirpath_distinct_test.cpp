#include <hearth/fhir/fhirpath_eval.hpp>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>

#include "fhir/test_support.hpp"

// distinct(), isDistinct(), union, intersect(), exclude(), subsetOf(),
// supersetOf() and repeat() find equal items through hashing
// (fhirpath_item_set.cpp). These cases check that the answers are those of
// N1 §6.1.1 equality item by item: on large inputs with known answers, and on
// random mixes compared with a pairwise scan through the `=` operator. They
// assert results, not speed.

using namespace hearth::fhir;
using namespace hearth::fhir::fhirpath;

namespace {

const definitions& defs() { return hearth::fhir::test::registry(); }

json_value json(std::string_view text) {
  auto r = parse_json(text);
  REQUIRE_MESSAGE(r.has_value(), "bad test JSON");
  return std::move(r).value();
}

const json_value& resource() {
  static const json_value p = json(R"({
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    "valueQuantity": {"value": 1.0, "unit": "g", "system": "http://unitsofmeasure.org", "code": "g"},
    "effectiveDateTime": "2020-01-01T10:00:00+01:00",
    "issued": "2020-01-01T09:00:00Z",
    "component": [
      {"code": {"text": "a"}, "valueString": "x"},
      {"code": {"text": "a"}, "valueString": "x"},
      {"code": {"text": "b"}, "valueBoolean": true},
      {"code": {"text": "c"}, "valueInteger": 1},
      {"code": {"text": "d"}, "valueQuantity": {"value": 1000, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
      {"code": {"text": "e"}, "valueDateTime": "2020-01-01"},
      {"code": {"text": "f"}, "valueTime": "10:00:00"}
    ]
  })");
  return p;
}

hearth::result<collection, hearth::error> run(std::string_view src, const context& ctx,
                                              const json_value& res = resource()) {
  auto e = parse(src);
  REQUIRE_MESSAGE(e.has_value(), std::string(src));
  return evaluate(*e, res, defs(), ctx);
}

collection items(std::string_view src, const json_value& res = resource()) {
  auto r = run(src, context{}, res);
  REQUIRE_MESSAGE(r.has_value(), std::string(src));
  return std::move(r).value();
}

std::string show(std::string_view src, const context& ctx = {}, const json_value& res = resource()) {
  auto r = run(src, ctx, res);
  if (!r) return "ERROR " + r.error().code + ": " + r.error().message;
  std::string out;
  for (const auto& v : *r) {
    if (!out.empty()) out += ", ";
    auto s = to_string_value(v);
    out += s ? *s : "<" + type_name(v) + ">";
  }
  return out;
}

value integer(std::int64_t i) {
  value v;
  v.k = value::kind::integer;
  v.i = i;
  return v;
}
value text(std::string s) {
  value v;
  v.k = value::kind::string;
  v.s = std::move(s);
  return v;
}
value dec(std::string_view t) {
  value v;
  v.k = value::kind::decimal_;
  auto d = decimal::parse(t);
  REQUIRE(d.has_value());
  v.d = *d;
  return v;
}

// The same item: kind, type and text, and for nodes the same JSON node.
bool same_item(const value& a, const value& b) {
  return a.k == b.k && type_name(a) == type_name(b) && to_string_value(a) == to_string_value(b) &&
         a.json == b.json && a.ext == b.ext;
}

bool same_items(const collection& a, const collection& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_item(a[i], b[i])) return false;
  return true;
}

// N1 §6.1.1 through the evaluator's `=`: true only when equality is true
// (empty, for "not known", is not equal).
bool equal_by_operator(const value& a, const value& b) {
  static const auto eq = parse("%a = %b");
  REQUIRE(eq.has_value());
  context ctx;
  ctx.variables["a"] = collection{a};
  ctx.variables["b"] = collection{b};
  auto r = evaluate(*eq, resource(), defs(), ctx);
  REQUIRE(r.has_value());
  return r->size() == 1 && r->front().k == value::kind::boolean && r->front().b;
}

bool contains_by_operator(const collection& c, const value& v) {
  for (const auto& x : c)
    if (equal_by_operator(x, v)) return true;
  return false;
}

collection distinct_by_operator(const collection& c) {
  collection out;
  for (const auto& v : c)
    if (!contains_by_operator(out, v)) out.push_back(v);
  return out;
}

collection eval_with(std::string_view src, const collection& xs, const collection& ys = {}) {
  context ctx;
  ctx.variables["xs"] = xs;
  ctx.variables["ys"] = ys;
  auto r = run(src, ctx);
  REQUIRE_MESSAGE(r.has_value(), std::string(src));
  return std::move(r).value();
}

}  // namespace

TEST_CASE("fhirpath distinct: equality classes the hashing must respect") {
  // Numbers: 1 = 1.0 = 1.00; the first is kept.
  CHECK(show("(1 | 1.0 | 1.00 | 2.50 | 2.5)") == "1, 2.50");
  // Different types never equal: Integer, String, Boolean.
  CHECK(show("(1 | '1' | true | 'true')") == "1, 1, true, true");
  // DateTimes compare in UTC when both have a zone.
  CHECK(show("(@2020-01-01T10:00:00+01:00 | @2020-01-01T09:00:00Z)") == "2020-01-01T10:00:00+01:00");
  CHECK(show("(Observation.effective | Observation.issued).count()") == "1");
  // Different precision: not known to be equal, so both stay.
  CHECK(show("(@2020 | @2020-01 | @2020-01-01 | @2020-01-01T10:00).count()") == "4");
  // A zone against none at hour precision: not known, both stay; at day
  // precision the zone plays no part.
  CHECK(show("(@2020-01-01T10:00 | @2020-01-01T10:00Z).count()") == "2");
  // Seconds and milliseconds are one precision.
  CHECK(show("(@T10:00:00 | @T10:00:00.000 | @T10:00:00.001).count()") == "2");
  CHECK(show("(@2020-01-01T10:00:00 | @2020-01-01T10:00:00.000).count()") == "1");
  // Quantities convert through UCUM; FHIR Quantity nodes meet System quantities.
  CHECK(show("(1 'g' | 1000 'mg' | 1 'kg').count()") == "2");
  CHECK(show("(Observation.value | 1000 'mg').count()") == "1");
  CHECK(show("(1000 'mg' | Observation.value).count()") == "1");
  CHECK(show("(Observation.value | Observation.component.value.ofType(Quantity)).count()") == "2");
  // Calendar durations: 4 days = 4 'd'; 1 year against 1 'a' is not known.
  CHECK(show("(4 days | 4 'd').count()") == "1");
  CHECK(show("(1 year | 1 'a').count()") == "2");
  // Complex nodes: equal JSON is equal.
  CHECK(show("Observation.component.code.distinct().count()") == "6");
  CHECK(show("Observation.component.distinct().count()") == "6");
  // FHIR primitives as System values.
  CHECK(show("(Observation.component.value.ofType(string) | 'x').count()") == "1");
  CHECK(show("(Observation.component.value.ofType(integer) | 1.0 | 1)") == "1");
}

TEST_CASE("fhirpath distinct: large inputs keep the first of each group, in order") {
  collection xs;
  constexpr int n = 3000;
  for (int i = 0; i < n; ++i) xs.push_back(integer(i));
  for (int i = n - 1; i >= 0; --i) xs.push_back(dec(std::to_string(i) + ".00"));
  for (int i = 0; i < n; ++i) xs.push_back(text("s" + std::to_string(i % 1000)));
  auto d = eval_with("%xs.distinct()", xs);
  REQUIRE(d.size() == n + 1000);
  bool ints = true, strings = true;
  for (int i = 0; i < n; ++i) ints = ints && d[i].k == value::kind::integer && d[i].i == i;
  for (int i = 0; i < 1000; ++i) strings = strings && d[n + i].k == value::kind::string && d[n + i].s == "s" + std::to_string(i);
  CHECK(ints);
  CHECK(strings);

  collection unique;
  for (int i = 0; i < 5000; ++i) unique.push_back(text("u" + std::to_string(i)));
  CHECK(show("%xs.isDistinct()", [&] { context c; c.variables["xs"] = unique; return c; }()) == "true");
  unique.push_back(text("u4321"));
  CHECK(show("%xs.isDistinct()", [&] { context c; c.variables["xs"] = unique; return c; }()) == "false");

  // Many quantities: the path without a key gives the same answer.
  collection qs;
  for (int i = 0; i < 300; ++i) {
    value g;
    g.k = value::kind::quantity;
    g.q = quantity_value{decimal{i, 0}, "g", false};
    qs.push_back(g);
  }
  for (int i = 0; i < 300; ++i) {
    value mg;
    mg.k = value::kind::quantity;
    mg.q = quantity_value{decimal{i * 1000, 0}, "mg", false};
    qs.push_back(mg);
  }
  auto dq = eval_with("%xs.distinct()", qs);
  REQUIRE(dq.size() == 300);
  CHECK(dq.back().q.unit == "g");

  // Complex nodes: 1500 names of 15 shapes.
  std::string names;
  for (int i = 0; i < 1500; ++i) {
    if (!names.empty()) names += ",";
    names += R"({"family": "F)" + std::to_string(i % 15) + R"(", "given": ["G"]})";
  }
  const json_value pat = json(R"({"resourceType": "Patient", "name": [)" + names + "]}");
  CHECK(show("Patient.name.distinct().count()", {}, pat) == "15");
  CHECK(show("Patient.name.isDistinct()", {}, pat) == "false");
  CHECK(show("Patient.name.family.distinct().count()", {}, pat) == "15");
  CHECK(show("Patient.name.given.distinct()", {}, pat) == "G");
  CHECK(show("(Patient.name | Patient.name).count()", {}, pat) == "15");
}

TEST_CASE("fhirpath distinct: the set functions on large inputs") {
  collection xs, ys;
  for (int i = 0; i < 4000; ++i) xs.push_back(integer(i));
  for (int i = 0; i < 4000; i += 2) ys.push_back(dec(std::to_string(i) + ".0"));
  ys.push_back(text("0"));
  auto inter = eval_with("%xs.intersect(%ys)", xs, ys);
  REQUIRE(inter.size() == 2000);
  CHECK(inter.front().k == value::kind::integer);  // the focus's items
  CHECK(inter.back().i == 3998);
  auto ex = eval_with("%xs.exclude(%ys)", xs, ys);
  REQUIRE(ex.size() == 2000);
  CHECK(ex.front().i == 1);
  auto uni = eval_with("%xs.union(%ys)", xs, ys);
  CHECK(uni.size() == 4001);  // the string '0' is no number
  auto sub = eval_with("%ys.exclude('0').subsetOf(%xs)", xs, ys);
  REQUIRE(sub.size() == 1);
  CHECK(sub.front().b);
  auto sup = eval_with("%xs.supersetOf(%ys)", xs, ys);
  REQUIRE(sup.size() == 1);
  CHECK_FALSE(sup.front().b);
  // intersect() drops duplicates of the focus too.
  collection dup = xs;
  dup.insert(dup.end(), xs.begin(), xs.end());
  CHECK(eval_with("%xs.intersect(%ys)", dup, ys).size() == 2000);
  // repeat() stops at items already seen.
  CHECK(show("Observation.component.repeat($this).count()") == "6");  // two components are equal
}

TEST_CASE("fhirpath distinct: random mixes agree with a pairwise scan through '='") {
  // A pool of items from every class, with equal pairs across forms.
  collection pool;
  for (const char* src :
       {"1", "1.0", "1.00", "2", "2.000", "-0.0", "0", "99999999999999999999999999.5", "99999999999999999999999999.50",
        "'a'", "'A'", "'1'", "''", "true", "false",
        "@2020", "@2020-01", "@2020-01-01", "@2020-01-01T", "@2020-01-01T10:00", "@2020-01-01T10:00Z",
        "@2020-01-01T10:00:00+01:00", "@2020-01-01T09:00:00Z", "@2020-01-01T09:00:00.000Z", "@2020-01-01T09:00:00",
        "@T10:00", "@T10:00:00", "@T10:00:00.000", "@T10:01",
        "1 'g'", "1000 'mg'", "1 'kg'", "4 days", "4 'd'", "1 year", "1 'a'", "12 months", "1 '1'",
        "Observation.value", "Observation.effective", "Observation.issued", "Observation.status",
        "Observation.code", "Observation.component", "Observation.component.code", "Observation.component.value"}) {
    collection c = items(src);
    REQUIRE_MESSAGE(!c.empty(), src);
    pool.insert(pool.end(), c.begin(), c.end());
  }
  std::mt19937 rng(20240611);  // fixed: the same mixes on every run
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
  std::uniform_int_distribution<int> length(0, 30);
  int mismatches = 0;
  for (int trial = 0; trial < 150; ++trial) {
    collection xs, ys;
    for (int i = length(rng); i > 0; --i) xs.push_back(pool[pick(rng)]);
    for (int i = length(rng); i > 0; --i) ys.push_back(pool[pick(rng)]);

    const collection want_distinct = distinct_by_operator(xs);
    if (!same_items(eval_with("%xs.distinct()", xs), want_distinct)) ++mismatches;
    const collection is_distinct = eval_with("%xs.isDistinct()", xs);
    if (is_distinct.size() != 1 || is_distinct.front().b != (want_distinct.size() == xs.size())) ++mismatches;

    collection all = xs;
    all.insert(all.end(), ys.begin(), ys.end());
    if (!same_items(eval_with("%xs | %ys", xs, ys), distinct_by_operator(all))) ++mismatches;

    collection want_intersect, want_exclude;
    for (const auto& v : xs) {
      const bool in = contains_by_operator(ys, v);
      if (in && !contains_by_operator(want_intersect, v)) want_intersect.push_back(v);
      if (!in) want_exclude.push_back(v);
    }
    if (!same_items(eval_with("%xs.intersect(%ys)", xs, ys), want_intersect)) ++mismatches;
    if (!same_items(eval_with("%xs.exclude(%ys)", xs, ys), want_exclude)) ++mismatches;

    bool subset = true;
    for (const auto& v : xs) subset = subset && contains_by_operator(ys, v);
    const collection sub = eval_with("%xs.subsetOf(%ys)", xs, ys);
    if (sub.size() != 1 || sub.front().b != subset) ++mismatches;
  }
  CHECK(mismatches == 0);
}
