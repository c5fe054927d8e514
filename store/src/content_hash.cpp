#include "detail/content_hash.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_writer.hpp>

#include "detail/sha256.hpp"

namespace hearth::store::detail {
namespace {

/// Members the server owns, left out of the hash.
bool server_owned_meta(std::string_view key) noexcept { return key == "versionId" || key == "lastUpdated"; }

void write_canonical(std::string& out, const fhir::json_value& v, bool is_meta);

void write_object(std::string& out, const fhir::json_value::object_type& members, bool is_meta, bool is_root) {
  std::vector<const fhir::json_member*> sorted;
  sorted.reserve(members.size());
  for (const auto& m : members) {
    if (is_meta && server_owned_meta(m.key)) continue;
    if (is_root && m.key == "meta" && m.value.is_object() &&
        std::all_of(m.value.members().begin(), m.value.members().end(),
                    [](const fhir::json_member& x) { return server_owned_meta(x.key); })) {
      continue;  // meta with nothing but what the server sets
    }
    sorted.push_back(&m);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const fhir::json_member* a, const fhir::json_member* b) { return a->key < b->key; });
  out += '{';
  bool first = true;
  for (const fhir::json_member* m : sorted) {
    if (!first) out += ',';
    first = false;
    fhir::write_json_string(out, m->key);
    out += ':';
    write_canonical(out, m->value, is_root && m->key == "meta");
  }
  out += '}';
}

void write_canonical(std::string& out, const fhir::json_value& v, bool is_meta) {
  switch (v.type()) {
    case fhir::json_value::kind::object:
      write_object(out, v.members(), is_meta, false);
      return;
    case fhir::json_value::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.items()) {
        if (!first) out += ',';
        first = false;
        write_canonical(out, item, false);
      }
      out += ']';
      return;
    }
    default:
      fhir::write_json(out, v);  // scalars: one canonical spelling already
      return;
  }
}

}  // namespace

std::string content_hash(const fhir::json_value& resource) {
  std::string canonical;
  if (resource.is_object()) {
    write_object(canonical, resource.members(), false, true);
  } else {
    write_canonical(canonical, resource, false);
  }
  return sha256_hex(canonical);
}

}  // namespace hearth::store::detail
