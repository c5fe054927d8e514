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
#include <type_traits>
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

/// What fault_sweep() saw.
struct fault_counts {
  std::size_t bundles = 0;  ///< inputs converted (each Bundle checked)
  std::size_t errors = 0;   ///< inputs refused with a table 0357 code
};

/// Untrusted input never crashes the mapping and always ends in one of the
/// two documented outcomes: converts every prefix of `full` ending at a
/// segment boundary (when `prefixes`), and `full` with each field after
/// MSH-2 replaced in turn by the explicit null, nothing, garbage with every
/// delimiter, an impossible date (and `extra`); each must give a valid
/// Bundle (check_bundle, then `on_bundle` when set) or an error with a code
/// of 100-103, 200 or 201 and a message. Inputs the parser refuses are
/// skipped: the parser's own fault tests cover them.
template <class OnBundle = void (*)(const json_value&)>
fault_counts fault_sweep(const std::string& full, const sender_config& cfg = {}, bool prefixes = true,
                         std::initializer_list<const char*> extra = {}, OnBundle on_bundle = nullptr) {
  fault_counts n;
  const auto outcome = [&](const std::string& text) {
    auto msg = hl7v2::parse(text);
    if (!msg) return;
    auto out = convert(*msg, cfg);
    if (out) {
      ++n.bundles;
      check_bundle(out->bundle);
      if constexpr (!std::is_pointer_v<OnBundle>) {
        on_bundle(out->bundle);
      } else {
        if (on_bundle != nullptr) on_bundle(out->bundle);
      }
    } else {
      ++n.errors;
      const auto c = static_cast<int>(out.error().code);
      CHECK(((c >= 100 && c <= 103) || c == 200 || c == 201));
      CHECK_FALSE(out.error().message.empty());
    }
  };
  if (prefixes) {
    for (std::size_t end = full.find('\r'); end != std::string::npos; end = full.find('\r', end + 1)) {
      outcome(full.substr(0, end + 1));
    }
  }
  std::vector<const char*> replacements = {"\"\"", "", "x^y&z~\\T\\~9999", "20241399"};
  replacements.insert(replacements.end(), extra.begin(), extra.end());
  std::size_t pos = 0;
  while ((pos = full.find('|', pos + 1)) != std::string::npos) {
    if (pos < 10) continue;  // keep MSH-1/MSH-2
    const std::size_t end = full.find_first_of("|\r", pos + 1);
    for (const char* replacement : replacements) {
      std::string mangled = full;
      mangled.replace(pos + 1, end - pos - 1, replacement);
      outcome(mangled);
    }
  }
  return n;
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
