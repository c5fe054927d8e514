// The terminology registry and the profile validator, built once for the
// server (validation_support.hpp), and the per-type validation policy.

#include <hearth/server/validation_support.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <hearth/core/text.hpp>

namespace hearth::server {

namespace {

hearth::error invalid(std::string message) {
  return hearth::error{"invalid", std::move(message), {}, hearth::error::npos};
}

std::optional<validation_mode> mode_of(std::string_view s) noexcept {
  if (s == "off") return validation_mode::off;
  if (s == "warn") return validation_mode::warn;
  if (s == "enforce") return validation_mode::enforce;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(validation_mode m) noexcept {
  switch (m) {
    case validation_mode::off: return "off";
    case validation_mode::warn: return "warn";
    case validation_mode::enforce: return "enforce";
  }
  return "off";
}

hearth::result<validation_policy> validation_policy::parse(std::string_view spec) {
  validation_policy p;
  spec = text::trim(spec);
  if (const auto whole = mode_of(spec)) {
    p.other_ = *whole;
    return p;
  }
  bool other_given = false;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = text::trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return hearth::unexpected(invalid("takes off, warn, enforce, or TYPE=MODE pairs separated by commas"));
    }
    const std::string_view type = text::trim(item.substr(0, eq));
    const auto mode = mode_of(text::trim(item.substr(eq + 1)));
    if (type.empty() || !mode) {
      return hearth::unexpected(invalid("each TYPE=MODE pair needs a resource type (or *) and off, warn or enforce"));
    }
    if (type == "*") {
      if (other_given) return hearth::unexpected(invalid("* is given more than once"));
      other_given = true;
      p.other_ = *mode;
      continue;
    }
    for (const auto& [t, m] : p.types_) {
      if (t == type) return hearth::unexpected(invalid("a resource type is given more than once"));
    }
    p.types_.emplace_back(std::string(type), *mode);
  }
  return p;
}

validation_mode validation_policy::mode_for(std::string_view type) const noexcept {
  for (const auto& [t, m] : types_) {
    if (t == type) return m;
  }
  return other_;
}

bool validation_policy::any() const noexcept {
  if (other_ != validation_mode::off) return true;
  for (const auto& tm : types_) {
    if (tm.second != validation_mode::off) return true;
  }
  return false;
}

std::string validation_policy::unknown_type(const fhir::definitions& defs) const {
  for (const auto& tm : types_) {
    if (!defs.is_resource_type(tm.first)) return tm.first;
  }
  return {};
}

/// Which stored StructureDefinition (and version) a canonical URL named:
/// empty id and version when none was stored.
struct definition_id {
  std::string url;
  std::string id;
  std::string version_id;
  friend bool operator==(const definition_id&, const definition_id&) = default;
};

/// One compiled stored StructureDefinition, the version it was compiled
/// from, and the stored definitions it was derived from (its bases,
/// transitively, also those looked for and not found): it is current while
/// all of them are as they were.
struct stored_definition {
  definition_id self;
  std::vector<definition_id> bases;
  std::shared_ptr<const profiles::compiled_profile> profile;  // null when it did not compile
  hearth::error error;                                         // why, then
};

/// Stored definitions being compiled on this thread, innermost last: a
/// differential's base is compiled within its derived definition's
/// compile(), so a chain of baseDefinitions that comes back to itself shows
/// here (and is refused instead of recursing without end).
thread_local std::vector<std::string> compiling;
/// Where the stored definitions looked up while compiling one are noted
/// (innermost compile last): they become its `bases`.
thread_local std::vector<std::vector<definition_id>*> recording;
/// Longest chain of stored definitions based on stored definitions:
/// bounds the recursion for hostile data; IGs stack a few levels.
constexpr std::size_t max_stored_depth = 16;

/// What `resolve` gives for a StructureDefinition URL now, and its identity.
std::optional<fhir::json_value> resolve_definition(const terminology::resolver& resolve, std::string_view url,
                                                   definition_id& who) {
  who = definition_id{std::string(url), {}, {}};
  std::optional<fhir::json_value> sd = resolve("StructureDefinition", url, "");
  if (!sd || !sd->is_object()) return std::nullopt;
  const fhir::json_value* id = sd->find("id");
  const fhir::json_value* meta = sd->find("meta");
  const fhir::json_value* vid = meta != nullptr ? meta->find("versionId") : nullptr;
  if (id != nullptr && id->is_string()) who.id = id->str();
  if (vid != nullptr && vid->is_string()) who.version_id = vid->str();
  return sd;
}

struct validation_support::impl {
  const fhir::definitions& defs;
  validation_settings settings;

  // stored_profile()'s cache: url -> the last definition compiled for it.
  mutable std::mutex stored_mutex;
  mutable std::unordered_map<std::string, stored_definition> stored;

  mutable std::once_flag terminology_once;
  mutable std::optional<hearth::result<terminology::registry>> registry;
  mutable std::once_flag validator_once;
  mutable std::optional<hearth::result<profiles::validator>> validator;

  std::once_flag preload_once;
  std::thread preloader;

  impl(const fhir::definitions& d, validation_settings s) : defs(d), settings(std::move(s)) {}

  const hearth::result<terminology::registry>& registry_ref() const {
    std::call_once(terminology_once, [&] { registry.emplace(terminology::registry::load(defs.terminology())); });
    return *registry;
  }

  const hearth::result<profiles::validator>& validator_ref() const {
    std::call_once(validator_once, [&] {
      auto built = profiles::validator::build(defs, settings.definitions_dir);
      if (built) {
        for (const std::filesystem::path& package : settings.packages) {
          auto added = built->load_package(package);
          if (!added) {
            hearth::error e = added.error();
            e.message = "FHIR package " + package.string() + ": " + e.message;
            validator.emplace(hearth::unexpected(std::move(e)));
            return;
          }
        }
      }
      validator.emplace(std::move(built));
    });
    return *validator;
  }
};

validation_support::validation_support(const fhir::definitions& defs, validation_settings settings)
    : impl_(std::make_unique<impl>(defs, std::move(settings))) {}

validation_support::~validation_support() {
  if (impl_->preloader.joinable()) impl_->preloader.join();
}

void validation_support::preload() {
  std::call_once(impl_->preload_once, [this] {
    impl_->preloader = std::thread([p = impl_.get()] {
      (void)p->registry_ref();
      (void)p->validator_ref();
    });
  });
}

hearth::result<const terminology::registry*> validation_support::terminology() const {
  const auto& r = impl_->registry_ref();
  if (!r) return hearth::unexpected(r.error());
  return &*r;
}

hearth::result<const profiles::validator*> validation_support::validator() const {
  const auto& v = impl_->validator_ref();
  if (!v) return hearth::unexpected(v.error());
  return &*v;
}

const validation_policy& validation_support::policy() const noexcept { return impl_->settings.policy; }

const fhir::definitions& validation_support::definitions() const noexcept { return impl_->defs; }

hearth::result<std::shared_ptr<const profiles::compiled_profile>> validation_support::stored_profile(
    std::string_view url, const terminology::resolver& resolve) const {
  using answer = std::shared_ptr<const profiles::compiled_profile>;
  auto v = validator();
  if (!v) return hearth::unexpected(v.error());
  if (!resolve) return answer();
  definition_id who;
  std::optional<fhir::json_value> sd = resolve_definition(resolve, url, who);
  // A definition being compiled depends on this one, found or not.
  if (!recording.empty()) recording.back()->push_back(who);
  if (!sd) return answer();
  const std::string label = "the StructureDefinition stored with url " + who.url +
                            (who.id.empty() ? std::string() : " (StructureDefinition/" + who.id + ")");
  const auto result_of = [](const stored_definition& e) -> hearth::result<answer> {
    if (!e.profile) return hearth::unexpected(e.error);
    return e.profile;
  };
  if (!who.version_id.empty()) {
    std::optional<stored_definition> hit;
    {
      std::lock_guard lock(impl_->stored_mutex);
      if (auto it = impl_->stored.find(who.url); it != impl_->stored.end() && it->second.self == who) hit = it->second;
    }
    // Still current when every stored base is as it was (asked outside the
    // lock: the resolver reads the store).
    bool current = hit.has_value();
    for (std::size_t i = 0; current && i < hit->bases.size(); ++i) {
      definition_id now;
      (void)resolve_definition(resolve, hit->bases[i].url, now);
      current = now == hit->bases[i];
    }
    if (current) {
      if (!recording.empty()) recording.back()->insert(recording.back()->end(), hit->bases.begin(), hit->bases.end());
      return result_of(*hit);
    }
  }
  // Compiled outside the lock: a differential's base may be a stored
  // definition too, looked up (and compiled) through this same function.
  stored_definition entry{who, {}, nullptr, {}};
  if (std::find(compiling.begin(), compiling.end(), who.url) != compiling.end()) {
    entry.error = hearth::error{"invalid", label + " is based, through its baseDefinition chain, on itself", {},
                                hearth::error::npos};
  } else if (compiling.size() >= max_stored_depth) {
    entry.error = hearth::error{
        "too-costly", label + " is based on more than " + std::to_string(max_stored_depth) + " stored definitions",
        {}, hearth::error::npos};
  } else {
    compiling.push_back(who.url);
    recording.push_back(&entry.bases);
    const profiles::profile_lookup base_lookup = [this, &resolve](std::string_view base) {
      return stored_profile(base, resolve);
    };
    auto built = (*v)->compile(*sd, base_lookup);
    recording.pop_back();
    compiling.pop_back();
    if (built) {
      entry.profile = std::move(*built);
    } else {
      entry.error = hearth::error{built.error().code, label + " cannot be compiled: " + built.error().message, {},
                                  hearth::error::npos};
    }
  }
  if (!recording.empty()) recording.back()->insert(recording.back()->end(), entry.bases.begin(), entry.bases.end());
  hearth::result<answer> out = result_of(entry);
  if (!who.version_id.empty()) {
    std::lock_guard lock(impl_->stored_mutex);
    if (impl_->stored.size() >= max_stored_profiles && !impl_->stored.contains(who.url))
      impl_->stored.erase(impl_->stored.begin());  // any one: it is compiled again when next needed
    impl_->stored.insert_or_assign(who.url, std::move(entry));
  }
  return out;
}

hearth::result<std::string> validation_support::context_value_set(std::string_view context,
                                                                  const terminology::resolver& resolve) const {
  const std::size_t hash = context.find('#');
  if (hash == std::string_view::npos || hash == 0 || hash + 1 == context.size()) {
    return hearth::unexpected(invalid("an expansion context is [StructureDefinition url]#[element path or id]"));
  }
  auto v = validator();
  if (!v) return hearth::unexpected(v.error());
  const profiles::profile_lookup lookup = [this, &resolve](std::string_view url) { return stored_profile(url, resolve); };
  return (*v)->bound_value_set(context.substr(0, hash), context.substr(hash + 1), lookup);
}

hearth::result<fhir::issue_list> validation_support::validate(const fhir::json_value& resource,
                                                              std::span<const std::string> profiles,
                                                              const terminology::resolver& resolve) const {
  auto v = validator();
  if (!v) return hearth::unexpected(v.error());
  auto t = terminology();
  if (!t) return hearth::unexpected(t.error());
  const terminology::registry& reg = **t;
  profiles::validate_options opts;
  opts.profiles.assign(profiles.begin(), profiles.end());
  // Profiles stored through the API (FHIR R4 profiling.html): what the
  // packages lack is looked up by canonical URL, as value sets are.
  if (resolve) {
    opts.lookup_profile = [this, &resolve](std::string_view url) { return stored_profile(url, resolve); };
  }
  // Bindings (FHIR R4 terminologies.html#strength): the validator decides
  // what a verdict means for the binding's strength; the registry only says
  // whether the code is in the value set.
  opts.terminology = [&reg, &resolve](std::string_view value_set, std::string_view system, std::string_view code,
                                      std::string_view /*display*/) {
    profiles::code_verdict out;
    switch (reg.check_membership(value_set, system, code, resolve)) {
      case terminology::verdict::valid: out.verdict = profiles::code_verdict::status::valid; break;
      case terminology::verdict::invalid:
        out.verdict = profiles::code_verdict::status::invalid;
        out.message = "the code is not in the value set " + std::string(value_set);
        break;
      case terminology::verdict::cannot_tell:
        out.verdict = profiles::code_verdict::status::cannot_tell;
        out.message = "the value set " + std::string(value_set) +
                      " cannot be checked here (unknown, or its code system's content is not available)";
        break;
    }
    return out;
  };
  return (*v)->validate(resource, opts);
}

}  // namespace hearth::server
