#include <hearth/hl7v2/parser.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include <hearth/core/utf8.hpp>

#include "detail/message_data.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hearth::hl7v2 {

/// The parser's access to message's private constructor.
class parser_access {
 public:
  static message make(std::shared_ptr<const detail::message_data> d) { return message(std::move(d)); }
};

namespace {

using detail::message_data;
using detail::segment_record;
using detail::span32;

bool is_upper_or_digit(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A delimiter may be any printable, non-alphanumeric ASCII character other than
// space (HL7 v2.5.1 2.5.4 recommends |^~\&; others are legal).
bool valid_delimiter(char c) noexcept {
  return c > ' ' && c < 0x7F && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') &&
         !(c >= '0' && c <= '9');
}

error make_error(error_code code, std::string msg, position where) {
  return error{code, std::move(msg), std::move(where)};
}

// Reads MSH-1 and MSH-2 (2.15.9.1-2). `bytes` starts with "MSH".
hearth::result<encoding, error> read_encoding(std::string_view bytes) {
  position where{1, "MSH", 1, 0, 0, 0, 3};
  if (bytes.size() < 4 || !valid_delimiter(bytes[3])) {
    return hearth::unexpected(make_error(error_code::data_type_error, "MSH-1 field separator missing or invalid", where));
  }
  encoding enc;
  enc.field = bytes[3];
  std::size_t end = 4;
  while (end < bytes.size() && bytes[end] != enc.field && bytes[end] != '\r' && bytes[end] != '\n') ++end;
  const std::string_view msh2 = bytes.substr(4, end - 4);
  where.field = 2;
  where.offset = 4;
  // Four characters; v2.7 adds a fifth, the truncation character (2.5.5.x).
  if (msh2.size() < 4 || msh2.size() > 5) {
    return hearth::unexpected(make_error(error_code::data_type_error,
                                         "MSH-2 encoding characters must be 4 (or, from v2.7, 5) characters", where));
  }
  for (std::size_t i = 0; i < msh2.size(); ++i) {
    if (!valid_delimiter(msh2[i]) || msh2[i] == enc.field ||
        std::find(msh2.begin(), msh2.begin() + static_cast<std::ptrdiff_t>(i), msh2[i]) !=
            msh2.begin() + static_cast<std::ptrdiff_t>(i)) {
      where.offset = 4 + i;
      return hearth::unexpected(make_error(error_code::data_type_error,
                                           "MSH-2 encoding characters must be distinct delimiters", where));
    }
  }
  enc.component = msh2[0];
  enc.repetition = msh2[1];
  enc.escape = msh2[2];
  enc.subcomponent = msh2[3];
  if (msh2.size() == 5) enc.truncation = msh2[4];
  return enc;
}

// Builds the segment and field index in one pass over the bytes. The only
// bytes that matter at this level are the field separator and CR/LF; SSE2
// finds them 16 bytes at a time.
class indexer {
 public:
  indexer(message_data& d, const parse_options& opts) : d_(d), opts_(opts) {}

  hearth::result<void, error> run() {
    const std::string& b = d_.bytes;
    const char* p = b.data();
    const std::size_t n = b.size();
    const char fs = d_.enc.field;
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128i vfs = _mm_set1_epi8(fs);
    const __m128i vcr = _mm_set1_epi8('\r');
    const __m128i vlf = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, vfs), _mm_cmpeq_epi8(x, vcr)),
                                       _mm_cmpeq_epi8(x, vlf));
      unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
      while (mask != 0) {
        const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(mask));
        mask &= mask - 1;
        if (!event(at, p[at] == fs)) return std::move(failure_);
      }
    }
#endif
    for (; i < n; ++i) {
      const char c = p[i];
      if (c == fs || c == '\r' || c == '\n') {
        if (!event(i, c == fs)) return std::move(failure_);
      }
    }
    // A last segment sent without terminator.
    if (seg_begin_ < n) {
      if (!end_segment(n)) return std::move(failure_);
    }
    if (!d_.segments.empty()) d_.segments.back().next_begin = static_cast<std::uint32_t>(n);
    return {};
  }

 private:
  // A field separator (is_field) or a line end at `at`.
  bool event(std::size_t at, bool is_field) {
    if (is_field) {
      if (at == seg_begin_) return fail_segment_id(at);
      return end_field(at);
    }
    if (at == seg_begin_) {  // CR of CRLF's LF, or a blank line: part of the terminator
      seg_begin_ = field_begin_ = at + 1;
      return true;
    }
    if (!end_segment(at)) return false;
    seg_begin_ = field_begin_ = at + 1;
    return true;
  }

  bool end_field(std::size_t at) {
    if (field_begin_ == seg_begin_) {
      // Field 0, the segment id, ends here: open the segment record.
      if (!open_segment(at)) return false;
    } else if (++fields_in_segment_ > opts_.max_fields) {
      return fail(error_code::value_too_long, "too many fields in one segment", at);
    }
    d_.fields.push_back({static_cast<std::uint32_t>(field_begin_), static_cast<std::uint32_t>(at)});
    if (header_pending_) {
      // MSH-1 is the separator itself (2.15.9.1): a field of its own.
      d_.fields.push_back({static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(at + 1)});
      header_pending_ = false;
    }
    field_begin_ = at + 1;
    return true;
  }

  bool end_segment(std::size_t at) {
    if (field_begin_ == seg_begin_) {
      if (!open_segment(at)) return false;  // a segment with no fields: "PID"
    } else if (++fields_in_segment_ > opts_.max_fields) {
      return fail(error_code::value_too_long, "too many fields in one segment", at);
    }
    d_.fields.push_back({static_cast<std::uint32_t>(field_begin_), static_cast<std::uint32_t>(at)});
    if (header_pending_) {
      // "MSH" alone on its line has no field separator at all.
      return fail(error_code::data_type_error, "MSH-1 field separator missing", at);
    }
    auto& s = d_.segments.back();
    s.end = static_cast<std::uint32_t>(at);
    s.field_count = static_cast<std::uint32_t>(d_.fields.size() - s.first_field);
    if (d_.segments.size() > 1) d_.segments[d_.segments.size() - 2].next_begin = s.begin;
    return true;
  }

  bool open_segment(std::size_t id_end) {
    const std::size_t len = id_end - seg_begin_;
    const char* id = d_.bytes.data() + seg_begin_;
    const std::size_t index = d_.segments.size() + 1;
    // Segment ids are three characters, a letter then letters or digits
    // (2.5.1); Z segments are locally defined and kept like any other.
    if (len != 3 || !(id[0] >= 'A' && id[0] <= 'Z') || !is_upper_or_digit(id[1]) || !is_upper_or_digit(id[2])) {
      return fail_segment_id(seg_begin_);
    }
    const bool header = detail::is_header_id(id);
    if (index == 1 && !(id[0] == 'M' && id[1] == 'S' && id[2] == 'H')) {
      return fail(error_code::segment_sequence_error, "a message must start with MSH", seg_begin_);
    }
    if (index > 1 && header) {
      return fail(error_code::segment_sequence_error,
                  "MSH, FHS or BHS inside a message: split batches and multi-message input first",
                  seg_begin_);
    }
    if (index > 1 && ((id[0] == 'B' || id[0] == 'F') && id[1] == 'T' && id[2] == 'S')) {
      return fail(error_code::segment_sequence_error, "batch trailer inside a message", seg_begin_);
    }
    if (index > opts_.max_segments) {
      return fail(error_code::value_too_long, "too many segments in one message", seg_begin_);
    }
    segment_record r{};
    r.begin = static_cast<std::uint32_t>(seg_begin_);
    r.first_field = static_cast<std::uint32_t>(d_.fields.size());
    r.header = header;
    d_.segments.push_back(r);
    header_pending_ = header;
    fields_in_segment_ = 0;
    return true;
  }

  bool fail_segment_id(std::size_t at) {
    return fail(error_code::segment_sequence_error, "invalid segment id (expected three upper-case letters or digits)",
                at);
  }

  bool fail(error_code code, const char* msg, std::size_t at) {
    position where;
    where.segment_index = d_.segments.size() + (field_begin_ == seg_begin_ ? 1 : 0);
    if (field_begin_ != seg_begin_ && !d_.segments.empty()) {
      const auto& s = d_.segments.back();
      const auto& f = d_.fields[s.first_field];
      where.segment_id = d_.bytes.substr(f.begin, f.end - f.begin);
      where.field = d_.fields.size() - s.first_field;
    }
    where.offset = at;
    failure_ = hearth::unexpected(make_error(code, msg, std::move(where)));
    return false;
  }

  message_data& d_;
  const parse_options& opts_;
  std::size_t seg_begin_ = 0;
  std::size_t field_begin_ = 0;
  std::size_t fields_in_segment_ = 0;
  bool header_pending_ = false;
  hearth::result<void, error> failure_;
};

// The position of byte `offset`, down to the subcomponent, for error reports.
position locate(const message_data& d, std::size_t offset) {
  position where;
  where.offset = offset;
  const auto seg = std::upper_bound(d.segments.begin(), d.segments.end(), offset,
                                    [](std::size_t off, const segment_record& s) { return off < s.begin; });
  if (seg == d.segments.begin()) return where;
  const segment_record& s = *(seg - 1);
  where.segment_index = static_cast<std::size_t>(seg - d.segments.begin());
  const span32& id = d.fields[s.first_field];
  where.segment_id = d.bytes.substr(id.begin, id.end - id.begin);
  if (offset >= s.end) return where;
  for (std::uint32_t k = s.field_count; k-- > 1;) {
    const span32& f = d.fields[s.first_field + k];
    if (offset < f.begin) continue;
    where.field = k;
    if (s.header && k <= 2) return where;
    where.repetition = where.component = where.subcomponent = 1;
    // Name components and subcomponents only where the field has them.
    const std::string_view raw = std::string_view(d.bytes).substr(f.begin, f.end - f.begin);
    const bool has_components = raw.find(d.enc.component) != std::string_view::npos;
    const bool has_subcomponents = raw.find(d.enc.subcomponent) != std::string_view::npos;
    for (std::size_t i = f.begin; i < offset && i < f.end; ++i) {
      const char c = d.bytes[i];
      if (c == d.enc.repetition) {
        ++where.repetition;
        where.component = where.subcomponent = 1;
      } else if (c == d.enc.component) {
        ++where.component;
        where.subcomponent = 1;
      } else if (c == d.enc.subcomponent) {
        ++where.subcomponent;
      }
    }
    if (!has_subcomponents) where.subcomponent = 0;
    if (!has_components) where.component = 0;
    return where;
  }
  return where;
}

}  // namespace

hearth::result<message, error> parse(std::string bytes, const parse_options& opts) {
  // Offsets are 32-bit (detail/message_data.hpp): no limit may exceed that.
  const std::size_t max_bytes = std::min<std::size_t>(opts.max_bytes, std::numeric_limits<std::uint32_t>::max() - 1);
  if (bytes.size() > max_bytes) {
    return hearth::unexpected(make_error(error_code::value_too_long, "message larger than the configured limit", {}));
  }
  if (bytes.size() < 3 || bytes.compare(0, 3, "MSH") != 0) {
    position where{1, {}, 0, 0, 0, 0, 0};
    return hearth::unexpected(make_error(error_code::segment_sequence_error, "a message must start with MSH", where));
  }
  auto enc = read_encoding(bytes);
  if (!enc) return hearth::unexpected(std::move(enc).error());

  auto d = std::make_shared<message_data>();
  d->bytes = std::move(bytes);
  d->enc = *enc;
  // Typical messages have ~20 fields per segment and ~60 bytes per segment.
  d->fields.reserve(d->bytes.size() / 6 + 16);
  d->segments.reserve(d->bytes.size() / 60 + 4);

  indexer idx(*d, opts);
  if (auto r = idx.run(); !r) return hearth::unexpected(std::move(r).error());

  // MSH-18, first repetition, first component: the character set (2.15.9.18).
  const auto& msh = d->segments.front();
  if (msh.field_count > 18) {
    const span32& f = d->fields[msh.first_field + 18];
    std::string_view v = std::string_view(d->bytes).substr(f.begin, f.end - f.begin);
    v = v.substr(0, std::min(v.find(d->enc.repetition), v.find(d->enc.component)));
    auto cs = parse_charset(v);
    if (!cs) {
      return hearth::unexpected(make_error(error_code::data_type_error, cs.error().message,
                                           position{1, "MSH", 18, 0, 0, 0, f.begin}));
    }
    d->cs = *cs;
  }

  // Every byte must be valid in that character set. NUL, VT and FS are never
  // data: they would truncate C strings or break MLLP framing when relayed.
  const std::string_view all = d->bytes;
  for (const char bad : {'\0', '\x0B', '\x1C'}) {
    if (const auto at = all.find(bad); at != std::string_view::npos) {
      return hearth::unexpected(make_error(error_code::data_type_error, "control character in message", locate(*d, at)));
    }
  }
  std::size_t bad = hearth::utf8::npos;
  if (d->cs == charset::utf8) bad = hearth::utf8::find_invalid(all);
  else if (d->cs == charset::ascii) bad = hearth::utf8::find_non_ascii(all);
  if (bad != hearth::utf8::npos) {
    return hearth::unexpected(make_error(error_code::data_type_error,
                                         d->cs == charset::utf8 ? "invalid UTF-8 (MSH-18 declares UTF-8 or is empty)"
                                                                : "non-ASCII byte (MSH-18 declares ASCII)",
                                         locate(*d, bad)));
  }
  return parser_access::make(std::move(d));
}

}  // namespace hearth::hl7v2
