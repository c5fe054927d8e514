// The cost of a process start with the whole R4 definitions registry ready
// (issue: under 300 ms and under 100 MB RSS). Loads the registry once and
// prints the load time and the process's peak RSS (VmHWM); time the whole
// process from outside (e.g. /usr/bin/time -v) for the start-up figure.
//
//   build/bin/definitions_load [DIR]   (DIR defaults to the build's definitions)

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <hearth/fhir/definitions.hpp>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : HEARTH_DEFINITIONS_DIR;
  const auto start = std::chrono::steady_clock::now();
  auto defs = hearth::fhir::definitions::load(dir);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!defs) {
    std::fprintf(stderr, "definitions_load: %s (%s)\n", defs.error().message.c_str(), defs.error().location.c_str());
    return 1;
  }
  std::string line, hwm = "unknown";
  std::ifstream status("/proc/self/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) hwm = line.substr(6);
  }
  std::printf("load_ms=%.1f resource_types=%zu search_parameters=%zu peak_rss=%s\n", ms,
              defs->resource_types().size(), defs->all_search_parameters().size(), hwm.c_str());
  return 0;
}
