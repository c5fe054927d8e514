// SMART on FHIR scopes (smart_scopes.hpp). SMART App Launch 2.2
// scopes-and-launch-context; token syntax RFC 6749 3.3.

#include <hearth/server/smart_scopes.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <utility>

namespace hearth::server::auth {
namespace {

constexpr std::string_view malformed_prefix = "malformed scopes rejected: ";

/// RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): visible ASCII
/// except `"` and `\`. Anything else (controls, tabs, non-ASCII bytes) makes
/// the token malformed.
bool is_scope_char(unsigned char c) noexcept {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/// A search parameter name with an optional modifier or chain: letters,
/// digits, '-', '_', ':', '.' (R4 search.html names are [a-z][-a-z0-9]* and
/// _-prefixed specials; modifiers add ':', chains '.').
bool is_param_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == ':' || c == '.';
}

/// The context and identity scopes, paired with their bit.
/// SMART App Launch 2.2 "Scopes for requesting context data", "Scopes for
/// requesting identity data", "Scopes for requesting a refresh token".
constexpr std::array<std::pair<std::string_view, context_bits>, 9> context_names{{
    {"launch", context_scope::launch},
    {"launch/patient", context_scope::launch_patient},
    {"launch/encounter", context_scope::launch_encounter},
    {"openid", context_scope::openid},
    {"fhirUser", context_scope::fhir_user},
    {"profile", context_scope::profile},
    {"offline_access", context_scope::offline_access},
    {"online_access", context_scope::online_access},
    // Not SMART: Hearth's administration scope (smart_scopes.hpp).
    {"hearth/admin", context_scope::hearth_admin},
}};

/// v2 letters in their required order.
constexpr std::array<std::pair<char, permission_bits>, 5> letters{{
    {'c', permission::create},
    {'r', permission::read},
    {'u', permission::update},
    {'d', permission::remove},
    {'s', permission::search},
}};

/// The permission part: v1 word or v2 letters. nullopt when malformed.
/// `is_v1` tells which form it was (v1 forms take no query).
std::optional<permission_bits> parse_permissions(std::string_view text, bool& is_v1) {
  // SMART App Launch 2.2 "Scopes for requesting FHIR resources", v1 forms.
  is_v1 = true;
  if (text == "read") return static_cast<permission_bits>(permission::read | permission::search);
  if (text == "write") return static_cast<permission_bits>(permission::create | permission::update | permission::remove);
  if (text == "*") return permission::all;
  is_v1 = false;
  // v2: an in-order subset of c r u d s, each at most once, not empty.
  if (text.empty() || text.size() > letters.size()) return std::nullopt;
  permission_bits bits = 0;
  std::size_t next = 0;  // the first letter position still allowed
  for (char c : text) {
    std::size_t i = next;
    while (i < letters.size() && letters[i].first != c) ++i;
    if (i == letters.size()) return std::nullopt;  // unknown, repeated or out of order
    bits = static_cast<permission_bits>(bits | letters[i].second);
    next = i + 1;
  }
  return bits;
}

/// Why one token failed; the messages are fixed text.
struct token_error {
  std::string_view reason;
};

using token_result = hearth::result<std::optional<resource_scope>, token_error>;

/// The query after "?": name=value(&name=value)*.
hearth::result<std::vector<query_param>, token_error> parse_query(std::string_view q, const scope_limits& limits) {
  if (q.empty()) return hearth::unexpected(token_error{"empty query after '?'"});
  if (q.size() > limits.max_query_bytes) return hearth::unexpected(token_error{"query part too long"});
  std::vector<query_param> out;
  std::size_t pos = 0;
  while (pos <= q.size()) {
    const std::size_t amp = std::min(q.find('&', pos), q.size());
    const std::string_view pair = q.substr(pos, amp - pos);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size())
      return hearth::unexpected(token_error{"query parameter is not name=value"});
    const std::string_view name = pair.substr(0, eq);
    if (!std::all_of(name.begin(), name.end(), is_param_name_char))
      return hearth::unexpected(token_error{"query parameter name has an invalid character"});
    if (out.size() == limits.max_query_params) return hearth::unexpected(token_error{"too many query parameters"});
    out.push_back(query_param{std::string(name), std::string(pair.substr(eq + 1))});
    pos = amp + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// One token: nullopt for a context scope (its bit set in `context`), a
/// resource scope, or an error.
token_result parse_token(std::string_view tok, const resource_type_predicate& is_resource_type,
                         const scope_limits& limits, context_bits& context) {
  if (tok.size() > limits.max_scope_bytes) return hearth::unexpected(token_error{"scope too long"});
  for (char c : tok)
    if (!is_scope_char(static_cast<unsigned char>(c)))
      return hearth::unexpected(token_error{"scope has a character outside RFC 6749 scope-token"});
  for (const auto& [name, bit] : context_names) {
    if (tok == name) {
      context = static_cast<context_bits>(context | bit);
      return std::optional<resource_scope>{};
    }
  }

  resource_scope rs;
  const std::size_t slash = tok.find('/');
  if (slash == std::string_view::npos) return hearth::unexpected(token_error{"unknown scope"});
  const std::string_view level = tok.substr(0, slash);
  // Case-sensitive, as OAuth scopes are (RFC 6749 3.3).
  if (level == "patient") {
    rs.level = scope_level::patient;
  } else if (level == "user") {
    rs.level = scope_level::user;
  } else if (level == "system") {
    rs.level = scope_level::system;
  } else {
    return hearth::unexpected(token_error{"unknown scope"});
  }

  std::string_view rest = tok.substr(slash + 1);
  std::string_view query;
  bool has_query = false;
  if (const std::size_t qm = rest.find('?'); qm != std::string_view::npos) {
    query = rest.substr(qm + 1);
    rest = rest.substr(0, qm);
    has_query = true;
  }
  // Resource type names hold no '.', so the first '.' ends the type.
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return hearth::unexpected(token_error{"resource scope without '.permissions'"});
  const std::string_view type = rest.substr(0, dot);
  const std::string_view perms = rest.substr(dot + 1);
  if (type.empty()) return hearth::unexpected(token_error{"resource scope without a resource type"});
  if (type != "*" && !(is_resource_type && is_resource_type(type)))
    return hearth::unexpected(token_error{"not an R4 resource type"});
  bool is_v1 = false;
  const auto bits = parse_permissions(perms, is_v1);
  if (!bits) return hearth::unexpected(token_error{"permissions are not v1 read/write/* nor an in-order subset of cruds"});
  rs.resource_type = std::string(type);
  rs.permissions = *bits;
  if (has_query) {
    // Granular scopes are a v2 feature; a v1 scope with a query is neither form.
    if (is_v1) return hearth::unexpected(token_error{"query on a v1 scope"});
    auto q = parse_query(query, limits);
    if (!q) return hearth::unexpected(std::move(q).error());
    rs.query = std::move(*q);
  }
  return std::optional<resource_scope>{std::move(rs)};
}

/// The sort key of a normalised scope set.
auto key(const resource_scope& s) { return std::tie(s.level, s.resource_type, s.query); }

hearth::error make_error(std::string_view reason, std::size_t index, std::size_t offset) {
  hearth::error e;
  e.code = "invalid_scope";
  e.message = std::string(malformed_prefix) + std::string(reason);
  if (index != hearth::error::npos) e.location = "scope[" + std::to_string(index) + "]";
  e.offset = offset;
  return e;
}

/// `have`'s parameters are all among `want`'s (both sorted): `want` is at
/// least as narrow a filter as `have`.
bool params_within(const std::vector<query_param>& have, const std::vector<query_param>& want) {
  return std::includes(want.begin(), want.end(), have.begin(), have.end());
}

}  // namespace

std::string_view to_string(scope_level level) noexcept {
  switch (level) {
    case scope_level::patient: return "patient";
    case scope_level::user: return "user";
    case scope_level::system: return "system";
  }
  return "patient";
}

std::string permission_letters(permission_bits bits) {
  std::string out;
  for (const auto& [c, bit] : letters)
    if (bits & bit) out.push_back(c);
  return out;
}

hearth::result<parse_outcome, hearth::error> parse_scopes(std::string_view text, parse_mode mode,
                                                          const resource_type_predicate& is_resource_type,
                                                          const scope_limits& limits) {
  if (text.size() > limits.max_input_bytes)
    return hearth::unexpected(make_error("scope string too long", hearth::error::npos, limits.max_input_bytes));

  parse_outcome out;
  std::size_t index = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    const std::size_t end = std::min(text.find(' ', pos), text.size());
    const std::string_view tok = text.substr(pos, end - pos);
    if (index == limits.max_scopes)
      return hearth::unexpected(make_error("too many scopes", index, pos));
    auto parsed = parse_token(tok, is_resource_type, limits, out.scopes.context);
    if (!parsed) {
      if (mode == parse_mode::strict) return hearth::unexpected(make_error(parsed.error().reason, index, pos));
      out.dropped.push_back(index);
    } else if (parsed->has_value()) {
      out.scopes.resources.push_back(std::move(**parsed));
    }
    ++index;
    pos = end;
  }

  // Normalise: sort, then merge equal (level, type, query) by ORing letters.
  auto& rs = out.scopes.resources;
  std::sort(rs.begin(), rs.end(), [](const resource_scope& a, const resource_scope& b) { return key(a) < key(b); });
  std::vector<resource_scope> merged;
  merged.reserve(rs.size());
  for (auto& s : rs) {
    if (!merged.empty() && key(merged.back()) == key(s)) {
      merged.back().permissions = static_cast<permission_bits>(merged.back().permissions | s.permissions);
    } else {
      merged.push_back(std::move(s));
    }
  }
  rs = std::move(merged);
  return out;
}

std::string to_string(const scope_set& scopes) {
  std::string out;
  auto sep = [&] {
    if (!out.empty()) out.push_back(' ');
  };
  for (const auto& s : scopes.resources) {
    sep();
    out += to_string(s.level);
    out.push_back('/');
    out += s.resource_type;
    out.push_back('.');
    out += permission_letters(s.permissions);
    for (std::size_t i = 0; i < s.query.size(); ++i) {
      out.push_back(i == 0 ? '?' : '&');
      out += s.query[i].name;
      out.push_back('=');
      out += s.query[i].value;
    }
  }
  for (const auto& [name, bit] : context_names) {
    if (scopes.context & bit) {
      sep();
      out += name;
    }
  }
  return out;
}

bool is_subset(const scope_set& requested, const scope_set& granted) {
  if ((requested.context & granted.context) != requested.context) return false;
  for (const auto& want : requested.resources) {
    for (const auto& [letter, bit] : letters) {
      if (!(want.permissions & bit)) continue;
      const bool covered = std::any_of(granted.resources.begin(), granted.resources.end(), [&](const resource_scope& g) {
        return g.level == want.level && (g.resource_type == "*" || g.resource_type == want.resource_type) &&
               (g.permissions & bit) && params_within(g.query, want.query);
      });
      if (!covered) return false;
    }
  }
  return true;
}

std::string_view to_string(interaction i) noexcept {
  switch (i) {
    case interaction::read: return "read";
    case interaction::vread: return "vread";
    case interaction::history_instance: return "history-instance";
    case interaction::search_type: return "search-type";
    case interaction::history_type: return "history-type";
    case interaction::search_system: return "search-system";
    case interaction::history_system: return "history-system";
    case interaction::create: return "create";
    case interaction::update: return "update";
    case interaction::patch: return "patch";
    case interaction::remove: return "delete";
    case interaction::operation: return "operation";
  }
  return "operation";
}

permission_bits required_permission(interaction i) noexcept {
  switch (i) {
    case interaction::read:
    case interaction::vread:
    case interaction::history_instance: return permission::read;
    case interaction::search_type:
    case interaction::history_type:
    case interaction::search_system:
    case interaction::history_system: return permission::search;
    case interaction::create: return permission::create;
    case interaction::update:
    case interaction::patch: return permission::update;
    case interaction::remove: return permission::remove;
    case interaction::operation: return 0;
  }
  return 0;
}

std::string_view to_string(deny_reason r) noexcept {
  switch (r) {
    case deny_reason::none: return "allowed";
    case deny_reason::invalid_request: return "the access request is inconsistent";
    case deny_reason::no_scope_for_type: return "no granted scope covers this resource type";
    case deny_reason::missing_permission: return "no granted scope gives the permission this interaction needs";
    case deny_reason::no_patient_in_context: return "patient scopes need a patient in context";
    case deny_reason::outside_patient_compartment: return "patient scopes only reach the patient's compartment";
  }
  return "denied";
}

access_decision decide(const scope_set& scopes, const launch_context& context, const access_request& request) {
  access_decision d;
  auto deny = [&](deny_reason r) {
    d = access_decision{};
    d.reason = r;
    return d;
  };

  const bool system_wide = request.what == interaction::search_system || request.what == interaction::history_system;
  if (system_wide != request.resource_type.empty()) return deny(deny_reason::invalid_request);
  permission_bits need = required_permission(request.what);
  if (request.what == interaction::operation) {
    need = request.operation_permission;
    // Exactly one letter: a single bit within cruds.
    if (need == 0 || (need & (need - 1)) != 0 || (need & ~permission::all) != 0)
      return deny(deny_reason::invalid_request);
  }

  // Closest failure seen, for the reason when nothing grants.
  deny_reason why = deny_reason::no_scope_for_type;
  auto note = [&why](deny_reason r) {
    if (static_cast<int>(r) > static_cast<int>(why)) why = r;
  };

  bool unfiltered = false;
  for (const auto& s : scopes.resources) {
    // System-wide interactions reach every type: only "*" covers them.
    const bool type_ok = system_wide ? s.resource_type == "*"
                                     : (s.resource_type == "*" || s.resource_type == request.resource_type);
    if (!type_ok) continue;
    if (!(s.permissions & need)) {
      note(deny_reason::missing_permission);
      continue;
    }
    if (s.level == scope_level::patient) {
      // SMART App Launch 2.2: patient/ scopes reach the compartment of the
      // patient in context, so they need one.
      if (context.patient_id.empty()) {
        note(deny_reason::no_patient_in_context);
        continue;
      }
      if (!request.patient_compartment) {
        note(deny_reason::outside_patient_compartment);
        continue;
      }
    }
    d.allowed = true;
    d.levels = static_cast<std::uint8_t>(d.levels | level_bit(s.level));
    if (s.query.empty()) {
      unfiltered = true;
    } else if (std::find(d.filters.begin(), d.filters.end(), s.query) == d.filters.end()) {
      d.filters.push_back(s.query);
    }
  }
  if (!d.allowed) return deny(why);
  // The union of the granting scopes: one without a filter grants everything.
  if (unfiltered) d.filters.clear();
  return d;
}

}  // namespace hearth::server::auth
