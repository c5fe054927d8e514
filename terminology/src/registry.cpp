// The registry's operations: $expand, $validate-code, $lookup, $subsumes,
// $translate, and the membership checks for validators (registry.hpp).

#include <hearth/terminology/registry.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <hearth/core/text.hpp>
#include "detail/context.hpp"
#include "detail/engine.hpp"
#include "detail/grammar.hpp"
#include "detail/registry_impl.hpp"

namespace hearth::terminology {
namespace {

using detail::answer;
using detail::code_system;
using detail::concept_def;
using detail::concept_map;
using detail::context;
using detail::entry;
using detail::entry_list;
using detail::make_error;
using detail::tri;
using detail::value_set;

/// Lower case, whitespace runs collapsed to one space, trimmed: displays
/// differ in such details without meaning anything else.
std::string normalize_display(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

/// The display given is one the code system (or the value set) knows for the concept.
bool display_matches(const concept_def* def, std::string_view listed, std::string_view given) {
  const std::string g = normalize_display(given);
  bool any_known = false;
  const auto same = [&](std::string_view d) {
    if (d.empty()) return false;
    any_known = true;
    return normalize_display(d) == g;
  };
  if (same(listed)) return true;
  if (def) {
    if (same(def->display)) return true;
    for (const auto& d : def->designations)
      if (same(d.value)) return true;
  }
  return !any_known;  // nothing to compare with: accepted
}

/// "url|version" from a canonical and a separate version (when it has none).
std::string with_version(const std::string& url, const std::string& version) {
  if (version.empty() || url.find('|') != std::string::npos) return url;
  return url + "|" + version;
}

std::string code_label(std::string_view system, std::string_view code) {
  std::string s;
  if (!system.empty()) s.append(system).push_back('#');
  s.append(code);
  return s;
}

std::string now_timestamp() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::uint64_t a = rng(), b = rng();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(a >> (8 * i));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // RFC 4122 version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // variant
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return std::string("urn:uuid:") + out;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (text::iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

fhir::json_value designation_json(const designation& d) {
  fhir::json_value o = fhir::json_value::object();
  if (!d.language.empty()) o.set("language", d.language);
  if (!d.use.code.empty() || !d.use.system.empty()) {
    fhir::json_value use = fhir::json_value::object();
    if (!d.use.system.empty()) use.set("system", d.use.system);
    if (!d.use.version.empty()) use.set("version", d.use.version);
    if (!d.use.code.empty()) use.set("code", d.use.code);
    if (!d.use.display.empty()) use.set("display", d.use.display);
    o.set("use", std::move(use));
  }
  o.set("value", d.value);
  return o;
}

fhir::json_value param(std::string_view name, std::string_view key, fhir::json_value v) {
  fhir::json_value p = fhir::json_value::object();
  p.set("name", name);
  p.set(key, std::move(v));
  return p;
}

/// A value set by canonical; when there is none but the canonical names a
/// code system (held, resolvable, or a grammar), the implicit value set of
/// all its codes (R4 valueset-operation-validate-code.html `url`: "defined
/// implicitly by some code system known to the server"), kept in `implicit`.
/// nullptr when neither.
hearth::result<const value_set*> value_set_or_implicit(context& ctx, const std::string& canonical,
                                                       std::unique_ptr<value_set>& implicit) {
  auto vs = ctx.value_set_for(canonical);
  if (!vs || *vs) return vs;
  const auto url = detail::split_canonical(canonical).url;
  auto cs = ctx.code_system_for(url);
  if (!cs) return hearth::unexpected(std::move(cs).error());
  if (!*cs && !detail::is_grammar_system(url)) return static_cast<const value_set*>(nullptr);
  implicit = std::make_unique<value_set>();
  implicit->url = std::string(url);
  implicit->status = "active";
  implicit->includes.push_back(detail::vs_include{std::string(url), {}, {}, {}, {}});
  return implicit.get();
}

// --- $expand output -----------------------------------------------------------

/// Deepest contains[] nesting written: bounds the recursion that writes it.
constexpr std::size_t max_contains_depth = 32;

struct tree_node {
  std::size_t entry = 0;
  std::vector<std::size_t> children;  // indexes into the node list
};

/// How each code of an expansion is written (contains[]): its display in
/// the language asked for, and which designations go with it.
class contains_writer {
 public:
  explicit contains_writer(const expand_request& req)
      : req_(req), designations_(req.include_designations || !req.designations.empty()) {}

  /// The display of `e`: its designation in req.display_language when it
  /// has one (the tag, then its primary language subtag, case-insensitive:
  /// BCP 47 tags are, RFC 5646 2.1.1), else the display it has.
  std::string_view display(const entry& e) const {
    if (req_.display_language.empty() || !e.designations) return e.display;
    const std::string_view want = req_.display_language;
    for (const auto& d : *e.designations)
      if (!d.value.empty() && text::iequals(d.language, want)) return d.value;
    const std::string_view primary = want.substr(0, want.find('-'));
    if (primary.size() != want.size())
      for (const auto& d : *e.designations)
        if (!d.value.empty() && text::iequals(d.language, primary)) return d.value;
    return e.display;
  }

  fhir::json_value json(const entry& e) const {
    fhir::json_value c = fhir::json_value::object();
    c.set("system", e.system);
    if (!e.version.empty()) c.set("version", e.version);
    if (e.abstract) c.set("abstract", true);
    if (e.inactive) c.set("inactive", true);
    c.set("code", e.code);
    if (const std::string_view d = display(e); !d.empty()) c.set("display", d);
    if (designations_ && e.designations) {
      fhir::json_value arr = fhir::json_value::array();
      for (const auto& d : *e.designations)
        if (wanted(d)) arr.push_back(designation_json(d));
      if (!arr.items().empty()) c.set("designation", std::move(arr));
    }
    return c;
  }

 private:
  /// R4 `designation`: "Designations that match by language or use are
  /// included in the expansion"; a token in urn:ietf:bcp:47 is a language,
  /// another system a use, a bare code either.
  bool wanted(const designation& d) const {
    if (req_.designations.empty()) return true;
    for (const coding& t : req_.designations) {
      if (t.system == "urn:ietf:bcp:47") {
        if (text::iequals(d.language, t.code)) return true;
      } else if (t.system.empty()) {
        if (text::iequals(d.language, t.code) || d.use.code == t.code) return true;
      } else if (d.use.system == t.system && (t.code.empty() || d.use.code == t.code)) {
        return true;
      }
    }
    return false;
  }

  const expand_request& req_;
  bool designations_;
};

fhir::json_value tree_json(const std::vector<const entry*>& kept, const std::vector<std::vector<std::size_t>>& kids,
                           std::size_t i, const contains_writer& w, std::size_t depth) {
  fhir::json_value c = w.json(*kept[i]);
  if (!kids[i].empty() && depth < max_contains_depth) {
    fhir::json_value arr = fhir::json_value::array();
    for (auto k : kids[i]) arr.push_back(tree_json(kept, kids, k, w, depth + 1));
    c.set("contains", std::move(arr));
  }
  return c;
}

/// contains[] nested by the code system hierarchy: each code goes under its
/// nearest ancestor present in the expansion, without cycles and at most
/// max_contains_depth deep; others stay at the top level.
fhir::json_value nested_contains(const std::vector<const entry*>& kept, const contains_writer& w) {
  std::unordered_map<const concept_def*, std::size_t> pos;
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (kept[i]->def) pos.emplace(kept[i]->def, i);
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::vector<std::size_t> parent(kept.size(), none);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const entry& e = *kept[i];
    if (!e.def || !e.cs) continue;
    // Breadth-first up the hierarchy; 256 concepts visited at most per code.
    std::vector<std::uint32_t> frontier(e.def->parents.begin(), e.def->parents.end());
    std::unordered_set<std::uint32_t> seen(frontier.begin(), frontier.end());
    std::size_t found = none;
    for (std::size_t k = 0; k < frontier.size() && k < 256 && found == none; ++k) {
      const concept_def* anc = &e.cs->concepts[frontier[k]];
      if (const auto it = pos.find(anc); it != pos.end() && it->second != i) {
        found = it->second;
        break;
      }
      for (auto p : anc->parents)
        if (seen.insert(p).second) frontier.push_back(p);
    }
    if (found == none) continue;
    // No cycle, and not too deep: walk up from the candidate.
    std::size_t depth = 1;
    bool ok = true;
    for (std::size_t up = found; up != none; up = parent[up]) {
      if (up == i || ++depth >= max_contains_depth) {
        ok = false;
        break;
      }
    }
    if (ok) parent[i] = found;
  }
  std::vector<std::vector<std::size_t>> kids(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (parent[i] != none) kids[parent[i]].push_back(i);
  fhir::json_value arr = fhir::json_value::array();
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (parent[i] == none) arr.push_back(tree_json(kept, kids, i, w, 1));
  return arr;
}

/// "system" or "system|version".
std::string canonical_text(const system_version& sv) {
  return sv.version.empty() ? sv.system : sv.system + "|" + sv.version;
}

/// The request's version rules into the call's context.
void set_version_rules(context& ctx, const expand_request& req) {
  for (const auto& sv : req.system_versions) ctx.versions.fallback.insert_or_assign(sv.system, sv.version);
  for (const auto& sv : req.check_system_versions) ctx.versions.check.insert_or_assign(sv.system, sv.version);
  for (const auto& sv : req.force_system_versions) ctx.versions.force.insert_or_assign(sv.system, sv.version);
}

/// `exclude-system`: the code is of an excluded system (and version).
bool excluded_system(const expand_request& req, const entry& e) {
  for (const auto& sv : req.exclude_systems)
    if (sv.system == e.system && (sv.version.empty() || sv.version == e.version)) return true;
  return false;
}

hearth::result<fhir::json_value> expand_impl(context& ctx, const value_set& vs, const expand_request& req) {
  if (!req.context.empty())
    return hearth::unexpected(make_error("not-supported", "an expansion context (a StructureDefinition element) "
                                                          "must be resolved to its value set before expanding"));
  set_version_rules(ctx, req);
  auto all = detail::expand_value_set(ctx, vs);
  if (!all) return hearth::unexpected(std::move(all).error());
  const contains_writer writer(req);
  std::vector<const entry*> kept;
  kept.reserve(all->items.size());
  for (const auto& e : all->items) {
    if (req.active_only && e.inactive) continue;
    if (excluded_system(req, e)) continue;
    if (!req.filter.empty() && !contains_ci(e.code, req.filter) && !contains_ci(e.display, req.filter) &&
        !contains_ci(writer.display(e), req.filter))
      continue;
    kept.push_back(&e);
  }
  const std::size_t total = kept.size();
  const bool paged = req.offset > 0 || req.count.has_value();
  if (!req.count && total > max_expansion_codes)
    return hearth::unexpected(make_error("too-costly", "expansion of value set " + vs.url + " has " +
                                                           std::to_string(total) + " codes, more than " +
                                                           std::to_string(max_expansion_codes) +
                                                           ": page it with offset and count"));
  const std::size_t count = std::min(req.count.value_or(max_expansion_codes), max_expansion_codes);
  const std::size_t first = std::min(req.offset, total);
  const std::size_t last = std::min(total, first + count);

  fhir::json_value out = fhir::json_value::object();
  out.set("resourceType", "ValueSet");
  if (!vs.id.empty()) out.set("id", vs.id);
  if (!vs.url.empty()) out.set("url", vs.url);
  if (!vs.version.empty()) out.set("version", vs.version);
  if (!vs.name.empty()) out.set("name", vs.name);
  if (!vs.title.empty()) out.set("title", vs.title);
  out.set("status", vs.status.empty() ? std::string("active") : vs.status);
  if (req.include_definition && !vs.compose.is_null()) out.set("compose", vs.compose);

  fhir::json_value exp = fhir::json_value::object();
  exp.set("identifier", new_uuid());
  exp.set("timestamp", now_timestamp());
  exp.set("total", fhir::json_value::number(std::to_string(total)));
  if (paged) exp.set("offset", fhir::json_value::number(std::to_string(first)));
  fhir::json_value params = fhir::json_value::array();
  // The code system versions used (as HL7's tools report them), then the
  // request's parameters that shaped the result.
  std::vector<std::string> versions;
  for (const auto* e : kept) {
    if (e->version.empty()) continue;
    std::string v = e->system + "|" + e->version;
    if (std::find(versions.begin(), versions.end(), v) == versions.end()) versions.push_back(std::move(v));
  }
  for (auto& v : versions) params.push_back(param("version", "valueUri", std::move(v)));
  if (!req.filter.empty()) params.push_back(param("filter", "valueString", req.filter));
  if (paged) {
    params.push_back(param("offset", "valueInteger", fhir::json_value::number(std::to_string(first))));
    params.push_back(param("count", "valueInteger", fhir::json_value::number(std::to_string(count))));
  }
  if (req.active_only) params.push_back(param("activeOnly", "valueBoolean", true));
  if (req.include_designations) params.push_back(param("includeDesignations", "valueBoolean", true));
  if (!req.exclude_nested) params.push_back(param("excludeNested", "valueBoolean", false));
  // R4 expansion.parameter.value[x] has no canonical: the version rules as uri.
  for (const auto& sv : req.exclude_systems) params.push_back(param("exclude-system", "valueUri", canonical_text(sv)));
  for (const auto& sv : req.system_versions) params.push_back(param("system-version", "valueUri", canonical_text(sv)));
  for (const auto& sv : req.check_system_versions)
    params.push_back(param("check-system-version", "valueUri", canonical_text(sv)));
  for (const auto& sv : req.force_system_versions)
    params.push_back(param("force-system-version", "valueUri", canonical_text(sv)));
  if (!req.display_language.empty()) params.push_back(param("displayLanguage", "valueCode", req.display_language));
  for (const auto& d : req.designations)
    params.push_back(param("designation", "valueString", d.system.empty() ? d.code : d.system + "|" + d.code));
  if (!params.items().empty()) exp.set("parameter", std::move(params));

  if (last > first) {
    const bool nest = !req.exclude_nested && !paged && req.filter.empty();
    if (nest) {
      exp.set("contains", nested_contains(kept, writer));
    } else {
      fhir::json_value arr = fhir::json_value::array();
      for (std::size_t i = first; i < last; ++i) arr.push_back(writer.json(*kept[i]));
      exp.set("contains", std::move(arr));
    }
  }
  out.set("expansion", std::move(exp));
  return out;
}

// --- $validate-code -------------------------------------------------------------

/// The verdict for one coding found in (or known to be in) the value set or
/// code system: abstract, inactive and display checks.
validate_result judge_found(const coding& c, const std::string& system, const concept_def* def,
                            std::string_view listed_display, bool abstract_ok) {
  validate_result r;
  r.outcome = verdict::valid;
  r.display = !listed_display.empty() ? std::string(listed_display) : (def ? def->display : std::string());
  r.matched = coding{system, c.version, def ? def->code : c.code, r.display};
  const std::string label = code_label(system, c.code);
  if (def && def->abstract && !abstract_ok) {
    r.outcome = verdict::invalid;
    r.findings.push_back({severity::error, "Code " + label + " is abstract (not selectable) and cannot be used here"});
    r.matched.reset();
    return r;
  }
  if (def && def->inactive)
    r.findings.push_back({severity::warning, "Code " + label + " is inactive"});
  if (!c.display.empty() && !display_matches(def, listed_display, c.display)) {
    std::string msg = "The display given for code " + label + " does not match the code system's";
    if (!r.display.empty()) msg += " ('" + r.display + "')";
    r.findings.push_back({severity::warning, std::move(msg)});
  }
  return r;
}

/// A coding naming a code system version other than the one held: the code
/// was checked against the version held (registry.hpp), with a warning.
void warn_version(validate_result& r, const coding& c, const code_system* cs) {
  if (r.outcome != verdict::valid || c.version.empty() || !cs || cs->version.empty() || c.version == cs->version) return;
  r.findings.push_back({severity::warning, "Version '" + c.version + "' of code system " + cs->url +
                                               " is not known; the code was checked against version '" + cs->version + "'"});
}

validate_result cannot_tell(std::string reason, std::string why) {
  validate_result r;
  r.outcome = verdict::cannot_tell;
  r.reason = std::move(reason);
  r.findings.push_back({severity::warning, std::move(why)});
  return r;
}

/// Errors of the engine that make a validation unanswerable rather than
/// failed: a code system whose content is missing, a limit.
bool soft_error(const hearth::error& e) { return e.code == "not-supported" || e.code == "too-costly" || e.code == "not-found"; }

/// Combines the results of the codings of one request: the first valid
/// wins; else cannot-tell if any; else invalid with every finding.
validate_result combine(std::vector<validate_result> parts, bool codeable_concept) {
  for (auto& p : parts)
    if (p.outcome == verdict::valid) return std::move(p);
  if (parts.size() == 1) return std::move(parts.front());
  validate_result out;
  out.outcome = verdict::invalid;
  for (auto& p : parts) {
    if (p.outcome == verdict::cannot_tell && out.outcome == verdict::invalid) {
      out.outcome = verdict::cannot_tell;
      out.reason = p.reason;
    }
    for (auto& f : p.findings) out.findings.push_back(std::move(f));
  }
  if (codeable_concept && out.outcome == verdict::invalid)
    out.findings.insert(out.findings.begin(), {severity::error, "None of the codings of the CodeableConcept is valid"});
  return out;
}

hearth::result<validate_result> validate_vs(context& ctx, const value_set& vs, const validate_request& req) {
  if (req.codings.empty())
    return hearth::unexpected(make_error("invalid", "$validate-code needs a code, a coding or a codeableConcept"));
  std::vector<validate_result> parts;
  const std::string vs_label = vs.url.empty() ? std::string("(inline value set)") : vs.url;
  for (const auto& c : req.codings) {
    if (c.code.empty()) {
      validate_result r;
      r.outcome = verdict::invalid;
      r.findings.push_back({severity::error, "A coding has no code"});
      parts.push_back(std::move(r));
      continue;
    }
    auto a = detail::member_of_value_set(ctx, vs, c.system, c.code);
    if (!a) {
      if (!soft_error(a.error())) return hearth::unexpected(std::move(a).error());
      parts.push_back(cannot_tell(a.error().code, a.error().message));
      continue;
    }
    if (a->t == tri::yes) {
      parts.push_back(judge_found(c, a->system.empty() ? c.system : a->system, a->def, a->listed_display,
                                  req.abstract_ok));
      warn_version(parts.back(), c, a->cs);
      continue;
    }
    if (a->t == tri::unknown) {
      parts.push_back(cannot_tell(a->reason, "Cannot tell whether code " + code_label(c.system, c.code) +
                                                 " is in value set " + vs_label + ": " + a->why));
      continue;
    }
    validate_result r;
    r.outcome = verdict::invalid;
    // Say whether the code exists at all, as HL7's validator does.
    if (!c.system.empty()) {
      if (detail::is_grammar_system(c.system) && !detail::grammar_accepts(c.system, c.code)) {
        r.findings.push_back({severity::error, "'" + c.code + "' is not a valid code of " +
                                                   std::string(detail::grammar_name(c.system))});
      } else if (auto cs = ctx.code_system_for(c.system); cs && *cs && (*cs)->complete() && !(*cs)->find(c.code)) {
        r.findings.push_back({severity::error, "Unknown code '" + c.code + "' in code system " + c.system});
      }
    }
    r.findings.push_back({severity::error, "Code " + code_label(c.system, c.code) + " is not in value set " + vs_label});
    parts.push_back(std::move(r));
  }
  return combine(std::move(parts), req.codeable_concept);
}

hearth::result<validate_result> validate_cs(context& ctx, const code_system* cs, std::string_view cs_url,
                                            const validate_request& req) {
  if (req.codings.empty())
    return hearth::unexpected(make_error("invalid", "$validate-code needs a code, a coding or a codeableConcept"));
  const std::string url = cs ? cs->url : std::string(cs_url);
  std::vector<validate_result> parts;
  for (const auto& c : req.codings) {
    validate_result r;
    if (c.code.empty()) {
      r.outcome = verdict::invalid;
      r.findings.push_back({severity::error, "A coding has no code"});
    } else if (!c.system.empty() && c.system != url) {
      r.outcome = verdict::invalid;
      r.findings.push_back({severity::error, "Code " + code_label(c.system, c.code) + " is not from code system " + url});
    } else if (!cs && detail::is_grammar_system(url)) {
      if (detail::grammar_accepts(url, c.code)) {
        r.outcome = verdict::valid;
        r.display = c.code;
        r.matched = coding{url, c.version, c.code, c.code};
      } else {
        r.outcome = verdict::invalid;
        r.findings.push_back({severity::error, "'" + c.code + "' is not a valid code of " +
                                                   std::string(detail::grammar_name(url))});
      }
    } else if (!cs) {
      r = cannot_tell("not-found", "Code system " + url + " is not known");
    } else if (const concept_def* def = cs->find(c.code)) {
      r = judge_found(c, url, def, {}, req.abstract_ok);
      warn_version(r, c, cs);
    } else if (cs->complete()) {
      r.outcome = verdict::invalid;
      r.findings.push_back({severity::error, "Unknown code '" + c.code + "' in code system " + url});
    } else {
      r = cannot_tell("not-supported", "Code system " + url + " content is '" + cs->content +
                                           "': code " + c.code + " cannot be checked");
    }
    parts.push_back(std::move(r));
  }
  (void)ctx;
  return combine(std::move(parts), req.codeable_concept);
}

// --- hierarchy ----------------------------------------------------------------------

/// `anc` is a proper ancestor of `c` (transitively, cycle-safe).
bool is_ancestor(const code_system& cs, const concept_def* anc, const concept_def* c) {
  std::vector<std::uint32_t> todo(c->parents.begin(), c->parents.end());
  std::vector<char> seen(cs.concepts.size(), 0);
  const auto target = cs.index_of(anc);
  while (!todo.empty()) {
    const auto i = todo.back();
    todo.pop_back();
    if (i == target) return true;
    if (seen[i]) continue;
    seen[i] = 1;
    for (auto p : cs.concepts[i].parents) todo.push_back(p);
  }
  return false;
}

// --- $translate ------------------------------------------------------------------------

/// Deepest chain of unmapped other-map references followed.
constexpr std::size_t max_map_chain = 8;

std::string reverse_equivalence(const std::string& e) {
  if (e == "wider") return "narrower";
  if (e == "narrower") return "wider";
  if (e == "subsumes") return "specializes";
  if (e == "specializes") return "subsumes";
  return e;
}

hearth::result<void> translate_one(context& ctx, const concept_map& cm, const coding& c, const translate_request& req,
                                   std::vector<translate_match>& out, std::size_t depth) {
  if (depth > max_map_chain)
    return hearth::unexpected(make_error("too-costly", "unmapped other-map references nested too deeply"));
  for (const auto& g : cm.groups) {
    const std::string& from = req.reverse ? g.target : g.source;
    const std::string& to = req.reverse ? g.source : g.target;
    const std::string& to_version = req.reverse ? g.source_version : g.target_version;
    if (!c.system.empty() && !from.empty() && from != c.system) continue;
    if (!req.target_system.empty() && !to.empty() && to != req.target_system) continue;
    bool found = false;
    for (const auto& el : g.elements) {
      if (!req.reverse) {
        if (el.code != c.code) continue;
        found = true;
        for (const auto& t : el.targets) {
          translate_match m;
          m.equivalence = t.equivalence.empty() ? std::string("equivalent") : t.equivalence;
          if (!t.code.empty()) m.mapped = coding{to, to_version, t.code, t.display};
          m.source = cm.url;
          out.push_back(std::move(m));
        }
      } else {
        for (const auto& t : el.targets) {
          if (t.code != c.code || t.equivalence == "unmatched" || t.equivalence == "disjoint") continue;
          found = true;
          translate_match m;
          m.equivalence = reverse_equivalence(t.equivalence.empty() ? std::string("equivalent") : t.equivalence);
          m.mapped = coding{to, to_version, el.code, el.display};
          m.source = cm.url;
          out.push_back(std::move(m));
        }
      }
    }
    // R4 ConceptMap.group.unmapped: only forwards, only when no element names the code.
    if (found || req.reverse || g.unmapped_mode.empty()) continue;
    if (g.unmapped_mode == "provided") {
      out.push_back({"equal", coding{to, to_version, c.code, c.display}, cm.url});
    } else if (g.unmapped_mode == "fixed" && !g.unmapped_code.empty()) {
      out.push_back({"inexact", coding{to, to_version, g.unmapped_code, g.unmapped_display}, cm.url});
    } else if (g.unmapped_mode == "other-map" && !g.unmapped_url.empty()) {
      auto other = ctx.concept_map_for(g.unmapped_url);
      if (!other) return hearth::unexpected(std::move(other).error());
      if (*other && *other != &cm)
        if (auto r = translate_one(ctx, **other, c, req, out, depth + 1); !r) return r;
    }
  }
  return {};
}

bool canonical_matches(std::string_view have, std::string_view want) {
  return !have.empty() && detail::split_canonical(have).url == detail::split_canonical(want).url;
}

}  // namespace

// --- public -------------------------------------------------------------------------

bool registry::has_code_system(std::string_view canonical) const noexcept {
  return impl_->find_cs(detail::split_canonical(canonical).url) != nullptr;  // any version
}
bool registry::has_value_set(std::string_view canonical) const noexcept {
  return impl_->find_vs(detail::split_canonical(canonical).url) != nullptr;
}
bool registry::has_concept_map(std::string_view canonical) const noexcept {
  return impl_->find_cm(detail::split_canonical(canonical).url) != nullptr;
}

std::optional<concept_info> registry::find_concept(std::string_view system, std::string_view code) const noexcept {
  const auto [url, version] = detail::split_canonical(system);
  const code_system* cs = impl_->find_cs(url, version);
  if (!cs) return std::nullopt;
  const concept_def* def = nullptr;
  try {
    def = cs->find(code);
  } catch (...) {  // allocation failure while folding case
    return std::nullopt;
  }
  if (!def) return std::nullopt;
  return concept_info{cs->url, def->code, def->display, def->definition, def->abstract, def->inactive};
}

hearth::result<fhir::json_value> registry::expand(const expand_request& req, const resolver& resolve) const {
  if (req.value_set) return expand(*req.value_set, req, resolve);
  context ctx(*impl_, resolve);
  if (req.url.empty()) return hearth::unexpected(make_error("invalid", "$expand needs a url or a valueSet"));
  std::unique_ptr<value_set> implicit;
  auto vs = value_set_or_implicit(ctx, with_version(req.url, req.value_set_version), implicit);
  if (!vs) return hearth::unexpected(std::move(vs).error());
  if (!*vs)
    return hearth::unexpected(make_error("not-found", "value set " + std::string(detail::split_canonical(req.url).url) +
                                                          " is not known"));
  return expand_impl(ctx, **vs, req);
}

hearth::result<fhir::json_value> registry::expand(const fhir::json_value& value_set, const expand_request& req,
                                                  const resolver& resolve) const {
  context ctx(*impl_, resolve);
  auto vs = ctx.adopt_value_set(value_set);
  if (!vs) return hearth::unexpected(std::move(vs).error());
  return expand_impl(ctx, **vs, req);
}

hearth::result<validate_result> registry::validate_code_in_value_set(const validate_request& req,
                                                                     const resolver& resolve) const {
  context ctx(*impl_, resolve);
  const value_set* vs = nullptr;
  std::unique_ptr<value_set> implicit;  // outlives `vs`
  if (req.resource) {
    auto r = ctx.adopt_value_set(*req.resource);
    if (!r) return hearth::unexpected(std::move(r).error());
    vs = *r;
  } else {
    if (req.url.empty()) return hearth::unexpected(make_error("invalid", "$validate-code needs a url or a valueSet"));
    auto r = value_set_or_implicit(ctx, with_version(req.url, req.value_set_version), implicit);
    if (!r) return hearth::unexpected(std::move(r).error());
    if (!*r) {
      if (req.codings.empty())
        return hearth::unexpected(make_error("invalid", "$validate-code needs a code, a coding or a codeableConcept"));
      return cannot_tell("not-found", "Value set " + std::string(detail::split_canonical(req.url).url) + " is not known");
    }
    vs = *r;
  }
  return validate_vs(ctx, *vs, req);
}

hearth::result<validate_result> registry::validate_code_in_code_system(const validate_request& req,
                                                                       const resolver& resolve) const {
  context ctx(*impl_, resolve);
  const code_system* cs = nullptr;
  std::string url;
  if (req.resource) {
    auto r = ctx.adopt_code_system(*req.resource);
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
    url = cs->url;
  } else {
    const auto parts = detail::split_canonical(req.url);
    url = std::string(parts.url);
    std::string version(parts.version);
    if (url.empty() && !req.codings.empty()) url = req.codings.front().system;
    if (version.empty() && !req.codings.empty()) version = req.codings.front().version;
    if (url.empty()) return hearth::unexpected(make_error("invalid", "$validate-code needs a url or a codeSystem"));
    auto r = ctx.code_system_for(with_version(url, version));
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
  }
  return validate_cs(ctx, cs, url, req);
}

hearth::result<lookup_result> registry::lookup(const lookup_request& req, const resolver& resolve) const {
  context ctx(*impl_, resolve);
  const coding& in = req.input;
  if (in.code.empty()) return hearth::unexpected(make_error("invalid", "$lookup needs a code or a coding"));
  const code_system* cs = nullptr;
  if (req.code_system) {
    auto r = ctx.adopt_code_system(*req.code_system);
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
  } else {
    if (in.system.empty()) return hearth::unexpected(make_error("invalid", "$lookup needs a system"));
    auto r = ctx.code_system_for(in.version.empty() ? in.system : in.system + "|" + in.version);
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
  }
  if (!cs) {
    if (detail::is_grammar_system(in.system)) {
      if (!detail::grammar_accepts(in.system, in.code))
        return hearth::unexpected(make_error("not-found", "'" + in.code + "' is not a valid code of " +
                                                              std::string(detail::grammar_name(in.system))));
      lookup_result out;
      out.name = std::string(detail::grammar_name(in.system));
      out.display = in.code;
      return out;
    }
    return hearth::unexpected(make_error("not-found", "code system " + in.system + " is not known"));
  }
  const concept_def* def = cs->find(in.code);
  if (!def) {
    if (!cs->complete())
      return hearth::unexpected(make_error("not-supported", "code system " + cs->url + " content is '" + cs->content +
                                                                "': code " + in.code + " cannot be looked up"));
    return hearth::unexpected(make_error("not-found", "Unknown code '" + in.code + "' in code system " + cs->url));
  }
  const auto wanted = [&](std::string_view p) {
    return req.properties.empty() || std::find(req.properties.begin(), req.properties.end(), p) != req.properties.end();
  };
  lookup_result out;
  // $lookup's `name` is 1..1: a code system with neither title nor name
  // (one stored through the API may have none) is named by its URL.
  out.name = cs->name.empty() ? cs->url : cs->name;
  out.version = cs->version;
  out.display = def->display;
  out.abstract = def->abstract;
  out.inactive = def->inactive;
  if (wanted("definition")) out.definition = def->definition;
  if (wanted("designation")) out.designations = def->designations;
  const auto description = [&](std::string_view code) {
    for (const auto& p : cs->property_defs)
      if (p.code == code) return p.description;
    return std::string();
  };
  for (const auto& p : def->properties)
    if (wanted(p.code)) out.properties.push_back({p.code, p.value_key, p.value, description(p.code)});
  if (wanted("parent"))
    for (auto i : def->parents) out.properties.push_back({"parent", "valueCode", cs->concepts[i].code, description("parent")});
  if (wanted("child"))
    for (auto i : def->children) out.properties.push_back({"child", "valueCode", cs->concepts[i].code, description("child")});
  if (wanted("inactive")) {
    const bool declared = std::any_of(def->properties.begin(), def->properties.end(),
                                      [](const detail::property_value& p) { return p.code == "inactive"; });
    if (!declared) out.properties.push_back({"inactive", "valueBoolean", def->inactive, {}});
  }
  return out;
}

hearth::result<subsumption> registry::subsumes(const subsumes_request& req, const resolver& resolve) const {
  context ctx(*impl_, resolve);
  if (req.a.code.empty() || req.b.code.empty())
    return hearth::unexpected(make_error("invalid", "$subsumes needs codeA and codeB (or codingA and codingB)"));
  std::string system = req.system;
  for (const auto* c : {&req.a, &req.b}) {
    if (c->system.empty()) continue;
    if (!system.empty() && system != c->system)
      return hearth::unexpected(make_error("invalid", "$subsumes: the codes are from different code systems"));
    system = c->system;
  }
  const code_system* cs = nullptr;
  if (req.code_system) {
    auto r = ctx.adopt_code_system(*req.code_system);
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
    if (!system.empty() && system != cs->url)
      return hearth::unexpected(make_error("invalid", "$subsumes: the codes are not from code system " + cs->url));
  } else {
    if (system.empty()) return hearth::unexpected(make_error("invalid", "$subsumes needs a system"));
    auto r = ctx.code_system_for(req.version.empty() ? system : system + "|" + req.version);
    if (!r) return hearth::unexpected(std::move(r).error());
    cs = *r;
    if (!cs) return hearth::unexpected(make_error("not-found", "code system " + system + " is not known"));
  }
  const concept_def* a = cs->find(req.a.code);
  const concept_def* b = cs->find(req.b.code);
  for (const auto& [def, c] : {std::pair{a, &req.a}, std::pair{b, &req.b}})
    if (!def) return hearth::unexpected(make_error("not-found", "Unknown code '" + c->code + "' in code system " + cs->url));
  if (a == b) return subsumption::equivalent;
  if (is_ancestor(*cs, a, b)) return subsumption::subsumes;
  if (is_ancestor(*cs, b, a)) return subsumption::subsumed_by;
  return subsumption::not_subsumed;
}

hearth::result<translate_result> registry::translate(const translate_request& req, const resolver& resolve) const {
  context ctx(*impl_, resolve);
  if (req.codings.empty() || std::all_of(req.codings.begin(), req.codings.end(), [](const coding& c) { return c.code.empty(); }))
    return hearth::unexpected(make_error("invalid", "$translate needs a code, a coding or a codeableConcept"));
  std::vector<const concept_map*> maps;
  if (req.concept_map) {
    auto r = ctx.adopt_concept_map(*req.concept_map);
    if (!r) return hearth::unexpected(std::move(r).error());
    maps.push_back(*r);
  } else if (!req.url.empty()) {
    auto r = ctx.concept_map_for(req.url);
    if (!r) return hearth::unexpected(std::move(r).error());
    if (!*r)
      return hearth::unexpected(make_error("not-found", "concept map " + std::string(detail::split_canonical(req.url).url) +
                                                            " is not known"));
    maps.push_back(*r);
  } else {
    // By source / target value sets (swapped when reversed), among the
    // registry's maps; with neither, every map whose groups fit the system.
    for (const auto& cm : impl_->concept_maps) {
      const std::string& src = req.reverse ? cm->target : cm->source;
      const std::string& tgt = req.reverse ? cm->source : cm->target;
      if (!req.source.empty() && !canonical_matches(src, req.source)) continue;
      if (!req.target.empty() && !canonical_matches(tgt, req.target)) continue;
      maps.push_back(cm.get());
    }
    if (maps.empty())
      return hearth::unexpected(make_error("not-found", "no concept map between the given source and target"));
  }
  translate_result out;
  for (const auto& c : req.codings) {
    if (c.code.empty()) continue;
    for (const auto* cm : maps)
      if (auto r = translate_one(ctx, *cm, c, req, out.matches, 0); !r) return hearth::unexpected(std::move(r).error());
  }
  out.result = std::any_of(out.matches.begin(), out.matches.end(), [](const translate_match& m) {
    return m.equivalence != "unmatched" && m.equivalence != "disjoint";
  });
  if (out.matches.empty()) {
    const auto& c = req.codings.front();
    out.message = "No mapping found for code " + code_label(c.system, c.code);
  } else if (!out.result) {
    out.message = "Only unmatched or disjoint mappings found";
  }
  return out;
}

verdict registry::check_membership(std::string_view value_set, std::string_view system, std::string_view code,
                                   const resolver& resolve) const {
  const auto url = detail::split_canonical(value_set).url;
  const detail::value_set* held = impl_->find_vs(url);
  if (held) {
    std::shared_ptr<const detail::membership> m;
    {
      std::shared_lock lock(impl_->cache_mutex);
      if (const auto it = impl_->cache.find(url); it != impl_->cache.end()) m = it->second;
    }
    if (!m) {
      // Computed outside the lock (two threads may both compute it; the
      // first stored wins, the results are equal).
      auto fresh = std::make_shared<detail::membership>();
      try {
        const resolver none;  // the registry alone: the answer may be cached
        context ctx(*impl_, none);
        auto all = detail::expand_value_set(ctx, *held);
        if (all && !ctx.used_resolver) {
          fresh->enumerable = true;
          for (const auto& e : all->items) {
            const bool ci = detail::codes_case_insensitive(e.cs, e.system);
            fresh->keys.insert(entry_list::key(e.system, ci ? detail::ascii_lower(e.code) : e.code));
            fresh->codes.insert(e.code);
          }
        }
      } catch (const std::bad_alloc&) {
        fresh->enumerable = false;
      }
      std::unique_lock lock(impl_->cache_mutex);
      m = impl_->cache.emplace(std::string(url), std::move(fresh)).first->second;
    }
    if (m->enumerable) {
      if (system.empty()) return m->codes.contains(code) ? verdict::valid : verdict::invalid;
      const code_system* cs = impl_->find_cs(system);
      const bool ci = detail::codes_case_insensitive(cs, system);
      return m->keys.contains(entry_list::key(system, ci ? detail::ascii_lower(code) : std::string(code)))
                 ? verdict::valid
                 : verdict::invalid;
    }
  }
  context ctx(*impl_, resolve);
  std::unique_ptr<detail::value_set> implicit;
  auto vs = value_set_or_implicit(ctx, std::string(value_set), implicit);
  if (!vs || !*vs) return verdict::cannot_tell;
  auto a = detail::member_of_value_set(ctx, **vs, system, code);
  if (!a) return verdict::cannot_tell;
  return a->t == tri::yes ? verdict::valid : a->t == tri::no ? verdict::invalid : verdict::cannot_tell;
}

verdict registry::check_membership(std::string_view value_set, std::span<const coding> codings,
                                   const resolver& resolve) const {
  verdict out = verdict::invalid;
  for (const auto& c : codings) {
    if (c.code.empty()) continue;
    const verdict v = check_membership(value_set, c.system, c.code, resolve);
    if (v == verdict::valid) return v;
    if (v == verdict::cannot_tell) out = v;
  }
  return out;
}

verdict registry::check_code(std::string_view system, std::string_view code, const resolver& resolve) const {
  context ctx(*impl_, resolve);
  auto cs = ctx.code_system_for(system);
  if (!cs) return verdict::cannot_tell;
  if (!*cs) {
    if (detail::is_grammar_system(system)) return detail::grammar_accepts(system, code) ? verdict::valid : verdict::invalid;
    return verdict::cannot_tell;
  }
  if ((*cs)->find(code)) return verdict::valid;
  return (*cs)->complete() ? verdict::invalid : verdict::cannot_tell;
}

}  // namespace hearth::terminology
