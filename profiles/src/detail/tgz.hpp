#pragma once
// Reading the JSON files of an npm FHIR package (.tgz: a gzip'ed tar
// archive) without unpacking it to disk (private to profiles).

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>

namespace hearth::profiles::detail {

/// The files `package/<name>.json` directly in the archive's package folder
/// (not in sub-folders such as package/example/, not package.json or
/// .index.json), as (name, content) pairs in archive order. Errors:
/// "not-found", "invalid" (not gzip / a truncated or malformed tar),
/// "too-long" (beyond the size limits, see tgz.cpp).
hearth::result<std::vector<std::pair<std::string, std::string>>, hearth::error> read_package_tgz(
    const std::filesystem::path& path);

}  // namespace hearth::profiles::detail
