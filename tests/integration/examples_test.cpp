// hearth serve --examples DIR end to end (issue: "`make run` starts it on
// SQLite in `./data` with the examples in `examples/` loaded"): the
// repository's examples/fhir are loaded at their ids before the first request,
// a restart on the same database writes no new version, and a file that is
// not a valid resource stops start-up with an error naming it.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "integration/hearth_process.hpp"

using hearth::test::hearth_process;
using hearth::test::http_connection;

namespace {

/// A temporary directory, removed with its content on destruction.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& tag) {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("hearth-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Type and id of every example, from the file names ("Patient-example-patient-1.json"):
/// the convention of examples/fhir, which the reads below check against the content.
std::vector<std::pair<std::string, std::string>> example_ids() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : std::filesystem::directory_iterator(HEARTH_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    const std::string stem = entry.path().stem().string();
    const auto dash = stem.find('-');
    REQUIRE(dash != std::string::npos);
    out.emplace_back(stem.substr(0, dash), stem.substr(dash + 1));
  }
  return out;
}

/// The server's log (stderr) so far.
std::string log_of(const hearth_process& server) {
  std::ifstream in(server.dir() / "stderr.log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::vector<std::pair<std::string, std::string>> json_body{{"Content-Type", "application/fhir+json"}};

}  // namespace

TEST_CASE("examples: loaded at their ids before the first request, and a restart writes no new version") {
  const auto ids = example_ids();
  REQUIRE(ids.size() >= 10);
  temp_dir db("examples-db");
  // Both starts on one database: --database-url, since hearth_process gives
  // each process a data directory of its own.
  const std::vector<std::string> flags{"--database-url", "sqlite:" + db.path.string(), "--examples",
                                       HEARTH_EXAMPLES_DIR};
  {
    hearth_process first(flags);
    http_connection c(first);
    for (const auto& [type, id] : ids) {
      CAPTURE(type);
      CAPTURE(id);
      auto read = c.request("GET", "/" + type + "/" + id);
      CHECK(read.status == 200);
      CHECK(read.header("etag") == "W/\"1\"");
      CHECK(read.body.find(R"("resourceType":")" + type + "\"") != std::string::npos);
      CHECK(read.body.find(R"("id":")" + id + "\"") != std::string::npos);
    }
    // Indexed for search like any write: the lab results of one patient.
    auto labs = c.request("GET", "/Observation?subject=Patient/example-patient-2&category=laboratory");
    REQUIRE(labs.status == 200);
    CHECK(labs.body.find("example-hba1c-2") != std::string::npos);
    CHECK(labs.body.find("example-glucose-2") != std::string::npos);
    CHECK(labs.body.find("example-body-weight-2") == std::string::npos);  // vital signs
    auto by_mrn = c.request("GET", "/Patient?identifier=http://hearth.example.org/fhir/sid/mrn|MRN-100003");
    REQUIRE(by_mrn.status == 200);
    CHECK(by_mrn.body.find("example-patient-3") != std::string::npos);

    const std::string log = log_of(first);
    CHECK(log.find(R"("msg":"examples loaded","files":)" + std::to_string(ids.size()) + R"(,"created":)" +
                   std::to_string(ids.size()) + R"(,"updated":0,"unchanged":0)") != std::string::npos);

    // An example edited through the API: the next start sets it back.
    auto edited = c.request("PUT", "/Patient/example-patient-3",
                            R"({"resourceType":"Patient","id":"example-patient-3","active":false})", json_body);
    CHECK(edited.status == 200);
    CHECK(edited.header("etag") == "W/\"2\"");
  }

  hearth_process second(flags);
  http_connection c(second);
  const std::string log = log_of(second);
  CHECK(log.find(R"("msg":"examples loaded","files":)" + std::to_string(ids.size()) +
                 R"(,"created":0,"updated":1,"unchanged":)" + std::to_string(ids.size() - 1)) != std::string::npos);
  auto patient = c.request("GET", "/Patient/example-patient-1");
  CHECK(patient.status == 200);
  CHECK(patient.header("etag") == "W/\"1\"");
  auto history = c.request("GET", "/Patient/example-patient-1/_history");
  REQUIRE(history.status == 200);
  CHECK(history.body.find(R"("versionId":"1")") != std::string::npos);
  CHECK(history.body.find(R"("versionId":"2")") == std::string::npos);
  auto reset = c.request("GET", "/Patient/example-patient-3");
  CHECK(reset.header("etag") == "W/\"3\"");
  CHECK(reset.body.find("Halvorsen") != std::string::npos);
}

TEST_CASE("examples: a file that is not a valid resource stops start-up, and the error names it") {
  temp_dir dir("examples-bad");
  std::filesystem::create_directories(dir.path / "examples");
  // Read in name order: the valid file first, so that writing it early would show.
  std::ofstream(dir.path / "examples" / "a-good.json") << R"({"resourceType":"Patient","id":"fine"})";
  std::ofstream(dir.path / "examples" / "b-bad.json")
      << R"({"resourceType":"Patient","id":"broken","birthDate":"14 June 1979"})";
  // `timeout`: should the server start after all, the test ends instead of
  // waiting for ever.
  const std::string command = std::string("timeout 30 '") + HEARTH_BINARY + "' serve --http-port 0 --data '" +
                              (dir.path / "data").string() + "' --examples '" + (dir.path / "examples").string() +
                              "' 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string output;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  const int status = ::pclose(p);
  CAPTURE(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(output.find("cannot load the examples") != std::string::npos);
  CHECK(output.find("b-bad.json") != std::string::npos);
  CHECK(output.find("Patient.birthDate") != std::string::npos);
  // The value is not echoed (it could be PHI); the element path is enough.
  CHECK(output.find("14 June 1979") == std::string::npos);
  CHECK(output.find("http listening on") == std::string::npos);

  // Nothing was written: with the bad file gone, the same database gets the
  // valid one as new.
  std::filesystem::remove(dir.path / "examples" / "b-bad.json");
  hearth_process fixed({"--database-url", "sqlite:" + (dir.path / "data").string(), "--examples",
                        (dir.path / "examples").string()});
  CHECK(log_of(fixed).find(R"("msg":"examples loaded","files":1,"created":1,"updated":0,"unchanged":0)") !=
        std::string::npos);
  http_connection c(fixed);
  CHECK(c.request("GET", "/Patient/fine").header("etag") == "W/\"1\"");
}
