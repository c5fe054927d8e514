// item_set (detail/fhirpath_eval_impl.hpp): N1 §6.1.1 equality of items
// through hashing, so that distinct() and the set functions of N1 §5.4
// scale with the size of their input instead of its square. What it answers
// is exactly what comparing `v` with every held item through items_equal()
// answers; the hashes only pick which items to compare. For that, two items
// that items_equal() calls equal must get the same class and, when both have
// one, the same key; items without a key are compared with the whole class.

#include "detail/fhirpath_eval_impl.hpp"

#include <functional>

namespace hearth::fhir::fhirpath::detail {
namespace {

// FNV-1a style mixing of 64-bit words; collisions only cost comparisons.
constexpr std::uint64_t fnv_offset = 1469598103934665603ULL;
constexpr std::uint64_t fnv_prime = 1099511628211ULL;

std::uint64_t mix(std::uint64_t h, std::uint64_t x) {
  for (int i = 0; i < 8; ++i) {
    h ^= (x >> (8 * i)) & 0xff;
    h *= fnv_prime;
  }
  return h;
}

std::uint64_t mix_text(std::uint64_t h, std::string_view s) {
  return mix(h, std::hash<std::string_view>{}(s) ^ (static_cast<std::uint64_t>(s.size()) << 1));
}

// JSON operator== compares kinds, number texts, strings, and arrays and
// objects member by member in order: this hash follows the same structure.
std::uint64_t json_hash(const json_value& j, std::uint64_t h) {
  h = mix(h, static_cast<std::uint64_t>(j.type()));
  switch (j.type()) {
    case json_value::kind::null: return h;
    case json_value::kind::boolean: return mix(h, j.as_bool() ? 1 : 0);
    case json_value::kind::number: return mix_text(h, j.number_text());
    case json_value::kind::string: return mix_text(h, j.str());
    case json_value::kind::array:
      h = mix(h, j.items().size());
      for (const auto& item : j.items()) h = json_hash(item, h);
      return h;
    case json_value::kind::object:
      h = mix(h, j.members().size());
      for (const auto& m : j.members()) h = json_hash(m.value, mix_text(h, m.key));
      return h;
  }
  return h;
}

}  // namespace

item_set::item_set(const collection& items) : items_(items) {}

// The class and key of an item, following items_equal() (fhirpath_items.cpp)
// case by case.
item_set::probe item_set::probe_of(const value& v) {
  // items_equal() turns FHIR Quantity nodes into System quantities only when
  // the other side is one; both forms are of the class `complex`, and a
  // System quantity has no key, so the two always meet.
  const value s = to_system(v);
  using K = value::kind;
  probe p;
  switch (s.k) {
    case K::boolean:
      p.c = item_class::boolean;
      p.key = mix(fnv_offset, s.b ? 1 : 0);
      break;
    case K::integer:
    case K::decimal_: {
      p.c = item_class::number;
      // dec_cmp() compares exactly unless rescaling to the larger scale
      // overflows (then through long double): a number that rescales to 28
      // digits never takes that path with another such number, and equal
      // values then have one form without trailing zeros.
      decimal d = as_dec(s), widened = d;
      if (rescale(widened, max_scale)) {
        const decimal t = trim_zeros(d);
        p.key = mix(mix(mix(fnv_offset, static_cast<std::uint64_t>(t.mantissa)),
                        static_cast<std::uint64_t>(t.mantissa >> 64)),
                    static_cast<std::uint64_t>(t.scale));
      }
      break;
    }
    case K::string:
      p.c = item_class::string;
      p.key = mix_text(fnv_offset, s.s);
      break;
    case K::date:
    case K::date_time:
    case K::time: {
      // temporal_cmp() (fhirpath_math.cpp): equal only at the same precision
      // (seconds and milliseconds being one), on the same fields from the
      // year (the hour for a time) down to that precision, after moving both
      // to UTC when both have a zone and an hour; a dateTime with a zone and
      // one without are never equal at hour precision or finer. A time with a
      // zone is compared with a zone-less one as written: no key for it.
      p.c = item_class::temporal;
      const temporal_value& tv = s.t;
      const bool is_time = tv.k == temporal_value::kind::time;
      temporal x = tv.t;
      const int level = x.prec == prec::millisecond ? 5 : static_cast<int>(x.prec);
      if (is_time && x.has_timezone) break;
      if (tv.k == temporal_value::kind::date && level >= 3) break;  // not produced; no key rather than a guess
      const bool zoned = !is_time && level >= 3 && x.has_timezone;
      if (zoned) set_from_epoch_ms(x, epoch_ms(x) - x.timezone_minutes * 60000LL);
      const int fields[6] = {x.year, x.month, x.day, x.hour, x.minute, x.second * 1000 + x.millisecond};
      std::uint64_t h = mix(mix(mix(fnv_offset, is_time ? 1 : 0), static_cast<std::uint64_t>(level)), zoned ? 1 : 0);
      for (int i = is_time ? 3 : 0; i <= level; ++i) h = mix(h, static_cast<std::uint64_t>(fields[i]));
      p.key = h;
      break;
    }
    case K::quantity:  // unit conversion: no key
      p.c = item_class::complex;
      break;
    case K::node:
      p.c = item_class::complex;
      // Equal nodes: equal JSON, or (a primitive with only its `_name`
      // object) the same extension object.
      if (s.json)
        p.key = json_hash(*s.json, fnv_offset);
      else
        p.key = mix(mix(fnv_offset, 0x6e6f6a73), static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(s.ext)));
      break;
  }
  if (p.key) p.key = mix(*p.key, static_cast<std::uint64_t>(p.c));
  return p;
}

bool item_set::equal_at(std::size_t i, const value& v) const {
  auto eq = items_equal(items_[i], v);
  return eq && *eq;
}

void item_set::add(std::size_t i) {
  const probe p = probe_of(items_[i]);
  const auto c = static_cast<std::size_t>(p.c);
  members_[c].push_back(i);
  if (p.key)
    buckets_[*p.key].push_back(i);
  else
    unkeyed_[c].push_back(i);
}

void item_set::add_all() {
  for (std::size_t i = 0; i < items_.size(); ++i) add(i);
}

bool item_set::contains(const value& v) const {
  const probe p = probe_of(v);
  const auto c = static_cast<std::size_t>(p.c);
  if (!p.key) {
    for (std::size_t i : members_[c])
      if (equal_at(i, v)) return true;
    return false;
  }
  if (auto it = buckets_.find(*p.key); it != buckets_.end())
    for (std::size_t i : it->second)
      if (equal_at(i, v)) return true;
  for (std::size_t i : unkeyed_[c])
    if (equal_at(i, v)) return true;
  return false;
}

}  // namespace hearth::fhir::fhirpath::detail
