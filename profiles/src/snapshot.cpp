// Snapshot generation (detail/snapshot.hpp). FHIR R4 profiling.html#snapshot:
// "the snapshot is the base's snapshot with the differential applied".
// Enough for the differentials of US Core and similar IGs: constraints on
// existing elements, new slices (including type slices of a choice), elements
// inside slices and inside data types. Not done: re-slicing of slices that
// the base already slices with children below them is taken as a plain copy.

#include "detail/snapshot.hpp"

#include <cctype>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace hearth::profiles::detail {
namespace {

hearth::error fail(std::string code, std::string message) {
  return hearth::error{std::move(code), std::move(message), {}, hearth::error::npos};
}

/// Removes the ":slice" parts of an id: "A.b:s.c" -> "A.b.c".
std::string unsliced(std::string_view id) {
  std::string out;
  for (std::size_t i = 0; i < id.size();) {
    if (id[i] == ':') {
      std::size_t dot = id.find('.', i);
      if (dot == std::string_view::npos) break;
      i = dot;
      continue;
    }
    out += id[i++];
  }
  return out;
}

/// A model of the registry, else of `more`.
const model* find(const registry& reg, const model_finder& more, std::string_view url) {
  if (const model* m = reg.find(url)) return m;
  return more ? more(url) : nullptr;
}

/// Creates the elements a differential needs in a model being generated.
/// Lives for one generate_model() call; not thread-safe.
class generator {
 public:
  generator(model& m, const registry& reg, const model_finder& more) : m_(m), reg_(reg), more_(more) { reindex(); }

  /// The index of the element with this id, created from its base if needed;
  /// -1 when it cannot be.
  long ensure(const std::string& id, int depth = 0) {
    if (auto it = index_.find(id); it != index_.end()) return static_cast<long>(it->second);
    if (depth > 64) return -1;  // ids are short; this bounds a hostile one
    std::size_t dot = id.rfind('.');
    if (dot == std::string::npos) return -1;
    std::string_view last = std::string_view(id).substr(dot + 1);
    if (std::size_t colon = last.find(':'); colon != std::string_view::npos) {
      // A new slice: a copy of the sliced element, without its slicing.
      std::size_t slash = last.rfind('/');
      std::string base_id = slash != std::string_view::npos && slash > colon ? id.substr(0, dot + 1 + slash)
                                                                             : id.substr(0, dot + 1 + colon);
      long b = ensure(base_id, depth + 1);
      if (b < 0) return -1;
      element e = clone(m_.elements[static_cast<std::size_t>(b)]);
      e.id = id;
      e.slice_name = std::string(last.substr(slash != std::string_view::npos && slash > colon ? slash + 1 : colon + 1));
      e.slicing.reset();
      // The slice of a choice named after its type (value[x]:valueQuantity)
      // has that type only.
      if (e.is_choice()) {
        std::string_view prefix = std::string_view(e.name).substr(0, e.name.size() - 3);
        if (std::string_view(e.slice_name).starts_with(prefix)) {
          std::string_view t = std::string_view(e.slice_name).substr(prefix.size());
          for (const auto& td : e.types)
            if (td.code.size() == t.size() && !td.code.empty() &&
                std::tolower(static_cast<unsigned char>(td.code[0])) == std::tolower(static_cast<unsigned char>(t[0])) &&
                std::string_view(td.code).substr(1) == t.substr(1)) {
              type_def only = td;
              e.types = {only};
              break;
            }
        }
      }
      return append(std::move(e));
    }
    std::string parent_id = id.substr(0, dot);
    long p = ensure(parent_id, depth + 1);
    if (p < 0) return -1;
    // Inside a slice: a copy of the same element outside the slice.
    std::string plain = unsliced(id);
    if (plain != id) {
      long u = ensure(plain, depth + 1);
      if (u >= 0) {
        element e = clone(m_.elements[static_cast<std::size_t>(u)]);
        e.id = id;
        e.slice_name.clear();
        return append(std::move(e));
      }
    }
    // Inside a data type the base does not expand: from the type's definition.
    const element& parent = m_.elements[static_cast<std::size_t>(p)];
    if (parent.types.size() != 1) return -1;
    const model* tm = find(reg_, more_, "http://hl7.org/fhir/StructureDefinition/" + parent.types[0].code);
    if (!tm) return -1;
    const std::string type_path = tm->type + "." + std::string(last);
    for (const auto& te : tm->elements) {
      if (te.path != type_path || !te.slice_name.empty()) continue;
      element e = clone(te);
      e.id = id;
      e.path = parent.path + "." + std::string(last);
      e.name = std::string(last);
      return append(std::move(e));
    }
    return -1;
  }

 private:
  long append(element e) {
    m_.elements.push_back(std::move(e));
    std::size_t i = m_.elements.size() - 1;
    index_.emplace(m_.elements[i].id, i);
    return static_cast<long>(i);
  }
  void reindex() {
    index_.clear();
    for (std::size_t i = 0; i < m_.elements.size(); ++i) index_.emplace(m_.elements[i].id, i);
  }

  model& m_;
  const registry& reg_;
  const model_finder& more_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

hearth::result<std::unique_ptr<model>, hearth::error> generate_model(const rapidjson::Value& sd, const registry& reg,
                                                                     constraint_store& constraints,
                                                                     const model_finder& more) {
  if (str(sd, "resourceType") != "StructureDefinition") return hearth::unexpected(fail("invalid", "not a StructureDefinition"));
  auto diff = sd.FindMember("differential");
  if (diff == sd.MemberEnd() || !diff->value.IsObject() || !diff->value.HasMember("element") ||
      !diff->value["element"].IsArray())
    return hearth::unexpected(fail("invalid", "a StructureDefinition with neither snapshot nor differential"));
  std::string_view base_url = str(sd, "baseDefinition");
  if (base_url.empty()) return hearth::unexpected(fail("invalid", "a differential without baseDefinition"));
  const model* base = find(reg, more, base_url);
  if (!base)
    return hearth::unexpected(fail("not-found", "the base " + std::string(base_url) + " is not known"));
  auto m = std::make_unique<model>();
  m->url = std::string(str(sd, "url"));
  if (m->url.empty()) return hearth::unexpected(fail("invalid", "a StructureDefinition without url"));
  m->name = std::string(str(sd, "name"));
  m->type = std::string(str(sd, "type"));
  if (m->type.empty()) m->type = base->type;
  m->kind = std::string(str(sd, "kind"));
  m->derivation = std::string(str(sd, "derivation"));
  m->base_definition = std::string(base_url);
  read_contexts(sd, *m);
  m->elements.reserve(base->elements.size() + diff->value["element"].Size());
  for (const auto& e : base->elements) m->elements.push_back(clone(e));
  generator g(*m, reg, more);
  for (const auto& e : diff->value["element"].GetArray()) {
    std::string id(str(e, "id"));
    if (id.empty()) {
      id = std::string(str(e, "path"));
      if (std::string_view s = str(e, "sliceName"); !s.empty()) id += ":" + std::string(s);
    }
    long i = g.ensure(id);
    if (i < 0)
      return hearth::unexpected(fail("not-supported", "cannot find the base of differential element " + id));
    apply_element(m->elements[static_cast<std::size_t>(i)], e, *reg.defs, constraints);
  }
  build_tree(*m);
  return m;
}

}  // namespace hearth::profiles::detail
