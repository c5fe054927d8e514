// The terminology registry and the profile validator, built once for the
// server (validation_support.hpp), and the per-type validation policy.

#include <hearth/server/validation_support.hpp>

#include <mutex>
#include <optional>
#include <thread>

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

struct validation_support::impl {
  const fhir::definitions& defs;
  validation_settings settings;

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
