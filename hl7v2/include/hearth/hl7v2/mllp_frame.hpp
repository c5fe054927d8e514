#pragma once
// MLLP framing: HL7 v2 messages on a byte stream (HL7 v2.5.1 Appendix C.4,
// Minimal Lower Layer Protocol; HL7 Transport Specification MLLP Release 1,
// "Block Format"). No I/O: the MLLP listener feeds the bytes it reads and
// writes the bytes encoded here.
//
//   block = <SB> payload <EB> <CR>     SB = VT 0x0B, EB = FS 0x1C, CR = 0x0D
//
// The payload may hold any byte but SB and EB (MLLP Release 1 "Block Format").

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace hearth::hl7v2 {

/// The framing bytes (MLLP Release 1 "Block Format").
inline constexpr char mllp_start_block = '\x0B';  ///< <SB>, ASCII VT
inline constexpr char mllp_end_block = '\x1C';    ///< <EB>, ASCII FS
inline constexpr char mllp_carriage_return = '\x0D';  ///< <CR> after <EB>

/// `message` framed as one MLLP block: VT message FS CR. The message must not
/// contain VT or FS (the block could not be decoded back); messages that came
/// out of an mllp_decoder never do.
std::string mllp_encode(std::string_view message);

/// As above, appended to `out` (to frame several messages into one buffer
/// without a copy per message).
void mllp_encode(std::string_view message, std::string& out);

/// What an mllp_decoder produced.
enum class mllp_status : std::uint8_t {
  /// A complete block; the payload is the message, without VT, FS and CR.
  frame,
  /// A block's payload grew past max_frame_bytes. The payload is empty; the
  /// rest of the block is dropped up to its FS (or a VT starting a new block).
  frame_too_large,
  /// A VT arrived inside a block before its FS: the partial block is dropped
  /// (payload empty) and the VT starts a new block. A sender that restarted
  /// mid-message looks like this.
  frame_interrupted,
};

/// One item from an mllp_decoder: a message, or an error the listener should
/// log (and, for frame_too_large, may answer with an ACK AR, code 104).
struct mllp_item {
  mllp_status status = mllp_status::frame;
  std::string payload;  ///< the message for `frame`; empty for the errors
};

/// Incremental MLLP decoder for one connection's inbound bytes.
///
/// feed() as bytes arrive, in any split (a block over many reads, many blocks
/// in one read); next() pops what is ready, frames and errors in stream order.
/// Tolerant, as receivers in the field must be:
/// - bytes outside a block (before a VT) are skipped and counted in junk_bytes();
/// - a block is complete at its FS, delivered at once without waiting for the
///   CR; a CR right after the FS is swallowed, anything else is handled as the
///   next byte of the stream (a VT starting the next block, or junk);
/// - a VT inside a block reports frame_interrupted and starts a new block;
/// - a payload larger than max_frame_bytes reports frame_too_large once and
///   drops the rest of that block.
///
/// Memory: the block being read is held up to max_frame_bytes, plus the
/// complete items not yet popped by next(); the caller bounds the latter by
/// popping after each feed().
///
/// Thread-safety: none; one decoder per connection, used by one thread (or
/// strand) at a time. Lifetime: owns everything it holds; feed() copies what
/// it keeps, so the caller's read buffer may be reused at once.
class mllp_decoder {
 public:
  /// 10 MiB by default, as parse_options::max_bytes: a lab result with an
  /// embedded PDF fits, a runaway or hostile sender cannot exhaust memory.
  explicit mllp_decoder(std::size_t max_frame_bytes = 10u << 20) noexcept
      : max_frame_bytes_(max_frame_bytes) {}

  /// Consumes `bytes`, queueing every item they complete.
  void feed(std::string_view bytes);

  /// Moves the oldest ready item into `out` and returns true; false (and `out`
  /// untouched) when nothing is ready.
  bool next(mllp_item& out);

  /// True between a VT and its FS: the connection closing now would cut a
  /// message (the listener should log it).
  bool in_frame() const noexcept { return state_ != state::idle; }
  /// Payload bytes held for the block being read (<= max_frame_bytes()).
  std::size_t buffered_bytes() const noexcept { return partial_.size(); }
  std::size_t max_frame_bytes() const noexcept { return max_frame_bytes_; }

  /// Complete frames decoded so far (popped or not).
  std::uint64_t frames() const noexcept { return frames_; }
  /// Bytes skipped outside any block (a lone CR right after FS is not junk).
  std::uint64_t junk_bytes() const noexcept { return junk_bytes_; }
  /// frame_too_large and frame_interrupted items produced so far.
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  enum class state : std::uint8_t {
    idle,        // outside a block: waiting for VT, bytes are junk
    in_frame,    // after VT: payload bytes go to partial_
    discarding,  // block too large: dropping bytes up to its FS
  };

  void push(mllp_status status, std::string payload);

  std::size_t max_frame_bytes_;       // payload limit, see the constructor
  state state_ = state::idle;         // where in the stream we are
  bool swallow_cr_ = false;           // the previous byte was the FS ending a block
  std::string partial_;               // payload of the block being read
  std::deque<mllp_item> ready_;       // items not yet popped by next(), in order
  std::uint64_t frames_ = 0;          // see frames()
  std::uint64_t junk_bytes_ = 0;      // see junk_bytes()
  std::uint64_t errors_ = 0;          // see errors()
};

}  // namespace hearth::hl7v2
