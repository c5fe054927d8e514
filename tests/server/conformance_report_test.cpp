// The reports of `hearth conformance` (server/conformance/report.hpp).
#include <doctest/doctest.h>

#include <string>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/server/conformance/report.hpp>

namespace conf = hearth::server::conformance;

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

conf::run_result sample_run() {
  conf::run_result run;
  run.fhir_base = "http://127.0.0.1:8080/fhir";
  run.mllp = "127.0.0.1:2575";
  run.started = "2026-11-23T10:00:00Z";
  run.seconds = 1.5;

  conf::suite_result crud;
  crud.name = "crud";
  crud.description = "create, read, update, delete";
  crud.source = "tests/conformance/fhir/crud.json";
  conf::case_result ok;
  ok.name = "create answers 201";
  conf::case_result bad;
  bad.name = "read <after> delete & \"gone\"";
  bad.status = conf::outcome::failed;
  bad.message = "assert 2 (response code): </failure>]]>";
  bad.expected = "status 410";
  bad.actual = "status 200";
  bad.request = "GET http://127.0.0.1:8080/fhir/Patient/1\r\nAuthorization: Bearer ...";
  // What a peer sent may be anything: control characters, bytes that are not UTF-8.
  bad.response = std::string("HTTP/1.1 200 OK\r\n\r\n{\"x\":\"\x01\x02\"}\xff\xfe");
  conf::case_result skip;
  skip.name = "scope enforcement";
  skip.status = conf::outcome::skipped;
  skip.message = "needs --client-id and --key";
  crud.cases = {ok, bad, skip};

  conf::suite_result broken;
  broken.name = "framing";
  broken.source = "tests/conformance/mllp/framing.json";
  broken.error = "not JSON at offset 3";

  run.suites = {crud, broken};
  return run;
}

}  // namespace

TEST_CASE("conformance report: counts, and a run fails on a failed case or a suite error") {
  conf::run_result run = sample_run();
  CHECK(run.count(conf::outcome::passed) == 1);
  CHECK(run.count(conf::outcome::failed) == 1);
  CHECK(run.count(conf::outcome::skipped) == 1);
  CHECK(run.failed());

  run.suites[0].cases[1].status = conf::outcome::passed;
  CHECK(run.failed());  // the suite error remains
  run.suites[1].error.clear();
  CHECK_FALSE(run.failed());
  run.suites[0].cases[0].status = conf::outcome::skipped;
  CHECK_FALSE(run.failed());  // skipping is not failing
}

TEST_CASE("conformance report: the summary table has a row per suite and a total") {
  const std::string table = conf::summary_table(sample_run());
  CHECK(table.find("crud") != std::string::npos);
  CHECK(table.find("framing") != std::string::npos);
  CHECK(table.find("ERROR") != std::string::npos);
  CHECK(table.find("total") != std::string::npos);
}

TEST_CASE("conformance report: failure details show expected, actual and the exchange") {
  const std::string details = conf::failure_details(sample_run());
  CHECK(details.find("FAILED crud / read <after> delete") != std::string::npos);
  CHECK(details.find("expected: status 410") != std::string::npos);
  CHECK(details.find("actual:   status 200") != std::string::npos);
  CHECK(details.find("| GET http://127.0.0.1:8080/fhir/Patient/1") != std::string::npos);
  CHECK(details.find("SUITE ERROR framing") != std::string::npos);
  CHECK(details.find("create answers 201") == std::string::npos);  // passed cases are not detailed

  conf::run_result clean;
  CHECK(conf::failure_details(clean).empty());
}

TEST_CASE("conformance report: JUnit XML escapes everything the run holds") {
  const std::string xml = conf::to_junit_xml(sample_run());
  CHECK(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
  CHECK(xml.find("<testsuites name=\"hearth conformance\" tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"1\"") !=
        std::string::npos);
  CHECK(occurrences(xml, "<testsuite ") == 2);
  CHECK(occurrences(xml, "<testcase ") == 4);  // three cases and the suite error's
  CHECK(occurrences(xml, "<failure ") == 1);
  CHECK(occurrences(xml, "<skipped ") == 1);
  CHECK(occurrences(xml, "<error ") == 1);
  // The hostile texts cannot close elements or the document early.
  CHECK(xml.find("</failure>]]>") == std::string::npos);
  CHECK(xml.find("&lt;/failure&gt;]]&gt;") != std::string::npos);
  CHECK(xml.find("read &lt;after&gt; delete &amp; &quot;gone&quot;") != std::string::npos);
  CHECK(xml.find('\x01') == std::string::npos);
  CHECK(xml.find('\xff') == std::string::npos);
  CHECK(xml.find("&#13;") != std::string::npos);  // CR kept as a reference
}

TEST_CASE("conformance report: the HTML page is self-contained and escaped") {
  const std::string html = conf::to_html(sample_run());
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http-equiv") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("read &lt;after&gt; delete") != std::string::npos);
  CHECK(html.find("<details open>") != std::string::npos);  // the failure is shown open
  CHECK(html.find("1 passed, 1 failed, 1 skipped") != std::string::npos);
}

TEST_CASE("conformance report: JSON is valid and complete") {
  const std::string json = conf::to_json(sample_run());
  hearth::fhir::json_read_options plain;
  plain.fhir_rules = false;  // a report is plain JSON: empty strings are fine
  auto doc = hearth::fhir::parse_json(json, plain);
  REQUIRE(doc);
  REQUIRE(doc->is_object());
  CHECK(doc->find("failed")->number_text() == "1");
  CHECK(doc->find("skipped")->number_text() == "1");
  const auto& suites = doc->find("suites")->items();
  REQUIRE(suites.size() == 2);
  CHECK(suites[1].find("error")->str() == "not JSON at offset 3");
  const auto& cases = suites[0].find("cases")->items();
  REQUIRE(cases.size() == 3);
  CHECK(cases[1].find("status")->str() == "failed");
  CHECK(cases[1].find("expected")->str() == "status 410");
  // Bytes that are not UTF-8 became U+FFFD: the document stays valid JSON.
  CHECK(cases[1].find("response")->str().find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(cases[2].find("message")->str() == "needs --client-id and --key");
}
