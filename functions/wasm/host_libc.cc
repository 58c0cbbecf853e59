#include "functions/wasm/host_libc.h"

#include <locale.h>
#include <stdlib.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"

namespace stoa::functions::wasm {
namespace {

constexpr uint32_t kWasiErange = 68;
constexpr uint64_t kMaxNumberChars = 64 << 10;  // a longer number is the guest's to parse
constexpr int64_t kMaxField = 1 << 20;          // width or precision
constexpr uint64_t kMaxOutput = 16 << 20;       // bytes one vsnprintf formats here

locale_t CLocale() {
  static const locale_t locale = newlocale(LC_ALL_MASK, "C", nullptr);
  return locale;
}

// Guest memory as one host call sees it (it does not move during the call).
class Guest {
 public:
  explicit Guest(WasiContext& c)
      : data_(c.memory ? c.memory->data() : nullptr), size_(c.memory ? c.memory->size() : 0) {}

  // [addr, addr + len) inside memory.
  bool Has(uint64_t addr, uint64_t len) const { return addr <= size_ && len <= size_ - addr; }
  uint8_t* At(uint64_t addr) const { return data_ + addr; }
  uint64_t size() const { return size_; }

  bool Read32(uint64_t addr, uint32_t* v) const {
    if (!Has(addr, 4)) return false;
    std::memcpy(v, data_ + addr, 4);
    return true;
  }
  bool Write(uint64_t addr, const void* bytes, uint64_t len) const {
    if (!Has(addr, len)) return false;
    std::memcpy(data_ + addr, bytes, len);
    return true;
  }

 private:
  uint8_t* data_;
  uint64_t size_;
};

// The characters strtod may consume in the C locale (leading space, sign,
// digits, point, exponent, hex digits and prefix, inf/nan and nan(...)):
// the number ends before the first other one.
bool NumberChar(uint8_t ch) {
  return absl::ascii_isalnum(ch) || absl::ascii_isspace(ch) || ch == '+' || ch == '-' ||
         ch == '.' || ch == '_' || ch == '(' || ch == ')';
}

// The wasm32 va_list: a pointer into linear memory; each argument takes a
// 4-byte slot, doubles and 64-bit integers an 8-byte aligned one.
class GuestArgs {
 public:
  GuestArgs(const Guest& guest, uint32_t ap) : guest_(guest), pos_(ap) {}

  bool Next32(uint32_t* v) {
    pos_ = (pos_ + 3) & ~uint64_t{3};
    if (!guest_.Read32(pos_, v)) return false;
    pos_ += 4;
    return true;
  }
  bool Next64(uint64_t* v) {
    pos_ = (pos_ + 7) & ~uint64_t{7};
    if (!guest_.Has(pos_, 8)) return false;
    std::memcpy(v, guest_.At(pos_), 8);
    pos_ += 8;
    return true;
  }

 private:
  const Guest& guest_;
  uint64_t pos_;
};

// The output of vsnprintf: bytes below `cap` go to the guest buffer, the
// rest is only counted.
class GuestOutput {
 public:
  GuestOutput(const Guest& guest, uint32_t buf, uint32_t size)
      : guest_(guest), buf_(buf), cap_(size == 0 ? 0 : uint64_t{size} - 1), size_(size) {}

  bool Append(const char* bytes, uint64_t n) {
    if (total_ < cap_) {
      const uint64_t k = std::min(n, cap_ - total_);
      if (!guest_.Write(uint64_t{buf_} + total_, bytes, k)) return false;
    }
    total_ += n;
    return true;
  }
  // Writes the terminating NUL; false when it lies outside memory.
  bool Finish() const {
    if (size_ == 0) return true;
    const char nul = 0;
    return guest_.Write(uint64_t{buf_} + std::min(total_, cap_), &nul, 1);
  }
  uint64_t total() const { return total_; }

 private:
  const Guest& guest_;
  uint32_t buf_;
  uint64_t cap_;
  uint32_t size_;
  uint64_t total_ = 0;
};

enum class Step { kOk, kDecline, kOutOfBounds };

// A printf conversion spec for the host's snprintf, built on the stack:
// '%', at most 8 flags, two fields of at most 7 digits, "ll", the conversion.
class Spec {
 public:
  Spec() { Add('%'); }
  void Add(char c) { text_[size_++] = c; }
  void AddNumber(int64_t v) {
    size_ += std::snprintf(text_ + size_, 16, "%lld", static_cast<long long>(v));
  }
  // The spec with `tail` (length modifier and conversion) appended.
  const char* With(const char* tail) {
    size_t n = size_;
    while (*tail != 0) text_[n++] = *tail++;
    text_[n] = '\0';
    return text_;
  }

 private:
  char text_[48];
  size_t size_ = 0;
};

// Formats one conversion with the host's snprintf and appends it.
template <typename... Args>
Step Emit(GuestOutput& out, const char* spec, Args... args) {
  char small[512];
  const int n = std::snprintf(small, sizeof small, spec, args...);
  if (n < 0) return Step::kDecline;
  if (static_cast<size_t>(n) < sizeof small) {
    return out.Append(small, static_cast<uint64_t>(n)) ? Step::kOk : Step::kOutOfBounds;
  }
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), spec, args...);
  return out.Append(big.data(), static_cast<uint64_t>(n)) ? Step::kOk : Step::kOutOfBounds;
}

// Appends an integer in `base` (10, 8 or 16, lower case), as %d/%u/%o/%x
// print it without flags, width or precision.
template <typename Int>
Step EmitChars(GuestOutput& out, Int v, int base) {
  char digits[24];
  const std::to_chars_result r = std::to_chars(digits, digits + sizeof digits, v, base);
  return out.Append(digits, static_cast<uint64_t>(r.ptr - digits)) ? Step::kOk : Step::kOutOfBounds;
}

// Reads a decimal field (width or precision) at fmt[*p]; false past kMaxField.
bool Digits(const Guest& guest, uint64_t* p, int64_t* value) {
  *value = 0;
  while (guest.Has(*p, 1) && absl::ascii_isdigit(*guest.At(*p))) {
    *value = *value * 10 + (*guest.At(*p) - '0');
    if (*value > kMaxField) return false;
    ++*p;
  }
  return true;
}

// The length modifier of a conversion, as wasm32 sizes it.
struct Length {
  int bits = 32;   // of the argument slot: 64 for ll and j
  int narrow = 0;  // 8 for hh, 16 for h
  bool any = false;
};

// Reads a length modifier at fmt[*p]; false for one this host leaves to the
// guest (L, q, or a combination C does not define).
bool ReadLength(const Guest& guest, uint64_t* p, Length* length) {
  std::string text;
  while (guest.Has(*p, 1) && std::strchr("hljztLq", *guest.At(*p)) != nullptr &&
         *guest.At(*p) != 0 && text.size() < 3) {
    text += static_cast<char>(*guest.At(*p));
    ++*p;
  }
  length->any = !text.empty();
  if (text.empty() || text == "l" || text == "z" || text == "t") return true;
  if (text == "ll" || text == "j") {
    length->bits = 64;
    return true;
  }
  if (text == "h" || text == "hh") {
    length->narrow = text == "h" ? 16 : 8;
    return true;
  }
  return false;
}

// The guest's NUL-terminated string at `s`, at most `precision` bytes when
// that is not negative: its length in *len. kOutOfBounds when it runs past
// memory (the guest's own strlen would trap there), kDecline past
// kMaxOutput.
Step GuestString(const Guest& guest, uint32_t s, int64_t precision, uint64_t* len) {
  if (!guest.Has(s, 0)) return Step::kOutOfBounds;
  const uint64_t room = guest.size() - s;
  const bool bounded = precision >= 0 && static_cast<uint64_t>(precision) <= room;
  const uint64_t scan = bounded ? static_cast<uint64_t>(precision) : room;
  const void* nul = std::memchr(guest.At(s), 0, scan);
  if (nul == nullptr && !bounded) return Step::kOutOfBounds;
  *len = nul ? static_cast<const uint8_t*>(nul) - guest.At(s) : scan;
  return *len > kMaxOutput ? Step::kDecline : Step::kOk;
}

// A bare conversion (no flag, width, precision or length modifier) of the
// kinds that need no snprintf, fmt[*p] at its letter: %d %i %u %x %o %s,
// the common case ("%s%d"), without parsing a spec. kDecline for any other
// (Convert then parses it whole; nothing was consumed). It repeats Convert's
// plain branches on purpose: folded into Convert (its spec built only when
// used, no ConvertBare) digits_pre's raw 8x8 went from 1.10-1.12x to
// 1.40-1.42x native (stoa-bench-wasm --no-interp, two alternated runs each,
// 2026-12-02).
Step ConvertBare(const Guest& guest, uint64_t* p, GuestArgs& args, GuestOutput& out) {
  if (!guest.Has(*p, 1)) return Step::kDecline;
  const uint8_t conv = *guest.At(*p);
  if (conv != 'd' && conv != 'i' && conv != 'u' && conv != 'x' && conv != 'o' && conv != 's') {
    return Step::kDecline;
  }
  ++*p;
  uint32_t u = 0;
  if (!args.Next32(&u)) return Step::kOutOfBounds;
  switch (conv) {
    case 'd':
    case 'i':
      return EmitChars(out, static_cast<int32_t>(u), 10);
    case 's': {
      uint64_t len = 0;
      const Step step = GuestString(guest, u, -1, &len);
      if (step != Step::kOk) return step;
      return out.Append(reinterpret_cast<const char*>(guest.At(u)), len) ? Step::kOk
                                                                         : Step::kOutOfBounds;
    }
    default:
      return EmitChars(out, u, conv == 'o' ? 8 : conv == 'x' ? 16 : 10);
  }
}

// One conversion, fmt[*p] just past its '%'.
Step Convert(const Guest& guest, uint64_t* p, GuestArgs& args, GuestOutput& out) {
  auto at = [&](uint64_t i) -> int { return guest.Has(i, 1) ? *guest.At(i) : -1; };
  Spec spec;
  int flags = 0;
  for (int ch = at(*p); ch > 0 && std::strchr("-+ #0'", ch) != nullptr; ch = at(++*p)) {
    if (++flags > 8) return Step::kDecline;
    spec.Add(static_cast<char>(ch));
  }
  int64_t width = 0;
  if (at(*p) == '*') {
    ++*p;
    uint32_t w = 0;
    if (!args.Next32(&w)) return Step::kOutOfBounds;
    width = static_cast<int32_t>(w);
    if (width < 0) {
      spec.Add('-');
      width = -width;
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(at(*p)))) return Step::kDecline;  // *n$
  } else if (!Digits(guest, p, &width) || at(*p) == '$') {
    return Step::kDecline;  // too wide, or positional arguments
  }
  int64_t precision = -1;  // none
  if (at(*p) == '.') {
    ++*p;
    if (at(*p) == '*') {
      ++*p;
      uint32_t v = 0;
      if (!args.Next32(&v)) return Step::kOutOfBounds;
      precision = std::max<int64_t>(static_cast<int32_t>(v), -1);  // negative: none
      if (absl::ascii_isdigit(static_cast<unsigned char>(at(*p)))) return Step::kDecline;
    } else if (!Digits(guest, p, &precision)) {
      return Step::kDecline;
    }
  }
  if (width > kMaxField || precision > kMaxField) return Step::kDecline;
  // No flag, width or precision: integers and strings need no snprintf.
  const bool plain = flags == 0 && width == 0 && precision < 0;
  if (width > 0) spec.AddNumber(width);
  Spec field = spec;  // flags and width, for %c and %s
  if (precision >= 0) {
    spec.Add('.');
    spec.AddNumber(precision);
  }
  Length length;
  if (!ReadLength(guest, p, &length)) return Step::kDecline;
  const int conv = at(*p);
  if (conv == -1) return Step::kOutOfBounds;
  ++*p;
  switch (conv) {
    case 'd':
    case 'i': {
      int64_t v = 0;
      if (length.bits == 64) {
        uint64_t u = 0;
        if (!args.Next64(&u)) return Step::kOutOfBounds;
        v = static_cast<int64_t>(u);
      } else {
        uint32_t u = 0;
        if (!args.Next32(&u)) return Step::kOutOfBounds;
        v = length.narrow == 8    ? static_cast<signed char>(u)
            : length.narrow == 16 ? static_cast<int16_t>(u)
                                  : static_cast<int32_t>(u);
      }
      if (plain) return EmitChars(out, v, 10);
      return Emit(out, spec.With("lld"), static_cast<long long>(v));
    }
    case 'o':
    case 'u':
    case 'x':
    case 'X': {
      uint64_t v = 0;
      if (length.bits == 64) {
        if (!args.Next64(&v)) return Step::kOutOfBounds;
      } else {
        uint32_t u = 0;
        if (!args.Next32(&u)) return Step::kOutOfBounds;
        v = length.narrow == 8    ? static_cast<uint8_t>(u)
            : length.narrow == 16 ? static_cast<uint16_t>(u)
                                  : u;
      }
      if (plain && conv != 'X') return EmitChars(out, v, conv == 'o' ? 8 : conv == 'x' ? 16 : 10);
      const char tail[] = {'l', 'l', static_cast<char>(conv), '\0'};
      return Emit(out, spec.With(tail), static_cast<unsigned long long>(v));
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (length.narrow != 0 || length.bits == 64) return Step::kDecline;
      uint64_t raw = 0;
      if (!args.Next64(&raw)) return Step::kOutOfBounds;
      double v = 0;
      std::memcpy(&v, &raw, 8);
      const char tail[] = {static_cast<char>(conv), '\0'};
      return Emit(out, spec.With(tail), v);
    }
    case 'c': {
      if (length.any) return Step::kDecline;  // wide
      uint32_t u = 0;
      if (!args.Next32(&u)) return Step::kOutOfBounds;
      return Emit(out, field.With("c"), static_cast<int>(static_cast<unsigned char>(u)));
    }
    case 's': {
      if (length.any) return Step::kDecline;  // wide
      uint32_t s = 0;
      if (!args.Next32(&s)) return Step::kOutOfBounds;
      uint64_t len = 0;
      const Step step = GuestString(guest, s, precision, &len);
      if (step != Step::kOk) return step;
      if (plain) {
        return out.Append(reinterpret_cast<const char*>(guest.At(s)), len) ? Step::kOk
                                                                           : Step::kOutOfBounds;
      }
      return Emit(out, field.With(".*s"), static_cast<int>(len),
                  reinterpret_cast<const char*>(guest.At(s)));
    }
    default:
      return Step::kDecline;  // n p a A m, a stray '%', anything else
  }
}

}  // namespace

uint64_t HostLibcStrtod(WasiContext& c, const uint64_t* args) {
  const Guest guest(c);
  const uint32_t str = static_cast<uint32_t>(args[0]);
  const uint32_t end = static_cast<uint32_t>(args[1]);
  const uint32_t out = static_cast<uint32_t>(args[2]);
  uint64_t n = 0;
  while (guest.Has(uint64_t{str} + n, 1) && NumberChar(*guest.At(uint64_t{str} + n))) {
    if (++n > kMaxNumberChars) return kLibcDeclined;
  }
  if (!guest.Has(uint64_t{str} + n, 1)) return kWasiOutOfBounds;  // no end before memory's
  char small[256];
  std::string big;
  char* text = small;
  if (n >= sizeof small) {
    big.resize(n + 1);
    text = big.data();
  }
  std::memcpy(text, guest.At(str), n);
  text[n] = '\0';
  char* stop = nullptr;
  errno = 0;
  double value = strtod_l(text, &stop, CLocale());
  // Where C leaves it to the library, answer as the guest's own (musl)
  // does: EINVAL when nothing was converted, no NaN payload. (Whether a
  // subnormal result sets ERANGE is glibc's answer: C leaves it open, and
  // musl's depends on the digits.)
  const bool range = errno == ERANGE;
  if (std::isnan(value)) value = std::copysign(std::numeric_limits<double>::quiet_NaN(), value);
  const uint32_t end_addr = str + static_cast<uint32_t>(stop - text);
  if (!guest.Write(out, &value, sizeof value)) return kWasiOutOfBounds;
  if (end != 0 && !guest.Write(end, &end_addr, 4)) return kWasiOutOfBounds;
  if (stop == text) return kWasiEinval;
  return range ? kWasiErange : 0;
}

uint64_t HostLibcVsnprintf(WasiContext& c, const uint64_t* args) {
  const Guest guest(c);
  GuestOutput out(guest, static_cast<uint32_t>(args[0]), static_cast<uint32_t>(args[1]));
  GuestArgs ap(guest, static_cast<uint32_t>(args[3]));
  uint64_t p = static_cast<uint32_t>(args[2]);
  for (;;) {
    if (!guest.Has(p, 1)) return kWasiOutOfBounds;
    // The literal run up to the next '%' or the end.
    const uint8_t* start = guest.At(p);
    uint64_t run = 0;
    const uint64_t room = guest.size() - p;
    while (run < room && start[run] != 0 && start[run] != '%') ++run;
    if (run == room) return kWasiOutOfBounds;
    if (!out.Append(reinterpret_cast<const char*>(start), run)) return kWasiOutOfBounds;
    p += run;
    if (start[run] == 0) break;
    ++p;  // the '%'
    if (guest.Has(p, 1) && *guest.At(p) == '%') {
      ++p;
      if (!out.Append("%", 1)) return kWasiOutOfBounds;
      continue;
    }
    Step step = ConvertBare(guest, &p, ap, out);
    if (step == Step::kDecline) step = Convert(guest, &p, ap, out);
    switch (step) {
      case Step::kOk:
        break;
      case Step::kDecline:
        return kLibcDeclined;
      case Step::kOutOfBounds:
        return kWasiOutOfBounds;
    }
    if (out.total() > kMaxOutput) return kLibcDeclined;
  }
  if (!out.Finish()) return kWasiOutOfBounds;
  if (out.total() > INT_MAX) return static_cast<uint32_t>(-1);
  return out.total();
}

}  // namespace stoa::functions::wasm
