// Compiling StructureDefinition snapshots into detail::model (detail/compile.hpp).
// FHIR R4 structuredefinition.html, elementdefinition.html (#slicing, #id,
// #constraints), profiling.html.

#include "detail/compile.hpp"

#include <charconv>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>

#include <re2/re2.h>

#include <hearth/fhir/fhirpath_parser.hpp>

namespace hearth::profiles::detail {

std::string_view str(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return {};
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

namespace {

const rapidjson::Value* member(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(key);
  return it == o.MemberEnd() ? nullptr : &it->value;
}

fhir::issue_severity severity_of(std::string_view s) {
  return s == "warning" ? fhir::issue_severity::warning : fhir::issue_severity::error;
}

}  // namespace

// R4 4.0.1 constraints that are not evaluated here, and why (the HL7 Java
// validator and HAPI also leave some to native code or suppress them):
// - ele-1 (every element has a value or children), dom-2 (no nested
//   contained resources), dom-3 (contained resources are referenced):
//   checked natively, at every element, by fhir::check_resource (the
//   structural layer), far cheaper than FHIRPath at each node;
// - ext-1 (an extension has a value or nested extensions, not both): checked
//   natively by the extension walk (walk.cpp), for the same reason;
// - que-7 (enableWhen: operator 'exists' needs a boolean answer): written
//   `answer is Boolean`, the System type, where the answer is a FHIR boolean
//   (FHIR.boolean); this engine, strict about FHIRPath types, gives false, so
//   the invariant fails on correct instances (the official
//   Questionnaire-bb.json).
// Evaluated natively rather than skipped (same results, far faster): the
// `name.matches('...')` family (*-0, eld-19, eld-20) and the isDistinct()
// invariants bdl-7, csd-1, sdf-1, sdf-16, sdf-17 (model.hpp).
// Evaluated natively because R4 writes two different rules the same way:
// txt-1 and txt-2 on Narrative.div are both `htmlChecks()`. As the HL7 Java
// validator does (it rewrites txt-2 to its own htmlChecks2()), txt-1 is the
// check of elements, attributes and well-formedness (what the FHIRPath
// function htmlChecks() answers) and txt-2 the check for some content
// (fhir::check_narrative, narrative_check.hpp), so that each fails alone and
// says why.
std::string_view skipped_constraint(std::string_view key, std::string_view /*expression*/) noexcept {
  if (key == "ele-1" || key == "dom-2" || key == "dom-3") return "checked natively by the structural check";
  if (key == "ext-1") return "checked natively for every extension";
  if (key == "que-7") return "R4 tests a FHIR boolean with the System type Boolean (`answer is Boolean`)";
  return {};
}

namespace {

// The R4 4.0.1 texts of the isDistinct() invariants evaluated natively
// (model.hpp constraint_def::native_distinct).
bool native_distinct_expression(std::string_view key, std::string_view expression) {
  static constexpr std::pair<std::string_view, std::string_view> r4[] = {
      {"bdl-7",
       "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()"},
      {"csd-1", "concept.code.combine($this.descendants().concept.code).isDistinct()"},
      {"sdf-1", "derivation = 'constraint' or snapshot.element.select(path).isDistinct()"},
      {"sdf-16", "snapshot.element.all(id.exists()) and snapshot.element.id.trace('ids').isDistinct()"},
      {"sdf-17", "differential.element.all(id.exists()) and differential.element.id.trace('ids').isDistinct()"},
  };
  for (const auto& [k, e] : r4)
    if (k == key && e == expression) return true;
  return false;
}

}  // namespace

const constraint_def* constraint_store::intern(const rapidjson::Value& c) {
  std::string key(str(c, "key"));
  std::string expression(str(c, "expression"));
  std::string cache_key = key + '\x1f' + expression + '\x1f' + std::string(str(c, "severity"));
  if (auto it = by_key_.find(cache_key); it != by_key_.end()) return it->second;
  constraint_def& d = items_.emplace_back();
  d.key = std::move(key);
  d.expression = std::move(expression);
  d.severity = severity_of(str(c, "severity"));
  d.human = std::string(str(c, "human"));
  d.source = std::string(str(c, "source"));
  if (std::string_view why = skipped_constraint(d.key, d.expression); !why.empty()) {
    d.skip_reason = std::string(why);
  } else if (native_distinct_expression(d.key, d.expression)) {
    d.native_distinct = d.key;
  } else if ((d.key == "txt-1" || d.key == "txt-2") && d.expression == "htmlChecks()") {
    d.native_narrative = d.key;
  } else if (d.expression.empty()) {
    d.skip_reason = "no FHIRPath expression";
  } else {
    // `member.matches('regex')`: matched natively (see model.hpp), with the
    // options fhir/src/fhirpath_regex.cpp gives RE2.
    if (auto plain = fhir::fhirpath::parse(d.expression)) {
      const auto& root = plain->at(plain->root());
      auto args = plain->children(root);
      if (root.kind == fhir::fhirpath::node_kind::function && root.text == "matches" && args.size() == 1 &&
          plain->at(args[0]).kind == fhir::fhirpath::node_kind::string_literal && root.focus != fhir::fhirpath::no_node &&
          plain->at(root.focus).kind == fhir::fhirpath::node_kind::member &&
          plain->at(root.focus).focus == fhir::fhirpath::no_node) {
        d.native_member = plain->at(root.focus).text;
        d.native_pattern = plain->at(args[0]).text;
      }
    }
    auto parsed = fhir::fhirpath::parse("%hearthFocus.select(" + d.expression + "\n)");
    if (parsed) d.compiled = std::make_shared<const fhir::fhirpath::expression>(std::move(*parsed));
    else d.skip_reason = "its FHIRPath expression does not parse: " + parsed.error().message;
  }
  by_key_.emplace(std::move(cache_key), &d);
  return &d;
}

const RE2* constraint_def::native_re() const {
  std::call_once(native_once, [this] {
    RE2::Options o;
    o.set_encoding(RE2::Options::EncodingUTF8);
    o.set_log_errors(false);
    o.set_dot_nl(true);
    o.set_max_mem(8 << 20);
    auto re = std::make_shared<const RE2>(native_pattern, o);
    if (re->ok()) native_compiled = std::move(re);
  });
  return native_compiled.get();
}

fhir::json_value to_json_value(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return fhir::json_value();
    case rapidjson::kFalseType: return fhir::json_value(false);
    case rapidjson::kTrueType: return fhir::json_value(true);
    case rapidjson::kStringType: return fhir::json_value(std::string(v.GetString(), v.GetStringLength()));
    case rapidjson::kNumberType: {
      if (v.IsInt64()) return fhir::json_value::number(std::to_string(v.GetInt64()));
      if (v.IsUint64()) return fhir::json_value::number(std::to_string(v.GetUint64()));
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.GetDouble());
      return fhir::json_value::number(std::string(buf, r.ptr));
    }
    case rapidjson::kArrayType: {
      fhir::json_value a = fhir::json_value::array();
      for (const auto& x : v.GetArray()) a.push_back(to_json_value(x));
      return a;
    }
    case rapidjson::kObjectType: {
      fhir::json_value o = fhir::json_value::object();
      for (const auto& m : v.GetObject())
        o.members().push_back(
            fhir::json_member{std::string(m.name.GetString(), m.name.GetStringLength()), to_json_value(m.value)});
      return o;
    }
  }
  return {};
}

void apply_element(element& el, const rapidjson::Value& e, const fhir::definitions& defs,
                   constraint_store& constraints) {
  if (std::string_view p = str(e, "path"); !p.empty()) el.path = std::string(p);
  if (std::string_view i = str(e, "id"); !i.empty()) el.id = std::string(i);
  if (el.id.empty()) el.id = el.path;
  if (std::string_view n = str(e, "sliceName"); !n.empty()) el.slice_name = std::string(n);
  el.name = el.path.substr(el.path.rfind('.') == std::string::npos ? 0 : el.path.rfind('.') + 1);
  if (const auto* mn = member(e, "min"); mn && mn->IsUint()) el.min = mn->GetUint();
  if (std::string_view mx = str(e, "max"); !mx.empty()) {
    if (mx == "*") el.max = UINT32_MAX;
    else {
      std::uint32_t n = 0;
      auto r = std::from_chars(mx.data(), mx.data() + mx.size(), n);
      el.max = r.ec == std::errc() ? n : UINT32_MAX;
    }
  }
  if (const auto* ts = member(e, "type"); ts && ts->IsArray()) {
    el.types.clear();
    for (const auto& t : ts->GetArray()) {
      type_def& td = el.types.emplace_back();
      td.code = std::string(str(t, "code"));
      // FHIRPath system types (Resource.id, Extension.url): the FHIR type is
      // in the structuredefinition-fhir-type extension.
      if (td.code.starts_with("http://hl7.org/fhirpath/System.")) {
        if (const auto* exts = member(t, "extension"); exts && exts->IsArray())
          for (const auto& x : exts->GetArray())
            if (str(x, "url") == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
              td.code = std::string(str(x, "valueUrl").empty() ? str(x, "valueUri") : str(x, "valueUrl"));
      }
      if (const auto* ps = member(t, "profile"); ps && ps->IsArray())
        for (const auto& p : ps->GetArray())
          if (p.IsString()) td.profiles.emplace_back(p.GetString(), p.GetStringLength());
      if (const auto* ps = member(t, "targetProfile"); ps && ps->IsArray())
        for (const auto& p : ps->GetArray())
          if (p.IsString()) td.target_profiles.emplace_back(p.GetString(), p.GetStringLength());
    }
  }
  if (const auto* cs = member(e, "constraint"); cs && cs->IsArray())
    for (const auto& c : cs->GetArray()) el.constraints.push_back(constraints.intern(c));
  if (const auto* b = member(e, "binding"); b && b->IsObject()) {
    std::string_view s = str(*b, "strength");
    std::string_view vs = str(*b, "valueSet");
    if (!vs.empty()) {
      binding_def bd;
      bd.strength = s == "required"     ? binding_strength::required
                    : s == "extensible" ? binding_strength::extensible
                    : s == "preferred"  ? binding_strength::preferred
                                        : binding_strength::example;
      bd.value_set = std::string(vs);
      el.binding = std::move(bd);
    }
  }
  if (const auto* ml = member(e, "maxLength"); ml && ml->IsUint()) el.max_length = ml->GetUint();
  if (std::string_view cr = str(e, "contentReference"); !cr.empty()) el.content_reference = std::string(cr);
  if (const auto* s = member(e, "slicing"); s && s->IsObject()) {
    slicing_def sl;
    if (const auto* ds = member(*s, "discriminator"); ds && ds->IsArray())
      for (const auto& d : ds->GetArray()) {
        discriminator_def dd;
        std::string_view t = str(d, "type");
        dd.kind = t == "pattern"   ? discriminator_kind::pattern
                  : t == "type"    ? discriminator_kind::type
                  : t == "profile" ? discriminator_kind::profile
                  : t == "exists"  ? discriminator_kind::exists
                                   : discriminator_kind::value;
        dd.path = std::string(str(d, "path"));
        sl.discriminators.push_back(std::move(dd));
      }
    if (const auto* o = member(*s, "ordered"); o && o->IsBool()) sl.ordered = o->GetBool();
    std::string_view r = str(*s, "rules");
    sl.rules = r == "closed" ? slicing_rules::closed : r == "openAtEnd" ? slicing_rules::open_at_end : slicing_rules::open;
    el.slicing = std::move(sl);
  }
  // fixed[x] / pattern[x] (FHIR R4 elementdefinition.html#fixed, #pattern).
  for (const auto& mem : e.GetObject()) {
    std::string_view k(mem.name.GetString(), mem.name.GetStringLength());
    bool is_fixed = k.starts_with("fixed") && k.size() > 5 && k[5] >= 'A' && k[5] <= 'Z';
    bool is_pattern = k.starts_with("pattern") && k.size() > 7 && k[7] >= 'A' && k[7] <= 'Z';
    if (!is_fixed && !is_pattern) continue;
    std::string t(k.substr(is_fixed ? 5 : 7));
    if (!defs.find_type(t)) {
      std::string lower = t;
      lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
      if (defs.find_type(lower)) t = lower;
    }
    el.fixed_type = t;
    (is_fixed ? el.fixed : el.pattern) = std::make_unique<fhir::json_value>(to_json_value(mem.value));
  }
}

void read_contexts(const rapidjson::Value& sd, model& m) {
  if (const auto* cs = member(sd, "context"); cs && cs->IsArray())
    for (const auto& c : cs->GetArray())
      m.contexts.emplace_back(std::string(str(c, "type")), std::string(str(c, "expression")));
}

element clone(const element& e) {
  element c;
  c.id = e.id;
  c.path = e.path;
  c.name = e.name;
  c.slice_name = e.slice_name;
  c.min = e.min;
  c.max = e.max;
  c.types = e.types;
  c.constraints = e.constraints;
  c.binding = e.binding;
  if (e.fixed) c.fixed = std::make_unique<fhir::json_value>(*e.fixed);
  if (e.pattern) c.pattern = std::make_unique<fhir::json_value>(*e.pattern);
  c.fixed_type = e.fixed_type;
  c.max_length = e.max_length;
  c.slicing = e.slicing;
  c.content_reference = e.content_reference;
  return c;
}

void build_tree(model& m) {
  for (auto& el : m.elements) {
    el.children.clear();
    el.slices.clear();
  }
  // The tree, from the ids (elementdefinition.html#id): "A.b:s" is a slice of
  // "A.b", "A.b:s/r" a re-slice of "A.b:s", and "A.b:s.c" a child of "A.b:s".
  std::unordered_map<std::string_view, std::uint32_t> by_id;
  by_id.reserve(m.elements.size());
  for (std::uint32_t i = 0; i < m.elements.size(); ++i) by_id.emplace(m.elements[i].id, i);
  for (std::uint32_t i = 1; i < m.elements.size(); ++i) {
    std::string_view id = m.elements[i].id;
    std::size_t dot = id.rfind('.');
    if (dot == std::string_view::npos) continue;
    std::string_view last = id.substr(dot + 1);
    std::size_t colon = last.find(':');
    if (colon != std::string_view::npos) {
      std::size_t slash = last.rfind('/');
      std::string_view base = slash != std::string_view::npos && slash > colon ? id.substr(0, dot + 1 + slash)
                                                                               : id.substr(0, dot + 1 + colon);
      if (auto it = by_id.find(base); it != by_id.end() && it->second != i) m.elements[it->second].slices.push_back(i);
    } else if (auto it = by_id.find(id.substr(0, dot)); it != by_id.end() && it->second != i) {
      m.elements[it->second].children.push_back(i);
    }
  }
}

hearth::result<std::unique_ptr<model>, hearth::error> compile_structure_definition(const rapidjson::Value& sd,
                                                                                   const fhir::definitions& defs,
                                                                                   constraint_store& constraints,
                                                                                   bool core) {
  auto fail = [](std::string msg) {
    return hearth::unexpected(hearth::error{"invalid", std::move(msg), {}, hearth::error::npos});
  };
  if (str(sd, "resourceType") != "StructureDefinition") return fail("not a StructureDefinition");
  auto m = std::make_unique<model>();
  m->url = std::string(str(sd, "url"));
  if (m->url.empty()) return fail("a StructureDefinition without url");
  m->name = std::string(str(sd, "name"));
  m->type = std::string(str(sd, "type"));
  m->kind = std::string(str(sd, "kind"));
  m->derivation = std::string(str(sd, "derivation"));
  m->base_definition = std::string(str(sd, "baseDefinition"));
  m->core = core;
  read_contexts(sd, *m);
  const rapidjson::Value* snapshot = member(sd, "snapshot");
  const rapidjson::Value* elements = snapshot ? member(*snapshot, "element") : nullptr;
  if (!elements || !elements->IsArray() || elements->Empty())
    return fail("StructureDefinition " + m->url + " has no snapshot");
  // FHIR R4 elementdefinition.html: ElementDefinition.id is 0..1, but every
  // snapshot of R4 and of current IGs has it; without one the path serves
  // (and slices of that element are then not told apart).
  m->elements.reserve(elements->Size());
  for (const auto& e : elements->GetArray()) {
    element& el = m->elements.emplace_back();
    apply_element(el, e, defs, constraints);
  }
  build_tree(*m);
  return m;
}

}  // namespace hearth::profiles::detail
