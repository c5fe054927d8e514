// MLLP block encoding and incremental decoding (HL7 v2.5.1 Appendix C.4;
// MLLP Release 1 "Block Format"). See mllp_frame.hpp for the behaviour.

#include <hearth/hl7v2/mllp_frame.hpp>

#include <algorithm>
#include <cstring>
#include <utility>

namespace hearth::hl7v2 {

void mllp_encode(std::string_view message, std::string& out) {
  out.reserve(out.size() + message.size() + 3);
  out.push_back(mllp_start_block);
  out.append(message);
  out.push_back(mllp_end_block);
  out.push_back(mllp_carriage_return);
}

std::string mllp_encode(std::string_view message) {
  std::string out;
  mllp_encode(message, out);
  return out;
}

namespace {

// The first `c` in [from, end), or end. memchr: the bulk of a payload is scanned
// word- or vector-wise, never appended byte by byte.
const char* find_byte(const char* from, const char* end, char c) noexcept {
  const void* hit = std::memchr(from, c, static_cast<std::size_t>(end - from));
  return hit != nullptr ? static_cast<const char*>(hit) : end;
}

}  // namespace

void mllp_decoder::push(mllp_status status, std::string payload) {
  ready_.push_back(mllp_item{status, std::move(payload)});
}

bool mllp_decoder::next(mllp_item& out) {
  if (ready_.empty()) return false;
  out = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

void mllp_decoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  const char* p = bytes.data();
  const char* const end = p + bytes.size();

  // The CR that ends a block (<EB><CR>) may arrive in the next read.
  if (swallow_cr_) {
    swallow_cr_ = false;
    if (*p == mllp_carriage_return) ++p;
  }

  // Next VT and next FS at or after p. Each is searched for again only once p
  // has passed it, so one feed() scans its bytes at most once per delimiter,
  // however many blocks it holds.
  const char* next_vt = nullptr;
  const char* next_fs = nullptr;
  auto vt_from = [&] {
    if (next_vt == nullptr || next_vt < p) next_vt = find_byte(p, end, mllp_start_block);
    return next_vt;
  };
  auto fs_from = [&] {
    if (next_fs == nullptr || next_fs < p) next_fs = find_byte(p, end, mllp_end_block);
    return next_fs;
  };

  while (p < end) {
    if (state_ == state::idle) {
      // Outside a block everything up to the next VT is junk (MLLP Release 1:
      // a receiver looks for <SB>), including a stray FS.
      const char* vt = vt_from();
      junk_bytes_ += static_cast<std::uint64_t>(vt - p);
      if (vt == end) return;
      p = vt + 1;
      state_ = state::in_frame;
      partial_.clear();
      continue;
    }

    // In a block: payload runs to the first VT or FS.
    const char* stop = std::min(vt_from(), fs_from());
    const auto n = static_cast<std::size_t>(stop - p);
    if (state_ == state::in_frame) {
      if (n > max_frame_bytes_ - partial_.size()) {
        // The limit: report once, release the memory, drop the rest of the block.
        ++errors_;
        push(mllp_status::frame_too_large, {});
        partial_ = std::string();
        state_ = state::discarding;
      } else {
        const std::size_t need = partial_.size() + n;
        if (need > partial_.capacity()) {
          // Grow geometrically but never past the limit, so that holding a
          // block costs at most max_frame_bytes.
          partial_.reserve(std::min(std::max(need, 2 * partial_.capacity()), max_frame_bytes_));
        }
        partial_.append(p, n);
      }
    }
    p = stop;
    if (p == end) return;  // the block continues in the next read
    ++p;

    if (*stop == mllp_end_block) {
      if (state_ == state::in_frame) {
        ++frames_;
        push(mllp_status::frame, std::move(partial_));
        partial_.clear();  // moved-from: make it a valid empty string
      }
      state_ = state::idle;
      // <EB><CR>: swallow the CR, now or at the start of the next read. A sender
      // that omits it loses nothing: the next byte is handled as it is.
      if (p == end) {
        swallow_cr_ = true;
      } else if (*p == mllp_carriage_return) {
        ++p;
      }
    } else {
      // VT inside a block: the sender started over. Drop what we had (a block
      // already reported too large is not reported again) and start anew.
      if (state_ == state::in_frame) {
        ++errors_;
        push(mllp_status::frame_interrupted, {});
      }
      partial_.clear();
      state_ = state::in_frame;
    }
  }
}

}  // namespace hearth::hl7v2
