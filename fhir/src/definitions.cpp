#include <hearth/fhir/definitions.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/filereadstream.h>
#include <rapidjson/reader.h>

#include "detail/definitions_reader.hpp"

namespace hearth::fhir {

// ============================================================================
// Reading one file: a RapidJSON SAX pass over the file, streamed. No DOM is
// built: the 35 MB profiles-resources.json would need ~100 MB as a DOM; the
// SAX pass keeps only the few fields the registry needs.
// ============================================================================

namespace detail {

std::string_view string_arena::store(std::string_view s) {
  if (s.size() > left_) {
    const std::size_t n = std::max(chunk_size, s.size());
    chunks_.push_back(std::unique_ptr<char[]>(new char[n]));  // no zeroing: overwritten
    cur_ = chunks_.back().get();
    left_ = n;
  }
  std::memcpy(cur_, s.data(), s.size());
  const std::string_view out(cur_, s.size());
  cur_ += s.size();
  left_ -= s.size();
  return out;
}

std::string_view string_arena::intern(std::string_view s) {
  if (s.empty()) return {};
  if (auto it = seen_.find(s); it != seen_.end()) return *it;
  const std::string_view copy = store(s);
  seen_.insert(copy);
  return copy;
}

namespace {

/// Largest file accepted. The largest R4 bundle (profiles-resources.json) is
/// 35 MB; a file 7 times that is not a definitions bundle, and reading it
/// would only slow start-up.
constexpr std::uintmax_t max_file_bytes = 256u << 20;

/// The read buffer: large enough that fread calls cost nothing next to the
/// parse, small enough to stay in L2.
constexpr std::size_t read_buffer_bytes = 64 * 1024;

/// Deepest JSON nesting accepted. The deepest path the loader follows is 9
/// levels (entry[].resource.snapshot.element[].type[].extension[]), the deepest
/// in the files ~15; the reader recurses once per level, so a corrupt file
/// must not nest without bound.
constexpr std::size_t max_depth = 64;

/// The member names the loader looks at; every other name is `other`.
enum class key : std::uint8_t {
  other, abstract_, base, baseDefinition, code, comparator, component, contentReference,
  definition, derivation, element, entry, expression, extension, fhirVersion, id, isModifier,
  isSummary, kind, max, min, modifier, multipleAnd, multipleOr, name, param, path, resource,
  resourceType, snapshot, target, targetProfile, type, url, valueUrl,
};

struct key_entry {
  std::string_view text;
  key k;
};

// Sorted by text for the binary search in to_key().
constexpr std::array<key_entry, 34> key_table{{
    {"abstract", key::abstract_},
    {"base", key::base},
    {"baseDefinition", key::baseDefinition},
    {"code", key::code},
    {"comparator", key::comparator},
    {"component", key::component},
    {"contentReference", key::contentReference},
    {"definition", key::definition},
    {"derivation", key::derivation},
    {"element", key::element},
    {"entry", key::entry},
    {"expression", key::expression},
    {"extension", key::extension},
    {"fhirVersion", key::fhirVersion},
    {"id", key::id},
    {"isModifier", key::isModifier},
    {"isSummary", key::isSummary},
    {"kind", key::kind},
    {"max", key::max},
    {"min", key::min},
    {"modifier", key::modifier},
    {"multipleAnd", key::multipleAnd},
    {"multipleOr", key::multipleOr},
    {"name", key::name},
    {"param", key::param},
    {"path", key::path},
    {"resource", key::resource},
    {"resourceType", key::resourceType},
    {"snapshot", key::snapshot},
    {"target", key::target},
    {"targetProfile", key::targetProfile},
    {"type", key::type},
    {"url", key::url},
    {"valueUrl", key::valueUrl},
}};
static_assert(std::is_sorted(key_table.begin(), key_table.end(),
                             [](const key_entry& a, const key_entry& b) { return a.text < b.text; }));

key to_key(std::string_view s) noexcept {
  auto it = std::lower_bound(key_table.begin(), key_table.end(), s,
                             [](const key_entry& e, std::string_view v) { return e.text < v; });
  return it != key_table.end() && it->text == s ? it->k : key::other;
}

/// Where in the document the parser is. Every object and array pushes one.
enum class state : std::uint8_t {
  skip,           // a subtree the registry does not need
  root,           // the Bundle object
  entries,        // Bundle.entry
  entry,          // Bundle.entry[i]
  res,            // a resource: Bundle.entry[i].resource, or the root of a single-resource file
  snapshot,       // StructureDefinition.snapshot
  elements,       // StructureDefinition.snapshot.element
  element,        // one ElementDefinition
  el_types,       // ElementDefinition.type
  el_type,        // ElementDefinition.type[i]
  el_exts,        // ElementDefinition.type[i].extension
  el_ext,         // ElementDefinition.type[i].extension[j]
  el_targets,     // ElementDefinition.type[i].targetProfile
  str_array,      // an array of strings kept in strs (base, target, modifier, comparator, param)
  components,     // SearchParameter.component
  component,      // SearchParameter.component[i]
  cd_resources,   // CompartmentDefinition.resource
  cd_resource,    // CompartmentDefinition.resource[i]
};

constexpr std::string_view fhir_type_extension =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

/// The SAX handler. Fills one raw_file; on a content error it records a
/// message and stops the parse (returns false).
class handler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, handler> {
 public:
  handler(raw_file& out, file_shape shape) : out_(out), shape_(shape) { stack_.reserve(max_depth + 1); }

  const std::string& failure() const { return failure_; }

  bool StartObject() {
    if (stack_.empty()) {
      if (shape_ == file_shape::bundle) return push(state::root);
      begin_resource();
      return push(state::res);
    }
    switch (top()) {
      case state::entries:
        return push(state::entry);
      case state::entry:
        if (key_ == key::resource) {
          begin_resource();
          return push(state::res);
        }
        break;
      case state::res:
        if (key_ == key::snapshot) return push(state::snapshot);
        break;
      case state::elements:
        out_.elements.emplace_back();
        return push(state::element);
      case state::el_types:
        out_.type_refs.emplace_back();
        return push(state::el_type);
      case state::el_exts:
        ext_is_fhir_type_ = false;
        ext_value_ = {};
        return push(state::el_ext);
      case state::components:
        out_.components.emplace_back();
        return push(state::component);
      case state::cd_resources:
        out_.compartment.emplace_back();
        return push(state::cd_resource);
      default:
        break;
    }
    return push(state::skip);
  }

  bool EndObject(rapidjson::SizeType) {
    const state s = top();
    stack_.pop_back();
    if (s == state::res) return end_resource();
    if (s == state::el_ext && ext_is_fhir_type_) out_.type_refs.back().fhir_type = ext_value_;
    return true;
  }

  bool StartArray() {
    if (stack_.empty()) return fail("the file is not a JSON object");
    state next = state::skip;
    std::uint32_t begin = 0;
    switch (top()) {
      case state::root:
        if (key_ == key::entry) next = state::entries;
        break;
      case state::res:
        switch (key_) {
          case key::base: case key::target: case key::modifier: case key::comparator:
            next = state::str_array;
            begin = size32(out_.strs);
            break;
          case key::component:
            next = state::components;
            begin = size32(out_.components);
            break;
          case key::resource:
            next = state::cd_resources;
            begin = size32(out_.compartment);
            break;
          default:
            break;
        }
        break;
      case state::snapshot:
        if (key_ == key::element) {
          next = state::elements;
          begin = size32(out_.elements);
        }
        break;
      case state::element:
        if (key_ == key::type) {
          next = state::el_types;
          begin = size32(out_.type_refs);
        }
        break;
      case state::el_type:
        if (key_ == key::extension) next = state::el_exts;
        if (key_ == key::targetProfile) {
          next = state::el_targets;
          begin = size32(out_.strs);
        }
        break;
      case state::cd_resource:
        if (key_ == key::param) {
          next = state::str_array;
          begin = size32(out_.strs);
        }
        break;
      default:
        break;
    }
    if (!push(next)) return false;
    stack_.back().array_key = key_;
    stack_.back().begin = begin;
    return true;
  }

  bool EndArray(rapidjson::SizeType) {
    const frame f = stack_.back();
    stack_.pop_back();
    switch (f.st) {
      case state::str_array: {
        const raw_range r{f.begin, size32(out_.strs) - f.begin};
        if (top() == state::cd_resource) {
          out_.compartment.back().params = r;
        } else {
          switch (f.array_key) {
            case key::base: res_.base = r; break;
            case key::target: res_.target = r; break;
            case key::modifier: res_.modifiers = r; break;
            case key::comparator: res_.comparators = r; break;
            default: break;
          }
        }
        break;
      }
      case state::el_targets:
        out_.type_refs.back().targets = {f.begin, size32(out_.strs) - f.begin};
        break;
      case state::el_types:
        out_.elements.back().types = {f.begin, size32(out_.type_refs) - f.begin};
        break;
      case state::elements:
        res_elements_ = {f.begin, size32(out_.elements) - f.begin};
        break;
      case state::components:
        res_.components = {f.begin, size32(out_.components) - f.begin};
        break;
      case state::cd_resources:
        res_compartment_ = {f.begin, size32(out_.compartment) - f.begin};
        break;
      default:
        break;
    }
    return true;
  }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    // Inside a skipped subtree names do not matter: most of the bytes are there.
    key_ = top() == state::skip ? key::other : to_key({s, n});
    return true;
  }

  bool String(const char* p, rapidjson::SizeType n, bool) {
    if (stack_.empty()) return fail("the file is not a JSON object");
    const std::string_view s(p, n);
    switch (top()) {
      case state::skip:
        return true;
      case state::root:
        if (key_ == key::resourceType) {
          out_.root_type = out_.arena.intern(s);
          if (s != "Bundle") return fail("not a Bundle");
        }
        return true;
      case state::res:
        switch (key_) {
          case key::resourceType: res_type_ = intern(s); break;
          case key::id: res_.id = intern(s); break;
          case key::url: res_.url = intern(s); break;
          case key::name: sd_.name = intern(s); break;
          case key::kind: sd_.kind = intern(s); break;
          case key::type: res_.type = intern(s); break;
          case key::baseDefinition: sd_.base_definition = intern(s); break;
          case key::derivation: sd_.derivation = intern(s); break;
          case key::fhirVersion: sd_.fhir_version = intern(s); break;
          case key::code: res_.code = intern(s); break;
          case key::expression: res_.expression = intern(s); break;
          default: break;
        }
        return true;
      case state::element: {
        raw_element& e = out_.elements.back();
        if (key_ == key::path) e.path = intern(s);
        if (key_ == key::contentReference) e.content_reference = intern(s);
        if (key_ == key::max) return parse_max(s, e.max);
        return true;
      }
      case state::el_type:
        if (key_ == key::code) out_.type_refs.back().code = intern(s);
        return true;
      case state::el_ext:
        if (key_ == key::url) ext_is_fhir_type_ = s == fhir_type_extension;
        if (key_ == key::valueUrl) ext_value_ = intern(s);
        return true;
      case state::el_targets:
        // "http://hl7.org/fhir/StructureDefinition/Patient" -> "Patient"
        out_.strs.push_back(intern(s.substr(s.rfind('/') + 1)));
        return true;
      case state::str_array:
        out_.strs.push_back(intern(s));
        return true;
      case state::component:
        if (key_ == key::definition) out_.components.back().definition = intern(s);
        if (key_ == key::expression) out_.components.back().expression = intern(s);
        return true;
      case state::cd_resource:
        if (key_ == key::code) out_.compartment.back().code = intern(s);
        return true;
      default:
        return true;
    }
  }

  bool Bool(bool b) {
    if (stack_.empty()) return fail("the file is not a JSON object");
    if (top() == state::res) {
      if (key_ == key::abstract_) sd_.is_abstract = b;
      if (key_ == key::multipleOr) res_.multiple_or = b;
      if (key_ == key::multipleAnd) res_.multiple_and = b;
    } else if (top() == state::element) {
      if (key_ == key::isModifier) out_.elements.back().is_modifier = b;
      if (key_ == key::isSummary) out_.elements.back().is_summary = b;
    }
    return true;
  }

  bool Uint(unsigned u) {
    if (stack_.empty()) return fail("the file is not a JSON object");
    if (top() == state::element && key_ == key::min) out_.elements.back().min = u;
    return true;
  }

  bool Int(int) {
    if (stack_.empty()) return fail("the file is not a JSON object");
    if (top() == state::element && key_ == key::min) return fail("ElementDefinition.min is negative");
    return true;
  }

  /// Every other scalar (null, 64-bit and floating point numbers) is ignored.
  bool Default() { return stack_.empty() ? fail("the file is not a JSON object") : true; }

  /// After the parse: was it the expected kind of file?
  bool finish() {
    if (shape_ == file_shape::bundle && out_.root_type != "Bundle") return fail("not a Bundle");
    if (shape_ == file_shape::compartment && out_.root_type != "CompartmentDefinition")
      return fail("not a CompartmentDefinition");
    return true;
  }

 private:
  struct frame {
    state st;
    key array_key;        // the member name an array was under
    std::uint32_t begin;  // for arrays: size of the collecting vector at the start
  };

  state top() const noexcept { return stack_.back().st; }

  bool push(state s) {
    if (stack_.size() >= max_depth) return fail("JSON nested too deeply");
    stack_.push_back({s, key::other, 0});
    return true;
  }

  bool fail(std::string message) {
    if (failure_.empty()) failure_ = std::move(message);
    return false;
  }

  std::string_view intern(std::string_view s) { return out_.arena.intern(s); }

  static std::uint32_t size32(const auto& v) noexcept { return static_cast<std::uint32_t>(v.size()); }

  /// ElementDefinition.max: "*" or a non-negative integer (FHIR R4
  /// elementdefinition-definitions.html#ElementDefinition.max).
  bool parse_max(std::string_view s, std::uint32_t& max) {
    if (s == "*") {
      max = element_definition::unbounded;
      return true;
    }
    if (s.empty() || s.size() > 9) return fail("ElementDefinition.max is not \"*\" or a number");
    std::uint32_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return fail("ElementDefinition.max is not \"*\" or a number");
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    max = v;
    return true;
  }

  /// Marks the vectors' sizes, so that a resource the registry does not keep
  /// leaves nothing behind.
  void begin_resource() {
    res_type_ = {};
    res_ = {};
    sd_ = {};
    res_elements_ = {};
    res_compartment_ = {};
    mark_ = {size32(out_.strs), size32(out_.type_refs), size32(out_.elements), size32(out_.components),
             size32(out_.compartment)};
  }

  bool end_resource() {
    if (res_type_ == "StructureDefinition" && shape_ == file_shape::bundle && res_elements_.count > 0) {
      sd_.id = res_.id;
      sd_.url = res_.url;
      sd_.type = res_.type;
      sd_.elements = res_elements_;
      out_.structures.push_back(sd_);
      return true;
    }
    if (res_type_ == "SearchParameter" && shape_ == file_shape::bundle) {
      out_.params.push_back(res_);
      return true;
    }
    if (res_type_ == "CompartmentDefinition" && shape_ == file_shape::compartment) {
      out_.root_type = res_type_;
      out_.compartment_code = res_.code;
      return true;
    }
    if (shape_ == file_shape::compartment) out_.root_type = res_type_;
    // Not needed (OperationDefinition, CapabilityStatement, ...): drop what it left.
    out_.strs.resize(mark_[0]);
    out_.type_refs.resize(mark_[1]);
    out_.elements.resize(mark_[2]);
    out_.components.resize(mark_[3]);
    out_.compartment.resize(mark_[4]);
    return true;
  }

  raw_file& out_;
  file_shape shape_;
  std::vector<frame> stack_;
  key key_ = key::other;  // the last member name seen
  std::string failure_;   // set when the content, not the syntax, is wrong

  // The resource being read.
  std::string_view res_type_;
  raw_search_param res_;  // also holds id, url, type, code, expression of any resource
  raw_structure sd_;
  raw_range res_elements_;
  raw_range res_compartment_;
  std::array<std::uint32_t, 5> mark_{};

  // The extension being read inside ElementDefinition.type[i].
  bool ext_is_fhir_type_ = false;
  std::string_view ext_value_;
};

hearth::error file_error(std::string code, std::string message, const std::filesystem::path& file,
                         std::size_t offset = hearth::error::npos) {
  return hearth::error{std::move(code), std::move(message), file.string(), offset};
}

}  // namespace

hearth::result<raw_file, hearth::error> read_definitions_file(const std::filesystem::path& file,
                                                              file_shape shape) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return hearth::unexpected(file_error("not-found", "definitions file not found", file));
    }
    return hearth::unexpected(file_error("exception", "cannot read definitions file: " + ec.message(), file));
  }
  if (size > max_file_bytes) {
    return hearth::unexpected(file_error("too-long", "definitions file larger than 256 MiB", file));
  }

  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    return hearth::unexpected(file_error("exception", std::string("cannot open definitions file: ") +
                                                          std::strerror(errno), file));
  }
  // Streamed through a 64 KiB buffer: holding the 35 MB file would cost more
  // in page faults on fresh memory than the parse itself (measured: 100 ms of
  // a 150 ms load), and would raise the peak RSS by the file's size.
  std::unique_ptr<char[]> buffer(new char[read_buffer_bytes]);
  raw_file out;
  handler h(out, shape);
  rapidjson::Reader reader;
  rapidjson::FileReadStream stream(f, buffer.get(), read_buffer_bytes);
  const rapidjson::ParseResult ok = reader.Parse<rapidjson::kParseDefaultFlags>(stream, h);
  const bool read_failed = std::ferror(f) != 0;
  std::fclose(f);
  if (read_failed) return hearth::unexpected(file_error("exception", "read error in definitions file", file));
  if (!ok) {
    const std::size_t offset = reader.GetErrorOffset();
    if (ok.Code() == rapidjson::kParseErrorTermination && !h.failure().empty()) {
      return hearth::unexpected(file_error("invalid", h.failure(), file, offset));
    }
    return hearth::unexpected(
        file_error("invalid", std::string("malformed JSON: ") + rapidjson::GetParseError_En(ok.Code()), file, offset));
  }
  if (!h.finish()) return hearth::unexpected(file_error("invalid", h.failure(), file, 0));
  out.arena.seal();
  return out;
}

}  // namespace detail

// ============================================================================
// The registry built from the raw records.
// ============================================================================

namespace {

/// (parent path, JSON property name): the key of the child index.
struct child_key {
  std::string_view parent;
  std::string_view name;
  bool operator==(const child_key&) const = default;
};

struct child_key_hash {
  std::size_t operator()(const child_key& k) const noexcept {
    const std::size_t a = std::hash<std::string_view>{}(k.parent);
    const std::size_t b = std::hash<std::string_view>{}(k.name);
    return a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  }
};

/// What the registry knows per resource type beyond its type_definition.
struct resource_extra {
  std::span<const search_parameter* const> params;  // sorted by code
  std::span<const std::string_view> compartment;   // Patient compartment params
  bool in_compartment = false;
};

std::string_view last_segment(std::string_view s, char sep) noexcept {
  const std::size_t p = s.rfind(sep);
  return p == std::string_view::npos ? s : s.substr(p + 1);
}

std::optional<type_kind> kind_of(std::string_view kind) noexcept {
  if (kind == "primitive-type") return type_kind::primitive_type;
  if (kind == "complex-type") return type_kind::complex_type;
  if (kind == "resource") return type_kind::resource;
  if (kind == "logical") return type_kind::logical;
  return std::nullopt;
}

std::optional<search_param_type> param_type_of(std::string_view t) noexcept {
  static constexpr std::array<std::pair<std::string_view, search_param_type>, 9> table{{
      {"number", search_param_type::number},
      {"date", search_param_type::date},
      {"string", search_param_type::string},
      {"token", search_param_type::token},
      {"reference", search_param_type::reference},
      {"composite", search_param_type::composite},
      {"quantity", search_param_type::quantity},
      {"uri", search_param_type::uri},
      {"special", search_param_type::special},
  }};
  for (const auto& [text, value] : table) {
    if (text == t) return value;
  }
  return std::nullopt;
}

constexpr std::string_view fhirpath_system_prefix = "http://hl7.org/fhirpath/System.";

}  // namespace

std::string_view to_string(search_param_type t) noexcept {
  switch (t) {
    case search_param_type::number: return "number";
    case search_param_type::date: return "date";
    case search_param_type::string: return "string";
    case search_param_type::token: return "token";
    case search_param_type::reference: return "reference";
    case search_param_type::composite: return "composite";
    case search_param_type::quantity: return "quantity";
    case search_param_type::uri: return "uri";
    case search_param_type::special: return "special";
  }
  return "string";
}

struct definitions::impl {
  // The raw files: their arenas own every string, their `strs` back the spans
  // of strings. Never modified after load.
  std::vector<detail::raw_file> files;
  detail::string_arena names;  // choice names built here ("valueQuantity")

  std::vector<type_ref> type_refs;
  std::vector<element_definition> elements;           // every snapshot, one after another
  std::vector<const element_definition*> child_ptrs;  // backs element_definition::children
  std::vector<type_definition> types;
  std::vector<std::string_view> resource_type_names;  // concrete, sorted

  std::unordered_map<std::string_view, std::uint32_t> type_index;     // name -> types
  std::unordered_map<std::string_view, std::uint32_t> element_index;  // path -> elements
  std::unordered_map<child_key, child_match, child_key_hash> children;

  std::vector<search_component> components;
  std::vector<search_parameter> params;
  std::vector<const search_parameter*> param_ptrs;  // backs resource_extra::params
  std::unordered_map<std::string_view, const search_parameter*> param_by_url;
  std::unordered_map<std::string_view, resource_extra> resources;  // by resource type

  terminology_files terminology;

  hearth::result<void, hearth::error> build(const load_options& opts, const std::filesystem::path& dir);

  const type_definition* type(std::string_view name) const noexcept {
    auto it = type_index.find(name);
    return it == type_index.end() ? nullptr : &types[it->second];
  }
  const element_definition* element(std::string_view path) const noexcept {
    auto it = element_index.find(path);
    return it == element_index.end() ? nullptr : &elements[it->second];
  }
  const resource_extra* extra(std::string_view resource_type) const noexcept {
    auto it = resources.find(resource_type);
    return it == resources.end() ? nullptr : &it->second;
  }
};

hearth::result<void, hearth::error> definitions::impl::build(const load_options& opts,
                                                            const std::filesystem::path& dir) {
  auto invalid = [&](std::string message, const std::filesystem::path& file) {
    return hearth::unexpected(hearth::error{"invalid", std::move(message), file.string(), hearth::error::npos});
  };
  const std::filesystem::path resources_file = dir / "profiles-resources.json";

  // --- which StructureDefinitions become types ------------------------------
  struct kept {
    const detail::raw_file* file;
    const detail::raw_structure* sd;
    type_kind kind;
  };
  std::vector<kept> structures;
  std::size_t element_count = 0;
  std::size_t type_ref_count = 0;
  for (const detail::raw_file& f : files) {
    type_ref_count += f.type_refs.size();
    for (const detail::raw_structure& sd : f.structures) {
      // Constraints (SimpleQuantity, MoneyQuantity) are profiles, not types.
      if (sd.derivation == "constraint") continue;
      if (!opts.include_other_versions && sd.fhir_version != "4.0.1") continue;
      const std::optional<type_kind> kind = kind_of(sd.kind);
      if (!kind) continue;
      structures.push_back({&f, &sd, *kind});
      element_count += sd.elements.count;
    }
  }
  if (structures.empty()) return invalid("no StructureDefinition with a snapshot", resources_file);

  // --- type references -------------------------------------------------------
  // One final type_ref per raw one, file after file; `ref_base` maps a file's
  // raw index to the final one.
  type_refs.reserve(type_ref_count);
  std::vector<std::size_t> ref_base;
  for (const detail::raw_file& f : files) {
    ref_base.push_back(type_refs.size());
    for (const detail::raw_type_ref& r : f.type_refs) {
      type_refs.push_back({r.code, std::span<const std::string_view>(f.strs).subspan(r.targets.begin, r.targets.count)});
    }
  }

  // --- elements ------------------------------------------------------------------
  elements.reserve(element_count);
  element_index.reserve(element_count + element_count / 4);
  struct type_span {
    std::size_t begin, count;
  };
  std::vector<type_span> structure_elements;
  for (const kept& k : structures) {
    const std::size_t file_no = static_cast<std::size_t>(k.file - files.data());
    const std::size_t begin = elements.size();
    for (std::uint32_t i = 0; i < k.sd->elements.count; ++i) {
      const detail::raw_element& r = k.file->elements[k.sd->elements.begin + i];
      if (r.path.empty()) return invalid("ElementDefinition without a path", resources_file);
      element_definition e;
      e.path = r.path;
      e.name = last_segment(r.path, '.');
      e.min = r.min;
      e.max = r.max;
      e.order = i;
      e.content_reference = r.content_reference;
      e.is_modifier = r.is_modifier;
      e.is_summary = r.is_summary;
      const std::size_t first_ref = ref_base[file_no] + r.types.begin;
      e.types = std::span<const type_ref>(type_refs).subspan(first_ref, r.types.count);
      // R4 types Resource.id, Element.id, Extension.url, ... with a FHIRPath
      // system type plus the structuredefinition-fhir-type extension naming the
      // FHIR type; the FHIR type is what the JSON and XML layers need. The
      // `value` of a primitive type keeps the system type: it is the lexical value.
      const bool primitive_value = k.kind == type_kind::primitive_type && e.name == "value" && i > 0;
      for (std::uint32_t t = 0; t < r.types.count; ++t) {
        type_ref& ref = type_refs[first_ref + t];
        const detail::raw_type_ref& raw = k.file->type_refs[r.types.begin + t];
        // xhtml.id alone lacks the extension in R4 4.0.1; it is an Element.id, a string.
        if (!primitive_value && raw.fhir_type.empty() && e.name == "id" &&
            ref.code == "http://hl7.org/fhirpath/System.String") {
          ref.code = "string";
        }
        if (!primitive_value && !raw.fhir_type.empty() && ref.code.starts_with(fhirpath_system_prefix)) {
          ref.code = raw.fhir_type;
          // R4 4.0.1 gives Resource.id (and so every X.id of a resource) the
          // fhir-type "string"; FHIR R4 resource.html#id defines it as an id
          // ([A-Za-z0-9\-\.]{1,64}), which is what the server must check.
          if (k.kind == type_kind::resource && i > 0 && e.name == "id" &&
              e.path.size() == k.sd->type.size() + 3) {
            ref.code = "id";
          }
        }
      }
      element_index.emplace(e.path, static_cast<std::uint32_t>(elements.size()));
      elements.push_back(e);
    }
    structure_elements.push_back({begin, elements.size() - begin});
  }

  // --- parents, children, content references ---------------------------------
  constexpr std::uint32_t no_parent = static_cast<std::uint32_t>(-1);
  std::vector<std::uint32_t> parent(elements.size(), no_parent);
  std::vector<std::uint32_t> child_count(elements.size(), 0);
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const std::string_view path = elements[i].path;
    const std::size_t dot = path.rfind('.');
    if (dot == std::string_view::npos) continue;
    auto it = element_index.find(path.substr(0, dot));
    if (it == element_index.end()) return invalid("element " + std::string(path) + " has no parent", resources_file);
    parent[i] = it->second;
    ++child_count[it->second];
  }
  std::vector<std::size_t> child_begin(elements.size() + 1, 0);
  for (std::size_t i = 0; i < elements.size(); ++i) child_begin[i + 1] = child_begin[i] + child_count[i];
  child_ptrs.assign(child_begin.back(), nullptr);
  {
    std::vector<std::size_t> fill(child_begin.begin(), child_begin.end() - 1);
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (parent[i] != no_parent) child_ptrs[fill[parent[i]]++] = &elements[i];
    }
  }
  for (std::size_t i = 0; i < elements.size(); ++i) {
    element_definition& e = elements[i];
    e.children = std::span<const element_definition* const>(child_ptrs).subspan(child_begin[i], child_count[i]);
    if (!e.content_reference.empty()) {
      // "#Questionnaire.item" (FHIR R4 elementdefinition.html#ElementDefinition.contentReference)
      const std::string_view target = e.content_reference.substr(e.content_reference.starts_with('#') ? 1 : 0);
      e.content_target = element(target);
      if (e.content_target == nullptr) {
        return invalid("contentReference of " + std::string(e.path) + " points nowhere", resources_file);
      }
    }
  }

  // --- the child index: JSON property name -> element ------------------------------
  children.reserve(elements.size() * 2);
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (parent[i] == no_parent) continue;
    const element_definition& e = elements[i];
    const std::string_view parent_path = elements[parent[i]].path;
    if (!e.is_choice()) {
      children.emplace(child_key{parent_path, e.name}, child_match{&e, nullptr});
      continue;
    }
    // value[x] with type Quantity -> "valueQuantity" (FHIR R4 formats.html#choice).
    const std::string_view stem = e.name.substr(0, e.name.size() - 3);
    std::string json_name;
    for (const type_ref& t : e.types) {
      if (t.code.empty()) continue;
      json_name.assign(stem);
      json_name += static_cast<char>(t.code[0] >= 'a' && t.code[0] <= 'z' ? t.code[0] - 'a' + 'A' : t.code[0]);
      json_name.append(t.code.substr(1));
      children.emplace(child_key{parent_path, names.intern(json_name)}, child_match{&e, &t});
    }
  }
  names.seal();

  // --- types ---------------------------------------------------------------------------
  std::size_t backbone_count = 0;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (parent[i] != no_parent && !elements[i].children.empty()) ++backbone_count;
  }
  types.reserve(structures.size() + backbone_count);
  for (std::size_t s = 0; s < structures.size(); ++s) {
    const kept& k = structures[s];
    type_definition t;
    t.name = k.sd->type;
    t.url = k.sd->url;
    t.base = last_segment(k.sd->base_definition, '/');
    t.kind = k.kind;
    t.is_abstract = k.sd->is_abstract;
    t.elements = std::span<const element_definition>(elements).subspan(structure_elements[s].begin,
                                                                        structure_elements[s].count);
    if (t.name.empty() || t.elements.front().path != t.name) {
      return invalid("StructureDefinition " + std::string(k.sd->id) + ": snapshot does not start at its type",
                     resources_file);
    }
    if (t.kind == type_kind::primitive_type) {
      // From the definitions: the FHIRPath type of the primitive's value.
      t.json = json_kind::string;
      if (const element_definition* v = element(std::string(t.name) + ".value"); v && !v->types.empty()) {
        const std::string_view sys = v->types.front().code;
        if (sys == "http://hl7.org/fhirpath/System.Boolean") t.json = json_kind::boolean;
        if (sys == "http://hl7.org/fhirpath/System.Integer" || sys == "http://hl7.org/fhirpath/System.Decimal") {
          t.json = json_kind::number;
        }
      }
      // R4 4.0.1 gives positiveInt.value and unsignedInt.value the type
      // System.String (corrected in R5); FHIR R4 json.html#primitive writes
      // them as JSON numbers.
      if (t.name == "positiveInt" || t.name == "unsignedInt") t.json = json_kind::number;
    }
    if (!type_index.emplace(t.name, static_cast<std::uint32_t>(types.size())).second) {
      return invalid("type " + std::string(t.name) + " defined twice", resources_file);
    }
    types.push_back(t);
  }
  // Backbone elements: an element with children below the root. Its subtree
  // is contiguous in the snapshot (depth-first order).
  for (std::size_t s = 0; s < structures.size(); ++s) {
    const std::size_t begin = structure_elements[s].begin;
    const std::size_t end = begin + structure_elements[s].count;
    for (std::size_t i = begin + 1; i < end; ++i) {
      const element_definition& e = elements[i];
      if (e.children.empty()) continue;
      std::size_t j = i + 1;
      while (j < end && elements[j].path.size() > e.path.size() && elements[j].path.starts_with(e.path) &&
             elements[j].path[e.path.size()] == '.') {
        ++j;
      }
      type_definition t;
      t.name = e.path;
      t.base = e.types.empty() ? std::string_view("BackboneElement") : e.types.front().code;
      t.kind = type_kind::backbone_element;
      t.elements = std::span<const element_definition>(elements).subspan(i, j - i);
      type_index.emplace(t.name, static_cast<std::uint32_t>(types.size()));
      types.push_back(t);
    }
  }

  // --- resource types --------------------------------------------------------------------
  for (const type_definition& t : types) {
    if (t.kind != type_kind::resource) continue;
    resources.emplace(t.name, resource_extra{});
    if (!t.is_abstract) resource_type_names.push_back(t.name);
  }
  std::sort(resource_type_names.begin(), resource_type_names.end());
  if (resource_type_names.empty() || type("Resource") == nullptr) {
    return invalid("no resource types", resources_file);
  }

  // --- search parameters -----------------------------------------------------------------
  const std::filesystem::path search_file = dir / "search-parameters.json";
  std::size_t component_count = 0;
  for (const detail::raw_file& f : files) component_count += f.components.size();
  components.reserve(component_count);
  std::vector<std::size_t> component_base;
  for (const detail::raw_file& f : files) {
    component_base.push_back(components.size());
    for (const detail::raw_component& c : f.components) components.push_back({c.definition, c.expression});
  }
  for (std::size_t file_no = 0; file_no < files.size(); ++file_no) {
    const detail::raw_file& f = files[file_no];
    const std::span<const std::string_view> strs(f.strs);
    for (const detail::raw_search_param& r : f.params) {
      const std::optional<search_param_type> type = param_type_of(r.type);
      if (!type) return invalid("SearchParameter " + std::string(r.id) + ": unknown type", search_file);
      if (r.code.empty() || r.base.count == 0) {
        return invalid("SearchParameter " + std::string(r.id) + ": no code or base", search_file);
      }
      search_parameter p;
      p.url = r.url;
      p.id = r.id;
      p.code = r.code;
      p.base = strs.subspan(r.base.begin, r.base.count);
      p.type = *type;
      p.expression = r.expression;
      p.target = strs.subspan(r.target.begin, r.target.count);
      p.components = std::span<const search_component>(components).subspan(
          component_base[file_no] + r.components.begin, r.components.count);
      p.modifiers = strs.subspan(r.modifiers.begin, r.modifiers.count);
      p.comparators = strs.subspan(r.comparators.begin, r.comparators.count);
      p.multiple_or = r.multiple_or;
      p.multiple_and = r.multiple_and;
      params.push_back(p);
    }
  }
  if (params.empty()) return invalid("no SearchParameter", search_file);
  for (const search_parameter& p : params) param_by_url.emplace(p.url, &p);

  // Per resource type: its own parameters, then those on Resource and, for
  // types derived from DomainResource, on DomainResource (FHIR R4
  // searchparameter-registry.html: "Common Search Parameters").
  std::unordered_map<std::string_view, std::vector<const search_parameter*>> by_base;
  for (const search_parameter& p : params) {
    for (std::string_view b : p.base) by_base[b].push_back(&p);
  }
  auto derives_from = [&](std::string_view type_name, std::string_view ancestor) {
    for (const type_definition* t = type(type_name); t != nullptr && !t->base.empty(); t = type(t->base)) {
      if (t->base == ancestor) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string_view, std::vector<const search_parameter*>>> lists;
  std::size_t total = 0;
  for (auto& [name, extra] : resources) {
    std::vector<const search_parameter*> list;
    auto add = [&](std::string_view base) {
      if (auto it = by_base.find(base); it != by_base.end()) list.insert(list.end(), it->second.begin(), it->second.end());
    };
    add(name);
    if (name != "Resource") add("Resource");
    if (name != "DomainResource" && derives_from(name, "DomainResource")) add("DomainResource");
    std::stable_sort(list.begin(), list.end(),
                     [](const search_parameter* a, const search_parameter* b) { return a->code < b->code; });
    // A code defined twice for one type keeps its first definition.
    list.erase(std::unique(list.begin(), list.end(),
                           [](const search_parameter* a, const search_parameter* b) { return a->code == b->code; }),
               list.end());
    total += list.size();
    lists.emplace_back(name, std::move(list));
  }
  param_ptrs.reserve(total);
  for (auto& [name, list] : lists) {
    const std::size_t begin = param_ptrs.size();
    param_ptrs.insert(param_ptrs.end(), list.begin(), list.end());
    resources[name].params = std::span<const search_parameter* const>(param_ptrs).subspan(begin, list.size());
  }

  // --- Patient compartment -----------------------------------------------------------------
  const std::filesystem::path compartment_file = dir / "compartmentdefinition-patient.json";
  bool found_compartment = false;
  for (const detail::raw_file& f : files) {
    if (f.root_type != "CompartmentDefinition") continue;
    if (f.compartment_code != "Patient") return invalid("not the Patient CompartmentDefinition", compartment_file);
    found_compartment = true;
    for (const detail::raw_compartment_entry& c : f.compartment) {
      auto it = resources.find(c.code);
      if (it == resources.end()) continue;  // a type left out (other FHIR version)
      it->second.compartment = std::span<const std::string_view>(f.strs).subspan(c.params.begin, c.params.count);
      it->second.in_compartment = c.params.count > 0 || c.code == "Patient";
    }
  }
  if (!found_compartment) return invalid("no Patient CompartmentDefinition", compartment_file);

  terminology.valuesets = dir / "valuesets.json";
  terminology.v2_tables = dir / "v2-tables.json";
  terminology.v3_codesystems = dir / "v3-codesystems.json";
  terminology.conceptmaps = dir / "conceptmaps.json";
  return {};
}

// ============================================================================
// definitions
// ============================================================================

hearth::result<definitions, hearth::error> definitions::load(const std::filesystem::path& dir,
                                                             const load_options& opts) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return hearth::unexpected(
        hearth::error{"not-found", "definitions folder not found", dir.string(), hearth::error::npos});
  }
  auto p = std::make_unique<impl>();
  static constexpr std::array<std::pair<std::string_view, detail::file_shape>, 4> inputs{{
      {"profiles-types.json", detail::file_shape::bundle},
      {"profiles-resources.json", detail::file_shape::bundle},
      {"search-parameters.json", detail::file_shape::bundle},
      {"compartmentdefinition-patient.json", detail::file_shape::compartment},
  }};
  p->files.reserve(inputs.size());
  for (const auto& [name, shape] : inputs) {
    auto file = detail::read_definitions_file(dir / name, shape);
    if (!file) return hearth::unexpected(std::move(file).error());
    p->files.push_back(std::move(file).value());
  }
  if (auto built = p->build(opts, dir); !built) return hearth::unexpected(std::move(built).error());
  return definitions(std::unique_ptr<const impl>(std::move(p)));
}

definitions::definitions(std::unique_ptr<const impl> p) noexcept : impl_(std::move(p)) {}
definitions::definitions(definitions&&) noexcept = default;
definitions& definitions::operator=(definitions&&) noexcept = default;
definitions::~definitions() = default;

const type_definition* definitions::find_type(std::string_view name) const noexcept { return impl_->type(name); }

bool definitions::is_resource_type(std::string_view name) const noexcept {
  const type_definition* t = impl_->type(name);
  return t != nullptr && t->kind == type_kind::resource && !t->is_abstract;
}

bool definitions::is_primitive_type(std::string_view name) const noexcept {
  const type_definition* t = impl_->type(name);
  return t != nullptr && t->kind == type_kind::primitive_type;
}

std::span<const std::string_view> definitions::resource_types() const noexcept { return impl_->resource_type_names; }

std::span<const type_definition> definitions::types() const noexcept { return impl_->types; }

const element_definition* definitions::find_element(std::string_view path) const noexcept {
  return impl_->element(path);
}

child_match definitions::find_child(std::string_view parent, std::string_view json_name) const noexcept {
  if (auto it = impl_->children.find(child_key{parent, json_name}); it != impl_->children.end()) return it->second;
  // An element whose children live elsewhere: behind its content reference
  // (Questionnaire.item.item -> Questionnaire.item) or in its only type
  // (Observation.code -> CodeableConcept).
  const element_definition* e = impl_->element(parent);
  if (e == nullptr || !e->children.empty()) return {};
  std::string_view next;
  if (e->content_target != nullptr) {
    next = e->content_target->path;
  } else if (e->types.size() == 1 && !e->is_choice()) {
    next = e->types.front().code;
  } else {
    return {};
  }
  auto it = impl_->children.find(child_key{next, json_name});
  return it == impl_->children.end() ? child_match{} : it->second;
}

child_match definitions::resolve_choice(std::string_view parent, std::string_view json_name) const noexcept {
  const child_match m = find_child(parent, json_name);
  return m.type != nullptr ? m : child_match{};
}

std::span<const search_parameter* const> definitions::search_parameters(
    std::string_view resource_type) const noexcept {
  const resource_extra* x = impl_->extra(resource_type);
  return x == nullptr ? std::span<const search_parameter* const>{} : x->params;
}

const search_parameter* definitions::find_search_parameter(std::string_view resource_type,
                                                           std::string_view code) const noexcept {
  const auto list = search_parameters(resource_type);
  auto it = std::lower_bound(list.begin(), list.end(), code,
                             [](const search_parameter* p, std::string_view c) { return p->code < c; });
  return it != list.end() && (*it)->code == code ? *it : nullptr;
}

const search_parameter* definitions::find_search_parameter_by_url(std::string_view url) const noexcept {
  auto it = impl_->param_by_url.find(url);
  return it == impl_->param_by_url.end() ? nullptr : it->second;
}

std::span<const search_parameter> definitions::all_search_parameters() const noexcept { return impl_->params; }

std::span<const std::string_view> definitions::patient_compartment_params(
    std::string_view resource_type) const noexcept {
  const resource_extra* x = impl_->extra(resource_type);
  return x == nullptr ? std::span<const std::string_view>{} : x->compartment;
}

bool definitions::in_patient_compartment(std::string_view resource_type) const noexcept {
  const resource_extra* x = impl_->extra(resource_type);
  return x != nullptr && x->in_compartment;
}

const terminology_files& definitions::terminology() const noexcept { return impl_->terminology; }

}  // namespace hearth::fhir
