// Decimal, temporal and quantity values of the FHIRPath evaluator
// (fhirpath_eval.hpp): parsing and writing.

#include <hearth/fhir/fhirpath_eval.hpp>

#include <cstdio>
#include <string>

namespace hearth::fhir::fhirpath {

std::optional<decimal> decimal::parse(std::string_view text) {
  decimal d;
  std::size_t i = 0;
  bool neg = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    neg = text[i] == '-';
    ++i;
  }
  bool digits = false, dot = false;
  int total = 0;
  std::size_t exp_pos = std::string_view::npos;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      if (total >= 38) return std::nullopt;
      d.mantissa = d.mantissa * 10 + (c - '0');
      if (d.mantissa != 0) ++total;
      if (dot) ++d.scale;
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else if (c == 'e' || c == 'E') {
      exp_pos = i;
      break;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  if (exp_pos != std::string_view::npos) {
    // JSON exponent notation: shift the scale.
    int e = 0;
    bool eneg = false;
    std::size_t j = exp_pos + 1;
    if (j < text.size() && (text[j] == '-' || text[j] == '+')) eneg = text[j++] == '-';
    if (j >= text.size()) return std::nullopt;
    for (; j < text.size(); ++j) {
      if (text[j] < '0' || text[j] > '9' || e > 100) return std::nullopt;
      e = e * 10 + (text[j] - '0');
    }
    if (eneg) {
      d.scale += e;
    } else {
      while (e > 0 && d.scale > 0) { --d.scale; --e; }
      for (; e > 0; --e) {
        if (++total > 38) return std::nullopt;
        d.mantissa *= 10;
      }
    }
  }
  if (d.scale > 28) return std::nullopt;
  if (neg) d.mantissa = -d.mantissa;
  return d;
}

std::string decimal::to_string() const {
  int128 m = mantissa < 0 ? -mantissa : mantissa;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  if (scale > 0) digits.insert(digits.end() - scale, '.');
  if (mantissa < 0) digits.insert(digits.begin(), '-');
  return digits;
}

std::string temporal_value::to_string() const {
  using p = temporal::precision;
  char buf[64];
  std::string out;
  auto time_part = [&] {
    std::snprintf(buf, sizeof buf, "%02d", t.hour);
    out += buf;
    if (t.prec >= p::minute) {
      std::snprintf(buf, sizeof buf, ":%02d", t.minute);
      out += buf;
    }
    if (t.prec >= p::second) {
      std::snprintf(buf, sizeof buf, ":%02d", t.second);
      out += buf;
    }
    if (t.prec >= p::millisecond) {
      std::snprintf(buf, sizeof buf, ".%03d", t.millisecond);
      out += buf;
    }
  };
  if (k == kind::time) {
    time_part();
    return out;
  }
  std::snprintf(buf, sizeof buf, "%04d", t.year);
  out += buf;
  if (t.prec >= p::month) {
    std::snprintf(buf, sizeof buf, "-%02d", t.month);
    out += buf;
  }
  if (t.prec >= p::day) {
    std::snprintf(buf, sizeof buf, "-%02d", t.day);
    out += buf;
  }
  if (k == kind::date) return out;
  out += 'T';
  if (t.prec >= p::hour) {
    time_part();
    if (t.has_timezone) {
      if (t.timezone_minutes == 0) {
        out += 'Z';
      } else {
        int m = t.timezone_minutes < 0 ? -t.timezone_minutes : t.timezone_minutes;
        std::snprintf(buf, sizeof buf, "%c%02d:%02d", t.timezone_minutes < 0 ? '-' : '+', m / 60, m % 60);
        out += buf;
      }
    }
  }
  return out;
}

}  // namespace hearth::fhir::fhirpath
