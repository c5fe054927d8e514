// hearth::profiles::validator (validator.hpp): building the registry of
// compiled StructureDefinitions, loading packages, and validate().

#include <hearth/profiles/validator.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>

#include "detail/compile.hpp"
#include "detail/compiled.hpp"
#include "detail/registry.hpp"
#include "detail/snapshot.hpp"
#include "detail/tgz.hpp"
#include "detail/walk.hpp"

namespace hearth::profiles {

namespace fs = std::filesystem;

struct validator::impl {
  detail::registry reg;
};

namespace {

/// Largest definition file read: the R4 profiles-resources.json is 35 MB; 256
/// MB bounds memory for a hostile package while leaving room for big IGs.
constexpr std::uintmax_t max_file_bytes = 256u << 20;

hearth::error make_error(std::string code, std::string message, std::string location = {}) {
  return hearth::error{std::move(code), std::move(message), std::move(location), hearth::error::npos};
}

hearth::result<std::string, hearth::error> read_file(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return hearth::unexpected(make_error("not-found", "no such file", p.string()));
  auto size = fs::file_size(p, ec);
  if (ec) return hearth::unexpected(make_error("exception", ec.message(), p.string()));
  if (size > max_file_bytes) return hearth::unexpected(make_error("too-long", "the file is too large", p.string()));
  // One read of the known size (an istreambuf_iterator copy costs several
  // times the JSON parse for the 35 MB bundle).
  std::string s;
  // resize_and_overwrite would skip the zero fill; C++20 has no portable way.
  s.resize(static_cast<std::size_t>(size));
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return hearth::unexpected(make_error("exception", "cannot open the file", p.string()));
  std::size_t got = std::fread(s.data(), 1, s.size(), f);
  std::fclose(f);
  if (got != s.size()) return hearth::unexpected(make_error("exception", "cannot read the file", p.string()));
  return s;
}

/// Calls f(sd) for every StructureDefinition in `doc`: the resource itself,
/// the resources of a Bundle, or the items of a JSON array.
template <typename F>
void for_each_sd(const rapidjson::Value& doc, F&& f) {
  auto one = [&](const rapidjson::Value& r) {
    if (!r.IsObject()) return;
    auto rt = r.FindMember("resourceType");
    if (rt == r.MemberEnd() || !rt->value.IsString()) return;
    std::string_view t(rt->value.GetString(), rt->value.GetStringLength());
    if (t == "StructureDefinition") {
      f(r);
    } else if (t == "Bundle") {
      auto entries = r.FindMember("entry");
      if (entries == r.MemberEnd() || !entries->value.IsArray()) return;
      for (const auto& e : entries->value.GetArray()) {
        if (!e.IsObject()) continue;
        auto res = e.FindMember("resource");
        if (res != e.MemberEnd() && res->value.IsObject()) {
          auto rrt = res->value.FindMember("resourceType");
          if (rrt != res->value.MemberEnd() && rrt->value.IsString() &&
              std::string_view(rrt->value.GetString()) == "StructureDefinition")
            f(res->value);
        }
      }
    }
  };
  if (doc.IsArray())
    for (const auto& r : doc.GetArray()) one(r);
  else
    one(doc);
}

}  // namespace

validator::validator(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
validator::validator(validator&&) noexcept = default;
validator& validator::operator=(validator&&) noexcept = default;
validator::~validator() = default;

hearth::result<validator, hearth::error> validator::build(const fhir::definitions& defs,
                                                          const fs::path& definitions_dir,
                                                          const build_options& opts) {
  auto p = std::make_unique<impl>();
  detail::registry& reg = p->reg;
  reg.defs = &defs;
  struct source {
    const char* file;
    bool core;
  };
  std::vector<source> files = {{"profiles-types.json", true},
                               {"profiles-resources.json", true},
                               {"extension-definitions.json", false}};
  if (opts.load_other_profiles) files.push_back({"profiles-others.json", false});
  for (const auto& f : files) {
    const fs::path path = definitions_dir / f.file;
    auto text = read_file(path);
    if (!text) return hearth::unexpected(text.error());
    rapidjson::Document doc;
    doc.ParseInsitu(text->data());
    if (doc.HasParseError())
      return hearth::unexpected(hearth::error{"invalid", rapidjson::GetParseError_En(doc.GetParseError()),
                                              path.string(), doc.GetErrorOffset()});
    std::string failure;
    for_each_sd(doc, [&](const rapidjson::Value& sd) {
      auto d = sd.FindMember("derivation");
      bool specialization = d != sd.MemberEnd() && d->value.IsString() &&
                            std::string_view(d->value.GetString()) == "specialization";
      auto m = detail::compile_structure_definition(sd, defs, reg.constraints, f.core && specialization);
      if (!m) return;  // a definition without snapshot in the bundles: not usable, skipped
      std::string url = (*m)->url;
      reg.by_url[url] = std::move(*m);
    });
  }
  // The base layer: the evaluable constraints and the required binding of
  // each registry element, from the core snapshots.
  for (const auto& [url, m] : reg.by_url) {
    if (!m->core) continue;
    for (const auto& el : m->elements) {
      const fhir::element_definition* re = defs.find_element(el.path);
      if (!re) continue;
      detail::base_extras& x = reg.base[re];
      for (const detail::constraint_def* c : el.constraints) {
        if (!c->compiled && c->native_distinct.empty() && c->native_narrative.empty()) continue;
        bool dup = std::any_of(x.constraints.begin(), x.constraints.end(),
                               [&](const detail::constraint_def* o) { return o->key == c->key; });
        if (!dup) x.constraints.push_back(c);
      }
      if (el.binding && el.binding->strength == detail::binding_strength::required && !x.binding)
        x.binding = &*el.binding;
    }
  }
  return validator(std::move(p));
}

hearth::result<std::string, hearth::error> validator::add_profile(const fhir::json_value& sd) {
  std::string text = fhir::to_json(sd);
  rapidjson::Document doc;
  doc.ParseInsitu(text.data());
  if (doc.HasParseError() || !doc.IsObject())
    return hearth::unexpected(make_error("invalid", "the StructureDefinition is not a JSON object"));
  auto m = detail::compile_structure_definition(doc, *impl_->reg.defs, impl_->reg.constraints, false);
  auto snapshot = doc.FindMember("snapshot");
  if (!m && (snapshot != doc.MemberEnd() || !doc.HasMember("differential") || !doc.HasMember("url") ||
             !doc.HasMember("resourceType") || !doc["resourceType"].IsString() ||
             std::string_view(doc["resourceType"].GetString()) != "StructureDefinition"))
    return hearth::unexpected(m.error());
  if (!m) {
    // No snapshot: generate it from the differential and the base
    // (profiling.html#snapshot).
    m = detail::generate_model(doc, impl_->reg, impl_->reg.constraints);
    if (!m) return hearth::unexpected(m.error());
  }
  std::string url = (*m)->url;
  impl_->reg.by_url[url] = std::move(*m);
  return url;
}

hearth::result<std::size_t, hearth::error> validator::load_package(const fs::path& path) {
  std::error_code ec;
  // (name for messages, content) of every JSON file of the package.
  std::vector<std::pair<std::string, std::string>> texts;
  const std::string ext = path.extension().string();
  if (fs::is_regular_file(path, ec) && (ext == ".tgz" || ext == ".gz")) {
    auto files = detail::read_package_tgz(path);
    if (!files) return hearth::unexpected(files.error());
    texts = std::move(*files);
  } else {
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
      fs::path dir = fs::is_directory(path / "package", ec) ? path / "package" : path;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (e.path().extension() == ".json" && name != "package.json" && !name.starts_with("."))
          files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
    } else if (fs::is_regular_file(path, ec)) {
      files.push_back(path);
    } else {
      return hearth::unexpected(make_error("not-found", "no such file or folder", path.string()));
    }
    for (const auto& f : files) {
      auto text = read_file(f);
      if (!text) return hearth::unexpected(text.error());
      texts.emplace_back(f.string(), std::move(*text));
    }
  }
  // Definitions whose base is in the package itself must come after it:
  // collect them all first, then add in rounds.
  std::vector<fhir::json_value> pending;
  for (auto& [name, text] : texts) {
    // Only files that hold StructureDefinitions are parsed in full.
    if (text.find("\"StructureDefinition\"") == std::string::npos) continue;
    rapidjson::Document doc;
    doc.ParseInsitu(text.data());
    if (doc.HasParseError())
      return hearth::unexpected(hearth::error{"invalid", rapidjson::GetParseError_En(doc.GetParseError()), name,
                                              doc.GetErrorOffset()});
    for_each_sd(doc, [&](const rapidjson::Value& sd) { pending.push_back(detail::to_json_value(sd)); });
  }
  std::size_t added = 0;
  hearth::error last{"invalid", "no StructureDefinition found", path.string(), hearth::error::npos};
  while (!pending.empty()) {
    std::vector<fhir::json_value> retry;
    for (auto& sd : pending) {
      auto r = add_profile(sd);
      if (r) ++added;
      else {
        last = r.error();
        retry.push_back(std::move(sd));
      }
    }
    if (retry.size() == pending.size()) break;  // no progress: the rest cannot be added
    pending = std::move(retry);
  }
  if (added == 0) return hearth::unexpected(last);
  return added;
}

bool validator::has_profile(std::string_view url) const { return impl_->reg.find(url) != nullptr; }

compiled_profile::compiled_profile(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
compiled_profile::~compiled_profile() = default;
const std::string& compiled_profile::url() const noexcept { return impl_->m->url; }

hearth::result<std::shared_ptr<const compiled_profile>, hearth::error> validator::compile(
    const fhir::json_value& sd, const profile_lookup& lookup) const {
  std::string text = fhir::to_json(sd);
  rapidjson::Document doc;
  doc.ParseInsitu(text.data());
  if (doc.HasParseError() || !doc.IsObject())
    return hearth::unexpected(make_error("invalid", "the StructureDefinition is not a JSON object"));
  if (detail::str(doc, "resourceType") != "StructureDefinition")
    return hearth::unexpected(make_error("invalid", "not a StructureDefinition"));
  auto state = std::make_unique<compiled_profile::impl>();
  // A definition with a snapshot compiles on its own; one with only a
  // differential is laid over its base (profiling.html#snapshot), as in
  // add_profile().
  const bool has_snapshot = doc.HasMember("snapshot");
  auto m = detail::compile_structure_definition(doc, *impl_->reg.defs, state->constraints, false);
  if (!m && !has_snapshot && doc.HasMember("differential") && doc.HasMember("url")) {
    std::optional<hearth::error> base_error;
    const detail::model_finder more = [&](std::string_view url) -> const detail::model* {
      if (!lookup) return nullptr;
      auto found = lookup(url);
      if (!found) {
        base_error = found.error();
        return nullptr;
      }
      if (!*found) return nullptr;
      state->depends.push_back(*found);
      return (*found)->state().m.get();
    };
    m = detail::generate_model(doc, impl_->reg, state->constraints, more);
    if (!m && base_error && m.error().code == "not-found")
      return hearth::unexpected(make_error(base_error->code, "its base cannot be used: " + base_error->message));
  }
  if (!m) return hearth::unexpected(m.error());
  state->m = std::move(*m);
  return std::make_shared<const compiled_profile>(std::move(state));
}

hearth::result<std::string, hearth::error> validator::bound_value_set(std::string_view sd_url, std::string_view element,
                                                                      const profile_lookup& lookup) const {
  const detail::model* m = impl_->reg.find(sd_url);
  std::shared_ptr<const compiled_profile> held;  // keeps a looked-up model alive here
  if (!m && lookup) {
    auto found = lookup(sd_url);
    if (!found) return hearth::unexpected(found.error());
    held = *found;
    if (held) m = held->state().m.get();
  }
  if (!m)
    return hearth::unexpected(make_error("not-found", "StructureDefinition " + std::string(sd_url) + " is not known"));
  const detail::element* found = nullptr;
  for (const auto& e : m->elements)
    if (e.id == element) {
      found = &e;
      break;
    }
  if (!found)
    for (const auto& e : m->elements)
      if (e.path == element) {
        found = &e;
        break;
      }
  if (!found)
    return hearth::unexpected(make_error("not-found", "StructureDefinition " + m->url + " has no element " +
                                                          std::string(element)));
  if (!found->binding || found->binding->value_set.empty())
    return hearth::unexpected(make_error("not-found", "element " + std::string(element) + " of StructureDefinition " +
                                                          m->url + " is not bound to a value set"));
  return found->binding->value_set;
}

fhir::issue_list validator::validate(const fhir::json_value& resource, const validate_options& opts) const {
  fhir::issue_list issues;
  if (opts.check_structure) {
    fhir::check_options co;
    co.allow_unknown_elements = opts.allow_unknown_elements;
    co.max_issues = opts.max_issues;
    co.validator_invariants = false;  // txt-1, txt-2, dom-4, dom-5, ext-1: evaluated below (walk.cpp)
    issues = fhir::check_resource(resource, *impl_->reg.defs, co);
  }
  if (issues.size() >= opts.max_issues) return issues;
  validate_options rest = opts;
  rest.max_issues = opts.max_issues - issues.size();
  fhir::issue_list more = detail::validate_resource(impl_->reg, resource, rest);
  issues.insert(issues.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  return issues;
}

const fhir::definitions& validator::definitions() const noexcept { return *impl_->reg.defs; }

}  // namespace hearth::profiles
