// Value set membership and enumeration (detail/engine.hpp).

#include "detail/engine.hpp"

#include <algorithm>
#include <unordered_set>

#include <hearth/core/text.hpp>
#include "detail/grammar.hpp"

namespace hearth::terminology::detail {
namespace {

/// Enters a value set: refuses cycles and excessive nesting; leaves on scope exit.
class enter_guard {
 public:
  enter_guard(context& ctx, const value_set& vs) : ctx_(ctx) { ctx_.stack.push_back(vs.url); }
  ~enter_guard() { ctx_.stack.pop_back(); }
  enter_guard(const enter_guard&) = delete;
  enter_guard& operator=(const enter_guard&) = delete;

 private:
  context& ctx_;
};

hearth::result<void> check_enter(const context& ctx, const value_set& vs, std::size_t depth) {
  if (depth >= max_value_set_depth)
    return hearth::unexpected(make_error("too-costly", "value sets nested more than " +
                                                           std::to_string(max_value_set_depth) + " levels deep"));
  if (!vs.url.empty() && std::find(ctx.stack.begin(), ctx.stack.end(), vs.url) != ctx.stack.end())
    return hearth::unexpected(make_error("invalid", "value set " + vs.url + " includes itself (a cycle)"));
  return {};
}

std::string with_version(const std::string& system, const std::string& version) {
  return version.empty() ? system : system + "|" + version;
}

answer unknown(std::string reason, std::string why) {
  answer a;
  a.t = tri::unknown;
  a.reason = std::move(reason);
  a.why = std::move(why);
  return a;
}

hearth::result<answer> member_of_include(context& ctx, const vs_include& inc, std::string_view system,
                                         std::string_view code, std::size_t depth) {
  answer a;
  if (inc.system.empty() && inc.value_sets.empty()) return a;
  if (!inc.system.empty()) {
    if (!system.empty() && system != inc.system) return a;
    auto cs_r = ctx.code_system_for(with_version(inc.system, inc.version));
    if (!cs_r) return hearth::unexpected(std::move(cs_r).error());
    const code_system* cs = *cs_r;
    a.system = inc.system;
    a.cs = cs;
    if (!inc.concepts.empty()) {
      const bool ci = codes_case_insensitive(cs, inc.system);
      for (const auto& c : inc.concepts) {
        if (ci ? text::iequals(c.code, code) : c.code == code) {
          a.def = cs ? cs->find(code) : nullptr;
          // Listed but not a code of a complete code system: left out, as
          // the expansion leaves it out.
          if (cs && cs->complete() && !a.def) return answer{};
          a.t = tri::yes;
          a.listed_display = c.display;
          break;
        }
      }
      if (a.t != tri::yes) return answer{};
    } else if (!inc.filters.empty()) {
      if (!cs) {
        a = unknown(is_grammar_system(inc.system) ? "not-supported" : "not-found",
                    "code system " + inc.system + " is not available to evaluate filters");
      } else if (!cs->complete()) {
        a = unknown("not-supported", "code system " + inc.system + " content is '" + cs->content + "'");
      } else {
        const concept_def* def = cs->find(code);
        if (!def) return answer{};
        for (const auto& f : inc.filters) {
          auto marks = ctx.filter_marks(*cs, f);
          if (!marks) return hearth::unexpected(std::move(marks).error());
          if (!(**marks)[cs->index_of(def)]) return answer{};
        }
        a.t = tri::yes;
        a.def = def;
      }
    } else if (is_grammar_system(inc.system)) {
      if (!grammar_accepts(inc.system, code)) return answer{};
      a.t = tri::yes;
    } else if (!cs) {
      a = unknown("not-found", "code system " + inc.system + " is not known");
    } else if (const concept_def* def = cs->find(code)) {
      a.t = tri::yes;
      a.def = def;
    } else if (cs->complete()) {
      return answer{};
    } else {
      a = unknown("not-supported", "code system " + inc.system + " content is '" + cs->content + "'");
    }
    if (a.t == tri::unknown) {
      a.system = inc.system;
      a.cs = cs;
    }
  } else {
    a.t = tri::yes;  // neutral for the intersection below
  }
  for (const auto& canonical : inc.value_sets) {
    auto vs_r = ctx.value_set_for(canonical);
    if (!vs_r) return hearth::unexpected(std::move(vs_r).error());
    if (!*vs_r) {
      if (a.t == tri::yes) a = unknown("not-found", "value set " + std::string(split_canonical(canonical).url) + " is not known");
      continue;
    }
    auto b = member_of_value_set(ctx, **vs_r, inc.system.empty() ? system : std::string_view(inc.system), code,
                                 depth + 1);
    if (!b) return hearth::unexpected(std::move(b).error());
    if (b->t == tri::no) return answer{};
    if (b->t == tri::unknown) {
      if (a.t == tri::yes) a = std::move(b).value();
    } else if (a.t == tri::yes && a.system.empty()) {
      a = std::move(b).value();
    } else if (a.t == tri::yes && !a.def) {
      a.def = b->def;
      a.cs = a.cs ? a.cs : b->cs;
      if (a.listed_display.empty()) a.listed_display = b->listed_display;
    }
  }
  return a;
}

/// The version of an include's code system an expansion uses, and whether it
/// came from the request's rules (then it must be the version held).
struct pinned_version {
  std::string version;  ///< empty: the include names none and no rule gives one
  bool from_rule = false;
};

/// R4 valueset-operation-expand.html: force-system-version "overrides any
/// specified version in the value set (and any it depends on)";
/// system-version applies "if the value set does not specify which one to
/// use"; check-system-version also "specifies a version to use", and "if a
/// value set specifies a different version, an error is returned instead of
/// the expansion".
hearth::result<pinned_version> version_for(const context& ctx, const vs_include& inc) {
  const version_rules& rules = ctx.versions;
  pinned_version out{inc.version, false};
  if (const auto f = rules.force.find(inc.system); f != rules.force.end()) {
    out = {f->second, true};
  } else if (inc.version.empty()) {
    if (const auto d = rules.fallback.find(inc.system); d != rules.fallback.end())
      out = {d->second, true};
    else if (const auto c = rules.check.find(inc.system); c != rules.check.end())
      out = {c->second, true};
  }
  if (const auto c = rules.check.find(inc.system); c != rules.check.end() && out.version != c->second) {
    const std::string where = ctx.stack.empty() || ctx.stack.back().empty() ? "the value set" : "value set " + ctx.stack.back();
    return hearth::unexpected(make_error("business-rule", where + " uses version " + out.version + " of code system " +
                                                              inc.system + ", but check-system-version requires version " +
                                                              c->second));
  }
  return out;
}

hearth::result<entry_list> expand_include(context& ctx, const vs_include& inc, std::size_t depth) {
  entry_list acc;
  bool have = false;
  if (!inc.system.empty()) {
    auto pin = version_for(ctx, inc);
    if (!pin) return hearth::unexpected(std::move(pin).error());
    auto cs_r = ctx.code_system_for(with_version(inc.system, pin->version));
    if (!cs_r) return hearth::unexpected(std::move(cs_r).error());
    const code_system* cs = *cs_r;
    if (pin->from_rule && cs && cs->version != pin->version)
      return hearth::unexpected(make_error(
          "not-supported", "version " + pin->version + " of code system " + inc.system + " is not available" +
                               (cs->version.empty() ? std::string() : " (the version held is " + cs->version + ")")));
    const std::string version = !pin->version.empty() ? pin->version : (cs ? cs->version : std::string());
    if (!inc.concepts.empty()) {
      for (const auto& c : inc.concepts) {
        const concept_def* def = cs ? cs->find(c.code) : nullptr;
        if (cs && cs->complete() && !def) continue;  // not a code of the system: left out
        entry e;
        e.system = inc.system;
        e.version = version;
        e.code = def ? def->code : c.code;
        e.display = !c.display.empty() ? c.display : (def ? def->display : std::string());
        e.cs = cs;
        e.def = def;
        e.designations = !c.designations.empty() ? &c.designations : (def ? &def->designations : nullptr);
        e.abstract = def && def->abstract;
        e.inactive = def && def->inactive;
        if (auto r = acc.add(std::move(e)); !r) return hearth::unexpected(std::move(r).error());
      }
    } else {
      if (is_grammar_system(inc.system))
        return hearth::unexpected(make_error("not-supported", "code system " + inc.system +
                                                                  " is a grammar: its codes cannot be enumerated"));
      if (!cs)
        return hearth::unexpected(make_error("not-supported", "code system " + inc.system +
                                                                  " is not available: its content cannot be enumerated"));
      if (!cs->complete())
        return hearth::unexpected(make_error("not-supported", "code system " + inc.system + " content is '" +
                                                                  cs->content + "': it cannot be enumerated"));
      std::vector<const std::vector<char>*> marks;
      for (const auto& f : inc.filters) {
        auto m = ctx.filter_marks(*cs, f);
        if (!m) return hearth::unexpected(std::move(m).error());
        marks.push_back(*m);
      }
      for (std::size_t i = 0; i < cs->concepts.size(); ++i) {
        bool keep = true;
        for (const auto* m : marks)
          if (!(*m)[i]) keep = false;
        if (!keep) continue;
        const concept_def& def = cs->concepts[i];
        entry e;
        e.system = inc.system;
        e.version = version;
        e.code = def.code;
        e.display = def.display;
        e.cs = cs;
        e.def = &def;
        e.designations = &def.designations;
        e.abstract = def.abstract;
        e.inactive = def.inactive;
        if (auto r = acc.add(std::move(e)); !r) return hearth::unexpected(std::move(r).error());
      }
    }
    have = true;
  }
  for (const auto& canonical : inc.value_sets) {
    auto vs_r = ctx.value_set_for(canonical);
    if (!vs_r) return hearth::unexpected(std::move(vs_r).error());
    if (!*vs_r)
      return hearth::unexpected(make_error("not-found", "value set " + std::string(split_canonical(canonical).url) +
                                                            " is not known"));
    auto sub = expand_value_set(ctx, **vs_r, depth + 1);
    if (!sub) return hearth::unexpected(std::move(sub).error());
    if (!have) {
      acc = std::move(sub).value();
      have = true;
      continue;
    }
    entry_list kept;
    for (auto& e : acc.items)
      if (sub->contains(e.system, e.code))
        if (auto r = kept.add(std::move(e)); !r) return hearth::unexpected(std::move(r).error());
    acc = std::move(kept);
  }
  return acc;
}

}  // namespace

std::string entry_list::key(std::string_view system, std::string_view code) {
  std::string k;
  k.reserve(system.size() + code.size() + 1);
  k.append(system).push_back('\x1f');
  k.append(code);
  return k;
}

bool entry_list::contains(std::string_view system, std::string_view code) const {
  return index.contains(key(system, code));
}

hearth::result<void> entry_list::add(entry e) {
  auto k = key(e.system, e.code);
  if (index.contains(k)) return {};
  if (items.size() >= max_expansion_work)
    return hearth::unexpected(make_error("too-costly", "expansion larger than " +
                                                           std::to_string(max_expansion_work) + " codes"));
  index.emplace(std::move(k), items.size());
  items.push_back(std::move(e));
  return {};
}

hearth::result<answer> member_of_value_set(context& ctx, const value_set& vs, std::string_view system,
                                           std::string_view code, std::size_t depth) {
  if (auto r = check_enter(ctx, vs, depth); !r) return hearth::unexpected(std::move(r).error());
  enter_guard guard(ctx, vs);
  answer best;
  for (const auto& inc : vs.includes) {
    auto a = member_of_include(ctx, inc, system, code, depth);
    if (!a) return a;
    if (a->t == tri::yes) {
      best = std::move(a).value();
      break;
    }
    if (a->t == tri::unknown && best.t == tri::no) best = std::move(a).value();
  }
  if (best.t == tri::no) return best;
  for (const auto& exc : vs.excludes) {
    auto e = member_of_include(ctx, exc, system, code, depth);
    if (!e) return e;
    if (e->t == tri::yes) return answer{};
    if (e->t == tri::unknown && best.t == tri::yes) {
      best.t = tri::unknown;
      best.reason = e->reason;
      best.why = e->why;
    }
  }
  return best;
}

hearth::result<entry_list> expand_value_set(context& ctx, const value_set& vs, std::size_t depth) {
  if (auto r = check_enter(ctx, vs, depth); !r) return hearth::unexpected(std::move(r).error());
  enter_guard guard(ctx, vs);
  entry_list out;
  for (const auto& inc : vs.includes) {
    auto part = expand_include(ctx, inc, depth);
    if (!part) return part;
    for (auto& e : part->items)
      if (auto r = out.add(std::move(e)); !r) return hearth::unexpected(std::move(r).error());
  }
  if (vs.excludes.empty()) return out;
  std::unordered_set<std::string> excluded;
  for (const auto& exc : vs.excludes) {
    auto part = expand_include(ctx, exc, depth);
    if (!part) return part;
    for (auto& [k, i] : part->index) excluded.insert(k);
  }
  entry_list kept;
  for (auto& e : out.items)
    if (!excluded.contains(entry_list::key(e.system, e.code)))
      if (auto r = kept.add(std::move(e)); !r) return hearth::unexpected(std::move(r).error());
  return kept;
}

}  // namespace hearth::terminology::detail
