#pragma once
// A temporary directory for one test case's files, removed (with what is in
// it) when the case ends. Shared by the unit and integration tests.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

namespace hearth::test {

struct temp_dir {
  std::filesystem::path path;

  /// A fresh directory under the system's temporary directory, named
  /// `prefix`-PID-RANDOM so that parallel test processes never share one.
  explicit temp_dir(std::string_view prefix = "hearth-test") {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `text` to `rel` (relative to the directory, parents made); its path.
  std::filesystem::path write(const std::filesystem::path& rel, std::string_view text) const {
    const std::filesystem::path p = path / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

}  // namespace hearth::test
