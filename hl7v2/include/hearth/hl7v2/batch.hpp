#pragma once
// Splitting HL7 v2 batches and files (HL7 v2.5.1 2.10.3, FHS/BHS/BTS/FTS).

#include <cstddef>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2 {

/// One batch: BHS, its messages, BTS. Views into the input.
struct batch_group {
  std::string_view header;   ///< the BHS segment, empty when the input had none
  std::string_view trailer;  ///< the BTS segment, empty when absent
  std::vector<std::string_view> messages;  ///< each message's bytes, MSH to its last terminator
};

/// The pieces of an input holding one or more messages: a file
/// (FHS [BHS MSH... BTS]... FTS), a batch (BHS MSH... BTS), or messages one after
/// another. Views into the input, which must outlive it.
struct batch {
  std::string_view file_header;   ///< FHS, empty when absent
  std::string_view file_trailer;  ///< FTS, empty when absent
  std::vector<batch_group> groups;  ///< messages outside any BHS form one group without header

  std::size_t message_count() const noexcept;
};

/// Limits for split_batch(), against inputs that would exhaust memory.
struct batch_options {
  std::size_t max_messages = 1'000'000;  ///< a day of a busy lab feed in one file
};

/// Splits `input` into messages and checks the envelope: FHS first and FTS last
/// if present, BHS/BTS paired, BTS-1 (batch message count) and FTS-1 (file
/// batch count) equal to what was found when they are valued. Each message is
/// left to parse() so that one bad message can be rejected alone. Errors:
/// 100 for envelope segments out of place, 102 for a count that does not match.
hearth::result<batch, error> split_batch(std::string_view input, const batch_options& opts = {});

}  // namespace hearth::hl7v2
