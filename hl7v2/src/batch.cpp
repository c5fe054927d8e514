#include <hearth/hl7v2/batch.hpp>

#include <string>

namespace hearth::hl7v2 {

std::size_t batch::message_count() const noexcept {
  std::size_t n = 0;
  for (const auto& g : groups) n += g.messages.size();
  return n;
}

namespace {

error envelope_error(error_code code, const char* msg, std::size_t line, std::string_view id, std::size_t field,
                     std::size_t offset) {
  return error{code, msg, position{line, std::string(id), field, 0, 0, 0, offset}};
}

// Field `n` of an envelope segment, split on its field separator. For FHS/BHS
// the separator is the segment's 4th byte; BTS/FTS use the enclosing header's.
std::string_view envelope_field(std::string_view seg, char fs, std::size_t n) {
  std::size_t begin = 3;
  for (std::size_t k = 0; k < n; ++k) {
    if (begin >= seg.size() || seg[begin] != fs) return {};
    const std::size_t next = seg.find(fs, begin + 1);
    if (k + 1 == n) return seg.substr(begin + 1, (next == std::string_view::npos ? seg.size() : next) - begin - 1);
    if (next == std::string_view::npos) return {};
    begin = next;
  }
  return {};
}

// A count field (BTS-1, FTS-1, NM): empty means "not stated".
bool count_matches(std::string_view field, std::size_t actual) {
  // Only the first component counts; senders rarely add more, but be exact.
  std::size_t end = 0;
  while (end < field.size() && field[end] >= '0' && field[end] <= '9') ++end;
  if (end == 0) return field.empty();
  if (end != field.size()) return false;
  if (end > 18) return false;
  return std::stoull(std::string(field.substr(0, end))) == actual;
}

}  // namespace

hearth::result<batch, error> split_batch(std::string_view input, const batch_options& opts) {
  batch out;
  char fs = '|';             // separator for BTS/FTS: from FHS/BHS, else the first MSH
  bool fs_known = false;
  bool file_closed = false;  // FTS seen
  bool group_open = false;   // a BHS without its BTS yet
  std::size_t message_begin = std::string_view::npos;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  const std::size_t n = input.size();

  const auto close_message = [&](std::size_t end) {
    if (message_begin == std::string_view::npos) return;
    if (out.groups.empty()) out.groups.emplace_back();
    out.groups.back().messages.push_back(input.substr(message_begin, end - message_begin));
    message_begin = std::string_view::npos;
  };

  while (pos < n) {
    // Skip terminators between segments.
    if (input[pos] == '\r' || input[pos] == '\n') {
      ++pos;
      continue;
    }
    const std::size_t begin = pos;
    while (pos < n && input[pos] != '\r' && input[pos] != '\n') ++pos;
    const std::string_view seg = input.substr(begin, pos - begin);
    ++line_no;
    const std::string_view id = seg.substr(0, 3);

    if (file_closed) {
      return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "segment after FTS", line_no, id, 0, begin));
    }
    if (id == "FHS") {
      if (line_no != 1) {
        return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "FHS must be the first segment", line_no, id, 0, begin));
      }
      out.file_header = seg;
      if (seg.size() > 3) { fs = seg[3]; fs_known = true; }
    } else if (id == "BHS") {
      close_message(begin);
      if (group_open) {
        return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "BHS before the previous batch's BTS", line_no, id, 0, begin));
      }
      if (!out.groups.empty() && out.groups.back().header.empty() && out.groups.back().messages.empty()) {
        out.groups.pop_back();
      }
      out.groups.emplace_back();
      out.groups.back().header = seg;
      group_open = true;
      if (seg.size() > 3) { fs = seg[3]; fs_known = true; }
    } else if (id == "BTS") {
      close_message(begin);
      if (!group_open) {
        return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "BTS without BHS", line_no, id, 0, begin));
      }
      auto& g = out.groups.back();
      g.trailer = seg;
      group_open = false;
      // BTS-1 Batch Message Count (2.15.2.1).
      if (!count_matches(envelope_field(seg, fs, 1), g.messages.size())) {
        return hearth::unexpected(envelope_error(error_code::data_type_error,
                                                 "BTS-1 batch message count does not match the messages in the batch",
                                                 line_no, id, 1, begin));
      }
    } else if (id == "FTS") {
      close_message(begin);
      if (group_open) {
        return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "FTS before the batch's BTS", line_no, id, 0, begin));
      }
      if (out.file_header.empty()) {
        return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "FTS without FHS", line_no, id, 0, begin));
      }
      out.file_trailer = seg;
      file_closed = true;
      // FTS-1 File Batch Count (2.15.7.1): the batches (BHS) in the file.
      std::size_t batches = 0;
      for (const auto& g : out.groups) batches += g.header.empty() ? 0 : 1;
      if (!count_matches(envelope_field(seg, fs, 1), batches)) {
        return hearth::unexpected(envelope_error(error_code::data_type_error,
                                                 "FTS-1 file batch count does not match the batches in the file",
                                                 line_no, id, 1, begin));
      }
    } else if (id == "MSH") {
      close_message(begin);
      if (out.message_count() >= opts.max_messages) {
        return hearth::unexpected(envelope_error(error_code::value_too_long, "too many messages in one input", line_no, id, 0, begin));
      }
      if (!fs_known && seg.size() > 3) { fs = seg[3]; fs_known = true; }
      if (!group_open && (out.groups.empty() || !out.groups.back().header.empty())) {
        out.groups.emplace_back();  // messages outside any batch
      }
      message_begin = begin;
    } else if (message_begin == std::string_view::npos) {
      return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "segment outside a message (expected MSH)",
                                               line_no, id, 0, begin));
    }
  }
  close_message(n);
  if (group_open) {
    return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "batch without BTS", line_no, "BHS", 0, n));
  }
  if (!out.file_header.empty() && out.file_trailer.empty()) {
    return hearth::unexpected(envelope_error(error_code::segment_sequence_error, "file without FTS", line_no, "FHS", 0, n));
  }
  return out;
}

}  // namespace hearth::hl7v2
