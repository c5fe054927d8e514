#include <hearth/store/reference_target.hpp>

#include <doctest/doctest.h>

#include "index_test_support.hpp"

using namespace hearth::store;
using hearth::store::test::registry;

TEST_CASE("index: references split into type, id and version") {
  auto t = parse_reference("Patient/123", registry());
  CHECK(t.kind == reference_kind::relative);
  CHECK(t.type == "Patient");
  CHECK(t.id == "123");
  CHECK(t.version.empty());
  CHECK(t.url.empty());

  t = parse_reference("Observation/a.b-c/_history/7", registry());
  CHECK(t.kind == reference_kind::relative);
  CHECK(t.type == "Observation");
  CHECK(t.id == "a.b-c");
  CHECK(t.version == "7");
}

TEST_CASE("index: absolute references keep the URL and split a RESTful tail") {
  auto t = parse_reference("http://example.org/fhir/Patient/123/_history/2", registry());
  CHECK(t.kind == reference_kind::absolute);
  CHECK(t.url == "http://example.org/fhir/Patient/123/_history/2");
  CHECK(t.type == "Patient");
  CHECK(t.id == "123");
  CHECK(t.version == "2");

  t = parse_reference("https://example.org/docs/report.pdf", registry());
  CHECK(t.kind == reference_kind::absolute);
  CHECK(t.type.empty());
  CHECK(t.id.empty());

  t = parse_reference("urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d", registry());
  CHECK(t.kind == reference_kind::absolute);
  CHECK(t.url == "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d");
  CHECK(t.type.empty());
}

TEST_CASE("index: contained, canonical and other references") {
  auto t = parse_reference("#p1", registry());
  CHECK(t.kind == reference_kind::contained);
  CHECK(t.id == "p1");
  CHECK(t.url == "#p1");

  t = parse_canonical("http://hl7.org/fhir/ValueSet/example|4.0.1");
  CHECK(t.kind == reference_kind::canonical);
  CHECK(t.url == "http://hl7.org/fhir/ValueSet/example");
  CHECK(t.version == "4.0.1");
  CHECK(t.type.empty());  // a canonical names a resource by url, not by id
  t = parse_canonical("http://hl7.org/fhir/ValueSet/example");
  CHECK(t.version.empty());

  for (const char* other : {"123", "Foo/1", "Patient/", "Patient/1/2", "Patient?identifier=x|1", "#",
                            "Patient/" "12345678901234567890123456789012345678901234567890123456789012345"}) {
    CAPTURE(other);
    t = parse_reference(other, registry());
    CHECK(t.kind == reference_kind::other);
    CHECK(t.url == other);
    CHECK(t.type.empty());
  }
  CHECK(to_string(reference_kind::canonical) == "canonical");
}
