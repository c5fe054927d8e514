// validate_options.hpp on its own (self-contained) and its defaults.
#include <hearth/profiles/validate_options.hpp>

#include <doctest/doctest.h>

TEST_CASE("validate_options: defaults check structure, list 100 issues, no hooks") {
  hearth::profiles::validate_options o;
  CHECK(o.profiles.empty());
  CHECK(o.max_issues == 100);
  CHECK_FALSE(o.terminology);
  CHECK_FALSE(o.resolver);
  CHECK(o.check_structure);
  CHECK_FALSE(o.allow_unknown_elements);
  hearth::profiles::code_verdict v;
  CHECK(v.verdict == hearth::profiles::code_verdict::status::cannot_tell);
}
