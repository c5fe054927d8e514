#include <hearth/hl7v2/error.hpp>

#include <doctest/doctest.h>

using namespace hearth::hl7v2;

TEST_CASE("error: table 0357 names") {
  CHECK(to_string(error_code::data_type_error) == "Data type error");
  CHECK(to_string(error_code::segment_sequence_error) == "Segment sequence error");
  CHECK(to_string(error_code::application_internal_error) == "Application internal error");
  CHECK(static_cast<int>(error_code::unsupported_version_id) == 203);
}

TEST_CASE("error: positions in terse notation") {
  CHECK(position{}.to_string() == "message");
  CHECK(position{4, "", 0, 0, 0, 0, 0}.to_string() == "segment 4");
  CHECK(position{2, "PID", 0, 0, 0, 0, 0}.to_string() == "PID");
  CHECK(position{2, "PID", 5, 0, 0, 0, 0}.to_string() == "PID-5");
  CHECK(position{2, "PID", 5, 1, 2, 0, 0}.to_string() == "PID-5.2");
  CHECK(position{2, "PID", 3, 2, 4, 1, 0}.to_string() == "PID-3(2).4.1");
}

TEST_CASE("error: as the project-wide error") {
  const error e{error_code::data_type_error, "invalid UTF-8", position{2, "PID", 5, 1, 2, 0, 17}};
  const hearth::error c = e.to_core();
  CHECK(c.code == "102");
  CHECK(c.message == "invalid UTF-8");
  CHECK(c.location == "PID-5.2");
  CHECK(c.offset == 17);
}
