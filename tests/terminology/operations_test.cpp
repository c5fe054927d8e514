#include <hearth/terminology/operations.hpp>

#include <doctest/doctest.h>

#include <hearth/terminology/resolver.hpp>

using namespace hearth::terminology;

TEST_CASE("operations: validate_result::message joins the findings") {
  validate_result r;
  CHECK(r.message().empty());
  CHECK(r.outcome == verdict::cannot_tell);  // nothing known until checked
  CHECK_FALSE(r.result());
  r.findings = {{severity::warning, "a"}, {severity::error, "b"}};
  CHECK(r.message() == "a; b");
  r.outcome = verdict::valid;
  CHECK(r.result());
}

TEST_CASE("operations: subsumption outcome names (R4 concept-subsumption-outcome)") {
  CHECK(to_string(subsumption::equivalent) == "equivalent");
  CHECK(to_string(subsumption::subsumes) == "subsumes");
  CHECK(to_string(subsumption::subsumed_by) == "subsumed-by");
  CHECK(to_string(subsumption::not_subsumed) == "not-subsumed");
}

TEST_CASE("operations: the defaults follow R4 and Hearth's documented choices") {
  const expand_request e;
  CHECK(e.exclude_nested);  // flat unless asked
  CHECK_FALSE(e.active_only);
  CHECK_FALSE(e.count.has_value());
  const validate_request v;
  CHECK_FALSE(v.abstract_ok);  // R4: abstract defaults to false
  const translate_request t;
  CHECK_FALSE(t.reverse);
  // An empty resolver is allowed: "no other resources".
  const resolver none;
  CHECK_FALSE(static_cast<bool>(none));
}
