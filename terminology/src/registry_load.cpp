// registry::load(): the four terminology bundles of the R4 definitions,
// parsed with RapidJSON (in situ: strings stay in the file buffer until they
// are copied into the model) and compiled into the model, one file at a time
// so that only one DOM is alive at once.

#include <hearth/terminology/registry.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "detail/compile.hpp"
#include "detail/registry_impl.hpp"

namespace hearth::terminology {
namespace {

using detail::code_system;
using detail::concept_map;
using detail::value_set;

/// Largest bundle read: the biggest R4 terminology bundle is 9 MB; 256 MiB
/// bounds memory should a wrong file be configured.
constexpr std::size_t max_file_bytes = 256u << 20;

/// Read-only node adapter over a RapidJSON value (see compile.hpp).
class rj_node {
 public:
  rj_node() = default;
  explicit rj_node(const rapidjson::Value* v) : v_(v) {}
  bool valid() const noexcept { return v_ != nullptr; }
  bool is_object() const noexcept { return v_ && v_->IsObject(); }
  bool is_array() const noexcept { return v_ && v_->IsArray(); }
  bool is_string() const noexcept { return v_ && v_->IsString(); }
  bool is_bool() const noexcept { return v_ && v_->IsBool(); }
  std::string_view str() const noexcept {
    return is_string() ? std::string_view(v_->GetString(), v_->GetStringLength()) : std::string_view();
  }
  bool boolean() const noexcept { return is_bool() && v_->GetBool(); }
  std::size_t size() const noexcept { return is_array() ? v_->Size() : 0; }
  rj_node at(std::size_t i) const { return rj_node(&(*v_)[static_cast<rapidjson::SizeType>(i)]); }
  rj_node get(std::string_view key) const {
    if (!is_object()) return rj_node();
    const auto it = v_->FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
    return it == v_->MemberEnd() ? rj_node() : rj_node(&it->value);
  }
  fhir::json_value to_json() const { return v_ ? convert(*v_, 0) : fhir::json_value(); }
  template <class F>
  void for_each_member(F&& f) const {
    if (!is_object()) return;
    for (auto it = v_->MemberBegin(); it != v_->MemberEnd(); ++it)
      f(std::string_view(it->name.GetString(), it->name.GetStringLength()), rj_node(&it->value));
  }

 private:
  // The definitions nest a few levels; the parser's own stack bounds this.
  static fhir::json_value convert(const rapidjson::Value& v, int depth) {
    if (v.IsNull()) return fhir::json_value();
    if (v.IsBool()) return fhir::json_value(v.GetBool());
    if (v.IsString()) return fhir::json_value(std::string(v.GetString(), v.GetStringLength()));
    if (v.IsNumber()) {
      // RapidJSON keeps no number text: integers are exact; the few decimals
      // in the definitions (none in compose or concept properties) print as
      // the shortest round-trip form.
      if (v.IsInt64()) return fhir::json_value::number(std::to_string(v.GetInt64()));
      if (v.IsUint64()) return fhir::json_value::number(std::to_string(v.GetUint64()));
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", v.GetDouble());
      return fhir::json_value::number(buf);
    }
    if (v.IsArray()) {
      fhir::json_value out = fhir::json_value::array();
      out.items().reserve(v.Size());
      for (const auto& item : v.GetArray()) out.push_back(convert(item, depth + 1));
      return out;
    }
    fhir::json_value out = fhir::json_value::object();
    out.members().reserve(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it)
      out.members().push_back({std::string(it->name.GetString(), it->name.GetStringLength()),
                               convert(it->value, depth + 1)});
    return out;
  }
  const rapidjson::Value* v_ = nullptr;
};

hearth::error file_error(std::string code, std::string message, const std::filesystem::path& file,
                         std::size_t offset = hearth::error::npos) {
  return hearth::error{std::move(code), std::move(message), file.string(), offset};
}

/// Reads `file` into `buf` (grown as needed, reused across the bundles so
/// that its pages are touched once), NUL-terminated for in-situ parsing.
hearth::result<void> read_file(const std::filesystem::path& file, std::unique_ptr<char[]>& buf, std::size_t& cap) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec))
    return hearth::unexpected(file_error("not-found", "terminology bundle not found", file));
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return hearth::unexpected(file_error("exception", "cannot read the terminology bundle", file));
  if (size > max_file_bytes)
    return hearth::unexpected(file_error("too-long", "terminology bundle larger than 256 MiB", file));
  std::ifstream in(file, std::ios::binary);
  if (!in) return hearth::unexpected(file_error("exception", "cannot open the terminology bundle", file));
  if (cap < size + 1) {
    buf = std::make_unique_for_overwrite<char[]>(static_cast<std::size_t>(size) + 1);
    cap = static_cast<std::size_t>(size) + 1;
  }
  in.read(buf.get(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size))
    return hearth::unexpected(file_error("exception", "short read of the terminology bundle", file));
  buf[static_cast<std::size_t>(size)] = '\0';
  return {};
}

hearth::result<void> load_bundle(const std::filesystem::path& file, registry::impl& reg,
                                 std::unique_ptr<char[]>& buf, std::size_t& cap) {
  if (auto r = read_file(file, buf, cap); !r) return r;
  rapidjson::Document doc;
  doc.ParseInsitu<rapidjson::kParseDefaultFlags>(buf.get());
  if (doc.HasParseError())
    return hearth::unexpected(file_error("invalid", std::string("malformed JSON: ") +
                                                        rapidjson::GetParseError_En(doc.GetParseError()),
                                         file, doc.GetErrorOffset()));
  const rj_node root(&doc);
  if (root.get("resourceType").str() != "Bundle" || !root.get("entry").is_array())
    return hearth::unexpected(file_error("invalid", "not a Bundle with entries", file));
  const rj_node entries = root.get("entry");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const rj_node r = entries.at(i).get("resource");
    const std::string_view type = r.get("resourceType").str();
    const std::string_view url = r.get("url").str();
    if (url.empty()) continue;
    if (type == "CodeSystem") {
      auto cs = detail::compile_code_system(r);
      if (!cs) return hearth::unexpected(file_error(cs.error().code, cs.error().message, file));
      // Some v2 tables write their version into the url ("...v2-0391|2.6",
      // with version "0391"): the url part after '|' is the version.
      if (const auto bar = cs->url.find('|'); bar != std::string::npos) {
        cs->version = cs->url.substr(bar + 1);
        cs->url.resize(bar);
      }
      const std::string versioned = cs->url + "|" + cs->version;
      if (reg.cs_by_url_version.contains(versioned) || (cs->version.empty() && reg.cs_by_url.contains(cs->url)))
        continue;  // the first read wins
      reg.concept_count += cs->concepts.size();
      reg.code_systems.push_back(std::make_unique<code_system>(std::move(cs).value()));
      const code_system* p = reg.code_systems.back().get();
      reg.cs_by_url.emplace(p->url, p);  // the first version read is the default
      if (!p->version.empty()) reg.cs_by_url_version.emplace(versioned, p);
    } else if (type == "ValueSet") {
      if (reg.vs_by_url.contains(url)) continue;
      auto vs = detail::compile_value_set(r);
      if (!vs) return hearth::unexpected(file_error(vs.error().code, vs.error().message, file));
      reg.value_sets.push_back(std::make_unique<value_set>(std::move(vs).value()));
      reg.vs_by_url.emplace(reg.value_sets.back()->url, reg.value_sets.back().get());
    } else if (type == "ConceptMap") {
      if (reg.cm_by_url.contains(url)) continue;
      auto cm = detail::compile_concept_map(r);
      if (!cm) return hearth::unexpected(file_error(cm.error().code, cm.error().message, file));
      reg.concept_maps.push_back(std::make_unique<concept_map>(std::move(cm).value()));
      reg.cm_by_url.emplace(reg.concept_maps.back()->url, reg.concept_maps.back().get());
    }
  }
  return {};
}

}  // namespace

hearth::result<registry, hearth::error> registry::load(const fhir::terminology_files& files) {
  auto p = std::make_unique<impl>();
  std::unique_ptr<char[]> buf;
  std::size_t cap = 0;
  // The largest bundle first, so that the buffer is allocated once.
  for (const auto* f : {&files.valuesets, &files.v2_tables, &files.v3_codesystems, &files.conceptmaps}) {
    auto r = load_bundle(*f, *p, buf, cap);
    if (!r) return hearth::unexpected(std::move(r).error());
  }
  return registry(std::move(p));
}

registry::registry(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
registry::registry(registry&&) noexcept = default;
registry& registry::operator=(registry&&) noexcept = default;
registry::~registry() = default;

registry_stats registry::stats() const noexcept {
  return {impl_->code_systems.size(), impl_->value_sets.size(), impl_->concept_maps.size(), impl_->concept_count};
}

}  // namespace hearth::terminology
