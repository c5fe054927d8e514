// hearth::profiles::validator (validator.hpp): building the registry of
// compiled StructureDefinitions, loading packages, and validate().

#include <hearth/profiles/validator.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>

#include "detail/compile.hpp"
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

fhir::issue_list validator::validate(const fhir::json_value& resource, const validate_options& opts) const {
  fhir::issue_list issues;
  if (opts.check_structure) {
    fhir::check_options co;
    co.allow_unknown_elements = opts.allow_unknown_elements;
    co.max_issues = opts.max_issues;
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
