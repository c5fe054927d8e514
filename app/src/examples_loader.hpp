#pragma once
// Loading a folder of example FHIR resources at start-up (`hearth serve
// --examples DIR`; `make run` loads the repository's examples/fhir).

#include <cstddef>
#include <filesystem>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/store/resource_store.hpp>

namespace hearth::app {

/// What load_examples did: counts only, so that it can be logged (the
/// resources themselves may look like PHI even when invented).
struct examples_report {
  /// Resources read, checked and handed to the store.
  std::size_t files = 0;
  /// Resources that did not exist at their id (or were deleted): version 1,
  /// or a new version after a deletion.
  std::size_t created = 0;
  /// Resources whose stored current version differed from the file (edited
  /// through the API, or the file changed): a new version with the file's
  /// content.
  std::size_t updated = 0;
  /// Resources identical to their stored current version: nothing written.
  std::size_t unchanged = 0;
};

/// Most files load_examples reads. The folder holds a demonstration set of a
/// few dozen resources; loading is on the start-up path, which must stay
/// short. Bulk data goes through `hearth import`.
inline constexpr std::size_t max_example_files = 1000;
/// Largest example file: the default REST body limit (server_config
/// max_body_bytes), so an example is nothing a client could not have sent.
inline constexpr std::size_t max_example_bytes = 16u << 20;

/// Loads every regular file named `*.json` directly in `dir` (not in
/// subfolders; names starting with '.' are skipped), in name order. Each file
/// holds one FHIR R4 resource in JSON with its fixed `id`; it is parsed and
/// checked as a REST create or update is (fhir::parse_json,
/// fhir::check_resource), then written with update-as-create at
/// `Type/id` (R4 http.html#upsert). A Bundle file is stored as one Bundle
/// resource, not unpacked.
///
/// Idempotent across restarts: a resource identical to its stored current
/// version writes nothing (resource_store::update's identical-update rule);
/// one edited through the API since is set back to the file's content, as a
/// new version.
///
/// All or nothing: every file is read and checked first, then all are written
/// in one store transaction. The first file that is not a valid resource, has
/// no id, or repeats the Type/id of another file is an error naming the file
/// (and the element, for a check failure), and nothing is written; so is a
/// folder that cannot be listed or holds more than max_example_files. A write
/// the store refuses names its file and rolls the whole load back.
///
/// Thread-safety: call it once at start-up, before the store serves requests
/// (it may run beside other users of `store`, which is thread-safe). `defs`
/// must be the definitions the store's indexer was built from.
hearth::result<examples_report> load_examples(const std::filesystem::path& dir, store::resource_store& store,
                                              const fhir::definitions& defs);

}  // namespace hearth::app
