#pragma once
// Compiling CodeSystem, ValueSet and ConceptMap JSON into the model
// (model.hpp). Templates over a read-only JSON node adapter, so that the
// same code reads the RapidJSON DOM of the definition bundles (at load) and
// hearth::fhir::json_value resources (inline or from a resolver).
//
// A node type N provides: valid(), is_object(), is_array(), is_string(),
// is_bool(), str() (string_view; empty unless a string), boolean(), size(),
// at(i), get(key) (an invalid node when absent), to_json() (a json_value copy),
// and for_each_member(f(string_view key, N value)).
//
// Compilation is lenient about members of the wrong type (they are skipped:
// the resource was validated, or came from the official definitions) but
// bounded: concept nesting deeper than max_concept_depth is an error, as the
// recursion follows it.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include "detail/model.hpp"

namespace hearth::terminology::detail {

/// Deepest CodeSystem.concept nesting compiled: the compiler recurses once per
/// level. R4's deepest is under 15; JSON read by fhir::parse_json is at most
/// 128 levels deep anyway.
inline constexpr std::size_t max_concept_depth = 200;

template <class N>
std::string str_of(const N& n, std::string_view key) {
  const N v = n.get(key);
  return v.is_string() ? std::string(v.str()) : std::string();
}

template <class N>
coding coding_of(const N& n) {
  coding c;
  if (!n.is_object()) return c;
  c.system = str_of(n, "system");
  c.version = str_of(n, "version");
  c.code = str_of(n, "code");
  c.display = str_of(n, "display");
  return c;
}

template <class N>
void read_designations(const N& arr, std::vector<designation>& out) {
  if (!arr.is_array()) return;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const N d = arr.at(i);
    if (!d.is_object()) continue;
    designation des;
    des.language = str_of(d, "language");
    des.use = coding_of(d.get("use"));
    des.value = str_of(d, "value");
    out.push_back(std::move(des));
  }
}

/// The text form of a property value, for filters.
inline std::string value_text(std::string_view key, const fhir::json_value& v) {
  if (v.is_string()) return v.str();
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_number()) return v.number_text();
  if (key == "valueCoding" && v.is_object()) {
    if (const auto* c = v.find("code"); c && c->is_string()) return c->str();
  }
  return {};
}

struct pending_link {
  std::uint32_t from = 0;  ///< the concept carrying the property
  std::string other;       ///< the code it names
  bool is_parent = false;  ///< `parent` (other is a parent) or `child`
};

template <class N>
bool read_concepts(const N& arr, code_system& cs, std::int64_t parent, std::size_t depth,
                   std::vector<pending_link>& links) {
  if (!arr.is_array()) return true;
  if (depth > max_concept_depth) return false;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const N c = arr.at(i);
    if (!c.is_object()) continue;
    const N code = c.get("code");
    if (!code.is_string()) continue;
    const auto idx = static_cast<std::uint32_t>(cs.concepts.size());
    cs.concepts.emplace_back();
    {
      concept_def& d = cs.concepts.back();
      d.code = std::string(code.str());
      d.display = str_of(c, "display");
      d.definition = str_of(c, "definition");
      read_designations(c.get("designation"), d.designations);
      const N props = c.get("property");
      if (props.is_array()) {
        for (std::size_t p = 0; p < props.size(); ++p) {
          const N pv = props.at(p);
          if (!pv.is_object()) continue;
          property_value out;
          out.code = str_of(pv, "code");
          pv.for_each_member([&](std::string_view key, const N& val) {
            if (key.starts_with("value") && key.size() > 5) {
              out.value_key = std::string(key);
              out.value = val.to_json();
            }
          });
          out.text = value_text(out.value_key, out.value);
          if (out.code == "parent" || out.code == "child") {
            links.push_back({idx, out.text, out.code == "parent"});
            continue;
          }
          if ((out.code == "notSelectable" || out.code == "abstract") && out.value.is_bool() &&
              out.value.as_bool())
            d.abstract = true;
          if (out.code == "status" && (out.text == "retired" || out.text == "inactive")) d.inactive = true;
          if (out.code == "inactive" && out.value.is_bool() && out.value.as_bool()) d.inactive = true;
          d.properties.push_back(std::move(out));
        }
      }
      if (parent >= 0) {
        d.parents.push_back(static_cast<std::uint32_t>(parent));
        cs.concepts[static_cast<std::size_t>(parent)].children.push_back(idx);
      }
    }
    if (!read_concepts(c.get("concept"), cs, idx, depth + 1, links)) return false;
  }
  return true;
}

inline void add_edge(code_system& cs, std::uint32_t parent, std::uint32_t child) {
  if (parent == child) return;
  auto& ps = cs.concepts[child].parents;
  if (std::find(ps.begin(), ps.end(), parent) != ps.end()) return;
  ps.push_back(parent);
  cs.concepts[parent].children.push_back(child);
}

/// A CodeSystem resource -> code_system. Errors: "invalid" (not a
/// CodeSystem, no url when `need_url`, concept nesting too deep).
template <class N>
hearth::result<code_system> compile_code_system(const N& r, bool need_url = true) {
  if (!r.is_object() || r.get("resourceType").str() != "CodeSystem")
    return hearth::unexpected(hearth::error{"invalid", "not a CodeSystem resource", "", hearth::error::npos});
  code_system cs;
  cs.url = str_of(r, "url");
  if (need_url && cs.url.empty())
    return hearth::unexpected(hearth::error{"invalid", "CodeSystem without url", "CodeSystem.url", hearth::error::npos});
  cs.version = str_of(r, "version");
  cs.name = str_of(r, "title");
  if (cs.name.empty()) cs.name = str_of(r, "name");
  cs.content = str_of(r, "content");
  if (const N cs_flag = r.get("caseSensitive"); cs_flag.is_bool()) cs.case_sensitive = cs_flag.boolean();
  const N pdefs = r.get("property");
  if (pdefs.is_array()) {
    for (std::size_t i = 0; i < pdefs.size(); ++i) {
      const N p = pdefs.at(i);
      if (!p.is_object()) continue;
      cs.property_defs.push_back({str_of(p, "code"), str_of(p, "type"), str_of(p, "description")});
    }
  }
  std::vector<pending_link> links;
  if (!read_concepts(r.get("concept"), cs, -1, 0, links))
    return hearth::unexpected(hearth::error{"too-costly", "CodeSystem " + cs.url + ": concepts nested too deeply",
                                            "CodeSystem.concept", hearth::error::npos});
  cs.index.reserve(cs.concepts.size());
  for (std::uint32_t i = 0; i < cs.concepts.size(); ++i) {
    std::string key = cs.case_sensitive ? cs.concepts[i].code : ascii_lower(cs.concepts[i].code);
    cs.index.emplace(std::move(key), i);  // the first of duplicate codes wins
  }
  for (const auto& l : links) {
    const concept_def* other = cs.find(l.other);
    if (!other) continue;
    const auto o = cs.index_of(other);
    if (l.is_parent)
      add_edge(cs, o, l.from);
    else
      add_edge(cs, l.from, o);
  }
  return cs;
}

template <class N>
void read_includes(const N& arr, std::vector<vs_include>& out) {
  if (!arr.is_array()) return;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const N inc = arr.at(i);
    if (!inc.is_object()) continue;
    vs_include x;
    x.system = str_of(inc, "system");
    x.version = str_of(inc, "version");
    // The R4 v2 tables write "system|version" into system for versioned tables.
    if (const auto bar = x.system.find('|'); bar != std::string::npos) {
      if (x.version.empty()) x.version = x.system.substr(bar + 1);
      x.system.resize(bar);
    }
    const N concepts = inc.get("concept");
    if (concepts.is_array()) {
      for (std::size_t c = 0; c < concepts.size(); ++c) {
        const N cn = concepts.at(c);
        if (!cn.is_object()) continue;
        vs_concept v{str_of(cn, "code"), str_of(cn, "display"), {}};
        read_designations(cn.get("designation"), v.designations);
        x.concepts.push_back(std::move(v));
      }
    }
    const N filters = inc.get("filter");
    if (filters.is_array()) {
      for (std::size_t f = 0; f < filters.size(); ++f) {
        const N fl = filters.at(f);
        if (!fl.is_object()) continue;
        x.filters.push_back({str_of(fl, "property"), str_of(fl, "op"), str_of(fl, "value")});
      }
    }
    const N vss = inc.get("valueSet");
    if (vss.is_array()) {
      for (std::size_t v = 0; v < vss.size(); ++v)
        if (vss.at(v).is_string()) x.value_sets.emplace_back(vss.at(v).str());
    }
    out.push_back(std::move(x));
  }
}

/// expansion.contains (recursively) -> includes of listed concepts, one per
/// system: lets a ValueSet that carries only an expansion be used.
template <class N>
void read_contains(const N& arr, std::vector<vs_include>& out, std::size_t depth) {
  if (!arr.is_array() || depth > max_concept_depth) return;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const N c = arr.at(i);
    if (!c.is_object()) continue;
    const std::string system = str_of(c, "system");
    const std::string code = str_of(c, "code");
    if (!system.empty() && !code.empty()) {
      auto it = std::find_if(out.begin(), out.end(), [&](const vs_include& x) { return x.system == system; });
      if (it == out.end()) {
        out.push_back(vs_include{system, str_of(c, "version"), {}, {}, {}});
        it = out.end() - 1;
      }
      it->concepts.push_back({code, str_of(c, "display"), {}});
    }
    read_contains(c.get("contains"), out, depth + 1);
  }
}

/// A ValueSet resource -> value_set. Errors: "invalid" (not a ValueSet).
template <class N>
hearth::result<value_set> compile_value_set(const N& r) {
  if (!r.is_object() || r.get("resourceType").str() != "ValueSet")
    return hearth::unexpected(hearth::error{"invalid", "not a ValueSet resource", "", hearth::error::npos});
  value_set vs;
  vs.id = str_of(r, "id");
  vs.url = str_of(r, "url");
  vs.version = str_of(r, "version");
  vs.name = str_of(r, "name");
  vs.title = str_of(r, "title");
  vs.status = str_of(r, "status");
  const N compose = r.get("compose");
  if (compose.is_object()) {
    read_includes(compose.get("include"), vs.includes);
    read_includes(compose.get("exclude"), vs.excludes);
    vs.compose = compose.to_json();
  } else if (const N exp = r.get("expansion"); exp.is_object()) {
    read_contains(exp.get("contains"), vs.includes, 0);
  }
  return vs;
}

/// A ConceptMap resource -> concept_map. Errors: "invalid" (not a ConceptMap).
template <class N>
hearth::result<concept_map> compile_concept_map(const N& r) {
  if (!r.is_object() || r.get("resourceType").str() != "ConceptMap")
    return hearth::unexpected(hearth::error{"invalid", "not a ConceptMap resource", "", hearth::error::npos});
  concept_map cm;
  cm.url = str_of(r, "url");
  cm.version = str_of(r, "version");
  cm.source = str_of(r, "sourceUri");
  if (cm.source.empty()) cm.source = str_of(r, "sourceCanonical");
  cm.target = str_of(r, "targetUri");
  if (cm.target.empty()) cm.target = str_of(r, "targetCanonical");
  const N groups = r.get("group");
  if (groups.is_array()) {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const N gr = groups.at(g);
      if (!gr.is_object()) continue;
      cm_group out;
      out.source = str_of(gr, "source");
      out.source_version = str_of(gr, "sourceVersion");
      out.target = str_of(gr, "target");
      out.target_version = str_of(gr, "targetVersion");
      const N els = gr.get("element");
      if (els.is_array()) {
        for (std::size_t e = 0; e < els.size(); ++e) {
          const N el = els.at(e);
          if (!el.is_object()) continue;
          cm_element ce{str_of(el, "code"), str_of(el, "display"), {}};
          const N ts = el.get("target");
          if (ts.is_array()) {
            for (std::size_t t = 0; t < ts.size(); ++t) {
              const N tg = ts.at(t);
              if (!tg.is_object()) continue;
              ce.targets.push_back({str_of(tg, "code"), str_of(tg, "display"), str_of(tg, "equivalence")});
            }
          }
          out.elements.push_back(std::move(ce));
        }
      }
      if (const N un = gr.get("unmapped"); un.is_object()) {
        out.unmapped_mode = str_of(un, "mode");
        out.unmapped_code = str_of(un, "code");
        out.unmapped_display = str_of(un, "display");
        out.unmapped_url = str_of(un, "url");
      }
      cm.groups.push_back(std::move(out));
    }
  }
  return cm;
}

}  // namespace hearth::terminology::detail
