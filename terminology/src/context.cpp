// The per-call context of the terminology operations (detail/context.hpp).

#include "detail/context.hpp"

#include <algorithm>

#include <hearth/core/text.hpp>
#include "detail/compile.hpp"
#include "detail/json_node.hpp"

namespace hearth::terminology::detail {
namespace {

bool equals_ci(std::string_view a, std::string_view b, bool case_sensitive) {
  return case_sensitive ? a == b : text::iequals(a, b);
}

/// Splits "a,b , c" into trimmed items (R4 filter-operator `in`).
std::vector<std::string_view> split_list(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    const auto item = text::trim(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

/// Marks `from` and everything reachable through `next` (children or parents).
void reach(const code_system& cs, std::uint32_t from, bool downwards, std::vector<char>& marks) {
  std::vector<std::uint32_t> todo{from};
  marks[from] = 1;
  while (!todo.empty()) {
    const auto i = todo.back();
    todo.pop_back();
    const auto& next = downwards ? cs.concepts[i].children : cs.concepts[i].parents;
    for (auto n : next) {
      if (marks[n]) continue;
      marks[n] = 1;
      todo.push_back(n);
    }
  }
}

}  // namespace

hearth::result<const code_system*> context::code_system_for(std::string_view canonical) {
  const auto [url, version] = split_canonical(canonical);
  if (const auto it = cs_.find(url); it != cs_.end()) return it->second;
  if (const auto* cs = reg_.find_cs(url, version)) return cs;
  used_resolver = true;
  const code_system* found = nullptr;
  if (resolve_) {
    if (auto r = resolve_("CodeSystem", url, version)) {
      auto cs = compile_code_system(json_node(&*r), false);
      if (!cs) return hearth::unexpected(std::move(cs).error());
      if (cs->url.empty()) cs->url = std::string(url);
      own_cs_.push_back(std::make_unique<code_system>(std::move(cs).value()));
      found = own_cs_.back().get();
    }
  }
  cs_.emplace(std::string(url), found);
  return found;
}

hearth::result<const value_set*> context::value_set_for(std::string_view canonical) {
  const auto [url, version] = split_canonical(canonical);
  if (const auto it = vs_.find(url); it != vs_.end()) return it->second;
  if (const auto* vs = reg_.find_vs(url)) return vs;
  used_resolver = true;
  const value_set* found = nullptr;
  if (resolve_) {
    if (auto r = resolve_("ValueSet", url, version)) {
      auto vs = compile_value_set(json_node(&*r));
      if (!vs) return hearth::unexpected(std::move(vs).error());
      if (vs->url.empty()) vs->url = std::string(url);
      own_vs_.push_back(std::make_unique<value_set>(std::move(vs).value()));
      found = own_vs_.back().get();
    }
  }
  vs_.emplace(std::string(url), found);
  return found;
}

hearth::result<const concept_map*> context::concept_map_for(std::string_view canonical) {
  const auto [url, version] = split_canonical(canonical);
  if (const auto it = cm_.find(url); it != cm_.end()) return it->second;
  if (const auto* cm = reg_.find_cm(url)) return cm;
  used_resolver = true;
  const concept_map* found = nullptr;
  if (resolve_) {
    if (auto r = resolve_("ConceptMap", url, version)) {
      auto cm = compile_concept_map(json_node(&*r));
      if (!cm) return hearth::unexpected(std::move(cm).error());
      if (cm->url.empty()) cm->url = std::string(url);
      own_cm_.push_back(std::make_unique<concept_map>(std::move(cm).value()));
      found = own_cm_.back().get();
    }
  }
  cm_.emplace(std::string(url), found);
  return found;
}

hearth::result<const code_system*> context::adopt_code_system(const fhir::json_value& r) {
  auto cs = compile_code_system(json_node(&r), false);
  if (!cs) return hearth::unexpected(std::move(cs).error());
  own_cs_.push_back(std::make_unique<code_system>(std::move(cs).value()));
  const code_system* p = own_cs_.back().get();
  if (!p->url.empty()) cs_.insert_or_assign(p->url, p);
  return p;
}

hearth::result<const value_set*> context::adopt_value_set(const fhir::json_value& r) {
  auto vs = compile_value_set(json_node(&r));
  if (!vs) return hearth::unexpected(std::move(vs).error());
  own_vs_.push_back(std::make_unique<value_set>(std::move(vs).value()));
  const value_set* p = own_vs_.back().get();
  if (!p->url.empty()) vs_.insert_or_assign(p->url, p);
  return p;
}

hearth::result<const concept_map*> context::adopt_concept_map(const fhir::json_value& r) {
  auto cm = compile_concept_map(json_node(&r));
  if (!cm) return hearth::unexpected(std::move(cm).error());
  own_cm_.push_back(std::make_unique<concept_map>(std::move(cm).value()));
  const concept_map* p = own_cm_.back().get();
  if (!p->url.empty()) cm_.insert_or_assign(p->url, p);
  return p;
}

hearth::result<const RE2*> context::regex(const std::string& pattern) {
  if (const auto it = regexes_.find(pattern); it != regexes_.end()) return it->second.get();
  if (pattern.size() > max_regex_length)
    return hearth::unexpected(make_error("too-costly", "regex filter longer than " +
                                                           std::to_string(max_regex_length) + " bytes"));
  RE2::Options opts;
  opts.set_log_errors(false);
  // 8 MiB of compiled program at most: ample for any real filter.
  opts.set_max_mem(8 << 20);
  auto re = std::make_unique<RE2>(pattern, opts);
  if (!re->ok()) {
    // Counted repetitions beyond RE2's 1000 and programs beyond max_mem are
    // limits, not mistakes.
    const bool too_big = re->error_code() == RE2::ErrorPatternTooLarge || re->error_code() == RE2::ErrorRepeatSize;
    return hearth::unexpected(make_error(too_big ? "too-costly" : "invalid",
                                         too_big ? "regex filter too large to compile" : "regex filter is not a valid regular expression"));
  }
  const RE2* p = re.get();
  regexes_.emplace(pattern, std::move(re));
  return p;
}

hearth::result<const std::vector<char>*> context::filter_marks(const code_system& cs, const vs_filter& f) {
  const auto key = std::make_pair(&cs, &f);
  if (const auto it = marks_.find(key); it != marks_.end()) return &it->second;
  const std::size_t n = cs.concepts.size();
  std::vector<char> marks(n, 0);
  const std::string& prop = f.property;
  const std::string& op = f.op;
  const auto unsupported = [&] {
    return hearth::unexpected(make_error("not-supported", "filter '" + prop + " " + op + "' on code system " + cs.url +
                                                              " is not supported"));
  };
  const bool on_code = prop == "concept" || prop == "code";
  if (on_code && (op == "is-a" || op == "descendent-of" || op == "is-not-a" || op == "generalizes")) {
    if (const concept_def* target = cs.find(f.value)) {
      const auto t = cs.index_of(target);
      reach(cs, t, op != "generalizes", marks);
      if (op == "descendent-of") {
        // The target itself only when it is its own descendant (a cycle).
        bool self = false;
        for (auto c : target->children)
          if (c == t) self = true;
        if (!self) marks[t] = 0;
      }
    }
    if (op == "is-not-a")
      for (auto& m : marks) m = !m;
  } else if (op == "=" || op == "in" || op == "not-in" || op == "regex" || op == "exists") {
    const RE2* re = nullptr;
    if (op == "regex") {
      auto r = regex(f.value);
      if (!r) return hearth::unexpected(std::move(r).error());
      re = *r;
    }
    const auto list = (op == "in" || op == "not-in") ? split_list(f.value) : std::vector<std::string_view>{};
    // Whether one value of the property matches the filter's value.
    const auto matches = [&](std::string_view v, bool is_code) {
      const bool cs_flag = is_code ? cs.case_sensitive : true;
      if (op == "=") return equals_ci(v, f.value, cs_flag);
      if (op == "regex") return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *re);
      for (auto item : list)
        if (equals_ci(v, item, cs_flag)) return true;
      return false;
    };
    const bool want_exists = f.value != "false";
    for (std::size_t i = 0; i < n; ++i) {
      const concept_def& c = cs.concepts[i];
      bool any = false, has = false;
      if (on_code) {
        has = true;
        any = op != "exists" && matches(c.code, true);
      } else if (prop == "display") {
        has = !c.display.empty();
        any = has && op != "exists" && matches(c.display, false);
      } else if (prop == "parent" || prop == "child") {
        const auto& rel = prop == "parent" ? c.parents : c.children;
        has = !rel.empty();
        for (auto r : rel)
          if (op != "exists" && matches(cs.concepts[r].code, true)) any = true;
      } else {
        for (const auto& p : c.properties) {
          if (p.code != prop) continue;
          has = true;
          if (op != "exists" && matches(p.text, p.value_key == "valueCode")) any = true;
        }
        if (!has && (prop == "notSelectable" || prop == "abstract") && f.value == "false" && op == "=") any = true;
        if (!has && prop == "inactive" && op == "=") any = (f.value == "true") == c.inactive;
        if (!has && prop == "status" && op == "=" && f.value == "active") any = !c.inactive;
      }
      if (op == "exists")
        marks[i] = has == want_exists;
      else if (op == "not-in")
        marks[i] = !any;
      else
        marks[i] = any;
    }
  } else {
    return unsupported();
  }
  auto [it, inserted] = marks_.emplace(key, std::move(marks));
  (void)inserted;
  return &it->second;
}

}  // namespace hearth::terminology::detail
