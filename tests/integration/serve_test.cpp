// hearth serve end to end: a real process on port 0, spoken to over sockets
// (issue 5). The FHIR interactions themselves are tested in depth against
// fhir_api directly (tests/server); here: that they are reachable through the
// listener and the pipeline, and the HTTP rules of the listener.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "integration/hearth_process.hpp"

using hearth::test::hearth_process;
using hearth::test::http_connection;

namespace {

const std::string patient = R"({"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male"})";
const std::vector<std::pair<std::string, std::string>> json_body{{"Content-Type", "application/fhir+json"}};

}  // namespace

TEST_CASE("serve: health, metadata, and a create-read-update-search round trip on one keep-alive connection") {
  hearth_process server;
  // Authorisation is on by default, and the start-up output says so.
  CHECK(server.startup_output().find("authorization: bearer tokens required, issuer and audience " +
                                     server.base_url() + "\n") != std::string::npos);
  http_connection c(server);

  auto health = c.request("GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(c.request("GET", "/readyz").status == 200);

  auto meta = c.request("GET", "/metadata");
  REQUIRE(meta.status == 200);
  CHECK(meta.header("content-type").starts_with("application/fhir+json"));
  CHECK(meta.body.find(R"("resourceType":"CapabilityStatement")") != std::string::npos);
  CHECK(meta.body.find(R"("fhirVersion":"4.0.1")") != std::string::npos);

  auto created = c.request("POST", "/Patient", patient, json_body);
  REQUIRE(created.status == 201);
  const std::string location = created.header("location");
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port()) + "/Patient/";
  REQUIRE(location.starts_with(base));
  const std::string id = location.substr(base.size(), location.find('/', base.size()) - base.size());
  CHECK(created.header("etag") == "W/\"1\"");

  auto read = c.request("GET", "/Patient/" + id);
  CHECK(read.status == 200);
  CHECK(read.body.find("Chalmers") != std::string::npos);
  // Every answer: the request id, and the security headers (SECURITY.md).
  CHECK(!read.header("x-request-id").empty());
  CHECK(read.header("x-content-type-options") == "nosniff");
  CHECK(read.header("cache-control") == "no-store");
  CHECK(!read.header("content-security-policy").empty());

  const std::string update = R"({"resourceType":"Patient","id":")" + id + R"(","gender":"female"})";
  auto stale = c.request("PUT", "/Patient/" + id, update,
                         {{"Content-Type", "application/fhir+json"}, {"If-Match", "W/\"7\""}});
  CHECK(stale.status == 412);
  auto updated = c.request("PUT", "/Patient/" + id, update,
                           {{"Content-Type", "application/fhir+json"}, {"If-Match", "W/\"1\""}});
  CHECK(updated.status == 200);
  CHECK(updated.header("etag") == "W/\"2\"");

  auto search = c.request("GET", "/Patient?gender=female");
  CHECK(search.status == 200);
  CHECK(search.body.find(R"("type":"searchset")") != std::string::npos);
  CHECK(search.body.find(id) != std::string::npos);

  // X-Request-Id: a plain token is echoed, anything else replaced.
  auto echoed = c.request("GET", "/healthz", {}, {{"X-Request-Id", "abc-123"}});
  CHECK(echoed.header("x-request-id") == "abc-123");
  auto replaced = c.request("GET", "/healthz", {}, {{"X-Request-Id", "a b"}});
  CHECK(replaced.header("x-request-id") != "a b");
  CHECK(replaced.header("x-request-id").size() == 16);

  auto metrics = c.request("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("hearth_http_requests_total") != std::string::npos);
}

TEST_CASE("serve: requests the listener refuses get an OperationOutcome and the connection is closed") {
  hearth_process server({"--max-body-bytes", "2048"});
  {
    http_connection c(server.port());
    auto big = c.request("POST", "/Patient", std::string(4096, ' '), json_body);
    CHECK(big.status == 413);
    CHECK(big.body.find("OperationOutcome") != std::string::npos);
    CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  }
  {
    http_connection c(server.port());
    c.send_raw("THIS IS NOT HTTP\r\n\r\n");
    auto bad = c.read_reply();
    CHECK(bad.status == 400);
    CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  }
  {
    http_connection c(server.port());
    c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n");
    auto big_header = c.read_reply();
    CHECK(big_header.status == 431);
  }
  // RFC 9112 3.2: an HTTP/1.1 request without Host, or any with two, is a 400.
  for (const char* request : {"GET /healthz HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}) {
    CAPTURE(request);
    http_connection c(server.port());
    c.send_raw(request);
    auto no_host = c.read_reply();
    CHECK(no_host.status == 400);
    CHECK(no_host.body.find("Host") != std::string::npos);
    CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  }
  {
    // HTTP/1.0 has no Host requirement.
    http_connection c(server.port());
    c.send_raw("GET /healthz HTTP/1.0\r\n\r\n");
    CHECK(c.read_reply().status == 200);
  }
  // The server is still serving.
  http_connection c(server.port());
  CHECK(c.request("GET", "/healthz").status == 200);
}

TEST_CASE("serve: a next link opens after a restart on the same database (the cursor key is the database's)") {
  hearth_process server({"--insecure-no-auth"});
  {
    http_connection c(server.port());
    for (const char* family : {"Ames", "Baker", "Cole"}) {
      const std::string body = R"({"resourceType":"Patient","name":[{"family":")" + std::string(family) + R"("}]})";
      REQUIRE(c.request("POST", "/Patient", body, json_body).status == 201);
    }
  }
  std::string next;
  {
    http_connection c(server.port());
    auto first = c.request("GET", "/Patient?_count=1&_sort=family");
    REQUIRE(first.status == 200);
    CHECK(first.body.find("Ames") != std::string::npos);
    // "relation":"next","url":"http://127.0.0.1:PORT/Patient?...": the target.
    const std::string marker = R"("relation":"next","url":")";
    const auto at = first.body.find(marker);
    REQUIRE(at != std::string::npos);
    const std::string url = first.body.substr(at + marker.size(), first.body.find('"', at + marker.size()) -
                                                                      at - marker.size());
    next = url.substr(url.find("/Patient"));
    REQUIRE(next.find("_cursor=") != std::string::npos);
  }
  server.terminate();
  REQUIRE(server.wait_exit(std::chrono::seconds(30)) == 0);
  server.restart({"--insecure-no-auth"});
  http_connection c(server.port());
  auto second = c.request("GET", next);
  REQUIRE_MESSAGE(second.status == 200, second.body);
  CHECK(second.body.find("Baker") != std::string::npos);
  CHECK(second.body.find("Ames") == std::string::npos);
  // Any other cursor is still refused.
  CHECK(c.request("GET", "/Patient?_count=1&_sort=family&_cursor=forged").status == 400);
}

TEST_CASE("serve: pipelined requests are answered in order") {
  hearth_process server;
  http_connection c(server.port());
  c.send_raw(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n"
      "GET /metadata HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: three\r\n\r\n");
  CHECK(c.read_reply().header("x-request-id") == "one");
  auto second = c.read_reply();
  CHECK(second.header("x-request-id") == "two");
  CHECK(second.body.find("CapabilityStatement") != std::string::npos);
  CHECK(c.read_reply().header("x-request-id") == "three");
}

TEST_CASE("serve: SIGTERM answers what is in flight, then the process exits 0") {
  hearth_process server;
  http_connection idle(server.port());
  http_connection busy(server.port());
  // A write in flight while the signal arrives: it is answered (and so
  // committed) before the process ends.
  busy.send_raw("POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nAuthorization: Bearer " +
                server.token() + "\r\nContent-Length: " + std::to_string(patient.size()) + "\r\n\r\n" + patient);
  server.terminate();
  // Within 10 s, well under stop()'s 30 s grace: an answer left unwritten
  // would hold the process for the whole grace (it once did: the io thread
  // ran out of work while a worker still had the request).
  auto answer = busy.read_reply(std::chrono::seconds(10));
  CHECK((answer.status == 201 || answer.status == 0));  // 0: the signal won the race before it was read
  CHECK(idle.closed_by_peer(std::chrono::seconds(10)));
  CHECK(server.wait_exit(std::chrono::seconds(10)) == 0);
}
