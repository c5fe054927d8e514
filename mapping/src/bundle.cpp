// The transaction Bundle builder, identities and JSON helpers (mapping_detail.hpp).

#include <array>
#include <cstdint>

#include "mapping_detail.hpp"
#include "sha1.hpp"

namespace hearth::mapping::detail {

namespace {

// Namespace of the entries' name-based UUIDs (RFC 4122 4.3): a fixed random
// UUID of Hearth's own, 6f1c2a5e-3b7d-4c0e-9a8f-2d4e6b1c9f30.
constexpr std::array<std::uint8_t, 16> entry_namespace = {0x6f, 0x1c, 0x2a, 0x5e, 0x3b, 0x7d, 0x4c, 0x0e,
                                                          0x9a, 0x8f, 0x2d, 0x4e, 0x6b, 0x1c, 0x9f, 0x30};

// R4 search.html#escaping: `\`, `|`, `,` and `$` in a search value are escaped with `\`.
std::string search_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '|' || c == ',' || c == '$') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Percent-encodes all but RFC 3986 2.3 unreserved characters (UTF-8 bytes one by one).
std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  return out;
}

// Appends to resource.identifier; a new array goes where FHIR lists the
// element, after resourceType, id, meta and extension (R4 json.html keeps no
// order, but people and the XML form read it in that order).
void add_identifier(json_value& resource, json_value id) {
  if (json_value* ids = resource.find("identifier"); ids != nullptr && ids->is_array()) {
    ids->push_back(std::move(id));
    return;
  }
  auto& members = resource.members();
  auto pos = members.begin();
  while (pos != members.end() && (pos->key == "resourceType" || pos->key == "id" || pos->key == "meta" ||
                                  pos->key == "extension" || pos->key == "modifierExtension")) {
    ++pos;
  }
  json_value arr = json_value::array();
  arr.push_back(std::move(id));
  members.insert(pos, fhir::json_member{"identifier", std::move(arr)});
}

}  // namespace

bool has_identifier(const json_value& resource, const identity& id) {
  const json_value* ids = resource.find("identifier");
  if (ids == nullptr || !ids->is_array()) return false;
  for (const auto& i : ids->items()) {
    const json_value* s = i.find("system");
    const json_value* v = i.find("value");
    if (s != nullptr && v != nullptr && s->is_string() && v->is_string() && s->str() == id.system &&
        v->str() == id.value) {
      return true;
    }
  }
  return false;
}

position at(const segment_view& seg, std::size_t field, std::size_t repetition, std::size_t component,
            std::size_t subcomponent) {
  position p;
  p.segment_index = seg.index();
  p.segment_id = std::string(seg.id());
  p.field = field;
  p.repetition = repetition;
  p.component = component;
  p.subcomponent = subcomponent;
  return p;
}

position child(position p, std::size_t n) {
  if (p.component == 0) {
    p.component = n;
  } else if (p.subcomponent == 0) {
    p.subcomponent = n;
  }
  return p;
}

identity derived_identity(std::string_view resource_type, std::initializer_list<std::string_view> parts) {
  std::string name;
  for (const std::string_view part : parts) {
    name.append(std::to_string(part.size()));
    name.push_back(':');
    name.append(part);
  }
  identity id;
  id.system = std::string(derived_identifier_system_prefix) + std::string(resource_type);
  id.value = sha1_hex(name);
  return id;
}

json_value identifier_json(const identity& id) {
  json_value v = json_value::object();
  put(v, "system", id.system);
  put(v, "value", id.value);
  return v;
}

std::string conditional_query(const identity& id) {
  std::string query = "identifier=";
  query.append(percent_encode(search_escape(id.system)));
  query.push_back('|');
  query.append(percent_encode(search_escape(id.value)));
  return query;
}

std::string conditional_url(std::string_view resource_type, const identity& id) {
  std::string url(resource_type);
  url.push_back('?');
  url.append(conditional_query(id));
  return url;
}

context::context(const hl7v2::message& m, const sender_config& c) : msg(m), cfg(c) {
  // The UUIDs' names: sender, MSH-10 and (per entry) the index. The same
  // message gives the same UUIDs; two senders' equal control ids do not collide.
  uuid_name_prefix_ = m.text("MSH-3.1") + "^" + m.text("MSH-4.1") + "|" + m.control_id() + "|";
}

void context::fail(error_code code, std::string text, position where) {
  if (error_) return;
  hl7v2::error e;
  e.code = code;
  e.message = std::move(text);
  e.where = std::move(where);
  error_ = std::move(e);
}

void context::warn(error_code code, std::string text, position where) {
  warnings_.emplace_back(code, std::move(text), std::move(where), hl7v2::severity::warning);
}

std::string context::add_entry(json_value resource, const std::optional<identity>& id) {
  return add(std::move(resource), id, false);
}

std::string context::add_entry_if_none_exist(json_value resource, const identity& id) {
  return add(std::move(resource), id, true);
}

std::string context::add(json_value resource, const std::optional<identity>& id, bool create_only) {
  const json_value* rt = resource.find("resourceType");
  std::string type = rt != nullptr && rt->is_string() ? rt->str() : std::string();
  std::string conditional;
  if (id && id->valid()) {
    conditional = conditional_url(type, *id);
    // Either kind: one resource, touched once (R4 http.html#trules).
    for (const auto& e : entries_) {
      if (e.conditional == conditional) return e.full_url;
    }
    if (!has_identifier(resource, *id)) add_identifier(resource, identifier_json(*id));
  } else {
    create_only = false;  // nothing to find it by: a plain create
  }
  entry e;
  e.full_url = "urn:uuid:" + uuid_v5(entry_namespace, uuid_name_prefix_ + std::to_string(entries_.size()));
  e.type = std::move(type);
  e.conditional = std::move(conditional);
  e.create_only = create_only;
  e.resource = std::move(resource);
  entries_.push_back(std::move(e));
  return entries_.back().full_url;
}

json_value* context::resource(std::string_view full_url) {
  for (auto& e : entries_) {
    if (e.full_url == full_url) return &e.resource;
  }
  return nullptr;
}

json_value context::bundle() const {
  json_value b = new_resource("Bundle");
  b.set("type", "transaction");
  json_value entries = json_value::array();
  for (const auto& e : entries_) {
    json_value entry = json_value::object();
    entry.set("fullUrl", e.full_url);
    entry.set("resource", e.resource);
    json_value request = json_value::object();
    if (e.conditional.empty()) {
      request.set("method", "POST");
      request.set("url", e.type);
    } else if (e.create_only) {
      // R4 http.html#ccreate: the query of the conditional URL, without "Type?".
      request.set("method", "POST");
      request.set("url", e.type);
      request.set("ifNoneExist", e.conditional.substr(e.type.size() + 1));
    } else {
      request.set("method", "PUT");
      request.set("url", e.conditional);
    }
    entry.set("request", std::move(request));
    entries.push_back(std::move(entry));
  }
  if (entries.size() > 0) b.set("entry", std::move(entries));
  return b;
}

json_value reference(std::string_view full_url) {
  json_value r = json_value::object();
  r.set("reference", full_url);
  return r;
}

bool is_empty(const json_value& v) {
  switch (v.type()) {
    case json_value::kind::null: return true;
    case json_value::kind::string: return v.str().empty();
    case json_value::kind::array:
    case json_value::kind::object: return v.size() == 0;
    default: return false;
  }
}

void put(json_value& obj, std::string_view key, json_value value) {
  if (!is_empty(value)) obj.set(key, std::move(value));
}

void append(json_value& obj, std::string_view key, json_value value) {
  if (is_empty(value)) return;
  json_value* arr = obj.find(key);
  if (arr == nullptr || !arr->is_array()) arr = &obj.set(key, json_value::array());
  arr->push_back(std::move(value));
}

json_value new_resource(std::string_view type) {
  json_value r = json_value::object();
  r.set("resourceType", type);
  return r;
}

json_value extension(std::string_view url, std::string_view value_key, json_value value) {
  json_value e = json_value::object();
  e.set("url", url);
  e.set(value_key, std::move(value));
  return e;
}

std::string st(const element_view& e) { return hl7v2::read_st(e); }

namespace {
bool xsd_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
}  // namespace

std::string fhir_code(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (const char c : text) {
    if (xsd_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string fhir_uri(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace hearth::mapping::detail
