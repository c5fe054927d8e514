#pragma once
// Shared by the mapping tests: parsing messages, converting them with every
// Bundle checked against the R4 definitions, and reading JSON by path.

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <utility>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/mapping/config.hpp>
#include <hearth/mapping/convert.hpp>

namespace hearth::mapping::test {

using fhir::json_value;

inline const fhir::definitions& registry() {
  static const fhir::definitions d = [] {
    auto r = fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!r) {
      std::fprintf(stderr, "definitions::load failed: %s\n", r.error().message.c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return d;
}

inline std::string read_data(const std::string& name) {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/mapping/" + name, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline hl7v2::message must_parse(std::string text) {
  auto r = hl7v2::parse(std::move(text));
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().where.to_string());
  return std::move(r).value();
}

/// A message: the MSH of sender ADTAPP^GOODHOSP with `type` ("ADT^A01") and
/// control id `control_id`, then `segments` (separated by \r).
inline hl7v2::message adt(std::string_view type, std::string_view segments, std::string_view control_id = "C1",
                          std::string_view time = "20240305143015+0100") {
  std::string text = "MSH|^~\\&|ADTAPP|GOODHOSP|HEARTH|HEARTH|" + std::string(time) + "||" + std::string(type) + "|" +
                     std::string(control_id) + "|P|2.5.1\r";
  text += segments;
  if (text.back() != '\r') text.push_back('\r');
  return must_parse(std::move(text));
}

/// A segment from its fields by number: seg("PV1", {{2, "I"}, {19, "V1"}}).
inline std::string seg(std::string_view id, std::initializer_list<std::pair<std::size_t, std::string_view>> fields) {
  std::size_t last = 0;
  for (const auto& f : fields) last = std::max(last, f.first);
  std::vector<std::string_view> values(last + 1);
  for (const auto& f : fields) values[f.first] = f.second;
  std::string out(id);
  for (std::size_t i = 1; i <= last; ++i) {
    out.push_back('|');
    out.append(values[i]);
  }
  out.push_back('\r');
  return out;
}

/// Fails the test when the Bundle is not valid R4 JSON (resource_check).
inline void check_bundle(const json_value& bundle) {
  const auto issues = fhir::check_resource(bundle, registry());
  for (const auto& i : issues) {
    if (i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal) {
      FAIL_CHECK("invalid FHIR: " << i.expression << ": " << i.diagnostics);
    }
  }
  // The writer's output reads back (the round trip a REST client does).
  REQUIRE(bundle.find("resourceType") != nullptr);
  CHECK(bundle.members().front().key == "resourceType");
}

/// convert() that must succeed; the Bundle is checked.
inline conversion must_convert(const hl7v2::message& msg, const sender_config& cfg = {}) {
  auto r = convert(msg, cfg);
  if (!r) FAIL("convert failed: " << r.error().message << " at " << r.error().where.to_string());
  check_bundle(r->bundle);
  return std::move(r).value();
}

/// The value at `path` ("entry[0].resource.name[1].given[0]"), or null.
inline const json_value& get(const json_value& root, std::string_view path) {
  static const json_value null_value;
  const json_value* v = &root;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const std::size_t close = path.find(']', i);
      const std::size_t n = std::stoul(std::string(path.substr(i + 1, close - i - 1)));
      if (!v->is_array() || n >= v->size()) return null_value;
      v = &v->items()[n];
      i = close + 1;
      continue;
    }
    const std::size_t end = path.find_first_of(".[", i);
    const std::string_view key = path.substr(i, end == std::string_view::npos ? path.size() - i : end - i);
    v = v->find(key);
    if (v == nullptr) return null_value;
    i = end == std::string_view::npos ? path.size() : end;
  }
  return *v;
}

/// The text of a string at `path`; "" when absent or not a string.
inline std::string str(const json_value& root, std::string_view path) {
  const json_value& v = get(root, path);
  return v.is_string() ? v.str() : std::string();
}

/// The entries whose resource has this type.
inline std::vector<const json_value*> entries_of(const json_value& bundle, std::string_view type) {
  std::vector<const json_value*> out;
  const json_value& entries = get(bundle, "entry");
  if (!entries.is_array()) return out;
  for (const auto& e : entries.items()) {
    if (str(e, "resource.resourceType") == type) out.push_back(&e);
  }
  return out;
}

/// The one entry of this type (fails when there is not exactly one).
inline const json_value& entry(const json_value& bundle, std::string_view type) {
  const auto all = entries_of(bundle, type);
  REQUIRE_MESSAGE(all.size() == 1, "entries of type " << type << ": " << all.size());
  return *all.front();
}

}  // namespace hearth::mapping::test
