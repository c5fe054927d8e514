#include <hearth/hl7v2/batch.hpp>

#include <string>

#include <doctest/doctest.h>

using namespace hearth::hl7v2;

namespace {
const std::string m1 = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||1\r";
const std::string m2 = "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|2|P|2.5.1\rPID|1||2\r";
}  // namespace

TEST_CASE("batch: messages one after another") {
  const std::string input = m1 + m2;  // split_batch returns views into it
  auto b = split_batch(input);
  REQUIRE(b);
  REQUIRE(b->groups.size() == 1);
  CHECK(b->groups[0].header.empty());
  REQUIRE(b->message_count() == 2);
  CHECK(b->groups[0].messages[0] == m1);
  CHECK(b->groups[0].messages[1] == m2);
}

TEST_CASE("batch: a file of batches with counts (2.10.3)") {
  const std::string file = "FHS|^~\\&|LAB\rBHS|^~\\&|LAB\r" + m1 + m2 + "BTS|2\rBHS|^~\\&|LAB\r" + m1 +
                           "BTS|1\rFTS|2\r";
  auto b = split_batch(file);
  REQUIRE(b);
  CHECK(b->file_header == "FHS|^~\\&|LAB");
  CHECK(b->file_trailer == "FTS|2");
  REQUIRE(b->groups.size() == 2);
  CHECK(b->groups[0].header == "BHS|^~\\&|LAB");
  CHECK(b->groups[0].trailer == "BTS|2");
  CHECK(b->groups[0].messages.size() == 2);
  CHECK(b->groups[1].messages.size() == 1);
  CHECK(b->message_count() == 3);
}

TEST_CASE("batch: LF terminators and empty counts") {
  const std::string lf = "BHS|^~\\&\nMSH|^~\\&|A\nPID|1\nBTS|\n";
  auto b = split_batch(lf);
  REQUIRE(b);
  CHECK(b->message_count() == 1);
  CHECK(b->groups[0].messages[0] == "MSH|^~\\&|A\nPID|1\n");
}

TEST_CASE("batch: count mismatches and misplaced envelope segments are errors") {
  const std::string one = "BHS|^~\\&\r" + m1 + "BTS|2\r";
  auto wrong_count = split_batch(one);
  REQUIRE_FALSE(wrong_count);
  CHECK(wrong_count.error().code == error_code::data_type_error);
  CHECK(wrong_count.error().where.to_string() == "BTS-1");

  const std::string two = "FHS|^~\\&\rBHS|^~\\&\r" + m1 + "BTS|1\rFTS|3\r";
  auto wrong_files = split_batch(two);
  REQUIRE_FALSE(wrong_files);
  CHECK(wrong_files.error().where.segment_id == "FTS");

  CHECK_FALSE(split_batch("BHS|^~\\&\r" + m1));                    // no BTS
  CHECK_FALSE(split_batch(m1 + "BTS|1\r"));                         // BTS without BHS
  CHECK_FALSE(split_batch("FHS|^~\\&\r" + m1));                    // no FTS
  CHECK_FALSE(split_batch(m1 + "FHS|^~\\&\r"));                    // FHS not first
  CHECK_FALSE(split_batch("FHS|^~\\&\rFTS|0\r" + m1));             // after FTS
  CHECK_FALSE(split_batch("PID|1\r" + m1));                         // before any MSH
  CHECK_FALSE(split_batch("BHS|^~\\&\rBHS|^~\\&\r" + m1 + "BTS|1\rBTS|0\r"));
  CHECK_FALSE(split_batch("BHS|^~\\&\r" + m1 + "BTS|1x\r"));       // not a number
}

TEST_CASE("batch: message limit") {
  batch_options o;
  o.max_messages = 1;
  CHECK(split_batch(m1, o));
  CHECK_FALSE(split_batch(m1 + m2, o));
}

TEST_CASE("batch: empty input has no messages") {
  auto b = split_batch("\r\n");
  REQUIRE(b);
  CHECK(b->message_count() == 0);
}
