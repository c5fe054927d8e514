#include <hearth/server/server_config.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <unistd.h>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/password_hash.hpp>

namespace hearth::server {
namespace {

namespace fs = std::filesystem;

/// A temporary directory for one case, removed afterwards.
struct temp_dir {
  temp_dir() {
    static std::atomic<unsigned> n{0};
    path = fs::temp_directory_path() /
           ("hearth-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes `text` to `name` in the directory; returns its path.
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path p = path / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  fs::path path;
};

config_sources sources(std::vector<std::string> flags, std::map<std::string, std::string> env = {},
                       std::optional<fs::path> file = std::nullopt) {
  config_sources s;
  s.flags = std::move(flags);
  s.env = env_from_map(std::move(env));
  s.config_file = std::move(file);
  return s;
}

/// Loads, expecting an error; returns it.
hearth::error load_error(const config_sources& s) {
  auto r = load_server_config(s);
  REQUIRE_FALSE(r);
  return r.error();
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST_CASE("config: defaults with no sources at all") {
  auto r = load_server_config(config_sources{});
  REQUIRE(r);
  const server_config& c = *r;
  CHECK(c.data_dir == "./data");
  CHECK(c.database_url.empty());
  CHECK(c.http_host == "127.0.0.1");
  CHECK(c.http_port == 8080);
  CHECK(c.public_base_url.empty());
  CHECK(c.worker_threads >= 2);
  CHECK(c.worker_threads == server_config::default_worker_threads());
  CHECK(c.io_threads == 1);
  CHECK(c.write_threads == 32);
  CHECK(c.max_body_bytes == 16u * 1024 * 1024);
  CHECK(c.max_header_bytes == 8u * 1024);
  CHECK(c.max_connections == 1024);
  CHECK(c.read_timeout == std::chrono::seconds(30));
  CHECK(c.write_timeout == std::chrono::seconds(30));
  CHECK(c.keep_alive_timeout == std::chrono::seconds(60));
  CHECK(c.max_pipelined == 1);
  CHECK(c.tls_cert_file.empty());
  CHECK(c.tls_key_file.empty());
  CHECK_FALSE(c.tls_enabled());
  CHECK(c.cors_allowed_origins.empty());
  CHECK(c.rate_limit_per_second == 0);
  CHECK(c.rate_limit_burst == 0);
  CHECK(c.log == log_format::json);
  CHECK(to_string(c.log) == "json");
  CHECK(c.examples_dir.empty());
  CHECK(c.base_url() == "http://127.0.0.1:8080");
}

TEST_CASE("config: every setting from flags, both --name VALUE and --name=VALUE") {
  temp_dir t;
  const fs::path cert = t.write("cert.pem", "x");
  const fs::path key = t.write("key.pem", "x");
  fs::create_directories(t.path / "examples");
  auto r = load_server_config(sources({
      "--data", "/var/lib/hearth",
      "--database-url=postgresql://hearth@db/hearth",
      "--http-host", "0.0.0.0",
      "--http-port", "0",
      "--public-base-url=https://fhir.example.org/r4/",
      "--worker-threads", "7",
      "--io-threads", "3",
      "--max-body-bytes", "1048576",
      "--max-header-bytes", "16384",
      "--max-connections", "10",
      "--read-timeout", "5",
      "--write-timeout", "6",
      "--keep-alive-timeout", "0",
      "--max-pipelined", "2",
      "--tls-cert", cert.string(),
      "--tls-key", key.string(),
      "--cors-origins", "https://a.example, http://b.example:3000",
      "--rate-limit", "100",
      "--rate-limit-burst", "20",
      "--log-format", "json",
      "--examples", (t.path / "examples").string(),
  }));
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  const server_config& c = *r;
  CHECK(c.data_dir == "/var/lib/hearth");
  CHECK(c.database_url == "postgresql://hearth@db/hearth");
  CHECK(c.http_host == "0.0.0.0");
  CHECK(c.http_port == 0);
  CHECK(c.public_base_url == "https://fhir.example.org/r4");  // trailing slash dropped
  CHECK(c.worker_threads == 7);
  CHECK(c.io_threads == 3);
  CHECK(c.max_body_bytes == 1048576);
  CHECK(c.max_header_bytes == 16384);
  CHECK(c.max_connections == 10);
  CHECK(c.read_timeout == std::chrono::seconds(5));
  CHECK(c.write_timeout == std::chrono::seconds(6));
  CHECK(c.keep_alive_timeout == std::chrono::seconds(0));
  CHECK(c.max_pipelined == 2);
  CHECK(c.tls_cert_file == cert.string());
  CHECK(c.tls_key_file == key.string());
  CHECK(c.tls_enabled());
  CHECK(c.cors_allowed_origins == std::vector<std::string>{"https://a.example", "http://b.example:3000"});
  CHECK(c.rate_limit_per_second == 100);
  CHECK(c.rate_limit_burst == 20);
  CHECK(c.examples_dir == (t.path / "examples").string());
}

TEST_CASE("config: every setting from a JSON file") {
  temp_dir t;
  const fs::path file = t.write("hearth.json", R"({
    "data_dir": "/srv/data", "database_url": "sqlite:/srv/db", "http_host": "::", "http_port": 9090,
    "public_base_url": "", "worker_threads": 4, "io_threads": 2, "max_body_bytes": 2048,
    "max_header_bytes": 4096, "max_connections": 5, "read_timeout": 1, "write_timeout": 2,
    "keep_alive_timeout": 3, "max_pipelined": 4, "tls_cert_file": "", "tls_key_file": "",
    "cors_allowed_origins": ["*"], "rate_limit_per_second": 50, "rate_limit_burst": 0,
    "log_format": "json", "examples_dir": ""
  })");
  auto r = load_server_config(sources({}, {}, file));
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  const server_config& c = *r;
  CHECK(c.data_dir == "/srv/data");
  CHECK(c.database_url == "sqlite:/srv/db");
  CHECK(c.http_host == "::");
  CHECK(c.http_port == 9090);
  CHECK(c.worker_threads == 4);
  CHECK(c.io_threads == 2);
  CHECK(c.max_body_bytes == 2048);
  CHECK(c.max_header_bytes == 4096);
  CHECK(c.max_connections == 5);
  CHECK(c.read_timeout == std::chrono::seconds(1));
  CHECK(c.write_timeout == std::chrono::seconds(2));
  CHECK(c.keep_alive_timeout == std::chrono::seconds(3));
  CHECK(c.max_pipelined == 4);
  CHECK(c.cors_allowed_origins == std::vector<std::string>{"*"});
  CHECK(c.rate_limit_per_second == 50);
  CHECK(c.base_url() == "http://[::1]:9090");
}

TEST_CASE("config: every setting from HEARTH_* environment variables") {
  auto r = load_server_config(sources({}, {
                                              {"HEARTH_DATA", "/env/data"},
                                              {"HEARTH_DATABASE_URL", "postgresql:host=db dbname=h"},
                                              {"HEARTH_HTTP_HOST", "10.0.0.1"},
                                              {"HEARTH_HTTP_PORT", "8443"},
                                              {"HEARTH_PUBLIC_BASE_URL", "http://proxy.example"},
                                              {"HEARTH_WORKER_THREADS", "9"},
                                              {"HEARTH_IO_THREADS", "4"},
                                              {"HEARTH_MAX_BODY_BYTES", "4096"},
                                              {"HEARTH_MAX_HEADER_BYTES", "2048"},
                                              {"HEARTH_MAX_CONNECTIONS", "99"},
                                              {"HEARTH_READ_TIMEOUT", "11"},
                                              {"HEARTH_WRITE_TIMEOUT", "12"},
                                              {"HEARTH_KEEP_ALIVE_TIMEOUT", "13"},
                                              {"HEARTH_MAX_PIPELINED", "14"},
                                              {"HEARTH_CORS_ORIGINS", "https://x.example,https://y.example"},
                                              {"HEARTH_RATE_LIMIT", "15"},
                                              {"HEARTH_RATE_LIMIT_BURST", "16"},
                                              {"HEARTH_LOG_FORMAT", "json"},
                                          }));
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  const server_config& c = *r;
  CHECK(c.data_dir == "/env/data");
  CHECK(c.database_url == "postgresql:host=db dbname=h");
  CHECK(c.http_host == "10.0.0.1");
  CHECK(c.http_port == 8443);
  CHECK(c.public_base_url == "http://proxy.example");
  CHECK(c.worker_threads == 9);
  CHECK(c.io_threads == 4);
  CHECK(c.max_body_bytes == 4096);
  CHECK(c.max_header_bytes == 2048);
  CHECK(c.max_connections == 99);
  CHECK(c.read_timeout == std::chrono::seconds(11));
  CHECK(c.write_timeout == std::chrono::seconds(12));
  CHECK(c.keep_alive_timeout == std::chrono::seconds(13));
  CHECK(c.max_pipelined == 14);
  CHECK(c.cors_allowed_origins == std::vector<std::string>{"https://x.example", "https://y.example"});
  CHECK(c.rate_limit_per_second == 15);
  CHECK(c.rate_limit_burst == 16);
  CHECK(c.base_url() == "http://proxy.example");
}

TEST_CASE("config: precedence is defaults < file < environment < flags") {
  temp_dir t;
  const fs::path file = t.write("c.json", R"({"http_port": 1001, "io_threads": 2, "data_dir": "/file",
                                             "max_pipelined": 3})");
  const std::map<std::string, std::string> env = {
      {"HEARTH_HTTP_PORT", "1002"}, {"HEARTH_IO_THREADS", "5"}, {"HEARTH_MAX_CONNECTIONS", "77"}};

  SUBCASE("file over defaults") {
    auto r = load_server_config(sources({}, {}, file));
    REQUIRE(r);
    CHECK(r->http_port == 1001);
    CHECK(r->io_threads == 2);
    CHECK(r->data_dir == "/file");
    CHECK(r->max_connections == 1024);  // untouched: the default
  }
  SUBCASE("environment over file") {
    auto r = load_server_config(sources({}, env, file));
    REQUIRE(r);
    CHECK(r->http_port == 1002);
    CHECK(r->io_threads == 5);
    CHECK(r->data_dir == "/file");        // only in the file
    CHECK(r->max_connections == 77);      // only in the environment
    CHECK(r->max_pipelined == 3);
  }
  SUBCASE("flags over environment and file") {
    auto r = load_server_config(sources({"--http-port", "1003", "--data=/flag"}, env, file));
    REQUIRE(r);
    CHECK(r->http_port == 1003);
    CHECK(r->data_dir == "/flag");
    CHECK(r->io_threads == 5);       // environment, no flag
    CHECK(r->max_pipelined == 3);    // file only
    CHECK(r->max_connections == 77);
  }
  SUBCASE("a list is replaced, not merged") {
    const fs::path f2 = t.write("l.json", R"({"cors_allowed_origins": ["https://file.example"]})");
    auto r = load_server_config(sources({}, {{"HEARTH_CORS_ORIGINS", "https://env.example"}}, f2));
    REQUIRE(r);
    CHECK(r->cors_allowed_origins == std::vector<std::string>{"https://env.example"});
    auto r2 = load_server_config(sources({"--cors-origins", ""}, {{"HEARTH_CORS_ORIGINS", "https://env.example"}}));
    REQUIRE(r2);
    CHECK(r2->cors_allowed_origins.empty());  // a flag can switch CORS off again
  }
}

TEST_CASE("config: the config file is chosen by --config, then HEARTH_CONFIG, then the caller") {
  temp_dir t;
  const fs::path a = t.write("a.json", R"({"http_port": 1})");
  const fs::path b = t.write("b.json", R"({"http_port": 2})");
  const fs::path c = t.write("c.json", R"({"http_port": 3})");
  auto r = load_server_config(sources({"--config", a.string()}, {{"HEARTH_CONFIG", b.string()}}, c));
  REQUIRE(r);
  CHECK(r->http_port == 1);
  r = load_server_config(sources({"--config=" + a.string()}, {}, c));
  REQUIRE(r);
  CHECK(r->http_port == 1);
  r = load_server_config(sources({}, {{"HEARTH_CONFIG", b.string()}}, c));
  REQUIRE(r);
  CHECK(r->http_port == 2);
  r = load_server_config(sources({}, {}, c));
  REQUIRE(r);
  CHECK(r->http_port == 3);
}

TEST_CASE("config: empty environment variables count as unset") {
  auto r = load_server_config(sources({}, {{"HEARTH_HTTP_PORT", ""}, {"HEARTH_DATA", ""}, {"HEARTH_CONFIG", ""}}));
  REQUIRE(r);
  CHECK(r->http_port == 8080);
  CHECK(r->data_dir == "./data");
}

TEST_CASE("config: unknown keys, unknown flags and malformed flags are errors") {
  temp_dir t;
  SUBCASE("unknown file key") {
    const fs::path f = t.write("u.json", R"({"http_port": 1, "http_prot": 2})");
    const auto e = load_error(sources({}, {}, f));
    CHECK(e.code == "invalid");
    CHECK(contains(e.message, "unknown setting \"http_prot\""));
    CHECK(contains(e.location, f.string()));
  }
  SUBCASE("unknown flag, in both forms") {
    auto e = load_error(sources({"--http-prot", "1"}));
    CHECK(e.code == "invalid");
    CHECK(contains(e.message, "unknown flag --http-prot"));
    CHECK(e.location == "flag --http-prot");
    e = load_error(sources({"--http-prot=secret-value"}));
    CHECK(contains(e.message, "--http-prot"));
    CHECK_FALSE(contains(e.message, "secret-value"));
  }
  SUBCASE("a flag without its value") {
    auto e = load_error(sources({"--http-port"}));
    CHECK(contains(e.message, "--http-port needs a value"));
    e = load_error(sources({"--data", "--http-port", "1"}));
    CHECK(contains(e.message, "--data needs a value"));
  }
  SUBCASE("a flag given twice") {
    const auto e = load_error(sources({"--http-port", "1", "--http-port=2"}));
    CHECK(contains(e.message, "--http-port is given more than once"));
  }
  SUBCASE("a stray argument is reported by position, not quoted") {
    const auto e = load_error(sources({"--http-port", "1", "hunter2", "x"}));
    CHECK(contains(e.message, "argument 3"));
    CHECK_FALSE(contains(e.message, "hunter2"));
    CHECK(contains(load_error(sources({"--"})).message, "argument 1"));
  }
  SUBCASE("--help is not a setting: the caller handles it before loading") {
    CHECK(contains(load_error(sources({"--help=1"})).message, "unknown flag --help"));
  }
}

TEST_CASE("config: numbers out of range or malformed name the setting and the source, not the value") {
  temp_dir t;
  SUBCASE("flag") {
    const auto e = load_error(sources({"--http-port", "65536"}));
    CHECK(e.code == "invalid");
    CHECK(e.message == "http_port (flag --http-port): must be a whole number from 0 to 65535");
    CHECK(e.location == "flag --http-port");
  }
  SUBCASE("environment") {
    const auto e = load_error(sources({}, {{"HEARTH_WORKER_THREADS", "0"}}));
    CHECK(e.message == "worker_threads (env HEARTH_WORKER_THREADS): must be a whole number from 1 to 1024");
    CHECK(e.location == "env HEARTH_WORKER_THREADS");
  }
  SUBCASE("file") {
    const fs::path f = t.write("n.json", R"({"max_body_bytes": 1023})");
    const auto e = load_error(sources({}, {}, f));
    CHECK(contains(e.message, "max_body_bytes (file " + f.string() + " key max_body_bytes)"));
    CHECK(contains(e.message, "from 1024 to 1073741824"));
    CHECK_FALSE(contains(e.message, "1023"));
  }
  SUBCASE("not whole numbers") {
    for (const char* bad : {"-1", "1.5", "1e3", "abc", "", " 1", "0x10", "+1", "99999999999999999999999"}) {
      CAPTURE(bad);
      const auto e = load_error(sources({"--max-connections", bad}));
      CHECK(contains(e.message, "max_connections (flag --max-connections): must be a whole number"));
    }
  }
  SUBCASE("not numbers in the file") {
    for (const char* bad : {R"({"io_threads": -1})", R"({"io_threads": 1.0})", R"({"io_threads": 2e0})"}) {
      CAPTURE(bad);
      const auto e = load_error(sources({}, {}, t.write("x.json", bad)));
      CHECK(contains(e.message, "io_threads"));
      CHECK(contains(e.message, "whole number from 1 to 64"));
    }
  }
  SUBCASE("each range edge") {
    CHECK(load_server_config(sources({"--http-port", "65535"})));
    CHECK(load_server_config(sources({"--keep-alive-timeout", "3600"})));
    CHECK_FALSE(load_server_config(sources({"--keep-alive-timeout", "3601"})));
    CHECK_FALSE(load_server_config(sources({"--read-timeout", "0"})));
    CHECK_FALSE(load_server_config(sources({"--write-timeout", "0"})));
    CHECK_FALSE(load_server_config(sources({"--io-threads", "65"})));
    CHECK_FALSE(load_server_config(sources({"--max-header-bytes", "1048577"})));
    CHECK_FALSE(load_server_config(sources({"--max-pipelined", "0"})));
    CHECK_FALSE(load_server_config(sources({"--max-connections", "1000001"})));
    CHECK_FALSE(load_server_config(sources({"--rate-limit", "1000001"})));
  }
}

TEST_CASE("config: JSON kinds in the file must match the setting") {
  temp_dir t;
  struct bad_case {
    const char* json;
    const char* expect;
  };
  for (const bad_case& b : {bad_case{R"({"http_port": "8080"})", "http_port"},
                            bad_case{R"({"data_dir": 5})", "must be a JSON string"},
                            bad_case{R"({"cors_allowed_origins": "https://a.example"})", "array of strings"},
                            bad_case{R"({"cors_allowed_origins": [1]})", "array of strings"},
                            bad_case{R"({"log_format": null})", "must be a JSON string"}}) {
    CAPTURE(b.json);
    const auto e = load_error(sources({}, {}, t.write("k.json", b.json)));
    CHECK(e.code == "invalid");
    CHECK(contains(e.message, b.expect));
  }
  CHECK(contains(load_error(sources({}, {}, t.write("k.json", R"({"http_port": "8080"})"))).message,
                 "must be a JSON number"));
}

TEST_CASE("config: a missing, malformed or wrong-shaped config file is an error") {
  temp_dir t;
  SUBCASE("missing") {
    const auto e = load_error(sources({"--config", (t.path / "nope.json").string()}));
    CHECK(e.code == "not-found");
    CHECK(e.message == "config file (flag --config): not found or not a file");
    CHECK(load_error(sources({}, {{"HEARTH_CONFIG", (t.path / "nope.json").string()}})).message ==
          "config file (env HEARTH_CONFIG): not found or not a file");
    CHECK(load_error(sources({"--config", t.path.string()})).code == "not-found");  // a directory
  }
  SUBCASE("malformed JSON, with its offset, without quoting the content") {
    const fs::path f = t.write("m.json", R"({"database_url": "postgresql://u:s3cret@h/d",)");
    const auto e = load_error(sources({}, {}, f));
    CHECK(contains(e.message, "config file (file " + f.string() + ")"));
    CHECK(e.offset != hearth::error::npos);
    CHECK_FALSE(contains(e.message, "s3cret"));
  }
  SUBCASE("duplicate keys") {
    const auto e = load_error(sources({}, {}, t.write("d.json", R"({"http_port": 1, "http_port": 2})")));
    CHECK(contains(e.message, "config file"));
  }
  SUBCASE("not an object") {
    const auto e = load_error(sources({}, {}, t.write("a.json", "[1]")));
    CHECK(contains(e.message, "must hold a JSON object"));
  }
  SUBCASE("too large") {
    const auto e = load_error(sources({}, {}, t.write("big.json", std::string(2u << 20, ' '))));
    CHECK(contains(e.message, "larger than 1 MiB"));
  }
  SUBCASE("an empty object is fine") {
    CHECK(load_server_config(sources({}, {}, t.write("e.json", "{}"))));
  }
}

TEST_CASE("config: database_url is checked and never echoed") {
  SUBCASE("unknown scheme, from each source") {
    const auto e = load_error(sources({"--database-url", "mysql://root:s3cret@db/x"}));
    CHECK(e.code == "invalid");
    CHECK(contains(e.message, "database_url (flag --database-url)"));
    CHECK_FALSE(contains(e.message, "s3cret"));
    CHECK_FALSE(contains(e.location, "s3cret"));
    const auto e2 = load_error(sources({}, {{"HEARTH_DATABASE_URL", "pg://u:s3cret@h"}}));
    CHECK(contains(e2.message, "database_url (env HEARTH_DATABASE_URL)"));
    CHECK_FALSE(contains(e2.message, "s3cret"));
  }
  SUBCASE("empty location") {
    CHECK(contains(load_error(sources({"--database-url", "sqlite:"})).message, "database_url"));
  }
  SUBCASE("database(): SQLite in data_dir by default, else the URL; pool sized to the workers") {
    server_config c;
    c.data_dir = "/d";
    c.worker_threads = 6;
    auto db = c.database();
    REQUIRE(db);
    CHECK(db->kind == store::engine::sqlite);
    CHECK(db->location == "/d");
    CHECK(db->pool_size == 6);
    c.database_url = "postgresql://u:p@h/db";
    db = c.database();
    REQUIRE(db);
    CHECK(db->kind == store::engine::postgresql);
    CHECK(db->location == "postgresql://u:p@h/db");
    c.database_url = "sqlite:/other";
    db = c.database();
    REQUIRE(db);
    CHECK(db->kind == store::engine::sqlite);
    CHECK(db->location == "/other");
    c.database_url = "nope:";
    CHECK_FALSE(c.database());
  }
}

TEST_CASE("config: TLS takes both files, and both must exist") {
  temp_dir t;
  const fs::path cert = t.write("cert.pem", "x");
  const fs::path key = t.write("key.pem", "x");
  SUBCASE("only the certificate") {
    const auto e = load_error(sources({"--tls-cert", cert.string()}));
    CHECK(e.code == "invalid");
    CHECK(e.message == "tls_cert_file (flag --tls-cert): needs tls_key_file as well (HTTPS takes both)");
  }
  SUBCASE("only the key, from the environment") {
    const auto e = load_error(sources({}, {{"HEARTH_TLS_KEY", key.string()}}));
    CHECK(e.message == "tls_key_file (env HEARTH_TLS_KEY): needs tls_cert_file as well (HTTPS takes both)");
  }
  SUBCASE("a missing file") {
    const auto e = load_error(sources({"--tls-cert", cert.string(), "--tls-key", (t.path / "no.pem").string()}));
    CHECK(e.code == "not-found");
    CHECK(e.message == "tls_key_file (flag --tls-key): no such file");
    const auto e2 = load_error(sources({"--tls-cert", t.path.string(), "--tls-key", key.string()}));
    CHECK(e2.message == "tls_cert_file (flag --tls-cert): no such file");  // a directory is not a file
  }
  SUBCASE("both: HTTPS in the derived base URL") {
    auto r = load_server_config(sources({"--tls-cert", cert.string(), "--tls-key", key.string(), "--http-port", "8443"}));
    REQUIRE(r);
    CHECK(r->tls_enabled());
    CHECK(r->base_url() == "https://127.0.0.1:8443");
  }
}

TEST_CASE("config: examples_dir must be a directory") {
  temp_dir t;
  const fs::path f = t.write("file.json", "{}");
  auto e = load_error(sources({"--examples", (t.path / "none").string()}));
  CHECK(e.code == "not-found");
  CHECK(e.message == "examples_dir (flag --examples): no such directory");
  e = load_error(sources({}, {{"HEARTH_EXAMPLES", f.string()}}));
  CHECK(e.message == "examples_dir (env HEARTH_EXAMPLES): no such directory");
  CHECK(load_server_config(sources({"--examples", t.path.string()})));
}

TEST_CASE("config: string formats are checked") {
  SUBCASE("log_format") {
    const auto e = load_error(sources({"--log-format", "text"}));
    CHECK(e.message == "log_format (flag --log-format): must be \"json\"");
  }
  SUBCASE("data_dir and http_host") {
    CHECK(load_error(sources({"--data", ""})).message == "data_dir (flag --data): must not be empty");
    CHECK(contains(load_error(sources({"--http-host", "a b"})).message, "http_host (flag --http-host)"));
    CHECK(contains(load_error(sources({"--http-host", "http://x"})).message, "host name or IP address"));
  }
  SUBCASE("public_base_url") {
    for (const char* bad : {"ftp://x", "fhir.example.org", "https://", "https:///path", "https://x/?q=1",
                            "https://x/#f", "https://x y"}) {
      CAPTURE(bad);
      CHECK(contains(load_error(sources({"--public-base-url", bad})).message, "public_base_url (flag --public-base-url)"));
    }
    auto r = load_server_config(sources({"--public-base-url", "http://h:1/base//"}));
    REQUIRE(r);
    CHECK(r->public_base_url == "http://h:1/base");
    CHECK(r->base_url(1234) == "http://h:1/base");  // configured wins over the bound port
  }
  SUBCASE("CORS origins") {
    CHECK(contains(load_error(sources({"--cors-origins", "https://a.example/app"})).message, "no path"));
    CHECK(contains(load_error(sources({"--cors-origins", "https://a.example/"})).message, "no path"));
    CHECK(contains(load_error(sources({"--cors-origins", "a.example"})).message, "cors_allowed_origins"));
    CHECK(contains(load_error(sources({"--cors-origins", "*,https://a.example"})).message, "only origin"));
    auto r = load_server_config(sources({"--cors-origins", " https://a.example ,, "}));
    REQUIRE(r);
    CHECK(r->cors_allowed_origins == std::vector<std::string>{"https://a.example"});
  }
  SUBCASE("a rate with or without a burst") {
    auto r = load_server_config(sources({"--rate-limit", "5", "--rate-limit-burst", "20"}));
    REQUIRE(r);
    CHECK(r->rate_limit_per_second == 5);
    CHECK(r->rate_limit_burst == 20);
    r = load_server_config(sources({}, {{"HEARTH_RATE_LIMIT", "3"}}));
    REQUIRE(r);
    CHECK(r->rate_limit_burst == 0);  // the limiter takes it as equal to the rate
    CHECK_FALSE(load_server_config(sources({"--rate-limit-burst", "1000001", "--rate-limit", "1"})));
  }
  SUBCASE("a burst without a rate") {
    const auto e = load_error(sources({}, {{"HEARTH_RATE_LIMIT_BURST", "5"}}));
    CHECK(e.message == "rate_limit_burst (env HEARTH_RATE_LIMIT_BURST): needs rate_limit_per_second above 0");
  }
}

TEST_CASE("config: base_url is derived from host, port and TLS") {
  server_config c;
  CHECK(c.base_url() == "http://127.0.0.1:8080");
  c.http_port = 0;
  CHECK(c.base_url(40123) == "http://127.0.0.1:40123");  // the port actually bound
  c.http_host = "0.0.0.0";
  CHECK(c.base_url(1) == "http://127.0.0.1:1");
  c.http_host = "::";
  CHECK(c.base_url(1) == "http://[::1]:1");
  c.http_host = "fe80::1";
  CHECK(c.base_url(1) == "http://[fe80::1]:1");
  c.http_host = "fhir.local";
  c.http_port = 80;
  CHECK(c.base_url() == "http://fhir.local:80");
}

TEST_CASE("config: the process environment and an empty lookup") {
  const env_lookup env = process_environment();
  CHECK(env("PATH").has_value());
  CHECK_FALSE(env("HEARTH_SURELY_NOT_SET_1b6f0e").has_value());
  config_sources s;  // no env function at all: an empty environment
  CHECK(load_server_config(s));
}

TEST_CASE("config: config_help lists every flag, variable and file key") {
  const std::string help = config_help();
  for (const char* part :
       {"--config FILE", "HEARTH_CONFIG", "--data DIR", "HEARTH_DATA", "\"data_dir\"", "--database-url URL",
        "HEARTH_DATABASE_URL", "--http-host HOST", "HEARTH_HTTP_HOST", "--http-port PORT", "HEARTH_HTTP_PORT",
        "default: 8080", "range: 0..65535", "--public-base-url URL", "HEARTH_PUBLIC_BASE_URL", "--worker-threads N",
        "HEARTH_WORKER_THREADS", "--io-threads N", "HEARTH_IO_THREADS", "--max-body-bytes BYTES",
        "HEARTH_MAX_BODY_BYTES", "default: 16777216", "--max-header-bytes", "HEARTH_MAX_HEADER_BYTES",
        "--max-connections", "HEARTH_MAX_CONNECTIONS", "--read-timeout", "HEARTH_READ_TIMEOUT", "--write-timeout",
        "HEARTH_WRITE_TIMEOUT", "--keep-alive-timeout", "HEARTH_KEEP_ALIVE_TIMEOUT", "--max-pipelined",
        "HEARTH_MAX_PIPELINED", "--tls-cert FILE", "HEARTH_TLS_CERT", "--tls-key FILE", "HEARTH_TLS_KEY",
        "--cors-origins", "HEARTH_CORS_ORIGINS", "--rate-limit N", "HEARTH_RATE_LIMIT", "--rate-limit-burst",
        "HEARTH_RATE_LIMIT_BURST", "--log-format", "HEARTH_LOG_FORMAT", "--examples DIR", "HEARTH_EXAMPLES",
        "default: ./data", "default: 127.0.0.1"}) {
    CAPTURE(part);
    CHECK(contains(help, part));
  }
}

// --- the "auth" section ----------------------------------------------------------

/// The public JWK of a new key made by OpenSSL: "P-384", "P-256" or "RSA".
std::string public_jwk(const char* kind) {
  EVP_PKEY* pkey = std::string_view(kind) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                                                   : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kind);
  REQUIRE(pkey != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  auto k = jwt::key::from_private_pem(pem);
  REQUIRE(k);
  return fhir::to_json(k->public_jwk());
}

/// A cheap but well-formed Argon2id hash.
std::string test_hash() {
  static const std::string h = *auth::hash_password("pw", auth::argon2_params{64, 1, 1});
  return h;
}

TEST_CASE("config: the auth section: clients, users, external issuers, token lifetimes") {
  temp_dir d;
  const std::string p384 = public_jwk("P-384");
  const std::string rsa = public_jwk("RSA");
  d.write("lab.jwks.json", R"({"keys":[)" + rsa + "]}");
  d.write("idp.jwks.json", R"({"keys":[)" + public_jwk("P-256") + "]}");
  const fs::path file = d.write("hearth.json", R"({
    "http_port": 9090,
    "auth": {
      "access_token_lifetime": 900,
      "backend_access_token_lifetime": 120,
      "refresh_token_lifetime": 86400,
      "clients": [
        {"client_id": "growth-chart", "type": "public",
         "redirect_uris": ["https://app.example.org/cb", "com.example.app:/callback"],
         "scope": "launch/patient openid fhirUser patient/*.rs"},
        {"client_id": "backend", "type": "confidential-asymmetric", "scope": "system/Observation.rs",
         "jwks": {"keys": [)" + p384 + R"(]}, "introspect": true},
        {"client_id": "lab", "type": "confidential-asymmetric", "scope": "system/*.rs",
         "jwks_file": "lab.jwks.json"}
      ],
      "users": [
        {"username": "alice", "password_hash": ")" + test_hash() + R"(",
         "fhir_user": "Practitioner/p-1", "patients": ["pat-1", "pat-2"]},
        {"username": "bob", "password_hash": ")" + test_hash() + R"("}
      ],
      "external_issuers": [{"issuer": "https://idp.example.org", "jwks_file": "idp.jwks.json"}]
    }
  })");
  // A relative config path: jwks_file is still read beside the config file.
  auto r = load_server_config(sources({"--config", file.string()}));
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
  const auth_settings& a = r->auth;
  CHECK(r->http_port == 9090);
  CHECK(a.access_token_lifetime == std::chrono::seconds(900));
  CHECK(a.backend_access_token_lifetime == std::chrono::seconds(120));
  CHECK(a.refresh_token_lifetime == std::chrono::seconds(86400));
  REQUIRE(a.clients.size() == 3);
  CHECK(a.clients[0].client_id == "growth-chart");
  CHECK(a.clients[0].type == auth_client_type::public_client);
  CHECK(a.clients[0].redirect_uris == std::vector<std::string>{"https://app.example.org/cb", "com.example.app:/callback"});
  CHECK(a.clients[0].keys.keys().empty());
  CHECK_FALSE(a.clients[0].introspect);
  CHECK(a.clients[1].type == auth_client_type::confidential_asymmetric);
  REQUIRE(a.clients[1].keys.keys().size() == 1);
  CHECK(a.clients[1].keys.keys()[0].accepts(jwt::algorithm::es384));
  CHECK(a.clients[1].introspect);
  REQUIRE(a.clients[2].keys.keys().size() == 1);
  CHECK(a.clients[2].keys.keys()[0].accepts(jwt::algorithm::rs384));
  REQUIRE(a.users.size() == 2);
  CHECK(a.users[0].username == "alice");
  CHECK(a.users[0].fhir_user == "Practitioner/p-1");
  CHECK(a.users[0].patients == std::vector<std::string>{"pat-1", "pat-2"});
  CHECK(a.users[1].patients.empty());
  REQUIRE(a.external_issuers.size() == 1);
  CHECK(a.external_issuers[0].issuer == "https://idp.example.org");
  CHECK(a.external_issuers[0].keys.keys().size() == 1);
  CHECK(to_string(auth_client_type::confidential_asymmetric) == "confidential-asymmetric");

  // Without the section: nothing configured, default lifetimes.
  auto plain = load_server_config(sources({}));
  REQUIRE(plain);
  CHECK(plain->auth.clients.empty());
  CHECK(plain->auth.access_token_lifetime == std::chrono::seconds(3600));
  CHECK(plain->auth.backend_access_token_lifetime == std::chrono::seconds(300));
  CHECK(contains(config_help(), "\"auth\""));
}

TEST_CASE("config: the sample in examples/config loads, and its user's password is the one its README gives") {
  const fs::path sample = fs::path(HEARTH_TEST_DATA) / ".." / ".." / "examples" / "config" / "hearth-auth.json";
  auto r = load_server_config(sources({"--config", sample.string()}));
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
  REQUIRE(r->auth.clients.size() == 2);
  CHECK(r->auth.clients[1].keys.keys().size() == 1);
  REQUIRE(r->auth.users.size() == 1);
  CHECK(auth::verify_password("change-me-at-once", r->auth.users[0].password_hash));
  CHECK(r->auth.users[0].password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

TEST_CASE("config: auth section errors name the element and never repeat a value") {
  temp_dir d;
  const std::string p384 = public_jwk("P-384");
  const std::string p256 = public_jwk("P-256");
  const std::string hash = test_hash();
  const std::string pub = R"({"client_id": "a", "type": "public", "redirect_uris": ["https://a.example/cb"], "scope": "openid"})";
  struct bad_case {
    std::string auth;      // the value of "auth"
    std::string location;  // expected in message and location
  };
  const std::vector<bad_case> cases{
      {R"([])", "auth"},
      {R"({"nope": 1})", "auth.nope"},
      {R"({"access_token_lifetime": 3601})", "auth.access_token_lifetime"},
      {R"({"access_token_lifetime": 0})", "auth.access_token_lifetime"},
      {R"({"backend_access_token_lifetime": 301})", "auth.backend_access_token_lifetime"},
      {R"({"refresh_token_lifetime": "1d"})", "auth.refresh_token_lifetime"},
      {R"({"clients": {}})", "auth.clients"},
      {R"({"clients": [)" + pub + "," + pub + "]}", "auth.clients[1].client_id"},
      {R"({"clients": [{"type": "public", "redirect_uris": ["https://a/cb"], "scope": "openid"}]})",
       "auth.clients[0].client_id"},
      {R"({"clients": [{"client_id": "a b", "type": "public", "redirect_uris": ["https://a/cb"], "scope": "x"}]})",
       "auth.clients[0].client_id"},
      {R"({"clients": [{"client_id": "a", "type": "secret", "scope": "x"}]})", "auth.clients[0].type"},
      {R"({"clients": [{"client_id": "a", "type": "public", "scope": "openid"}]})", "auth.clients[0].redirect_uris"},
      {R"({"clients": [{"client_id": "a", "type": "public", "redirect_uris": ["https://a/cb#frag"], "scope": "x"}]})",
       "auth.clients[0].redirect_uris[0]"},
      {R"({"clients": [{"client_id": "a", "type": "public", "redirect_uris": ["/relative"], "scope": "x"}]})",
       "auth.clients[0].redirect_uris[0]"},
      {R"({"clients": [{"client_id": "a", "type": "public", "redirect_uris": ["https://a/cb"]}]})",
       "auth.clients[0].scope"},
      {R"({"clients": [{"client_id": "a", "type": "public", "redirect_uris": ["https://a/cb"], "scope": "x", "colour": 1}]})",
       "auth.clients[0].colour"},
      {R"({"clients": [{"client_id": "a", "type": "confidential-asymmetric", "scope": "x"}]})", "auth.clients[0]"},
      {R"({"clients": [{"client_id": "a", "type": "confidential-asymmetric", "scope": "x", "jwks_file": "none.json"}]})",
       "auth.clients[0].jwks_file"},
      {R"({"clients": [{"client_id": "a", "type": "confidential-asymmetric", "scope": "x", "jwks": {"keys": [)" + p256 +
           "]}}]}",
       "auth.clients[0].jwks"},
      {R"({"clients": [{"client_id": "a", "type": "confidential-asymmetric", "scope": "x", "jwks": {"keys": [{"kty": "EC"}]}}]})",
       "auth.clients[0].jwks"},
      {R"({"clients": [{"client_id": "a", "type": "public", "redirect_uris": ["https://a/cb"], "scope": "x", "jwks": {"keys": [)" +
           p384 + "]}}]}",
       "auth.clients[0]"},
      {R"({"users": [{"username": "u", "password_hash": "plain-text-password"}]})", "auth.users[0].password_hash"},
      {R"({"users": [{"username": "u"}]})", "auth.users[0].password_hash"},
      {R"({"users": [{"username": "u", "password_hash": ")" + hash + R"(", "fhir_user": "nobody"}]})",
       "auth.users[0].fhir_user"},
      {R"({"users": [{"username": "u", "password_hash": ")" + hash + R"(", "patients": ["no spaces"]}]})",
       "auth.users[0].patients[0]"},
      {R"({"users": [{"username": "u", "password_hash": ")" + hash + R"("}, {"username": "u", "password_hash": ")" +
           hash + R"("}]})",
       "auth.users[1].username"},
      {R"({"external_issuers": [{"issuer": "not a url", "jwks": {"keys": [)" + p384 + "]}}]}",
       "auth.external_issuers[0].issuer"},
      {R"({"external_issuers": [{"issuer": "https://idp"}]})", "auth.external_issuers[0]"},
  };
  for (const bad_case& bc : cases) {
    CAPTURE(bc.location);
    const fs::path file = d.write("bad.json", R"({"auth": )" + bc.auth + "}");
    const hearth::error e = load_error(sources({"--config", file.string()}));
    CHECK(contains(e.message, bc.location));
    CHECK(contains(e.location, bc.location));
    CHECK_FALSE(contains(e.message, "plain-text-password"));
    CHECK_FALSE(contains(e.message, hash));
  }
}

}  // namespace
}  // namespace hearth::server

namespace hearth::server {
namespace {

// --- external issuers with a jwks_uri (issue 6) -------------------------------------

/// The config with one external issuer whose other members are `members`.
std::string issuer_config(const std::string& members) {
  return R"({"auth": {"external_issuers": [{"issuer": "https://idp.example.org", )" + members + "}]}}";
}

TEST_CASE("config: an external issuer's jwks_uri: https anywhere, plain http only to a loopback host") {
  temp_dir d;
  for (const std::string uri : {"https://idp.example.org/.well-known/jwks.json", "HTTPS://Idp.Example.org:8443/keys?v=2",
                                "https://[2001:db8::1]/jwks", "https://203.0.113.7/jwks", "http://127.0.0.1:8081/jwks",
                                "http://127.45.6.7/jwks", "http://localhost/jwks", "http://LOCALHOST:9000",
                                "http://[::1]:9000/jwks"}) {
    CAPTURE(uri);
    const fs::path file = d.write("ok.json", issuer_config(R"("jwks_uri": ")" + uri + "\""));
    auto r = load_server_config(sources({"--config", file.string()}));
    REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
    REQUIRE(r->auth.external_issuers.size() == 1);
    const auth_external_issuer& e = r->auth.external_issuers[0];
    CHECK(e.jwks_uri == uri);
    CHECK(e.keys.keys().empty());  // fetched by `hearth serve`, not at load
    CHECK(e.jwks_refresh_min == std::chrono::seconds(60));
  }
  // The least interval between fetches, for tests: 1..3600 s.
  const fs::path tuned = d.write(
      "tuned.json", issuer_config(R"("jwks_uri": "http://127.0.0.1:1/jwks", "jwks_refresh_min_seconds": 2)"));
  auto r = load_server_config(sources({"--config", tuned.string()}));
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
  CHECK(r->auth.external_issuers[0].jwks_refresh_min == std::chrono::seconds(2));
  CHECK(contains(config_help(), "jwks_uri"));
}

TEST_CASE("config: a jwks_uri that could be tampered with, or is malformed, is refused naming the field") {
  temp_dir d;
  const std::string p256 = public_jwk("P-256");
  struct bad_case {
    std::string members;
    std::string location;
  };
  const std::string uri_field = "auth.external_issuers[0].jwks_uri";
  const std::vector<bad_case> cases{
      // Plain HTTP beyond loopback: the keys could be swapped on the way.
      {R"("jwks_uri": "http://idp.example.org/jwks")", uri_field},
      {R"("jwks_uri": "http://10.0.0.1/jwks")", uri_field},
      {R"("jwks_uri": "http://128.0.0.1/jwks")", uri_field},
      {R"("jwks_uri": "http://localhost.example.org/jwks")", uri_field},
      {R"("jwks_uri": "http://127.0.0.1.nip.io/jwks")", uri_field},
      {R"("jwks_uri": "http://[::2]/jwks")", uri_field},
      {R"("jwks_uri": "http://[::ffff:10.0.0.1]/jwks")", uri_field},
      // Not a usable URL.
      {R"("jwks_uri": "ftp://idp.example.org/jwks")", uri_field},
      {R"("jwks_uri": "idp.example.org/jwks")", uri_field},
      {R"("jwks_uri": "https:///jwks")", uri_field},
      {R"("jwks_uri": "https://user:s3cr3t-pw@idp.example.org/jwks")", uri_field},
      {R"("jwks_uri": "https://idp.example.org/jwks#keys")", uri_field},
      {R"("jwks_uri": "https://idp.example.org:0/jwks")", uri_field},
      {R"("jwks_uri": "https://idp.example.org:99999/jwks")", uri_field},
      {R"("jwks_uri": "https://idp.example.org:/jwks")", uri_field},
      {R"("jwks_uri": "https://[::1/jwks")", uri_field},
      {R"("jwks_uri": "https://[not-v6]/jwks")", uri_field},
      {R"("jwks_uri": "https://id p.example.org/jwks")", uri_field},
      {R"("jwks_uri": "https://idp.example.org/j\u00e9")", uri_field},
      {R"("jwks_uri": 42)", uri_field},
      {R"("jwks_uri": "")", uri_field},
      // Exactly one source of keys.
      {R"("jwks_uri": "https://idp.example.org/jwks", "jwks": {"keys": [)" + p256 + "]}", "auth.external_issuers[0]"},
      {R"("jwks_uri": "https://idp.example.org/jwks", "jwks_file": "idp.json")", "auth.external_issuers[0]"},
      // The refresh interval: with a jwks_uri only, 1..3600 s.
      {R"("jwks": {"keys": [)" + p256 + R"(]}, "jwks_refresh_min_seconds": 60)",
       "auth.external_issuers[0].jwks_refresh_min_seconds"},
      {R"("jwks_uri": "https://idp.example.org/jwks", "jwks_refresh_min_seconds": 0)",
       "auth.external_issuers[0].jwks_refresh_min_seconds"},
      {R"("jwks_uri": "https://idp.example.org/jwks", "jwks_refresh_min_seconds": 3601)",
       "auth.external_issuers[0].jwks_refresh_min_seconds"},
      {R"("jwks_uri": "https://idp.example.org/jwks", "jwks_refresh_min_seconds": "60")",
       "auth.external_issuers[0].jwks_refresh_min_seconds"},
      {R"("jwks_uri": "https://idp.example.org/jwks", "jku": "https://evil.example/jwks")", "auth.external_issuers[0].jku"},
  };
  for (const bad_case& bc : cases) {
    CAPTURE(bc.members);
    const fs::path file = d.write("bad.json", issuer_config(bc.members));
    const hearth::error e = load_error(sources({"--config", file.string()}));
    CHECK(e.code == "invalid");
    CHECK(contains(e.message, bc.location));
    CHECK(contains(e.location, bc.location));
    // The next element would be a longer path: the error names this one.
    CHECK_FALSE(contains(e.message, bc.location + "."));
    CHECK_FALSE(contains(e.message, "s3cr3t"));
    CHECK_FALSE(contains(e.message, "evil.example"));
  }
}

}  // namespace
}  // namespace hearth::server
