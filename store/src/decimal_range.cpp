#include <hearth/store/decimal_range.hpp>

#include <cstdlib>

namespace hearth::store {

namespace {

// A decimal split into its parts: value = sign × digits × 10^-scale.
struct decimal_parts {
  bool negative = false;
  std::string digits;  ///< integer and fraction digits, no leading zeros ("0" for zero)
  int scale = 0;       ///< fraction digits minus the exponent
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<decimal_parts> split(std::string_view s) {
  if (s.empty() || s.size() > max_decimal_text) return std::nullopt;
  decimal_parts p;
  std::size_t pos = 0;
  if (s[pos] == '-') {
    p.negative = true;
    ++pos;
  }
  const std::size_t int_start = pos;
  while (pos < s.size() && is_digit(s[pos])) p.digits.push_back(s[pos++]);
  if (pos == int_start) return std::nullopt;
  int fraction = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t frac_start = pos;
    while (pos < s.size() && is_digit(s[pos])) p.digits.push_back(s[pos++]);
    if (pos == frac_start) return std::nullopt;
    fraction = static_cast<int>(pos - frac_start);
  }
  int exponent = 0;
  if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
    ++pos;
    bool exp_negative = false;
    if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) exp_negative = s[pos++] == '-';
    const std::size_t exp_start = pos;
    while (pos < s.size() && is_digit(s[pos])) {
      exponent = exponent * 10 + (s[pos++] - '0');
      if (exponent > 400) return std::nullopt;
    }
    if (pos == exp_start) return std::nullopt;
    if (exp_negative) exponent = -exponent;
  }
  if (pos != s.size()) return std::nullopt;
  const std::size_t nz = p.digits.find_first_not_of('0');
  p.digits = nz == std::string::npos ? "0" : p.digits.substr(nz);
  p.scale = fraction - exponent;
  return p;
}

// digits - 1 for digits > 0 (decimal strings without leading zeros).
std::string decrement(std::string d) {
  std::size_t i = d.size();
  while (i-- > 0) {
    if (d[i] != '0') {
      --d[i];
      break;
    }
    d[i] = '9';
  }
  const std::size_t nz = d.find_first_not_of('0');
  return nz == std::string::npos ? "0" : d.substr(nz);
}

// sign × magnitude × 10^-scale as plain decimal text.
std::string format(bool negative, std::string_view magnitude, int scale) {
  const std::size_t nz = magnitude.find_first_not_of('0');
  std::string m(nz == std::string_view::npos ? "0" : magnitude.substr(nz));
  std::string out;
  if (scale <= 0) {
    out = m;
    if (m != "0") out.append(static_cast<std::size_t>(-scale), '0');
  } else {
    const auto sc = static_cast<std::size_t>(scale);
    if (m.size() <= sc) m.insert(0, sc - m.size() + 1, '0');
    out = m.substr(0, m.size() - sc) + "." + m.substr(m.size() - sc);
  }
  return negative && out.find_first_not_of("0.") != std::string::npos ? "-" + out : out;
}

double to_double(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

}  // namespace

std::optional<decimal_bounds_text> decimal_bounds(std::string_view text) {
  const auto p = split(text);
  if (!p) return std::nullopt;
  // value ± 5 × 10^-(scale+1): with m = digits × 10, the bounds are m - 5 and
  // m + 5 at scale + 1 (for a negative value, mirrored).
  const int scale = p->scale + 1;
  if (p->digits == "0") return decimal_bounds_text{format(true, "5", scale), format(false, "5", scale)};
  const std::string up = p->digits + "5";              // digits × 10 + 5
  const std::string down = decrement(p->digits) + "5";  // digits × 10 - 5
  if (p->negative) return decimal_bounds_text{format(true, up, scale), format(true, down, scale)};
  return decimal_bounds_text{format(false, down, scale), format(false, up, scale)};
}

std::optional<decimal_range> parse_decimal_range(std::string_view text) {
  const auto bounds = decimal_bounds(text);
  if (!bounds) return std::nullopt;
  decimal_range r;
  r.text = std::string(text);
  r.value = to_double(r.text);
  r.low = to_double(bounds->low);
  r.high = to_double(bounds->high);
  return r;
}

}  // namespace hearth::store
