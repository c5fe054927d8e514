// Integration: the REST API of a real `hearth serve` under concurrent
// clients, and a large transaction over HTTP (issue 5: "a transaction with
// 100 entries; concurrency (many clients updating the same resource: exactly
// the right 412s, no lost update)").
#include <atomic>
#include <set>
#include <mutex>

#include <doctest/doctest.h>

#include "integration/hearth_process.hpp"

namespace hearth::test {
namespace {

/// The integer after `"key":` in a JSON text (enough for the members these
/// cases write; the JSON itself is checked by the unit tests).
long long int_member(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const std::size_t at = json.find(needle);
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + needle.size()));
}

/// The string after `"key":"` in a JSON text.
std::string string_member(const std::string& json, const std::string& key, std::size_t from = 0) {
  const std::string needle = "\"" + key + "\":\"";
  const std::size_t at = json.find(needle, from);
  if (at == std::string::npos) return {};
  const std::size_t start = at + needle.size();
  return json.substr(start, json.find('"', start) - start);
}

std::string counter_patient(const std::string& id, long long counter) {
  return R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":"Counter"}],"multipleBirthInteger":)" +
         std::to_string(counter) + "}";
}

const std::vector<std::pair<std::string, std::string>> json_headers{{"Content-Type", "application/fhir+json"}};

TEST_CASE("rest: many clients updating one resource with If-Match: exactly the right 412s, no lost update") {
  hearth_process server;
  std::string id;
  {
    http_connection c(server);
    const http_reply created = c.request("POST", "/Patient",
                                         R"({"resourceType":"Patient","name":[{"family":"Counter"}],"multipleBirthInteger":0})",
                                         json_headers);
    REQUIRE(created.status == 201);
    id = string_member(created.body, "id");
    REQUIRE(!id.empty());
  }
  // Each client reads the counter, and writes counter+1 with If-Match on the
  // version it read: a write that raced another must be refused (412), and
  // every write that was accepted must show in the final counter.
  constexpr int clients = 8;
  constexpr int attempts = 25;
  std::atomic<int> ok{0}, conflicts{0}, other{0};
  std::mutex versions_mutex;
  std::set<std::string> versions_written;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      http_connection c(server);
      for (int i = 0; i < attempts; ++i) {
        const http_reply cur = c.request("GET", "/Patient/" + id);
        if (cur.status != 200) {
          ++other;
          continue;
        }
        const long long counter = int_member(cur.body, "multipleBirthInteger");
        std::vector<std::pair<std::string, std::string>> h = json_headers;
        h.emplace_back("If-Match", cur.header("etag"));
        h.emplace_back("Prefer", "return=minimal");
        const http_reply put = c.request("PUT", "/Patient/" + id, counter_patient(id, counter + 1), h);
        if (put.status == 200) {
          ++ok;
          const std::lock_guard lock(versions_mutex);
          versions_written.insert(put.header("etag"));
        } else if (put.status == 412) {
          ++conflicts;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(other.load() == 0);
  CHECK(ok.load() + conflicts.load() == clients * attempts);
  CHECK(ok.load() >= attempts);  // at least one client's worth got through
  CHECK(versions_written.size() == static_cast<std::size_t>(ok.load()));  // no version given out twice
  http_connection c(server);
  const http_reply final_state = c.request("GET", "/Patient/" + id);
  REQUIRE(final_state.status == 200);
  CHECK(int_member(final_state.body, "multipleBirthInteger") == ok.load());
  CHECK(final_state.header("etag") == "W/\"" + std::to_string(ok.load() + 1) + "\"");
  MESSAGE(ok.load() << " updates, " << conflicts.load() << " refused with 412");
}

TEST_CASE("rest: HEAD answers a read's and a search's header fields without the content (RFC 9110 9.3.2)") {
  hearth_process server;
  http_connection conn(server);
  const http_reply created =
      conn.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Head"}]})", json_headers);
  REQUIRE(created.status == 201);
  const std::string id = string_member(created.body, "id");
  REQUIRE_FALSE(id.empty());
  const http_reply get = conn.request("GET", "/Patient/" + id);
  REQUIRE(get.status == 200);
  const http_reply head = conn.request("HEAD", "/Patient/" + id);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::to_string(get.body.size()));
  CHECK(head.header("etag") == get.header("etag"));
  CHECK(head.header("content-type") == get.header("content-type"));
  CHECK(head.header("last-modified") == get.header("last-modified"));
  // The connection stays usable: the next answer is read whole, not mistaken for a body.
  const http_reply search_head = conn.request("HEAD", "/Patient?_id=" + id);
  CHECK(search_head.status == 200);
  CHECK(search_head.body.empty());
  CHECK(std::stoul(search_head.header("content-length")) > 0);
  CHECK(conn.request("HEAD", "/Patient/no-such-id").status == 404);
  const http_reply after = conn.request("GET", "/Patient/" + id);
  CHECK(after.status == 200);
  CHECK(after.body == get.body);
}

TEST_CASE("rest: a transaction of 100 entries over HTTP, then every resource is there and linked") {
  hearth_process server;
  std::string body = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 50; ++i) {
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "urn:uuid:00000000-0000-4000-8000-%012d", i);
    if (i) body += ",";
    body += R"({"fullUrl":")" + std::string(uuid) +
            R"(","resource":{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"p)" +
            std::to_string(i) + R"("}]},"request":{"method":"POST","url":"Patient"}},)";
    body += R"({"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":")" +
            std::string(uuid) + R"("}},"request":{"method":"POST","url":"Observation"}})";
  }
  body += "]}";
  http_connection c(server);
  const http_reply r = c.request("POST", "/", body, json_headers);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"transaction-response\"") != std::string::npos);
  std::size_t created = 0;
  for (std::size_t at = r.body.find("201 Created"); at != std::string::npos; at = r.body.find("201 Created", at + 1)) {
    ++created;
  }
  CHECK(created == 100);
  // Patient p7's Observation refers to p7 by its new id.
  const http_reply p7 = c.request("GET", "/Patient?identifier=urn:test|p7");
  REQUIRE(p7.status == 200);
  const std::string p7_id = string_member(p7.body, "id", p7.body.find("\"resource\""));
  REQUIRE(!p7_id.empty());
  const http_reply obs = c.request("GET", "/Observation?_total=accurate&subject=Patient/" + p7_id);
  REQUIRE(obs.status == 200);
  CHECK(int_member(obs.body, "total") == 1);
  const http_reply all = c.request("GET", "/Observation?_summary=count");
  REQUIRE(all.status == 200);
  CHECK(int_member(all.body, "total") == 50);
}

TEST_CASE("rest: concurrent POSTs with the same If-None-Exist: one 201, the others 200, one resource") {
  // R4 http.html#ccreate. The search and the create are one store
  // transaction (resource_store::conditional_create): the requests racing
  // below, each on its own connection, can never both create.
  hearth_process server;
  constexpr int clients = 8;
  constexpr int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    const std::string mrn = "ine-" + std::to_string(round);
    const std::string body =
        R"({"resourceType":"Patient","identifier":[{"system":"urn:ine","value":")" + mrn + R"("}]})";
    std::atomic<int> ready{0}, created{0}, found{0}, other{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&] {
        http_connection c(server);  // connected before the start
        std::vector<std::pair<std::string, std::string>> h = json_headers;
        h.emplace_back("If-None-Exist", "identifier=urn:ine|" + mrn);
        h.emplace_back("Prefer", "return=minimal");
        ++ready;
        while (!go.load()) std::this_thread::yield();
        const http_reply r = c.request("POST", "/Patient", body, h);
        ++(r.status == 201 ? created : r.status == 200 ? found : other);
      });
    }
    while (ready.load() < clients) std::this_thread::yield();
    go = true;
    for (auto& t : threads) t.join();
    CAPTURE(round);
    CHECK(other.load() == 0);
    CHECK(created.load() == 1);
    CHECK(found.load() == clients - 1);
    http_connection c(server);
    const http_reply stored = c.request("GET", "/Patient?_summary=count&identifier=urn:ine|" + mrn);
    REQUIRE(stored.status == 200);
    CHECK(int_member(stored.body, "total") == 1);
  }
}

}  // namespace
}  // namespace hearth::test
