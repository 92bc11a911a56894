#include "probe/duration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace imapprobe::probe {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t nanos;
};

// Longest names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ns", 1},         {"us", 1'000},        {"\xC2\xB5s", 1'000},  // µs
    {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000},
};

[[noreturn]] void fail(std::string_view text, std::string_view why) {
  throw std::invalid_argument("invalid duration \"" + std::string(text) + "\": " +
                              std::string(why) + " (use forms like 300ms, 30s, 1m30s, 2h)");
}

constexpr std::int64_t pow10(int n) {
  std::int64_t p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

int decimal_digits(std::int64_t n) {
  int digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits;
}

// Rounds half away from zero to a multiple of `step` (a power of ten), in
// integers: the rounding decides which side of a limit a value prints on,
// so it must not depend on binary fractions.
std::int64_t round_to(std::int64_t ns, std::int64_t step) {
  const std::int64_t magnitude = ns < 0 ? -ns : ns;
  const std::int64_t rounded = (magnitude + step / 2) / step * step;
  return ns < 0 ? -rounded : rounded;
}

std::int64_t round_significant(std::int64_t ns, int digits) {
  const std::int64_t magnitude = ns < 0 ? -ns : ns;
  const int excess = decimal_digits(magnitude) - digits;
  return excess > 0 ? round_to(ns, pow10(excess)) : ns;
}

// `ns` (already rounded to `digits` significant digits) in the largest unit
// not above it, with `digits` significant digits: "1.60ms", "250us", "3600s".
std::string spell_significant(std::int64_t ns, int digits) {
  if (ns == 0) return "0s";
  std::string out = ns < 0 ? "-" : "";
  const std::int64_t magnitude = ns < 0 ? -ns : ns;
  struct Scale {
    std::int64_t nanos;
    int exponent;
    const char* name;
  };
  static constexpr Scale kScales[] = {
      {1'000'000'000, 9, "s"}, {1'000'000, 6, "ms"}, {1'000, 3, "us"}, {1, 0, "ns"}};
  const Scale* scale = &kScales[3];
  for (const auto& s : kScales) {
    if (magnitude >= s.nanos) {
      scale = &s;
      break;
    }
  }
  const std::int64_t whole = magnitude / scale->nanos;
  const int decimals = std::min(scale->exponent, std::max(0, digits - decimal_digits(whole)));
  out += std::to_string(whole);
  if (decimals > 0) {
    const std::int64_t frac = magnitude % scale->nanos / pow10(scale->exponent - decimals);
    char buf[24];
    std::snprintf(buf, sizeof buf, ".%0*lld", decimals, static_cast<long long>(frac));
    out += buf;
  }
  return out + scale->name;
}

// `ns` rounded to `decimals` places of a second, printed with all of them.
std::string fixed_seconds(std::int64_t ns, int decimals) {
  const std::int64_t rounded = round_to(ns, pow10(9 - decimals));
  const std::int64_t magnitude = rounded < 0 ? -rounded : rounded;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%lld.%0*lld", rounded < 0 ? "-" : "",
                static_cast<long long>(magnitude / 1'000'000'000), decimals,
                static_cast<long long>(magnitude % 1'000'000'000 / pow10(9 - decimals)));
  return buf;
}

}  // namespace

Duration parse_duration(std::string_view text) {
  if (text.empty()) fail(text, "empty");
  if (text == "0") return Duration::zero();
  std::string_view rest = text;
  long double total = 0;
  while (!rest.empty()) {
    std::size_t i = 0;
    long double whole = 0;
    bool digits = false;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      whole = whole * 10 + (rest[i] - '0');
      digits = true;
      ++i;
    }
    long double frac = 0, scale = 1;
    if (i < rest.size() && rest[i] == '.') {
      ++i;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
        frac = frac * 10 + (rest[i] - '0');
        scale *= 10;
        digits = true;
        ++i;
      }
    }
    if (!digits) fail(text, "expected a number");
    rest.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const auto& u : kUnits) {
      if (rest.starts_with(u.name)) {
        // "m" must not swallow the "m" of "ms".
        if (u.name == "m" && rest.starts_with("ms")) continue;
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) fail(text, "missing or unknown unit");
    rest.remove_prefix(unit->name.size());
    total += (whole + frac / scale) * static_cast<long double>(unit->nanos);
    if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
      fail(text, "too large");
    }
  }
  return Duration(static_cast<std::int64_t>(std::llround(total)));
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  auto ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns < 1'000'000'000) {
    char buf[32];
    if (ns % 1'000'000 == 0) {
      std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ns / 1'000'000));
    } else if (ns % 1'000 == 0) {
      std::snprintf(buf, sizeof buf, "%lldus", static_cast<long long>(ns / 1'000));
    } else {
      std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
    }
    return out + buf;
  }
  const long long h = ns / 3'600'000'000'000LL;
  ns %= 3'600'000'000'000LL;
  const long long m = ns / 60'000'000'000LL;
  ns %= 60'000'000'000LL;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  const long long s = ns / 1'000'000'000LL;
  const long long sub = ns % 1'000'000'000LL;
  out += std::to_string(s);
  if (sub != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ".%09lld", sub);
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += "s";
  return out;
}

std::string format_measured(Duration took) {
  return spell_significant(round_significant(took.count(), 3), 3);
}

std::string format_measured(Duration took, Duration limit) {
  // Three digits, unless rounding to them would print a value over the limit
  // as equal to it (or below it, for a limit finer than three digits). With
  // all its digits the value is exact, so the loop ends.
  int digits = 3;
  std::int64_t shown = round_significant(took.count(), digits);
  while (took > limit && shown <= limit.count() && digits < 19) {
    shown = round_significant(took.count(), ++digits);
  }
  return spell_significant(shown, digits);
}

std::string format_seconds(Duration d) { return fixed_seconds(d.count(), 3); }

std::string format_limit_seconds(Duration limit) {
  std::string out = fixed_seconds(limit.count(), 9);
  // Down to three decimals, but never dropping a digit that is not zero.
  while (out.size() - out.find('.') > 4 && out.back() == '0') out.pop_back();
  return out;
}

std::string format_seconds(Duration took, std::span<const Duration> limits) {
  const std::int64_t ns = took.count();
  int decimals = 3;
  for (; decimals < 9; ++decimals) {
    const std::int64_t shown = round_to(ns, pow10(9 - decimals));
    const bool same_sides = std::all_of(limits.begin(), limits.end(), [&](Duration limit) {
      return (ns > limit.count()) == (shown > limit.count());
    });
    if (same_sides) break;
  }
  return fixed_seconds(ns, decimals);
}

}  // namespace imapprobe::probe
