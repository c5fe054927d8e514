#pragma once
// Private to definitions.cpp: the raw records a SAX pass over one definitions
// file produces, and the arena their strings live in. No RapidJSON types here.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::fhir::detail {

/// Owns the bytes of every string the registry keeps. Strings are copied once
/// and never move (chunks are separate heap blocks), so string_views into the
/// arena survive moving the arena. Equal strings are stored once while loading.
/// Not thread-safe while interning; immutable afterwards.
class string_arena {
 public:
  /// A stable copy of `s`, shared with any earlier equal string.
  std::string_view intern(std::string_view s);
  /// Frees the index used to share equal strings; the strings stay.
  void seal() { seen_ = {}; }

 private:
  std::string_view store(std::string_view s);

  /// 256 KiB: the kept strings of all bundles fit in a handful of chunks.
  static constexpr std::size_t chunk_size = 256 * 1024;
  std::vector<std::unique_ptr<char[]>> chunks_;  // the bytes
  char* cur_ = nullptr;                          // next free byte of the last chunk
  std::size_t left_ = 0;                         // free bytes after cur_
  std::unordered_set<std::string_view> seen_;    // interned so far (while loading)
};

/// [begin, begin + count) in one of raw_file's vectors.
struct raw_range {
  std::uint32_t begin = 0;
  std::uint32_t count = 0;
};

struct raw_type_ref {
  std::string_view code;       // ElementDefinition.type.code
  std::string_view fhir_type;  // structuredefinition-fhir-type extension, if any
  raw_range targets;           // in strs: type names from targetProfile
};

struct raw_element {
  std::string_view path;
  std::string_view content_reference;
  std::uint32_t min = 0;
  std::uint32_t max = 1;
  raw_range types;  // in type_refs
  bool is_modifier = false;
  bool is_summary = false;
};

struct raw_structure {  // a StructureDefinition with a snapshot
  std::string_view id, url, name, type, kind, base_definition, derivation, fhir_version;
  bool is_abstract = false;
  raw_range elements;  // in elements
};

struct raw_component {
  std::string_view definition, expression;
};

struct raw_search_param {
  std::string_view url, id, code, type, expression;
  raw_range base, target, modifiers, comparators;  // in strs
  raw_range components;                            // in components
  std::optional<bool> multiple_or, multiple_and;
};

struct raw_compartment_entry {
  std::string_view code;
  raw_range params;  // in strs
};

/// What one file held. The registry keeps it: its vectors back the spans it
/// hands out.
struct raw_file {
  string_arena arena;
  std::vector<std::string_view> strs;  // string array items
  std::vector<raw_type_ref> type_refs;
  std::vector<raw_element> elements;
  std::vector<raw_structure> structures;
  std::vector<raw_component> components;
  std::vector<raw_search_param> params;
  std::vector<raw_compartment_entry> compartment;
  std::string_view compartment_code;  // CompartmentDefinition.code
  std::string_view root_type;         // resourceType of the top-level object
};

/// The shape a file must have.
enum class file_shape {
  bundle,               // a Bundle of resources (StructureDefinition, SearchParameter, ...)
  compartment,          // one CompartmentDefinition
};

/// Reads one file with a SAX pass. Errors carry the file as location and the
/// byte offset.
hearth::result<raw_file, hearth::error> read_definitions_file(const std::filesystem::path& file,
                                                              file_shape shape);

}  // namespace hearth::fhir::detail
