#include <hearth/store/bundle_apply.hpp>

#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <hearth/store/error_codes.hpp>

namespace hearth::store {

namespace {

constexpr std::string_view urn_uuid = "urn:uuid:";

/// Deepest nesting the reference rewrite walks: the JSON reader's own depth
/// limit is far below it, so only a value built in memory can reach it, and
/// the walk must not overflow the stack on one.
constexpr std::size_t max_depth = 1000;

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

/// "entry <i>: <what>": positions only, never content.
hearth::error entry_error(std::string_view code, std::size_t i, std::string_view what) {
  return make_error(code, "Bundle entry " + std::to_string(i) + ": " + std::string(what));
}

bool is_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

/// "urn:uuid:" and a UUID in its 8-4-4-4-12 hex form (RFC 9562 4; R4
/// bundle.html#bundle-unique: a transaction's fullUrls identify entries).
bool valid_urn_uuid(std::string_view s) noexcept {
  if (s.size() != urn_uuid.size() + 36 || s.substr(0, urn_uuid.size()) != urn_uuid) return false;
  const std::string_view u = s.substr(urn_uuid.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !is_hex(u[i])) return false;
  }
  return true;
}

/// RFC 3986 2.1 percent-decoding; nullopt for a malformed escape. '+' is
/// kept: RFC 3986 gives it no meaning (the form encoding's space is not
/// what the mapping module writes).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return std::nullopt;
    out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
    i += 2;
  }
  return out;
}

/// The token `system|value` of a decoded search value, R4
/// search.html#escaping undone: '\' escapes '\', '|', ',' and '$'. Errors
/// (as text): a lone or unknown escape, no '|', a second '|', an unescaped
/// ',' (a list of values) or '$' (a composite), an empty value.
hearth::result<std::pair<std::string, std::string>, std::string> split_token(std::string_view s) {
  std::string system, value;
  std::string* out = &system;
  bool split = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      if (i + 1 == s.size()) return hearth::unexpected(std::string("the identifier ends in a lone escape"));
      const char next = s[i + 1];
      if (next != '\\' && next != '|' && next != ',' && next != '$') {
        return hearth::unexpected(std::string("the identifier has an unknown escape (search.html#escaping)"));
      }
      *out += next;
      ++i;
    } else if (c == '|') {
      if (split) return hearth::unexpected(std::string("the identifier has more than one unescaped '|'"));
      split = true;
      out = &value;
    } else if (c == ',') {
      return hearth::unexpected(std::string("the identifier is a list of values (an unescaped ',')"));
    } else if (c == '$') {
      return hearth::unexpected(std::string("the identifier has an unescaped '$'"));
    } else {
      *out += c;
    }
  }
  if (!split) return hearth::unexpected(std::string("the identifier has no system (system|value)"));
  if (value.empty()) return hearth::unexpected(std::string("the identifier has no value"));
  return std::make_pair(std::move(system), std::move(value));
}

/// The (system, value) of a conditional update URL "Type?identifier=...".
hearth::result<std::pair<std::string, std::string>, std::string> parse_conditional_url(std::string_view url,
                                                                                      std::string_view type) {
  const auto q = url.find('?');
  if (q == std::string_view::npos) {
    return hearth::unexpected(std::string("a PUT url must be a conditional update (Type?identifier=...)"));
  }
  if (url.substr(0, q) != type) return hearth::unexpected(std::string("the url's type is not the resource's"));
  const std::string_view query = url.substr(q + 1);
  if (query.find('&') != std::string_view::npos || query.find('#') != std::string_view::npos) {
    return hearth::unexpected(std::string("the conditional url must have exactly one parameter, identifier"));
  }
  const auto eq = query.find('=');
  if (eq == std::string_view::npos || query.substr(0, eq) != "identifier") {
    return hearth::unexpected(std::string("the conditional url must have exactly one parameter, identifier"));
  }
  const auto decoded = percent_decode(query.substr(eq + 1));
  if (!decoded) return hearth::unexpected(std::string("the identifier has a malformed percent-encoding"));
  return split_token(*decoded);
}

/// Rewrites every {"reference": "urn:uuid:..."} in `v` to the entry's
/// "Type/id". Errors: a urn naming no entry, nesting beyond max_depth.
using target_map = std::unordered_map<std::string, std::string>;  // fullUrl -> "Type/id"

hearth::result<void> rewrite_references(fhir::json_value& v, const target_map& targets, std::size_t entry,
                                        std::size_t depth) {
  if (depth > max_depth) {
    return hearth::unexpected(entry_error(error_codes::invalid, entry, "the resource is nested too deeply"));
  }
  if (v.is_array()) {
    for (fhir::json_value& item : v.items()) {
      if (auto r = rewrite_references(item, targets, entry, depth + 1); !r) return r;
    }
  } else if (v.is_object()) {
    for (fhir::json_member& m : v.members()) {
      if (m.key == "reference" && m.value.is_string() && m.value.str().starts_with(urn_uuid)) {
        const auto it = targets.find(m.value.str());
        if (it == targets.end()) {
          return hearth::unexpected(
              entry_error(error_codes::invalid, entry, "a urn:uuid reference names no entry of the Bundle"));
        }
        m.value = fhir::json_value(it->second);
      } else if (auto r = rewrite_references(m.value, targets, entry, depth + 1); !r) {
        return r;
      }
    }
  }
  return {};
}

/// What one entry will do, once resolved.
struct plan {
  std::string type;
  std::string id;
  /// The entry whose content is written for this target: itself, or a later
  /// entry with the same conditional url (the later one wins).
  std::size_t writer = 0;
  fhir::json_value resource;
};

}  // namespace

hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                       const fhir::json_value& bundle) {
  auto invalid = [](std::string what) { return hearth::unexpected(make_error(error_codes::invalid, std::move(what))); };
  if (!bundle.is_object()) return invalid("the Bundle is not a JSON object");
  const fhir::json_value* rt = bundle.find("resourceType");
  if (rt == nullptr || !rt->is_string() || rt->str() != "Bundle") return invalid("not a Bundle");
  const fhir::json_value* bt = bundle.find("type");
  if (bt == nullptr || !bt->is_string() || bt->str() != "transaction") return invalid("not a transaction Bundle");
  std::vector<applied_resource> applied;
  const fhir::json_value* entries = bundle.find("entry");
  if (entries == nullptr) return applied;
  if (!entries->is_array()) return invalid("Bundle.entry is not an array");
  const std::size_t n = entries->size();
  if (n > max_bundle_entries) {
    return invalid("the Bundle has more than " + std::to_string(max_bundle_entries) + " entries");
  }

  // 1. Resolve every entry's target (the lookups), before any write.
  std::vector<plan> plans(n);
  target_map targets;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> conditions;  // -> last entry
  for (std::size_t i = 0; i < n; ++i) {
    auto bad = [i](std::string_view what) { return hearth::unexpected(entry_error(error_codes::invalid, i, what)); };
    const fhir::json_value& e = entries->items()[i];
    if (!e.is_object()) return bad("not a JSON object");
    const fhir::json_value* full_url = e.find("fullUrl");
    if (full_url == nullptr || !full_url->is_string() || !valid_urn_uuid(full_url->str())) {
      return bad("fullUrl is not a urn:uuid");
    }
    if (targets.count(full_url->str()) != 0) return bad("fullUrl is the fullUrl of an earlier entry");
    const fhir::json_value* resource = e.find("resource");
    if (resource == nullptr || !resource->is_object()) return bad("no resource");
    const fhir::json_value* type = resource->find("resourceType");
    if (type == nullptr || !type->is_string() || type->str().empty()) return bad("the resource has no resourceType");
    const fhir::json_value* request = e.find("request");
    const fhir::json_value* method = request != nullptr ? request->find("method") : nullptr;
    const fhir::json_value* url = request != nullptr ? request->find("url") : nullptr;
    if (method == nullptr || !method->is_string() || url == nullptr || !url->is_string()) {
      return bad("no request method and url");
    }
    plan& p = plans[i];
    p.type = type->str();
    p.writer = i;
    p.resource = *resource;
    const fhir::json_value* own_id = resource->find("id");
    if (method->str() == "POST") {
      if (url->str() != p.type) return bad("a POST url must be the resource's type");
      p.id = resource_store::new_id();  // R4 http.html#create: the server assigns the id
      if (own_id != nullptr) p.resource.set("id", fhir::json_value(p.id));
    } else if (method->str() == "PUT") {
      auto cond = parse_conditional_url(url->str(), p.type);
      if (!cond) return bad(cond.error());
      auto key = std::make_tuple(p.type, std::move(cond->first), std::move(cond->second));
      if (const auto it = conditions.find(key); it != conditions.end()) {
        // The same resource as an earlier entry: one target, the later
        // content (see the header).
        p.id = plans[it->second].id;
        for (std::size_t j = 0; j < i; ++j) {
          if (plans[j].writer == it->second) plans[j].writer = i;
        }
        it->second = i;
      } else {
        auto ids = tx.find_by_identifier(p.type, std::get<1>(key), std::get<2>(key), 2);
        if (!ids) return hearth::unexpected(entry_error(ids.error().code, i, ids.error().message));
        if (ids->size() > 1) {
          return hearth::unexpected(entry_error(error_codes::multiple_matches, i,
                                                "the conditional update matches several resources"));
        }
        p.id = ids->empty() ? resource_store::new_id() : ids->front();
        conditions.emplace(std::move(key), i);
      }
      // R4 http.html#cond-update: an id in the resource must be the match's.
      if (own_id != nullptr && (!own_id->is_string() || own_id->str() != p.id)) {
        return bad("the resource's id is not the id the conditional update resolved to");
      }
    } else {
      return bad("the request method is neither POST nor PUT");
    }
    targets.emplace(full_url->str(), p.type + "/" + p.id);
  }

  // 2. Rewrite the references between entries.
  for (std::size_t i = 0; i < n; ++i) {
    if (auto r = rewrite_references(plans[i].resource, targets, i, 0); !r) return hearth::unexpected(r.error());
  }

  // 3. Write, in entry order; an entry superseded by a later one with the
  // same conditional url is written by that one.
  applied.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    plan& p = plans[i];
    if (p.writer != i) continue;
    update_options opts;
    opts.allow_create = true;  // a new id: update-as-create (resource_store::new_id's contract)
    auto out = tx.update(p.type, p.id, std::move(p.resource), opts);
    if (!out) return hearth::unexpected(entry_error(out.error().code, i, out.error().message));
    applied[i] = applied_resource{p.type, p.id, out->version.version_id, out->created, out->changed};
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (plans[i].writer != i) applied[i] = applied[plans[i].writer];
  }
  return applied;
}

std::vector<std::string> versioned_references(const std::vector<applied_resource>& applied) {
  std::vector<std::string> out;
  out.reserve(applied.size());
  for (const applied_resource& a : applied) {
    out.push_back(a.type + "/" + a.id + "/_history/" + std::to_string(a.version_id));
  }
  return out;
}

}  // namespace hearth::store
