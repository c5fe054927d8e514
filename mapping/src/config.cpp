// mapping_config: per-sender settings from JSON (config.hpp).

#include <hearth/mapping/config.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <hearth/fhir/json_reader.hpp>

namespace hearth::mapping {

namespace {

hearth::unexpected<hearth::error> invalid(std::string location, std::string message) {
  hearth::error e;
  e.code = "invalid";
  e.message = std::move(message);
  e.location = std::move(location);
  return hearth::unexpected<hearth::error>(std::move(e));
}

// Same scheme test as identifiers' (RFC 3986 3.1): a letter, then letters,
// digits, "+", "-", "."; a colon; something after it; no spaces.
bool absolute_uri(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return s.find_first_of(" \t\r\n") == std::string_view::npos;
}

// "Z", or +/-hh:mm within what a FHIR dateTime allows (00:00 to 14:00).
bool valid_offset(std::string_view o) {
  if (o == "Z") return true;
  if (o.size() != 6 || (o[0] != '+' && o[0] != '-') || o[3] != ':') return false;
  for (const std::size_t i : {1u, 2u, 4u, 5u}) {
    if (o[i] < '0' || o[i] > '9') return false;
  }
  const int h = (o[1] - '0') * 10 + (o[2] - '0');
  const int m = (o[4] - '0') * 10 + (o[5] - '0');
  return m < 60 && (h < 14 || (h == 14 && m == 0));
}

// "ZPI-2": Z, two more letters or digits, "-", a field number 1-999.
bool z_field_key(std::string_view k) {
  if (k.size() < 5 || k.size() > 7 || k[0] != 'Z' || k[3] != '-') return false;
  for (std::size_t i = 1; i < 3; ++i) {
    if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9'))) return false;
  }
  if (k[4] == '0') return false;
  for (std::size_t i = 4; i < k.size(); ++i) {
    if (k[i] < '0' || k[i] > '9') return false;
  }
  return true;
}

// A {string: URI} object into `out`; `check_key` validates keys.
hearth::result<void, hearth::error> uri_map(const fhir::json_value& v, const std::string& where,
                                            std::map<std::string, std::string, std::less<>>& out,
                                            bool (*check_key)(std::string_view), const char* key_rule) {
  if (!v.is_object()) return invalid(where, "must be an object");
  for (const auto& m : v.members()) {
    const std::string at = where + "." + m.key;
    if (check_key != nullptr && !check_key(m.key)) return invalid(at, std::string("key must be ") + key_rule);
    if (m.key.empty()) return invalid(where, "keys must not be empty");
    if (!m.value.is_string()) return invalid(at, "must be a string");
    if (!absolute_uri(m.value.str())) return invalid(at, "must be an absolute URI");
    out.emplace(m.key, m.value.str());
  }
  return {};
}

hearth::result<sender_config> parse_sender(const fhir::json_value& v, const std::string& where) {
  if (!v.is_object()) return invalid(where, "sender settings must be an object");
  sender_config s;
  for (const auto& m : v.members()) {
    const std::string at = where + "." + m.key;
    if (m.key == "identifierSystems") {
      if (auto r = uri_map(m.value, at, s.identifier_systems, nullptr, ""); !r) return hearth::unexpected(r.error());
    } else if (m.key == "codeSystems") {
      if (auto r = uri_map(m.value, at, s.code_systems, nullptr, ""); !r) return hearth::unexpected(r.error());
    } else if (m.key == "zExtensions") {
      if (auto r = uri_map(m.value, at, s.z_extensions, &z_field_key, "a Z-segment field such as \"ZPI-2\""); !r) {
        return hearth::unexpected(r.error());
      }
    } else if (m.key == "defaultIdentifierSystem") {
      if (!m.value.is_string() || !absolute_uri(m.value.str())) return invalid(at, "must be an absolute URI");
      s.default_identifier_system = m.value.str();
    } else if (m.key == "defaultOffset") {
      if (!m.value.is_string() || !valid_offset(m.value.str())) {
        return invalid(at, "must be \"Z\" or a UTC offset +hh:mm / -hh:mm up to 14:00");
      }
      s.default_offset = m.value.str();
    } else {
      return invalid(at, "unknown setting");
    }
  }
  return s;
}

}  // namespace

hearth::result<mapping_config> mapping_config::parse(std::string_view json) {
  fhir::json_read_options opts;
  opts.fhir_rules = false;
  opts.max_bytes = 16u << 20;  // a configuration, not a data set: 16 MiB is plenty
  auto doc = fhir::parse_json(json, opts);
  if (!doc) {
    hearth::error e = doc.error();
    e.code = "invalid";
    return hearth::unexpected<hearth::error>(std::move(e));
  }
  if (!doc->is_object()) return invalid("$", "the configuration must be an object of senders");
  mapping_config cfg;
  for (const auto& m : doc->members()) {
    // "*" or "APPLICATION^FACILITY" (MSH-3.1^MSH-4.1; either may be empty).
    if (m.key != "*" && std::count(m.key.begin(), m.key.end(), '^') != 1) {
      return invalid(m.key, "sender key must be \"*\" or \"MSH-3.1^MSH-4.1\"");
    }
    auto s = parse_sender(m.value, m.key);
    if (!s) return hearth::unexpected(std::move(s).error());
    cfg.senders_.emplace(m.key, std::move(*s));
  }
  return cfg;
}

hearth::result<mapping_config> mapping_config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    hearth::error e;
    e.code = "not-found";
    e.message = "cannot read the mapping configuration file";
    e.location = path;
    return hearth::unexpected<hearth::error>(std::move(e));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text);
}

const sender_config& mapping_config::for_sender(std::string_view application, std::string_view facility) const {
  std::string key(application);
  key.push_back('^');
  key.append(facility);
  if (const auto it = senders_.find(key); it != senders_.end()) return it->second;
  if (const auto it = senders_.find(std::string_view("*")); it != senders_.end()) return it->second;
  return empty_;
}

}  // namespace hearth::mapping
