// One validation (detail/walk.hpp): the base layer over the registry
// (invariants, required bindings, extensions, reference targets) and the
// profile walks over compiled snapshots (cardinality, types, fixed/pattern,
// maxLength, bindings, constraints, slicing).
//
// FHIR R4 validation.html, profiling.html (#slicing, #discriminator),
// elementdefinition.html (#slicing, #fixed, #pattern, #min-max),
// extensibility.html, terminologies.html#strength, references.html,
// conformance-rules.html (constraints: severity error → SHALL, warning → SHOULD).

#include "detail/walk.hpp"

#include <hearth/profiles/compiled_profile.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/narrative_check.hpp>

#include "detail/compiled.hpp"

namespace hearth::profiles::detail {
namespace {

using fhir::issue_severity;
using fhir::json_value;
namespace fp = fhir::fhirpath;

/// Deepest recursion of the walks (values inside values, profiles inside
/// profiles). The JSON reader stops at depth 128 and every value level costs
/// at most two walk levels; 300 keeps the stack well bounded for values
/// built by code while never cutting a parsed resource short.
constexpr std::size_t max_depth = 300;
/// Most element visits in one validate(): bounds the time a hostile resource
/// or profile (slices tried against every item, profiles within profiles) can
/// take. The largest R4 example needs well under 100,000.
constexpr std::size_t max_work = 2'000'000;

/// A value being validated: its JSON (nullptr for a primitive with only its
/// `_name` part), its `_name` object, and its FHIR type as the registry names
/// it (so that the string_view stays valid: FHIRPath nodes keep it).
struct node {
  const json_value* json = nullptr;
  const json_value* ext = nullptr;
  std::string_view type;
};

/// One occurrence of an element inside an object: the node, the JSON name it
/// came from and its index in the array (-1 when not an array).
struct item {
  node n;
  std::string_view key;
  int index = -1;
};

bool is_absolute_url(std::string_view u) {
  return u.starts_with("http:") || u.starts_with("https:") || u.starts_with("urn:");
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string_view strip_version(std::string_view url) {
  std::size_t bar = url.find('|');
  return bar == std::string_view::npos ? url : url.substr(0, bar);
}

// Numbers compare by value (FHIR decimal 1.0 and 1.00 are the same number
// for fixed/pattern purposes, elementdefinition.html#fixed does not say
// otherwise and the HL7 validator compares values).
bool same_number(const std::string& a, const std::string& b) {
  if (a == b) return true;
  return std::strtod(a.c_str(), nullptr) == std::strtod(b.c_str(), nullptr);
}

bool same_primitive(const json_value& a, const json_value& b) {
  if (a.is_number() && b.is_number()) return same_number(a.number_text(), b.number_text());
  return a == b;
}

// fixed[x]: the instance equals the value exactly (elementdefinition.html#fixed:
// "exactly the same"); element ids and extensions of the instance are not
// part of the comparison.
bool fixed_matches(const json_value& want, const json_value* got) {
  if (!got) return false;
  if (want.is_object()) {
    if (!got->is_object()) return false;
    for (const auto& m : want.members())
      if (!fixed_matches(m.value, got->find(m.key))) return false;
    for (const auto& m : got->members())
      if (!want.find(m.key) && m.key != "id" && m.key != "extension" && !m.key.starts_with("_")) return false;
    return true;
  }
  if (want.is_array()) {
    if (!got->is_array() || got->size() != want.size()) return false;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (!fixed_matches(want.items()[i], &got->items()[i])) return false;
    return true;
  }
  return same_primitive(want, *got);
}

// pattern[x]: every value in the pattern is in the instance; for arrays each
// pattern item matches some instance item (elementdefinition.html#pattern).
bool pattern_matches(const json_value& want, const json_value* got) {
  if (!got) return false;
  if (want.is_object()) {
    if (!got->is_object()) return false;
    for (const auto& m : want.members())
      if (!pattern_matches(m.value, got->find(m.key))) return false;
    return true;
  }
  if (want.is_array()) {
    if (!got->is_array()) return want.size() == 1 && pattern_matches(want.items()[0], got);
    for (const auto& w : want.items()) {
      bool found = false;
      for (const auto& g : got->items())
        if (pattern_matches(w, &g)) {
          found = true;
          break;
        }
      if (!found) return false;
    }
    return true;
  }
  return same_primitive(want, *got);
}

/// The member `_name` of an object, or nullptr.
const json_value* underscore_member(const json_value& obj, std::string_view name) {
  for (const auto& m : obj.members())
    if (m.key.size() == name.size() + 1 && m.key[0] == '_' && std::string_view(m.key).substr(1) == name)
      return &m.value;
  return nullptr;
}

/// Splits a discriminator path at the dots that are not inside parentheses
/// or quotes: "extension('http://x.org/a').value" -> 2 segments.
std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  int paren = 0;
  bool quote = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\'') quote = !quote;
    else if (!quote && c == '(') ++paren;
    else if (!quote && c == ')') --paren;
    else if (!quote && paren == 0 && c == '.') {
      out.push_back(p.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(p.substr(start));
  return out;
}

/// One validate() call: the walks, the FHIRPath context, the issues found.
/// Not thread-safe; lives for one call, on the caller's stack, and refers to
/// the registry, the options and the resource, which outlive it.
class run {
 public:
  run(const registry& reg, const validate_options& opts) : reg_(reg), defs_(*reg.defs), opts_(opts) {
    ctx_.resolver = opts.resolver;
    // memberOf() in invariants (FHIR R4 fhirpath.html#functions) through the
    // same terminology callback as bindings.
    if (opts.terminology)
      ctx_.member_of = [this](const fp::value& item, std::string_view vs) -> hearth::result<bool> {
        if (item.k == fp::value::kind::string)
          return opts_.terminology(vs, {}, item.s, {}).verdict == code_verdict::status::valid;
        if (item.k != fp::value::kind::node)
          return hearth::unexpected(hearth::error{"invalid", "memberOf() needs a code, Coding or CodeableConcept", {},
                                                  hearth::error::npos});
        return in_value_set(vs, node{item.json, item.ext, item.fhir_type});
      };
    focus_ = &ctx_.variables["hearthFocus"];
  }

  fhir::issue_list go(const json_value& res) {
    const json_value* rt = res.is_object() ? res.find("resourceType") : nullptr;
    if (!rt || !rt->is_string() || !defs_.is_resource_type(rt->str())) return {};
    path_ = rt->str();
    resource(res);
    for (const auto& url : opts_.profiles) apply_profile(res, rt->str(), url, true);
    if (budget_exceeded_)
      add(issue_severity::error, "too-costly",
          "validation stopped early: the resource needs too much work to validate");
    if (depth_exceeded_)
      add(issue_severity::error, "too-costly", "validation stopped early: the resource is nested too deeply");
    if (terminology_skipped_)
      add(issue_severity::information, "informational",
          "bindings were not checked: no terminology service was given to the validator");
    if (dropped_ > 0) {
      issues_.push_back(fhir::issue{dropped_worst_, "too-costly",
                                    std::to_string(dropped_) + " more issues not listed (the list stops at " +
                                        std::to_string(opts_.max_issues) + ")",
                                    ""});
    }
    return std::move(issues_);
  }

 private:
  // ------------------------------------------------------------------ definitions

  /// A StructureDefinition by canonical URL: the validator's own, else what
  /// opts.lookup_profile finds (asked once per URL in this call; what it
  /// gives is kept alive until the call ends).
  const model* find_model(std::string_view url) const {
    if (const model* m = reg_.find(url)) return m;
    if (!opts_.lookup_profile) return nullptr;
    const std::string key(strip_version(url));
    if (auto it = looked_up_.find(key); it != looked_up_.end()) return it->second;
    const model* m = nullptr;
    auto found = opts_.lookup_profile(key);
    if (!found) {
      lookup_errors_.emplace(key, found.error().message);
    } else if (*found) {
      m = (*found)->state().m.get();
      pins_.push_back(std::move(*found));
    }
    looked_up_.emplace(key, m);
    return m;
  }

  /// Why the lookup could not give the definition `url`, or nullptr.
  const std::string* lookup_error(std::string_view url) const {
    auto it = lookup_errors_.find(std::string(strip_version(url)));
    return it == lookup_errors_.end() ? nullptr : &it->second;
  }

  // ------------------------------------------------------------------ issues

  void add(issue_severity sev, std::string_view code, std::string diagnostics) {
    if (sandbox_ > 0) {
      if (sev <= issue_severity::error) ++sandbox_errors_;
      return;
    }
    std::string key;
    key.reserve(code.size() + diagnostics.size() + path_.size() + 4);
    key += static_cast<char>('0' + static_cast<int>(sev));
    key += code;
    key += '\x1f';
    key += diagnostics;
    key += '\x1f';
    key += path_;
    if (!seen_.insert(std::move(key)).second) return;
    if (issues_.size() >= opts_.max_issues) {
      ++dropped_;
      dropped_worst_ = std::min(dropped_worst_, sev);
      return;
    }
    issues_.push_back(fhir::issue{sev, std::string(code), std::move(diagnostics), path_});
  }

  /// Counts one visit; false (after one issue) once the budget is spent.
  bool budget() {
    if (++work_ <= max_work) return true;
    budget_exceeded_ = true;  // reported by go(), outside any sandbox
    return false;
  }

  /// Appends to path_ for a scope, restoring it on exit.
  struct path_scope {
    std::string& p;
    std::size_t size;
    path_scope(std::string& path, std::string_view key, int index) : p(path), size(path.size()) {
      p += '.';
      p += key;
      if (index >= 0) {
        p += '[';
        p += std::to_string(index);
        p += ']';
      }
    }
    ~path_scope() { p.resize(size); }
    path_scope(const path_scope&) = delete;
    path_scope& operator=(const path_scope&) = delete;
  };

  struct depth_scope {
    std::size_t& d;
    explicit depth_scope(std::size_t& depth) : d(++depth) {}
    ~depth_scope() { --d; }
    depth_scope(const depth_scope&) = delete;
    depth_scope& operator=(const depth_scope&) = delete;
  };

  bool too_deep() {
    if (depth_ <= max_depth) return false;
    depth_exceeded_ = true;  // reported by go(), outside any sandbox
    return true;
  }

  // ------------------------------------------------------------ types

  /// The FHIR type of the value of `match` (registry storage), and its type_ref.
  std::string_view child_type(const fhir::child_match& match, const fhir::type_ref** tr) const {
    const fhir::element_definition* ce = match.element;
    *tr = match.type;
    if (match.type) return match.type->code;
    if (ce->content_target) return ce->content_target->path;
    if (!ce->children.empty()) return ce->path;
    if (!ce->types.empty()) {
      *tr = &ce->types[0];
      return ce->types[0].code;
    }
    return {};
  }

  // ------------------------------------------------------------ invariants

  /// Evaluates one constraint with `n` as focus (FHIR R4 conformance-rules.html
  /// #constraints: an invariant that is not true is an error at its severity).
  void evaluate(const constraint_def& c, const node& n) {
    if (!c.native_pattern.empty()) {
      // member.matches('regex'): empty when the member is absent or not a
      // single string (then nothing fails), else a partial match. A pattern
      // RE2 rejects gives empty in the engine too.
      const json_value* v = n.json && n.json->is_object() ? n.json->find(c.native_member) : nullptr;
      const RE2* re = v && v->is_string() ? c.native_re() : nullptr;
      if (re && !RE2::PartialMatch(v->str(), *re))
        add(c.severity, "invariant", "Constraint failed: " + c.key + ": '" + c.human + "'");
      return;
    }
    if (!c.native_distinct.empty()) {
      if (n.json && n.json->is_object() && !distinct_ok(c.native_distinct, *n.json))
        add(c.severity, "invariant", "Constraint failed: " + c.key + ": '" + c.human + "'");
      return;
    }
    if (!c.native_narrative.empty()) {
      narrative(c, n);
      return;
    }
    if (!c.compiled || !resource_) return;
    fp::value v;
    v.k = fp::value::kind::node;
    v.json = n.json;
    v.ext = n.ext;
    v.fhir_type = n.type;
    focus_->clear();
    focus_->push_back(std::move(v));
    // %resource is the resource holding the element; %rootResource, for a
    // contained resource, its container (FHIR R4 fhirpath.html#variables).
    // The engine binds both to the evaluation root, so an invariant naming
    // %rootResource (ref-1) is evaluated from the container.
    const json_value* root = resource_;
    if (container_ && c.expression.find("%rootResource") != std::string::npos) root = container_;
    auto r = fp::evaluate(*c.compiled, *root, defs_, ctx_);
    if (!r) {
      add(issue_severity::warning, "processing",
          "constraint " + c.key + " could not be evaluated: " + r.error().message);
      return;
    }
    // An empty result is not a failure: R4 invariants such as ref-1 give
    // empty where the element they test is absent.
    bool ok = true;
    for (const auto& x : *r)
      if (x.k == fp::value::kind::boolean && !x.b) ok = false;
    if (!ok) add(c.severity, "invariant", "Constraint failed: " + c.key + ": '" + c.human + "'");
  }

  /// txt-1 and txt-2 on Narrative.div (model.hpp native_narrative), the
  /// message saying what is wrong. txt-1 fails on XHTML that is malformed,
  /// not allowed or past the checker's limits (a narrative not checked is
  /// not accepted); txt-2 only on well-formed XHTML with no content (txt-1
  /// speaks for the rest). Nothing is checked on a div that is not a string
  /// (the structural check reports it).
  void narrative(const constraint_def& c, const node& n) {
    if (!n.json || !n.json->is_string()) return;
    // Both invariants are on the same div: it is parsed once.
    if (narrative_of_ != n.json) {
      narrative_ = fhir::check_narrative(n.json->str());
      narrative_of_ = n.json;
    }
    const fhir::narrative_verdict& v = narrative_;
    const std::string failed = "Constraint failed: " + c.key + ": '" + c.human + "'";
    if (c.native_narrative == "txt-1") {
      if (!v.allowed()) add(c.severity, "invariant", failed + " (" + v.problem + ")");
    } else if (v.well_formed() && !v.has_content) {
      add(c.severity, "invariant", failed + " (the div holds nothing but whitespace)");
    }
  }

  /// The isDistinct() invariants evaluated natively (model.hpp), each as its
  /// R4 expression says.
  static bool distinct_ok(std::string_view key, const json_value& j) {
    auto text = [](const json_value* v) -> const std::string* { return v && v->is_string() ? &v->str() : nullptr; };
    std::set<std::string> seen;
    if (key == "bdl-7") {
      // (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()
      if (const std::string* t = text(j.find("type")); t && *t == "history") return true;
      const json_value* entries = j.find("entry");
      if (!entries || !entries->is_array()) return true;
      for (const auto& e : entries->items()) {
        const std::string* full = text(e.find("fullUrl"));
        if (!full) continue;
        std::string k = *full;
        const json_value* r = e.find("resource");
        const json_value* meta = r ? r->find("meta") : nullptr;
        if (const std::string* vid = text(meta ? meta->find("versionId") : nullptr)) k += *vid;
        if (!seen.insert(std::move(k)).second) return false;
      }
      return true;
    }
    if (key == "csd-1") {
      // concept.code.combine($this.descendants().concept.code).isDistinct():
      // the codes of the whole concept tree.
      std::vector<const json_value*> stack{&j};
      while (!stack.empty()) {
        const json_value* x = stack.back();
        stack.pop_back();
        const json_value* cs = x->find("concept");
        if (!cs || !cs->is_array()) continue;
        for (const auto& c : cs->items()) {
          if (!c.is_object()) continue;
          if (const std::string* code = text(c.find("code")); code && !seen.insert(*code).second) return false;
          stack.push_back(&c);
        }
      }
      return true;
    }
    // sdf-1: derivation = 'constraint' or snapshot.element.select(path).isDistinct()
    // sdf-16/17: {snapshot|differential}.element.all(id.exists()) and ....id.isDistinct()
    if (key == "sdf-1")
      if (const std::string* d = text(j.find("derivation")); d && *d == "constraint") return true;
    const json_value* part = j.find(key == "sdf-17" ? "differential" : "snapshot");
    const json_value* elements = part && part->is_object() ? part->find("element") : nullptr;
    if (!elements || !elements->is_array()) return true;
    for (const auto& e : elements->items()) {
      const std::string* v = text(e.find(key == "sdf-1" ? "path" : "id"));
      if (!v) {
        if (key != "sdf-1") return false;  // all(id.exists())
        continue;
      }
      if (!seen.insert(*v).second) return false;
    }
    return true;
  }

  /// A constraint a core definition declares: the base layer evaluates it.
  bool core_constraint(const constraint_def& c) const {
    if (c.source.empty()) return false;
    const model* m = reg_.find(c.source);  // core definitions are the validator's own
    return m && m->core;
  }

  // ------------------------------------------------------------ bindings

  /// Whether a code, Coding or CodeableConcept is in a value set, per the
  /// terminology callback (a slicing discriminator's question: nothing is
  /// reported).
  bool in_value_set(std::string_view value_set, const node& n) const {
    if (!n.json || !opts_.terminology) return false;
    auto text_of = [](const json_value& o, std::string_view k) -> std::string_view {
      const json_value* v = o.find(k);
      return v && v->is_string() ? std::string_view(v->str()) : std::string_view{};
    };
    auto coding = [&](const json_value& c) {
      return c.is_object() && !text_of(c, "code").empty() &&
             opts_.terminology(value_set, text_of(c, "system"), text_of(c, "code"), text_of(c, "display")).verdict ==
                 code_verdict::status::valid;
    };
    if (n.json->is_string()) return opts_.terminology(value_set, {}, n.json->str(), {}).verdict == code_verdict::status::valid;
    if (n.type == "Coding") return coding(*n.json);
    if (n.type == "CodeableConcept")
      if (const json_value* cs = n.json->find("coding"); cs && cs->is_array())
        for (const auto& c : cs->items())
          if (coding(c)) return true;
    return false;
  }

  /// Checks the codes of `n` against a binding (terminologies.html#strength).
  void check_binding(const binding_def& b, const node& n) {
    if (b.strength != binding_strength::required && b.strength != binding_strength::extensible) return;
    if (!n.json) return;
    if (!opts_.terminology) {
      terminology_skipped_ = true;
      return;
    }
    struct coded {
      std::string_view system, code, display;
    };
    std::vector<coded> codes;
    auto text_of = [](const json_value& o, std::string_view k) -> std::string_view {
      const json_value* v = o.find(k);
      return v && v->is_string() ? std::string_view(v->str()) : std::string_view{};
    };
    bool concept_without_coding = false;
    if (n.type == "code" || n.type == "string" || n.type == "uri") {
      if (n.json->is_string()) codes.push_back({{}, n.json->str(), {}});
    } else if (n.type == "Coding" || n.type == "Quantity") {
      if (n.json->is_object() && !text_of(*n.json, "code").empty())
        codes.push_back({text_of(*n.json, "system"), text_of(*n.json, "code"),
                         text_of(*n.json, n.type == "Coding" ? "display" : "unit")});
    } else if (n.type == "CodeableConcept") {
      if (!n.json->is_object()) return;
      if (const json_value* cs = n.json->find("coding"); cs && cs->is_array())
        for (const auto& c : cs->items())
          if (c.is_object() && !text_of(c, "code").empty())
            codes.push_back({text_of(c, "system"), text_of(c, "code"), text_of(c, "display")});
      concept_without_coding = codes.empty();
    } else {
      return;
    }
    const bool required = b.strength == binding_strength::required;
    const std::string what = std::string(required ? "required" : "extensible") + " binding to " + b.value_set;
    if (concept_without_coding) {
      // terminologies.html#required: a code from the value set SHALL be used;
      // text alone does not meet a required binding.
      if (required) add(issue_severity::error, "code-invalid", "No code is given for the " + what);
      return;
    }
    bool any_valid = false, any_unknown = false;
    std::string message;
    for (const auto& c : codes) {
      code_verdict v = opts_.terminology(b.value_set, c.system, c.code, c.display);
      if (v.verdict == code_verdict::status::valid) {
        any_valid = true;
        break;
      }
      if (v.verdict == code_verdict::status::cannot_tell) any_unknown = true;
      if (message.empty()) message = v.message;
    }
    if (any_valid || codes.empty()) return;
    std::string tail = message.empty() ? "" : " (" + message + ")";
    if (any_unknown)
      add(required ? issue_severity::warning : issue_severity::information, "processing",
          "The code could not be checked against the " + what + tail);
    else
      add(required ? issue_severity::error : issue_severity::warning, "code-invalid",
          "The code is not in the value set of the " + what + tail);
  }

  // ------------------------------------------------------------ references

  /// The resource type a reference points to ("Patient/1", an absolute URL
  /// ending in Type/id[/_history/v], "#id" for a contained one); empty when
  /// it cannot be told (urn:uuid:..., a logical reference).
  std::string_view reference_type(const json_value& ref) const {
    const json_value* r = ref.find("reference");
    if (!r || !r->is_string()) return {};
    std::string_view s = r->str();
    if (s.starts_with('#')) {
      if (!resource_) return {};
      const json_value* contained = resource_->find("contained");
      if (!contained || !contained->is_array()) return {};
      for (const auto& c : contained->items()) {
        const json_value* id = c.find("id");
        if (id && id->is_string() && id->str() == s.substr(1)) {
          const json_value* t = c.find("resourceType");
          return t && t->is_string() ? std::string_view(t->str()) : std::string_view{};
        }
      }
      return {};
    }
    if (s.starts_with("urn:")) return {};
    std::vector<std::string_view> parts;
    std::size_t q = s.find_first_of("?#");
    if (q != std::string_view::npos) s = s.substr(0, q);
    for (std::size_t start = 0;;) {
      std::size_t slash = s.find('/', start);
      parts.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    if (parts.size() >= 4 && parts[parts.size() - 2] == "_history") parts.resize(parts.size() - 2);
    if (parts.size() < 2) return {};
    std::string_view t = parts[parts.size() - 2];
    return defs_.is_resource_type(t) ? t : std::string_view{};
  }

  /// references.html: the target of a Reference is one of the types the
  /// element allows (ElementDefinition.type.targetProfile).
  template <typename Range>
  void check_reference_target(const json_value& ref, const Range& allowed) {
    if (!ref.is_object()) return;
    std::string_view t = reference_type(ref);
    if (t.empty()) return;
    std::string list;
    for (std::string_view a : allowed) {
      if (a == t || a == "Resource") return;
      if (!list.empty()) list += ", ";
      list += a;
    }
    if (list.empty()) return;
    add(issue_severity::error, "structure",
        "The reference points to a " + std::string(t) + ", which is not allowed here (allowed: " + list + ")");
  }

  /// The resource types of target profiles (a core URL or a known profile
  /// → its type); empty when one is not known (then any type may be meant,
  /// and nothing is checked).
  std::vector<std::string_view> target_types(const type_def& td) const {
    std::vector<std::string_view> out;
    for (const auto& p : td.target_profiles) {
      const model* m = find_model(p);
      if (!m) return {};
      out.push_back(m->type);
    }
    return out;
  }

  // ------------------------------------------------------------ base layer

  /// A resource (top level, contained, Bundle entry, Parameters resource):
  /// the base walk, then its meta.profile.
  void resource(const json_value& res, bool contained = false) {
    if (!res.is_object()) return;
    const json_value* rt = res.find("resourceType");
    if (!rt || !rt->is_string()) return;
    const fhir::type_definition* td = defs_.find_type(rt->str());
    if (!td || td->kind != fhir::type_kind::resource || td->is_abstract) return;
    const json_value* saved = resource_;
    const json_value* saved_container = container_;
    // A contained resource's container stays the root; any other resource
    // (top level, Bundle entry, Parameters) is a root of its own.
    if (!contained) container_ = &res;
    resource_ = &res;
    const bool bundle = td->name == "Bundle";
    if (bundle) bundles_.push_back(&res);
    base_value(node{&res, nullptr, td->name}, &td->root(), nullptr);
    if (const json_value* meta = res.find("meta"); meta && meta->is_object())
      if (const json_value* ps = meta->find("profile"); ps && ps->is_array())
        for (const auto& p : ps->items())
          if (p.is_string()) apply_profile(res, td->name, p.str(), false);
    if (bundle) bundles_.pop_back();
    resource_ = saved;
    container_ = saved_container;
  }

  /// One value against the base definitions: the invariants of its element
  /// and of its type, the element's required binding, reference targets,
  /// extensions, then its children.
  void base_value(const node& n, const fhir::element_definition* elem, const fhir::type_ref* tr) {
    depth_scope ds(depth_);
    if (too_deep() || !budget()) return;
    const base_extras* own = reg_.extras(elem);
    const base_extras* of_type = nullptr;
    if (elem && n.type != elem->path)
      if (const fhir::type_definition* td = defs_.find_type(n.type)) of_type = reg_.extras(&td->root());
    if (own)
      for (const constraint_def* c : own->constraints) evaluate(*c, n);
    if (of_type)
      for (const constraint_def* c : of_type->constraints) {
        bool dup = false;
        if (own)
          for (const constraint_def* o : own->constraints) dup = dup || o->key == c->key;
        if (!dup) evaluate(*c, n);
      }
    if (own && own->binding) check_binding(*own->binding, n);
    // A primitive's `_name` object: its id and extensions.
    if (n.ext && n.ext->is_object()) {
      parents_.push_back(parent{elem ? elem->path : std::string_view{}, n.type, nullptr});
      children(node{n.ext, nullptr, n.type});
      parents_.pop_back();
    }
    if (!n.json || !n.json->is_object()) return;
    if (n.type == "Reference" && tr && !tr->target_types.empty()) check_reference_target(*n.json, tr->target_types);
    if (n.type == "Extension") extension(*n.json, elem && elem->name == "modifierExtension");
    parents_.push_back(parent{elem ? elem->path : std::string_view{}, n.type, n.json});
    children(n);
    parents_.pop_back();
  }

  void children(const node& n) {
    const json_value& j = *n.json;
    for (const auto& m : j.members()) {
      std::string_view key = m.key;
      if (key == "resourceType") continue;
      bool us = key.starts_with('_');
      std::string_view name = us ? key.substr(1) : key;
      if (us && j.find(name)) continue;  // visited with its value
      fhir::child_match match = defs_.find_child(n.type, name);
      if (!match) continue;  // unknown: the structural check reports it
      const fhir::type_ref* tr = nullptr;
      std::string_view ctype = child_type(match, &tr);
      if (ctype.empty()) continue;
      const json_value* val = us ? nullptr : &m.value;
      const json_value* ex = us ? &m.value : nullptr;
      if (!us && defs_.is_primitive_type(ctype)) ex = underscore_member(j, name);
      const bool is_resource = ctype == "Resource";
      auto one = [&](const json_value* v, const json_value* e, int index) {
        path_scope ps(path_, name, index);
        if (v && v->is_null()) v = nullptr;
        if (e && e->is_null()) e = nullptr;
        if (!v && !e) return;
        if (is_resource) {
          if (v) resource(*v, name == "contained");
        } else {
          base_value(node{v, e, ctype}, match.element, tr);
        }
      };
      bool array = (val && val->is_array()) || (!val && ex && ex->is_array());
      if (array) {
        std::size_t count = std::max(val && val->is_array() ? val->size() : 0, ex && ex->is_array() ? ex->size() : 0);
        for (std::size_t i = 0; i < count; ++i)
          one(val && val->is_array() && i < val->size() ? &val->items()[i] : nullptr,
              ex && ex->is_array() && i < ex->size() ? &ex->items()[i] : nullptr, static_cast<int>(i));
      } else {
        one(val, ex && !ex->is_array() ? ex : nullptr, -1);
      }
    }
  }

  /// An extension found anywhere (extensibility.html): ext-1, then its
  /// definition, found by url among the extension definitions and loaded
  /// profiles. A relative url names a part of a complex extension, defined by
  /// the enclosing extension's definition.
  void extension(const json_value& ext, bool modifier) {
    bool has_children = false, has_value = false;
    for (const auto& m : ext.members()) {
      if (m.key == "extension" && m.value.is_array() && m.value.size() > 0) has_children = true;
      std::string_view k = m.key;
      if (k.starts_with('_')) k.remove_prefix(1);  // a primitive value with only its extensions
      if (k.size() > 5 && k.starts_with("value") && k[5] >= 'A' && k[5] <= 'Z') has_value = true;
    }
    if (has_children == has_value)
      add(issue_severity::error, "invariant",
          "Constraint failed: ext-1: 'Must have either extensions or value[x], not both'");
    const json_value* url = ext.find("url");
    if (!url || !url->is_string() || !is_absolute_url(url->str())) return;
    const model* m = find_model(url->str());
    if (!m || m->type != "Extension") {
      // As the HL7 validator (by default): an extension whose definition is
      // not known is allowed, with a warning, its content unchecked. For a
      // modifier extension the warning says so: a receiver that does not
      // know it SHALL NOT process the resource
      // (extensibility.html#modifierExtension), but the resource itself is
      // not invalid.
      add(issue_severity::warning, "extension",
          std::string(modifier ? "Unknown modifier extension " : "Unknown extension ") + std::string(url->str()) +
              ": its definition is not known and its content is not checked");
      return;
    }
    if (!context_allows(*m)) {
      // A warning, not the HL7 validator's error: R4 itself publishes
      // extensions outside their declared context (structuredefinition-
      // fhir-type on ElementDefinition.type in every core StructureDefinition,
      // structuredefinition-normative-version on ValueSets and CodeSystems),
      // so an error would reject the specification's own content.
      std::string allowed;
      for (const auto& [type, expr] : m->contexts) allowed += (allowed.empty() ? "" : ", ") + expr;
      add(issue_severity::warning, "structure",
          "The extension " + m->url + " is not allowed here (allowed: " + allowed + ")");
    }
    profile_element(*m, 0, node{&ext, nullptr, "Extension"});
  }

  /// Whether an extension may be used where it is, per its definition's
  /// context (FHIR R4 extensibility.html#context, structuredefinition.html
  /// #context): the element holding it, by path or by type (or a type it
  /// specialises: Element, BackboneElement, Resource...), or the extension it
  /// is inside. FHIRPath contexts are not evaluated (allowed).
  bool context_allows(const model& m) const {
    if (m.contexts.empty() || parents_.empty()) return true;
    const parent& p = parents_.back();
    for (const auto& [type, expr] : m.contexts) {
      if (type == "fhirpath") return true;
      if (type == "extension") {
        if (p.type == "Extension" && p.json)
          if (const json_value* u = p.json->find("url"); u && u->is_string() && u->str() == expr) return true;
        continue;
      }
      if (expr == "Element" || expr == "Base" || expr == p.path || expr == p.type) return true;
      std::string_view t = p.type;
      for (int guard = 0; guard < 16 && !t.empty(); ++guard) {
        if (t == expr) return true;
        const fhir::type_definition* td = defs_.find_type(t);
        if (!td) break;
        t = td->base;
      }
    }
    return false;
  }

  // ------------------------------------------------------------ profiles

  void apply_profile(const json_value& res, std::string_view type, std::string_view url, bool asked) {
    const model* m = find_model(url);
    if (!m && lookup_error(url)) {
      // A definition exists but cannot be used: an error whether the
      // profile is claimed or asked for, so that the outcome never reads as
      // a pass against it.
      add(issue_severity::error, "processing",
          "Profile " + std::string(strip_version(url)) + " cannot be used: " + *lookup_error(url) +
              "; the resource was not validated against it");
      return;
    }
    if (!m) {
      add(asked ? issue_severity::error : issue_severity::warning, "not-found",
          "Profile " + std::string(strip_version(url)) +
              " is not known: the resource was not validated against it");
      return;
    }
    if (m->core && m->derivation != "constraint") {
      if (m->type != type)
        add(issue_severity::error, "invalid",
            "Profile " + m->url + " is for " + m->type + ", not " + std::string(type));
      return;  // the base layer did it
    }
    if (m->type != type) {
      add(issue_severity::error, "invalid", "Profile " + m->url + " is for " + m->type + ", not " + std::string(type));
      return;
    }
    const json_value* saved = resource_;
    resource_ = &res;
    profile_element(*m, 0, node{&res, nullptr, type});
    resource_ = saved;
  }

  /// The occurrences of profile element `c` in the object of `parent`.
  std::vector<item> gather(const node& parent, const element& c) const {
    std::vector<item> out;
    const json_value& j = *parent.json;
    std::string_view cname = c.name;
    std::string_view prefix = c.is_choice() ? cname.substr(0, cname.size() - 3) : cname;
    for (const auto& m : j.members()) {
      std::string_view key = m.key;
      bool us = key.starts_with('_');
      std::string_view name = us ? key.substr(1) : key;
      if (c.is_choice()) {
        if (!name.starts_with(prefix) || name.size() <= prefix.size() || name[prefix.size()] < 'A' ||
            name[prefix.size()] > 'Z')
          continue;
      } else if (name != cname) {
        continue;
      }
      if (us && j.find(name)) continue;
      fhir::child_match match = defs_.find_child(parent.type, name);
      if (!match) continue;
      if (c.is_choice() && match.element->name != cname) continue;
      const fhir::type_ref* tr = nullptr;
      std::string_view ctype = child_type(match, &tr);
      if (ctype.empty()) continue;
      if (ctype == "Resource" && !us && m.value.is_object()) {
        const json_value* rt = m.value.find("resourceType");
        if (rt && rt->is_string())
          if (const fhir::type_definition* td = defs_.find_type(rt->str())) ctype = td->name;
      }
      const json_value* val = us ? nullptr : &m.value;
      const json_value* ex = us ? &m.value : (defs_.is_primitive_type(ctype) ? underscore_member(j, name) : nullptr);
      bool array = (val && val->is_array()) || (!val && ex && ex->is_array());
      if (array) {
        std::size_t count =
            std::max(val && val->is_array() ? val->size() : 0, ex && ex->is_array() ? ex->size() : 0);
        for (std::size_t i = 0; i < count; ++i) {
          const json_value* v = val && val->is_array() && i < val->size() ? &val->items()[i] : nullptr;
          const json_value* e = ex && ex->is_array() && i < ex->size() ? &ex->items()[i] : nullptr;
          if (v && v->is_null()) v = nullptr;
          if (e && e->is_null()) e = nullptr;
          if (v || e) out.push_back(item{node{v, e, ctype}, name, static_cast<int>(i)});
        }
      } else if (val || ex) {
        out.push_back(item{node{val, ex && !ex->is_array() ? ex : nullptr, ctype}, name, -1});
      }
    }
    return out;
  }

  /// The element whose children `e` uses: itself, or its content reference.
  std::uint32_t children_holder(const model& m, std::uint32_t ei) const {
    const element& e = m.elements[ei];
    if (!e.children.empty() || e.content_reference.empty()) return ei;
    std::string_view ref = e.content_reference;
    if (std::size_t hash = ref.find('#'); hash != std::string_view::npos) ref = ref.substr(hash + 1);
    std::size_t i = m.find_id(ref);
    return i == static_cast<std::size_t>(-1) ? ei : static_cast<std::uint32_t>(i);
  }

  /// Validates `n` against element `ei` of profile `m` (profiling.html).
  void profile_element(const model& m, std::uint32_t ei, const node& n) {
    depth_scope ds(depth_);
    if (too_deep() || !budget()) return;
    // A profile that reaches the same value through the same element again
    // (a type profile or content reference cycle) adds nothing: stop.
    for (const auto& a : active_)
      if (a.m == &m && a.ei == ei && a.json == n.json) return;
    active_.push_back(active{&m, ei, n.json});
    struct pop {
      std::vector<active>& v;
      ~pop() { v.pop_back(); }
    } popper{active_};

    const element& e = m.elements[ei];
    const std::string where = " (" + e.id + " in profile " + m.url + ")";
    // fixed[x], pattern[x] (elementdefinition.html#fixed, #pattern)
    if (e.fixed && !fixed_matches(*e.fixed, n.json))
      add(issue_severity::error, "value", "The value does not equal the fixed value" + where);
    if (e.pattern && !pattern_matches(*e.pattern, n.json))
      add(issue_severity::error, "value", "The value does not match the pattern" + where);
    if (e.max_length && n.json && n.json->is_string() && utf8_length(n.json->str()) > *e.max_length)
      add(issue_severity::error, "too-long",
          "The value is longer than " + std::to_string(*e.max_length) + " characters" + where);
    if (e.binding) check_binding(*e.binding, n);
    for (const constraint_def* c : e.constraints)
      if (!core_constraint(*c)) evaluate(*c, n);

    // Types: the choice type is one the profile allows; references point to
    // allowed targets; type profiles (other than extension definitions,
    // which the extension walk applies by url) are validated.
    if (!e.types.empty() && ei != 0) {
      const type_def* td = nullptr;
      for (const auto& t : e.types)
        if (t.code == n.type || ((t.code == "BackboneElement" || t.code == "Element") && e.types.size() == 1))
          td = &t;
      if (!td && e.is_choice()) {
        add(issue_severity::error, "structure", "The type " + std::string(n.type) + " is not allowed" + where);
      } else if (td) {
        if (n.type == "Reference" && !td->target_profiles.empty() && n.json)
        {
          check_reference_target(*n.json, target_types(*td));
          check_resolved_target(*td, *n.json);
        }
        if (n.type != "Extension" && !td->profiles.empty()) type_profiles(*td, n);
      }
    }

    // The children: of the object, or of a primitive's `_name` object (its
    // id and extensions, e.g. Patient.birthDate.extension slices).
    const json_value* object = n.json && n.json->is_object() ? n.json : nullptr;
    if (!object && n.ext && n.ext->is_object() && (!n.json || !n.json->is_object())) object = n.ext;
    if (!object) return;
    const node holder_node{object, nullptr, n.type};
    std::uint32_t holder = children_holder(m, ei);
    for (std::uint32_t ci : m.elements[holder].children) {
      const element& c = m.elements[ci];
      if (object == n.ext && c.name == "value") continue;  // a primitive's value is not in `_name`
      std::vector<item> items = gather(holder_node, c);
      if (items.size() < c.min)
        add(issue_severity::error, "required",
            c.path + ": minimum required = " + std::to_string(c.min) + ", but only found " +
                std::to_string(items.size()) + " (profile " + m.url + ")");
      if (c.max != UINT32_MAX && items.size() > c.max)
        add(issue_severity::error, "structure",
            c.path + ": maximum allowed = " + std::to_string(c.max) + ", but found " + std::to_string(items.size()) +
                " (profile " + m.url + ")");
      if (!c.slices.empty()) slice(m, ci, items);  // also when empty: slice minimums
      else
        for (const auto& it : items) {
          path_scope ps(path_, it.key, it.index);
          profile_element(m, ci, it.n);
        }
    }
  }

  /// When the reference resolves (contained, Bundle entry, resolver) and a
  /// target profile is a profile (not a core type), the resource must conform
  /// to one of the target profiles of its type (references.html,
  /// elementdefinition.html ElementDefinition.type.targetProfile).
  void check_resolved_target(const type_def& td, const json_value& ref) {
    std::vector<const model*> profiles;
    for (const auto& p : td.target_profiles)
      if (const model* m = find_model(p); m && !(m->core && m->derivation != "constraint")) profiles.push_back(m);
    if (profiles.empty()) return;
    const json_value* target = resolve(ref);
    if (!target || !target->is_object()) return;
    const json_value* rt = target->find("resourceType");
    if (!rt || !rt->is_string()) return;
    const fhir::type_definition* tt = defs_.find_type(rt->str());
    if (!tt) return;
    std::string names;
    for (const model* m : profiles) {
      if (m->type == tt->name) {
        const json_value* saved = resource_;
        resource_ = target;
        bool ok = conforms(*m, 0, node{target, nullptr, tt->name});
        resource_ = saved;
        if (ok) return;
      }
      if (m->type != tt->name) continue;
      names += (names.empty() ? "" : ", ") + m->url;
    }
    // No target profile for its type (the type check reports that), or it
    // conforms to none of those for its type.
    if (!names.empty())
      add(issue_severity::error, "structure", "The referenced " + std::string(tt->name) +
                                                  " does not conform to the target profile (" + names + ")");
  }

  /// The value conforms to one of the type's profiles (any of them,
  /// elementdefinition.html#ElementDefinition.type.profile).
  void type_profiles(const type_def& td, const node& n) {
    std::vector<const model*> known;
    for (const auto& p : td.profiles) {
      const model* pm = find_model(p);
      if (!pm) {
        add(issue_severity::warning, "not-found",
            "Profile " + std::string(strip_version(p)) + " is not known: the value was not checked against it");
        continue;
      }
      if (pm->core && pm->derivation != "constraint") continue;  // the base layer
      known.push_back(pm);
    }
    if (known.empty()) return;
    if (known.size() > 1)
      for (const model* pm : known)
        if (conforms(*pm, 0, n)) return;
    profile_element(*known.front(), 0, n);
  }

  /// Whether `n` validates against element `ei` of `m` without errors
  /// (nothing is reported).
  bool conforms(const model& m, std::uint32_t ei, const node& n) {
    // Remembered per (profile element, value): nested slices by profile
    // would otherwise re-check each subtree at every level (exponential in
    // the nesting depth).
    const memo_key key{&m, ei, n.json ? n.json : n.ext};
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::size_t before = sandbox_errors_;
    ++sandbox_;
    profile_element(m, ei, n);
    --sandbox_;
    bool ok = sandbox_errors_ == before;
    sandbox_errors_ = before;
    memo_.emplace(key, ok);
    return ok;
  }

  // ------------------------------------------------------------ slicing

  /// FHIR R4 profiling.html#slicing: each item is assigned to the first slice
  /// whose discriminators it matches; rules closed / open / openAtEnd, ordered,
  /// and each slice's cardinality are checked; every item is validated
  /// against the sliced element and the matched ones against their slice.
  void slice(const model& m, std::uint32_t ci, const std::vector<item>& items) {
    const element& c = m.elements[ci];
    std::vector<int> which(items.size(), -1);
    for (std::size_t i = 0; i < items.size(); ++i)
      for (std::size_t k = 0; k < c.slices.size(); ++k)
        if (in_slice(m, ci, c.slices[k], items[i].n)) {
          which[i] = static_cast<int>(k);
          break;
        }
    const slicing_rules rules = c.slicing ? c.slicing->rules : slicing_rules::open;
    const bool ordered = c.slicing && c.slicing->ordered;
    int last = -1;
    bool seen_unmatched = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
      path_scope ps(path_, items[i].key, items[i].index);
      profile_element(m, ci, items[i].n);
      if (which[i] >= 0) {
        profile_element(m, c.slices[static_cast<std::size_t>(which[i])], items[i].n);
        if (ordered && which[i] < last)
          add(issue_severity::error, "structure",
              "The item is out of order: slicing of " + c.id + " is ordered (profile " + m.url + ")");
        if (rules == slicing_rules::open_at_end && seen_unmatched)
          add(issue_severity::error, "structure",
              "The item follows an item that matches no slice, but the slicing of " + c.id +
                  " is openAtEnd (profile " + m.url + ")");
        last = std::max(last, which[i]);
      } else {
        seen_unmatched = true;
        if (rules == slicing_rules::closed)
          add(issue_severity::error, "structure",
              "The item matches no slice of " + c.id + ", and the slicing is closed (profile " + m.url + ")");
      }
    }
    for (std::size_t k = 0; k < c.slices.size(); ++k) {
      const element& s = m.elements[c.slices[k]];
      std::size_t n = static_cast<std::size_t>(std::count(which.begin(), which.end(), static_cast<int>(k)));
      if (n < s.min)
        add(issue_severity::error, "required",
            s.id + ": minimum required = " + std::to_string(s.min) + ", but only found " + std::to_string(n) +
                " (profile " + m.url + ")");
      if (s.max != UINT32_MAX && n > s.max)
        add(issue_severity::error, "structure",
            s.id + ": maximum allowed = " + std::to_string(s.max) + ", but found " + std::to_string(n) +
                " (profile " + m.url + ")");
    }
  }

  /// Whether `n` belongs to slice `si` of the element `ci`.
  bool in_slice(const model& m, std::uint32_t ci, std::uint32_t si, const node& n) {
    const element& c = m.elements[ci];
    const element& s = m.elements[si];
    if (!c.slicing || c.slicing->discriminators.empty()) {
      // A choice sliced by type (value[x]:valueQuantity) without an explicit
      // discriminator: the slice's types decide.
      if (c.is_choice() && !s.types.empty()) {
        for (const auto& t : s.types)
          if (t.code == n.type) return true;
        return false;
      }
      // No discriminator (profiling.html#slicing allows it): the item is in
      // the slice when it validates against it.
      return conforms(m, si, n);
    }
    for (const auto& d : c.slicing->discriminators)
      if (!discriminator_matches(m, si, d, n)) return false;
    return true;
  }

  /// A value reached by a discriminator path, on the instance side.
  std::vector<node> navigate(const node& from, std::string_view seg) {
    std::vector<node> out;
    if (!from.json || !from.json->is_object()) return out;
    if (seg.starts_with("extension(")) {
      std::size_t q1 = seg.find('\''), q2 = seg.rfind('\'');
      std::string_view url = q1 != std::string_view::npos && q2 > q1 ? seg.substr(q1 + 1, q2 - q1 - 1) : "";
      const json_value* exts = from.json->find("extension");
      if (exts && exts->is_array())
        for (const auto& x : exts->items()) {
          const json_value* u = x.find("url");
          if (u && u->is_string() && u->str() == url) out.push_back(node{&x, nullptr, "Extension"});
        }
      return out;
    }
    for (const auto& m : from.json->members()) {
      std::string_view key = m.key;
      if (key.starts_with('_')) continue;
      bool hit = key == seg || (key.starts_with(seg) && key.size() > seg.size() && key[seg.size()] >= 'A' &&
                                key[seg.size()] <= 'Z');
      if (!hit) continue;
      fhir::child_match match = defs_.find_child(from.type, key);
      if (!match) continue;
      if (key != seg && !match.type) continue;  // "valueQuantity" only for a choice "value"
      const fhir::type_ref* tr = nullptr;
      std::string_view ctype = child_type(match, &tr);
      auto push = [&](const json_value& v) {
        std::string_view t = ctype;
        if (t == "Resource") {
          const json_value* rt = v.find("resourceType");
          if (rt && rt->is_string())
            if (const fhir::type_definition* td = defs_.find_type(rt->str())) t = td->name;
        }
        out.push_back(node{&v, nullptr, t});
      };
      if (m.value.is_array())
        for (const auto& v : m.value.items()) push(v);
      else
        push(m.value);
    }
    return out;
  }

  /// resolve() on the instance side: contained, Bundle entry (by fullUrl),
  /// then the caller's resolver (FHIR R4 fhirpath.html#functions resolve()).
  const json_value* resolve(const json_value& ref) const {
    const json_value* r = ref.find("reference");
    if (!r || !r->is_string()) return nullptr;
    std::string_view s = r->str();
    if (s.starts_with('#') && resource_) {
      const json_value* contained = resource_->find("contained");
      if (contained && contained->is_array())
        for (const auto& c : contained->items()) {
          const json_value* id = c.find("id");
          if (id && id->is_string() && id->str() == s.substr(1)) return &c;
        }
      return nullptr;
    }
    // A Bundle entry (FHIR R4 bundle.html#references): by fullUrl, or a
    // relative "Type/id" by the entries' type and id.
    for (const json_value* b : bundles_) {
      const json_value* entries = b->find("entry");
      if (!entries || !entries->is_array()) continue;
      for (const auto& e : entries->items()) {
        const json_value* full = e.find("fullUrl");
        const json_value* r = e.find("resource");
        if (!r || !r->is_object()) continue;
        if (full && full->is_string() && full->str() == s) return r;
        const json_value* rt = r->find("resourceType");
        const json_value* id = r->find("id");
        if (rt && id && rt->is_string() && id->is_string() && s.size() == rt->str().size() + 1 + id->str().size() &&
            s.starts_with(rt->str()) && s[rt->str().size()] == '/' && s.ends_with(id->str()))
          return r;
      }
    }
    if (opts_.resolver) return opts_.resolver(s);
    return nullptr;
  }

  /// The element of slice `si` a discriminator path leads to (on the
  /// definition side), through children, extension slices and type profiles.
  struct def_pos {
    const model* m = nullptr;
    std::uint32_t ei = 0;
    /// The path ended at a part not expanded in the snapshot whose expected
    /// value is nonetheless known: an extension slice's url from its profile.
    std::optional<std::string> url;
  };

  std::optional<def_pos> def_child(const def_pos& at, std::string_view seg, int depth = 0) const {
    if (depth > 8) return std::nullopt;  // type profiles that refer to each other
    const model& m = *at.m;
    const element& e = m.elements[at.ei];
    std::uint32_t holder = children_holder(m, at.ei);
    if (seg.starts_with("extension(")) {
      std::size_t q1 = seg.find('\''), q2 = seg.rfind('\'');
      std::string_view url = q1 != std::string_view::npos && q2 > q1 ? seg.substr(q1 + 1, q2 - q1 - 1) : "";
      for (std::uint32_t ci : m.elements[holder].children) {
        const element& c = m.elements[ci];
        if (c.name != "extension") continue;
        for (std::uint32_t si : c.slices) {
          const element& s = m.elements[si];
          for (const auto& t : s.types)
            for (const auto& p : t.profiles)
              if (strip_version(p) == url) {
                if (const model* pm = find_model(p)) return def_pos{pm, 0, {}};
                return def_pos{&m, si, {}};
              }
          for (std::uint32_t gi : s.children)
            if (m.elements[gi].name == "url" && m.elements[gi].fixed && m.elements[gi].fixed->is_string() &&
                m.elements[gi].fixed->str() == url)
              return def_pos{&m, si, {}};
        }
      }
      if (const model* pm = find_model(url)) return def_pos{pm, 0, {}};
      return std::nullopt;
    }
    for (std::uint32_t ci : m.elements[holder].children) {
      const element& c = m.elements[ci];
      if (c.name == seg || (c.is_choice() && std::string_view(c.name).substr(0, c.name.size() - 3) == seg))
        return def_pos{&m, ci, {}};
    }
    // Not expanded here: an extension's url is its profile; otherwise look in
    // the type's profile.
    for (const auto& t : e.types) {
      if (t.profiles.empty()) continue;
      if (seg == "url" && t.code == "Extension") return def_pos{&m, at.ei, std::string(strip_version(t.profiles[0]))};
      if (const model* pm = find_model(t.profiles[0]); pm && pm != at.m) return def_child(def_pos{pm, 0, {}}, seg, depth + 1);
    }
    return std::nullopt;
  }

  bool discriminator_matches(const model& m, std::uint32_t si, const discriminator_def& d, const node& n) {
    std::vector<node> vals{n};
    std::optional<def_pos> pos = def_pos{&m, si, {}};
    bool resolved = false;
    for (std::string_view seg : split_path(d.path)) {
      if (seg == "$this" || seg.empty()) continue;
      if (seg == "resolve()") {
        std::vector<node> next;
        for (const auto& v : vals)
          if (v.json && v.json->is_object())
            if (const json_value* r = resolve(*v.json)) {
              const json_value* rt = r->find("resourceType");
              if (rt && rt->is_string())
                if (const fhir::type_definition* td = defs_.find_type(rt->str()))
                  next.push_back(node{r, nullptr, td->name});
            }
        vals = std::move(next);
        resolved = true;
        continue;
      }
      std::vector<node> next;
      for (const auto& v : vals) {
        auto more = navigate(v, seg);
        next.insert(next.end(), more.begin(), more.end());
      }
      vals = std::move(next);
      if (pos && !pos->url) pos = def_child(*pos, seg);
      else pos.reset();
    }
    if (!pos) return true;  // nothing on the definition side constrains it
    const element& de = pos->m->elements[pos->ei];
    switch (d.kind) {
      case discriminator_kind::value:
      case discriminator_kind::pattern: {
        if (pos->url) {
          for (const auto& v : vals)
            if (v.json && v.json->is_string() && v.json->str() == *pos->url) return true;
          return false;
        }
        const json_value* want = de.fixed ? de.fixed.get() : de.pattern.get();
        if (!want) {
          // No fixed value: a required binding decides (profiling.html
          // #discriminator: "value" may use the element's binding), when a
          // terminology service is there to ask; else nothing constrains it.
          if (!de.binding || de.binding->strength != binding_strength::required || !opts_.terminology) return true;
          for (const auto& v : vals)
            if (in_value_set(de.binding->value_set, v)) return true;
          return false;
        }
        for (const auto& v : vals)
          if (de.fixed ? fixed_matches(*want, v.json) : pattern_matches(*want, v.json)) return true;
        return false;
      }
      case discriminator_kind::exists:
        if (de.min >= 1) return !vals.empty();
        if (de.max == 0) return vals.empty();
        return true;
      case discriminator_kind::type: {
        if (de.types.empty()) return true;
        for (const auto& v : vals)
          for (const auto& t : de.types) {
            if (resolved) {
              for (std::string_view tt : target_types(t))
                if (tt == v.type || tt == "Resource") return true;
            } else if (t.code == v.type) {
              return true;
            }
          }
        return false;
      }
      case discriminator_kind::profile: {
        std::vector<const model*> ps;
        for (const auto& t : de.types)
          for (const auto& p : resolved ? t.target_profiles : t.profiles)
            if (const model* pm = find_model(p)) ps.push_back(pm);
        if (ps.empty()) return true;
        for (const auto& v : vals)
          for (const model* pm : ps)
            if (conforms(*pm, 0, v)) return true;
        return false;
      }
    }
    return true;
  }

  // ------------------------------------------------------------ state

  using memo_key = std::tuple<const model*, std::uint32_t, const json_value*>;

  /// A value whose children are being walked (for extension contexts).
  struct parent {
    std::string_view path;  ///< its element's path: "Patient.name", "Patient"
    std::string_view type;  ///< its type: "HumanName", "Patient", "Patient.contact"
    const json_value* json;
  };

  struct active {
    const model* m;
    std::uint32_t ei;
    const json_value* json;
  };

  const registry& reg_;
  const fhir::definitions& defs_;
  const validate_options& opts_;
  /// find_model()'s answers from opts.lookup_profile (nullptr: none), the
  /// errors it gave, and the compiled profiles it handed out, kept alive for
  /// the call (models are referred to by pointer).
  mutable std::map<std::string, const model*, std::less<>> looked_up_;
  mutable std::map<std::string, std::string, std::less<>> lookup_errors_;
  mutable std::vector<std::shared_ptr<const compiled_profile>> pins_;
  fp::context ctx_;
  fp::collection* focus_ = nullptr;
  /// The resource whose elements are being walked (%resource).
  const json_value* resource_ = nullptr;
  /// The resource that is not contained and holds resource_ (%rootResource).
  const json_value* container_ = nullptr;
  std::string path_;
  std::size_t depth_ = 0;
  std::size_t work_ = 0;
  bool budget_exceeded_ = false;
  bool depth_exceeded_ = false;
  bool terminology_skipped_ = false;
  /// The last Narrative.div checked (txt-1 and txt-2 share one parse) and
  /// what was found; the resource does not change during the run.
  const json_value* narrative_of_ = nullptr;
  fhir::narrative_verdict narrative_;
  /// >0 while checking whether a value conforms (slices, several profiles):
  /// issues are counted, not listed.
  int sandbox_ = 0;
  std::size_t sandbox_errors_ = 0;
  std::vector<active> active_;
  std::vector<parent> parents_;
  std::map<memo_key, bool> memo_;
  /// The Bundles being walked, innermost last (for resolve()).
  std::vector<const json_value*> bundles_;
  fhir::issue_list issues_;
  std::set<std::string> seen_;
  std::size_t dropped_ = 0;
  issue_severity dropped_worst_ = issue_severity::information;
};

}  // namespace

fhir::issue_list validate_resource(const registry& reg, const fhir::json_value& resource,
                                   const validate_options& opts) {
  run r(reg, opts);
  return r.go(resource);
}

}  // namespace hearth::profiles::detail
