#include "examples_loader.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>

namespace hearth::app {
namespace {

/// One file, read and checked, waiting to be written.
struct checked_example {
  std::filesystem::path file;
  std::string type;
  std::string id;
  fhir::json_value resource;
};

/// An error about `file`: the message names it, the location is its path.
/// Messages never quote the file's content (hearth::error).
hearth::error file_error(const std::filesystem::path& file, std::string code, const std::string& what) {
  return hearth::error{std::move(code), "example " + file.string() + ": " + what, file.string(),
                       hearth::error::npos};
}

/// The `*.json` files directly in `dir`, sorted by name.
hearth::result<std::vector<std::filesystem::path>> list_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::path& p = it->path();
    const std::string name = p.filename().string();
    // Hidden files are editor and tool leftovers (".#x.json", "._x.json").
    if (name.starts_with('.') || p.extension() != ".json") continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    if (files.size() == max_example_files) {
      return hearth::unexpected(hearth::error{
          "too-costly",
          "examples folder " + dir.string() + ": more than " + std::to_string(max_example_files) +
              " files (load bulk data with hearth import)",
          dir.string(), hearth::error::npos});
    }
    files.push_back(p);
  }
  if (ec) {
    return hearth::unexpected(
        hearth::error{"not-found", "examples folder " + dir.string() + ": cannot be listed: " + ec.message(),
                      dir.string(), hearth::error::npos});
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Reads `file` (at most max_example_bytes) and checks it is one FHIR
/// resource with an id.
hearth::result<checked_example> read_example(const std::filesystem::path& file, const fhir::definitions& defs) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return hearth::unexpected(file_error(file, "not-found", "cannot be read: " + ec.message()));
  if (size > max_example_bytes) {
    return hearth::unexpected(file_error(file, "too-costly", "larger than 16 MiB"));
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return hearth::unexpected(file_error(file, "not-found", "cannot be read"));

  auto parsed = fhir::parse_json(text);
  if (!parsed) {
    const hearth::error& e = parsed.error();
    std::string where = e.location.empty() ? std::string() : " at " + e.location;
    if (e.offset != hearth::error::npos) where += " (byte " + std::to_string(e.offset) + ")";
    return hearth::unexpected(file_error(file, e.code, "not valid FHIR JSON" + where + ": " + e.message));
  }
  const fhir::json_value* rt = parsed->is_object() ? parsed->find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) {
    return hearth::unexpected(file_error(file, "structure", "not a FHIR resource (no resourceType)"));
  }
  // The checks of a REST create or update (rest_read_write.cpp).
  const fhir::issue_list issues = fhir::check_resource(*parsed, defs);
  if (fhir::has_errors(issues)) {
    const auto first = std::find_if(issues.begin(), issues.end(), [](const fhir::issue& i) {
      return i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal;
    });
    std::size_t errors = 0;
    for (const fhir::issue& i : issues) {
      if (i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal) ++errors;
    }
    std::string what = "not a valid " + rt->str() + " (" + std::to_string(errors) + " error" +
                       (errors == 1 ? "" : "s") + "; first";
    if (!first->expression.empty()) what += " at " + first->expression;
    what += ": " + first->diagnostics + ")";
    return hearth::unexpected(file_error(file, first->code.empty() ? "invalid" : first->code, what));
  }
  const fhir::json_value* id = parsed->find("id");
  if (id == nullptr || !id->is_string()) {
    // The id makes loading idempotent: a create would add a copy at each start.
    return hearth::unexpected(file_error(file, "required", "has no id (examples are loaded at their fixed id)"));
  }
  checked_example out;
  out.file = file;
  out.type = rt->str();
  out.id = id->str();
  out.resource = std::move(*parsed);
  return out;
}

}  // namespace

hearth::result<examples_report> load_examples(const std::filesystem::path& dir, store::resource_store& store,
                                              const fhir::definitions& defs) {
  auto files = list_files(dir);
  if (!files) return hearth::unexpected(std::move(files).error());

  // Everything is read and checked before anything is written: a bad file
  // leaves the store as it was.
  std::vector<checked_example> examples;
  examples.reserve(files->size());
  std::map<std::pair<std::string, std::string>, std::filesystem::path> seen;  // Type/id -> file
  for (const std::filesystem::path& file : *files) {
    auto ex = read_example(file, defs);
    if (!ex) return hearth::unexpected(std::move(ex).error());
    // Two files at one Type/id would overwrite each other at every start,
    // a new version each time.
    auto [at, fresh] = seen.emplace(std::pair{ex->type, ex->id}, file);
    if (!fresh) {
      return hearth::unexpected(file_error(file, "duplicate",
                                           "has the same resource type and id as " + at->second.string()));
    }
    examples.push_back(std::move(*ex));
  }

  // One transaction: the examples go in together or not at all, with one
  // commit (one fsync) for the lot.
  examples_report report;
  auto written = store.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    for (checked_example& ex : examples) {
      store::update_options opts;
      opts.allow_create = true;  // R4 http.html#upsert: the example's own id
      auto w = tx.update(ex.type, ex.id, std::move(ex.resource), opts);
      if (!w) {
        const hearth::error& e = w.error();
        return hearth::unexpected(file_error(ex.file, e.code, "the store refused it: " + e.message));
      }
      ++report.files;
      if (w->created) {
        ++report.created;
      } else if (w->changed) {
        ++report.updated;
      } else {
        ++report.unchanged;
      }
    }
    return {};
  });
  if (!written) return hearth::unexpected(std::move(written).error());
  return report;
}

}  // namespace hearth::app
