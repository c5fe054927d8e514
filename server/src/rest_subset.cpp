// _summary and _elements: R4 search.html#summary, #elements; http.html#read.

#include "rest_subset.hpp"

#include <algorithm>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/error_codes.hpp>

#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

namespace ec = store::error_codes;

hearth::error make_error(std::string_view code, std::string message, std::string location = {}) {
  return hearth::error{std::string(code), std::move(message), std::move(location)};
}

/// The element a JSON member name of `parent` stands for: `_name`
/// companions (a primitive's id and extensions) stand for `name`.
fhir::child_match element_of(const fhir::definitions& defs, std::string_view parent, std::string_view key) {
  if (key.starts_with('_')) key.remove_prefix(1);
  return defs.find_child(parent, key);
}

/// The type of a matched element's value: the choice's type, else its only
/// type; empty for a backbone element or when several are possible.
std::string_view type_of(const fhir::child_match& m) {
  if (m.type != nullptr) return m.type->code;
  if (m.element->types.size() == 1) return m.element->types.front().code;
  return {};
}

/// True for an element whose children are defined in the resource itself:
/// a backbone element, or one that refers to one (Questionnaire.item.item).
bool is_backbone(const fhir::element_definition& e) {
  return !e.children.empty() || e.content_target != nullptr;
}

/// Walks the values of one resource for _summary=true; `removed` records
/// whether anything was left out.
class summary_walker {
 public:
  explicit summary_walker(const fhir::definitions& defs) : defs_(defs) {}

  bool removed() const noexcept { return removed_; }

  /// Keeps the summary members of `obj`, whose elements are the children of
  /// `parent` (a resource type or a backbone path).
  void keep_summary(fhir::json_value& obj, std::string_view parent, bool root) {
    fhir::json_value::object_type kept;
    for (fhir::json_member& m : obj.members()) {
      if (root && m.key == "resourceType") {
        kept.push_back(std::move(m));
        continue;
      }
      const fhir::child_match match = element_of(defs_, parent, m.key);
      // Elements with min >= 1 are summary by the definitions' own rule
      // (ElementDefinition.isSummary); keeping them also keeps the result
      // readable as the type it claims to be.
      if (!match || !(match.element->is_summary || match.element->min >= 1)) {
        removed_ = true;
        continue;
      }
      if (!m.key.starts_with('_')) {
        if (is_backbone(*match.element)) {
          if (!keep_summary_items(m.value, match.element->path)) {
            removed_ = true;
            continue;  // nothing of it was left
          }
        } else {
          strip_attachment_data(m.value, type_of(match));
        }
      }
      kept.push_back(std::move(m));
    }
    obj.members() = std::move(kept);
  }

  /// Removes Attachment.data wherever it is inside a data type value of type
  /// `type` (a data type name or a backbone path inside one).
  void strip_attachment_data(fhir::json_value& v, std::string_view type) {
    if (type.empty() || defs_.is_primitive_type(type) || type == "Resource" || defs_.is_resource_type(type)) {
      return;  // primitives have nothing inside; resources inside are kept whole
    }
    if (v.is_array()) {
      for (fhir::json_value& item : v.items()) strip_attachment_data(item, type);
      return;
    }
    if (!v.is_object()) return;
    if (type == "Attachment") {
      if (v.erase("data")) removed_ = true;
      if (v.erase("_data")) removed_ = true;
    }
    for (fhir::json_member& m : v.members()) {
      if (m.key.starts_with('_')) {
        strip_attachment_data(m.value, "Element");  // a primitive's id and extensions
        continue;
      }
      const fhir::child_match match = defs_.find_child(type, m.key);
      if (!match) continue;
      if (is_backbone(*match.element)) {
        strip_attachment_data(m.value, match.element->path);
      } else {
        strip_attachment_data(m.value, type_of(match));
      }
    }
  }

 private:
  /// keep_summary over the object (or array of objects) of a backbone
  /// element; an item left empty is dropped. False when nothing is left.
  bool keep_summary_items(fhir::json_value& v, std::string_view path) {
    if (v.is_object()) {
      keep_summary(v, path, false);
      return v.size() > 0;
    }
    if (!v.is_array()) return true;
    auto& items = v.items();
    for (fhir::json_value& item : items) {
      if (item.is_object()) keep_summary(item, path, false);
    }
    const auto empty = std::remove_if(items.begin(), items.end(),
                                      [](const fhir::json_value& i) { return i.is_object() && i.size() == 0; });
    if (empty != items.end()) {
      removed_ = true;
      items.erase(empty, items.end());
    }
    return !items.empty();
  }

  const fhir::definitions& defs_;
  bool removed_ = false;
};

/// True when the top-level member `key` of a resource of `type` is one of
/// those every subset keeps: resourceType, id, meta, and elements with min >= 1.
bool always_kept(const fhir::definitions& defs, std::string_view type, std::string_view key) {
  if (key == "resourceType") return true;
  const fhir::child_match m = element_of(defs, type, key);
  if (!m) return false;
  return m.element->name == "id" || m.element->name == "meta" || m.element->min >= 1;
}

/// True when `key` is one of the elements _elements names.
bool named(const fhir::definitions& defs, std::string_view type, std::string_view key,
           const std::vector<std::string>& names) {
  std::string_view name = key;
  if (name.starts_with('_')) name.remove_prefix(1);
  const fhir::child_match m = defs.find_child(type, name);
  std::string_view element = m ? m.element->name : std::string_view();
  std::string_view base = element;
  if (base.ends_with("[x]")) base.remove_suffix(3);
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n == name || (!element.empty() && (n == element || n == base));
  });
}

/// Keeps the top-level members of `r` that `keep` accepts; true when one
/// was removed.
template <class Keep>
bool keep_top_level(fhir::json_value& r, Keep keep) {
  auto& members = r.members();
  const auto gone = std::remove_if(members.begin(), members.end(),
                                   [&](const fhir::json_member& m) { return !keep(std::string_view(m.key)); });
  const bool removed = gone != members.end();
  members.erase(gone, members.end());
  return removed;
}

/// Adds the SUBSETTED tag to meta.tag unless it is there already (R4
/// search.html#summary), keeping the tags the resource has.
void add_subsetted_tag(fhir::json_value& r) {
  fhir::json_value* meta = r.find("meta");
  if (meta == nullptr || !meta->is_object()) meta = &r.set("meta", fhir::json_value::object());
  fhir::json_value* tags = meta->find("tag");
  if (tags == nullptr || !tags->is_array()) tags = &meta->set("tag", fhir::json_value::array());
  for (const fhir::json_value& t : tags->items()) {
    const fhir::json_value* system = t.find("system");
    const fhir::json_value* code = t.find("code");
    if (system != nullptr && system->is_string() && system->str() == subsetted_system && code != nullptr &&
        code->is_string() && code->str() == subsetted_code) {
      return;
    }
  }
  fhir::json_value tag = fhir::json_value::object();
  tag.set("system", subsetted_system);
  tag.set("code", subsetted_code);
  tags->push_back(std::move(tag));
}

/// Splits an _elements value at commas, checked as parse_search checks it.
hearth::result<std::vector<std::string>> split_elements(std::string_view value) {
  std::vector<std::string> names;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view n = value.substr(0, comma);
    if (n.empty()) return hearth::unexpected(make_error(ec::invalid, "an empty element name", "_elements"));
    if (n.size() > max_element_name_bytes) {
      return hearth::unexpected(make_error(ec::too_costly, "an element name is too long", "_elements"));
    }
    if (names.size() == max_element_names) {
      return hearth::unexpected(make_error(
          ec::too_costly, "more than " + std::to_string(max_element_names) + " elements", "_elements"));
    }
    names.emplace_back(n);
    if (comma == std::string_view::npos) return names;
    value.remove_prefix(comma + 1);
  }
}

/// The spec of a _summary mode and element names, once both are read.
hearth::result<subset_spec> combine(subset_mode summary, std::vector<std::string> elements) {
  subset_spec s;
  if (!elements.empty()) {
    // _summary=false asks for everything, which _elements then narrows; a
    // count has no resources to narrow. true/text/data and _elements name
    // two different subsets: refused rather than guessed.
    if (summary == subset_mode::summary_true || summary == subset_mode::summary_text ||
        summary == subset_mode::summary_data) {
      return hearth::unexpected(make_error(ec::invalid, "_summary and _elements cannot be used together"));
    }
    if (summary != subset_mode::count) {
      s.mode = subset_mode::elements;
      s.elements = std::move(elements);
      return s;
    }
  }
  s.mode = summary;
  return s;
}

}  // namespace

hearth::result<subset_spec> subset_of_params(const param_list& params) {
  subset_mode summary = subset_mode::none;
  bool have_summary = false;
  bool have_elements = false;
  std::vector<std::string> elements;
  for (const auto& [name, value] : params) {
    if (name == "_summary") {
      if (have_summary) return hearth::unexpected(make_error(ec::invalid, "_summary is given more than once"));
      have_summary = true;
      if (value == "true") summary = subset_mode::summary_true;
      else if (value == "text") summary = subset_mode::summary_text;
      else if (value == "data") summary = subset_mode::summary_data;
      else if (value == "count") summary = subset_mode::count;
      else if (value == "false") summary = subset_mode::none;
      else return hearth::unexpected(make_error(ec::invalid, "_summary takes true, text, data, count or false"));
    } else if (name == "_elements") {
      if (have_elements) return hearth::unexpected(make_error(ec::invalid, "_elements is given more than once"));
      have_elements = true;
      auto names = split_elements(value);
      if (!names) return hearth::unexpected(std::move(names).error());
      elements = std::move(*names);
    }
  }
  return combine(summary, std::move(elements));
}

hearth::result<subset_spec> subset_of_read(const context& c, std::string_view type) {
  auto spec = subset_of_params(c.params);
  if (!spec) return spec;
  if (spec->mode == subset_mode::count) {
    return hearth::unexpected(make_error(ec::invalid, "_summary=count applies to search only"));
  }
  if (auto r = check_element_names(*spec, type, c.defs, c.handling); !r) {
    return hearth::unexpected(std::move(r).error());
  }
  return spec;
}

hearth::result<subset_spec> subset_of_search(const store::search_request& req) {
  subset_mode summary = subset_mode::none;
  switch (req.summary) {
    case store::search_summary::none:
    case store::search_summary::false_: summary = subset_mode::none; break;
    case store::search_summary::true_: summary = subset_mode::summary_true; break;
    case store::search_summary::text: summary = subset_mode::summary_text; break;
    case store::search_summary::data: summary = subset_mode::summary_data; break;
    case store::search_summary::count: summary = subset_mode::count; break;
  }
  return combine(summary, req.elements);
}

hearth::result<void> check_element_names(const subset_spec& spec, std::string_view type,
                                         const fhir::definitions& defs, store::search_handling handling,
                                         std::vector<store::ignored_parameter>* ignored) {
  if (spec.mode != subset_mode::elements) return {};
  const std::string prefix = std::string(type) + ".";
  for (const std::string& n : spec.elements) {
    const bool known = n == "resourceType" || defs.find_element(prefix + n) != nullptr ||
                       defs.find_element(prefix + n + "[x]") != nullptr || defs.resolve_choice(type, n);
    if (known) continue;
    // The message names the type, never the name as given (it is input).
    const std::string why = "an element name that " + std::string(type) + " does not have";
    if (handling == store::search_handling::strict) {
      return hearth::unexpected(make_error(ec::invalid, why, "_elements"));
    }
    if (ignored != nullptr) ignored->push_back(store::ignored_parameter{"_elements", why + " was ignored"});
  }
  return {};
}

hearth::result<std::optional<fhir::json_value>> subset_resource(const fhir::json_value& resource,
                                                                const subset_spec& spec,
                                                                const fhir::definitions& defs) {
  if (!spec.subsets()) return std::optional<fhir::json_value>();
  const fhir::json_value* rt = resource.is_object() ? resource.find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string() || !defs.is_resource_type(rt->str())) {
    return hearth::unexpected(make_error(ec::exception, "a stored resource of no known type"));
  }
  const std::string type = rt->str();
  fhir::json_value out = resource;
  bool removed = false;
  switch (spec.mode) {
    case subset_mode::summary_true: {
      summary_walker w(defs);
      w.keep_summary(out, type, true);
      removed = w.removed();
      break;
    }
    case subset_mode::summary_text:
      removed = keep_top_level(out, [&](std::string_view k) {
        return k == "text" || always_kept(defs, type, k);
      });
      break;
    case subset_mode::summary_data:
      removed = keep_top_level(out, [](std::string_view k) { return k != "text"; });
      break;
    case subset_mode::elements:
      removed = keep_top_level(out, [&](std::string_view k) {
        return always_kept(defs, type, k) || named(defs, type, k, spec.elements);
      });
      break;
    case subset_mode::none:
    case subset_mode::count:
      break;
  }
  if (!removed) return std::optional<fhir::json_value>();
  add_subsetted_tag(out);
  return std::optional<fhir::json_value>(std::move(out));
}

hearth::result<std::optional<fhir::json_value>> subset_stored(const std::string& json, const subset_spec& spec,
                                                              const fhir::definitions& defs) {
  if (!spec.subsets()) return std::optional<fhir::json_value>();
  auto tree = fhir::parse_json(json);
  if (!tree) return hearth::unexpected(std::move(tree).error());
  return subset_resource(*tree, spec, defs);
}

hearth::result<void> subset_entries(bundle& b, const subset_spec& spec, const fhir::definitions& defs) {
  if (!spec.subsets()) return {};
  for (bundle_entry& e : b.entries) {
    if (e.stored == nullptr || e.stored->deleted || e.stored->json.empty()) continue;
    auto s = subset_stored(e.stored->json, spec, defs);
    if (!s) return hearth::unexpected(std::move(s).error());
    if (!*s) continue;
    e.built = std::move(**s);
    e.stored = nullptr;
  }
  return {};
}

http_response subset_response(const context& c, int status, const store::resource_version& v,
                              const subset_spec& spec) {
  auto s = subset_stored(v.json, spec, c.defs);
  if (!s) return internal_error(c.req.request_id, c.fmt, c.defs);  // stored bodies were checked when written
  if (!*s) return resource_response(c, status, v);
  return versioned_response(c, status, v, write_resource(**s, c.fmt, c.defs));
}

}  // namespace hearth::server::rest
