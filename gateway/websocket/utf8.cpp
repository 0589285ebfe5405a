// The validator is RFC 3629's table of well-formed byte sequences turned into a state machine: each
// state says how many continuation bytes are still owed and, for the first of them, which range keeps
// the sequence from being an overlong (E0, F0), a surrogate (ED) or above U+10FFFF (F4). C0, C1 and
// F5..FF can start nothing valid, which also rules out the old 5- and 6-byte forms.
#include "gateway/websocket/utf8.h"

#include <cstring>

namespace kabar::websocket {
namespace {

enum State : std::uint8_t {
  kAccept = 0,  // between sequences
  kTail1,       // one continuation byte (80..BF) owed
  kTail2,       // two owed
  kTail3,       // three owed
  kAfterE0,     // A0..BF, then one more: no overlong 3-byte forms
  kAfterED,     // 80..9F, then one more: no surrogates U+D800..DFFF
  kAfterF0,     // 90..BF, then two more: no overlong 4-byte forms
  kAfterF4,     // 80..8F, then two more: nothing above U+10FFFF
  kReject,      // sticky: nothing after an invalid byte can make it valid again
};

State after_lead(unsigned char b) {
  if (b < 0xC2) return kReject;  // a stray continuation byte, or C0/C1 (overlong 2-byte forms)
  if (b <= 0xDF) return kTail1;
  if (b == 0xE0) return kAfterE0;
  if (b == 0xED) return kAfterED;
  if (b <= 0xEF) return kTail2;
  if (b == 0xF0) return kAfterF0;
  if (b <= 0xF3) return kTail3;
  if (b == 0xF4) return kAfterF4;
  return kReject;
}

// For each state that owes continuation bytes: the range the next byte must be in, and the state after.
struct Continuation {
  unsigned char low, high;
  State next;
};
constexpr Continuation kContinuation[] = {
    /* kAccept: unused */ {0, 0, kReject},
    /* kTail1 */ {0x80, 0xBF, kAccept},
    /* kTail2 */ {0x80, 0xBF, kTail1},
    /* kTail3 */ {0x80, 0xBF, kTail2},
    /* kAfterE0 */ {0xA0, 0xBF, kTail1},
    /* kAfterED */ {0x80, 0x9F, kTail1},
    /* kAfterF0 */ {0x90, 0xBF, kTail2},
    /* kAfterF4 */ {0x80, 0x8F, kTail2},
};

State after_continuation(State state, unsigned char b) {
  const Continuation& expected = kContinuation[state];
  return b >= expected.low && b <= expected.high ? expected.next : kReject;
}

}  // namespace

bool Utf8Validator::feed(std::string_view bytes) {
  auto state = static_cast<State>(state_);
  const char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  while (i < size && state != kReject) {
    if (state == kAccept) {
      // Most text is ASCII (JSON): skip it eight bytes at a time.
      for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, data + i, 8);
        if (word & 0x8080808080808080ull) break;
      }
      if (i == size) break;
      const auto b = static_cast<unsigned char>(data[i++]);
      if (b >= 0x80) state = after_lead(b);
    } else {
      state = after_continuation(state, static_cast<unsigned char>(data[i++]));
    }
  }
  state_ = state;
  return state != kReject;
}

bool Utf8Validator::complete() const { return state_ == kAccept; }

void Utf8Validator::reset() { state_ = kAccept; }

bool is_valid_utf8(std::string_view bytes) {
  Utf8Validator validator;
  return validator.feed(bytes) && validator.complete();
}

}  // namespace kabar::websocket
