#include <hearth/store/bundle_apply.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/error_codes.hpp>

#include "detail/referrers.hpp"

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

/// The (system, value) of a search query "identifier=system|value": the
/// query of a conditional update's url, or an ifNoneExist.
hearth::result<std::pair<std::string, std::string>, std::string> parse_identifier_query(std::string_view query) {
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

/// The (system, value) of a conditional update URL "Type?identifier=...".
hearth::result<std::pair<std::string, std::string>, std::string> parse_conditional_url(std::string_view url,
                                                                                      std::string_view type) {
  const auto q = url.find('?');
  if (q == std::string_view::npos) {
    return hearth::unexpected(std::string("a PUT url must be a conditional update (Type?identifier=...)"));
  }
  if (url.substr(0, q) != type) return hearth::unexpected(std::string("the url's type is not the resource's"));
  return parse_identifier_query(url.substr(q + 1));
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

constexpr std::size_t no_writer = static_cast<std::size_t>(-1);

/// A Patient/$merge entry, resolved: the survivor is entry `target_entry`
/// (its plan holds the id), the source is the plan's own type and id.
struct merge_plan {
  std::size_t target_entry = 0;
};

/// What one entry will do, once resolved.
struct plan {
  std::string type;
  std::string id;
  /// The entry whose content is written for this target: itself, or a later
  /// entry with the same conditional url (the later one wins); no_writer for
  /// a conditional create that matched a stored resource (nothing written).
  std::size_t writer = 0;
  fhir::json_value resource;
  /// Set for a Patient/$merge entry; type and id are then the source Patient's.
  std::optional<merge_plan> merge;
  /// The resource checked and indexed before the transaction
  /// (prepare_transaction_bundle), for an entry that writes.
  std::optional<prepared_write> prepared;
  /// A conditional update that found a stored resource (it replaces it).
  bool replaces_stored = false;
};

/// An identifier lookup made while planning outside the transaction, and
/// what it found: the transaction looks again and must find the same.
struct lookup_record {
  std::string type, system, value;
  std::vector<std::string> ids;
};

/// A stored Patient read while planning outside the transaction (step 1c),
/// and its version then: the transaction reads it again and must find the
/// same version.
struct read_record {
  std::string id;
  std::int64_t version_id = 0;
};

// ---- Patient/$merge (see the header) ---------------------------------------

constexpr std::string_view merge_url = "Patient/$merge";

/// The parameters of a merge entry's Parameters resource.
struct merge_request {
  std::vector<std::pair<std::string, std::string>> sources;  ///< (system, value) of each source-patient-identifier
  std::string target;                                         ///< target-patient's reference: a urn:uuid
};

/// Reads the Parameters of a merge entry; errors as text (no content).
hearth::result<merge_request, std::string> read_merge_request(const fhir::json_value& parameters) {
  auto bad = [](std::string what) { return hearth::unexpected(std::move(what)); };
  const fhir::json_value* type = parameters.find("resourceType");
  if (type == nullptr || !type->is_string() || type->str() != "Parameters") {
    return bad("a Patient/$merge entry's resource must be a Parameters");
  }
  const fhir::json_value* list = parameters.find("parameter");
  if (list == nullptr || !list->is_array()) return bad("the merge has no parameters");
  merge_request out;
  std::size_t targets = 0;
  for (const fhir::json_value& p : list->items()) {
    const fhir::json_value* name = p.find("name");
    if (name == nullptr || !name->is_string()) return bad("a merge parameter has no name");
    if (name->str() == "source-patient-identifier") {
      const fhir::json_value* id = p.find("valueIdentifier");
      const fhir::json_value* value = id != nullptr ? id->find("value") : nullptr;
      const fhir::json_value* system = id != nullptr ? id->find("system") : nullptr;
      if (value == nullptr || !value->is_string() || value->str().empty() ||
          (system != nullptr && !system->is_string())) {
        return bad("a source-patient-identifier has no valueIdentifier with a value");
      }
      out.sources.emplace_back(system != nullptr ? system->str() : std::string(), value->str());
    } else if (name->str() == "target-patient") {
      const fhir::json_value* ref = p.find("valueReference");
      const fhir::json_value* text = ref != nullptr ? ref->find("reference") : nullptr;
      if (text == nullptr || !text->is_string()) return bad("target-patient has no valueReference");
      out.target = text->str();
      ++targets;
    } else {
      // R5 patient-operation-merge.html has more (source-patient,
      // target-patient-identifier, result-patient, preview): not in this contract.
      return bad("a merge parameter other than source-patient-identifier and target-patient");
    }
  }
  if (out.sources.empty()) return bad("the merge has no source-patient-identifier");
  if (targets != 1) return bad("the merge must have exactly one target-patient");
  return out;
}

/// Adds to `patient` each link of `stored` (the stored version of the same
/// Patient) it lacks (R4 patient.html#links): a v2 message carries none, so
/// writing its Patient as it is would drop an earlier merge's record.
/// Returns patient's links; nullptr when `stored` has none.
fhir::json_value* keep_stored_links(fhir::json_value& patient, const fhir::json_value& stored) {
  const fhir::json_value* links = stored.find("link");
  if (links == nullptr || !links->is_array() || links->size() == 0) return nullptr;
  fhir::json_value* own = patient.find("link");
  if (own == nullptr || !own->is_array()) own = &patient.set("link", fhir::json_value::array());
  for (const fhir::json_value& l : links->items()) {
    if (std::find(own->items().begin(), own->items().end(), l) == own->items().end()) own->push_back(l);
  }
  return own;
}

/// Appends the link {other: Patient/<other_id>, type: <type>} (R4
/// patient.html#links) to `patient` unless an identical one is there;
/// true when it appended.
bool add_link(fhir::json_value& patient, const std::string& other_id, std::string_view type) {
  fhir::json_value link = fhir::json_value::object();
  fhir::json_value other = fhir::json_value::object();
  other.set("reference", fhir::json_value("Patient/" + other_id));
  link.set("other", std::move(other));
  link.set("type", fhir::json_value(type));
  fhir::json_value* links = patient.find("link");
  if (links == nullptr || !links->is_array()) links = &patient.set("link", fhir::json_value::array());
  for (const fhir::json_value& l : links->items()) {
    if (l == link) return false;
  }
  links->push_back(std::move(link));
  return true;
}

/// Rewrites every "reference": `from` in `v` to `to`; true when one was.
bool move_references(fhir::json_value& v, const std::string& from, const std::string& to, std::size_t depth) {
  if (depth > max_depth) return false;
  bool moved = false;
  if (v.is_array()) {
    for (fhir::json_value& item : v.items()) moved = move_references(item, from, to, depth + 1) || moved;
  } else if (v.is_object()) {
    for (fhir::json_member& m : v.members()) {
      if (m.key == "reference" && m.value.is_string() && m.value.str() == from) {
        m.value = fhir::json_value(to);
        moved = true;
      } else {
        moved = move_references(m.value, from, to, depth + 1) || moved;
      }
    }
  }
  return moved;
}

/// The current version of type/id as JSON, with its version.
struct current_json {
  fhir::json_value value;
  std::int64_t version_id = 0;
};

hearth::result<current_json> read_current(resource_tx& tx, std::string_view type, std::string_view id,
                                          std::size_t entry) {
  auto v = tx.read(type, id);
  if (!v) return hearth::unexpected(entry_error(v.error().code, entry, v.error().message));
  auto parsed = fhir::parse_json(v->json);
  if (!parsed) {
    return hearth::unexpected(entry_error(error_codes::exception, entry, "a stored resource could not be read"));
  }
  return current_json{std::move(*parsed), v->version_id};
}

}  // namespace

/// What the Bundle's entries resolve to (steps 1 and 2 below), ready to be
/// written (step 3, write_plans).
struct resolution {
  std::vector<plan> plans;
  target_map targets;
};

/// The error code resolve() answers when it meets what only a transaction
/// can resolve (a merge): prepare_transaction_bundle leaves the Bundle to
/// the transaction then.
constexpr std::string_view needs_transaction = "needs-transaction";

/// Steps 1 and 2: every entry's target, the references rewritten. `find`
/// answers the identifier lookups (type, system, value -> at most 2 ids);
/// `tx` is null when planning outside a transaction.
template <class Find, class Stored>
hearth::result<resolution> resolve(const fhir::json_value& bundle, Find&& find, Stored&& stored, resource_tx* tx) {
  auto invalid = [](std::string what) { return hearth::unexpected(make_error(error_codes::invalid, std::move(what))); };
  if (!bundle.is_object()) return invalid("the Bundle is not a JSON object");
  const fhir::json_value* rt = bundle.find("resourceType");
  if (rt == nullptr || !rt->is_string() || rt->str() != "Bundle") return invalid("not a Bundle");
  const fhir::json_value* bt = bundle.find("type");
  if (bt == nullptr || !bt->is_string() || bt->str() != "transaction") return invalid("not a transaction Bundle");
  resolution res;
  const fhir::json_value* entries = bundle.find("entry");
  if (entries == nullptr) return res;
  if (!entries->is_array()) return invalid("Bundle.entry is not an array");
  const std::size_t n = entries->size();
  if (n > max_bundle_entries) {
    return invalid("the Bundle has more than " + std::to_string(max_bundle_entries) + " entries");
  }

  // 1. Resolve every entry's target (the lookups), before any write.
  std::vector<plan>& plans = res.plans;
  plans.resize(n);
  target_map& targets = res.targets;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> conditions;  // -> last entry
  std::unordered_map<std::string, std::size_t> entry_index;                              // fullUrl -> entry
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
    const fhir::json_value* if_none_exist = request->find("ifNoneExist");
    if (method->str() == "POST" && url->str() == merge_url) {
      // A patient merge (see the header).
      if (tx == nullptr) return hearth::unexpected(make_error(needs_transaction, "a merge entry"));
      if (if_none_exist != nullptr) return bad("a Patient/$merge entry has no ifNoneExist");
      auto m = read_merge_request(*resource);
      if (!m) return bad(m.error());
      const auto t = entry_index.find(m->target);
      if (t == entry_index.end() || plans[t->second].merge || plans[t->second].type != "Patient") {
        return bad("target-patient must name an earlier Patient entry of the Bundle");
      }
      // R5 patient-operation-merge.html: all the source-patient-identifiers
      // must be present in the one Patient they locate.
      std::string source;
      for (std::size_t k = 0; k < m->sources.size(); ++k) {
        const auto& [system, value] = m->sources[k];
        const std::string which = "source-patient-identifier " + std::to_string(k + 1);
        std::string found;
        if (const auto c = conditions.find(std::make_tuple(std::string("Patient"), system, value));
            c != conditions.end()) {
          found = plans[c->second].id;  // a Patient of this Bundle
        } else {
          auto ids = tx->find_by_identifier("Patient", system, value, 2);
          if (!ids) return hearth::unexpected(entry_error(ids.error().code, i, ids.error().message));
          if (ids->size() > 1) {
            return hearth::unexpected(
                entry_error(error_codes::multiple_matches, i, which + " matches several Patients"));
          }
          if (ids->empty()) {
            hearth::error e = entry_error(error_codes::not_found, i,
                                          "no current Patient has " + which + ": the patient to merge is unknown");
            e.location = "Bundle.entry[" + std::to_string(i) + "]";
            return hearth::unexpected(std::move(e));
          }
          found = ids->front();
        }
        if (!source.empty() && found != source) {
          return hearth::unexpected(entry_error(error_codes::multiple_matches, i,
                                                "the source-patient-identifiers locate different Patients"));
        }
        source = std::move(found);
      }
      if (source == plans[t->second].id) return bad("the source and the target patient are the same Patient");
      p.type = "Patient";
      p.id = std::move(source);
      p.merge = merge_plan{t->second};
      targets.emplace(full_url->str(), "Patient/" + p.id);
      entry_index.emplace(full_url->str(), i);
      continue;
    }
    if (if_none_exist != nullptr && (method->str() != "POST" || !if_none_exist->is_string())) {
      return bad("ifNoneExist is a string, on a POST only");
    }
    if (method->str() == "POST" && if_none_exist == nullptr) {
      if (url->str() != p.type) return bad("a POST url must be the resource's type");
      p.id = resource_store::new_id();  // R4 http.html#create: the server assigns the id
      if (own_id != nullptr) p.resource.set("id", fhir::json_value(p.id));
    } else if (method->str() == "POST") {
      // R4 http.html#ccreate: no match creates, one match is the entry's
      // result and writes nothing, several fail 412.
      if (url->str() != p.type) return bad("a POST url must be the resource's type");
      auto cond = parse_identifier_query(if_none_exist->str());
      if (!cond) return bad(cond.error());
      auto key = std::make_tuple(p.type, std::move(cond->first), std::move(cond->second));
      if (const auto it = conditions.find(key); it != conditions.end()) {
        // An earlier entry of this Bundle is that resource: the earlier
        // content stands, this entry's result is its result.
        p.id = plans[it->second].id;
        p.writer = plans[it->second].writer;
      } else {
        auto ids = find(p.type, std::get<1>(key), std::get<2>(key));
        if (!ids) return hearth::unexpected(entry_error(ids.error().code, i, ids.error().message));
        if (ids->size() > 1) {
          return hearth::unexpected(entry_error(error_codes::multiple_matches, i,
                                                "the conditional create matches several resources"));
        }
        if (ids->empty()) {
          p.id = resource_store::new_id();
        } else {
          p.id = ids->front();
          p.writer = no_writer;
        }
        conditions.emplace(std::move(key), i);
      }
      if (own_id != nullptr) p.resource.set("id", fhir::json_value(p.id));
    } else if (method->str() == "PUT") {
      auto cond = parse_conditional_url(url->str(), p.type);
      if (!cond) return bad(cond.error());
      auto key = std::make_tuple(p.type, std::move(cond->first), std::move(cond->second));
      if (const auto it = conditions.find(key); it != conditions.end()) {
        // The same resource as an earlier entry: one target, the later
        // content (see the header).
        p.id = plans[it->second].id;
        p.replaces_stored = plans[it->second].replaces_stored;
        for (std::size_t j = 0; j < i; ++j) {
          if (plans[j].type == p.type && plans[j].id == p.id) plans[j].writer = i;
        }
        it->second = i;
      } else {
        auto ids = find(p.type, std::get<1>(key), std::get<2>(key));
        if (!ids) return hearth::unexpected(entry_error(ids.error().code, i, ids.error().message));
        if (ids->size() > 1) {
          return hearth::unexpected(entry_error(error_codes::multiple_matches, i,
                                                "the conditional update matches several resources"));
        }
        p.id = ids->empty() ? resource_store::new_id() : ids->front();
        p.replaces_stored = !ids->empty();
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
    entry_index.emplace(full_url->str(), i);
  }

  // 1b. A merge's survivor, when the Bundle writes it, is written with the
  // links it has (an earlier merge's: a conditional update from PID alone
  // would drop them) and the "replaces" link, so that resending the message
  // writes it identically (no new version).
  for (std::size_t i = 0; i < n; ++i) {
    if (!plans[i].merge) continue;
    if (tx == nullptr) return hearth::unexpected(make_error(needs_transaction, "a merge entry"));
    const plan& target = plans[plans[i].merge->target_entry];
    if (target.writer == no_writer) continue;  // not written: linked at the merge's position
    if (target.writer > i) {
      return hearth::unexpected(
          entry_error(error_codes::invalid, i, "the target patient is written again by a later entry"));
    }
    fhir::json_value& content = plans[target.writer].resource;
    auto stored = tx->read("Patient", target.id);
    if (stored) {
      auto parsed = fhir::parse_json(stored->json);
      if (!parsed) {
        return hearth::unexpected(entry_error(error_codes::exception, i, "a stored resource could not be read"));
      }
      keep_stored_links(content, *parsed);
    } else if (stored.error().code != error_codes::not_found) {
      return hearth::unexpected(entry_error(stored.error().code, i, stored.error().message));
    }
    add_link(content, plans[i].id, "replaces");
  }

  // 1c. The merge record outlives later messages: a v2 message carries no
  // Patient.link, so a conditional update of a stored Patient that has
  // links (an earlier merge's, R4 patient.html#links) would drop them, and
  // would make a merged-away Patient active again. The Patient is written
  // with the stored links it lacks, and a Patient "replaced-by" another
  // stays active false. (A survivor of a merge in this Bundle got its
  // stored links in 1b; the check below finds them there already.)
  for (std::size_t i = 0; i < n; ++i) {
    plan& p = plans[i];
    if (p.merge || p.writer != i || p.type != "Patient" || !p.replaces_stored) continue;
    auto s = stored(p.id);  // outside the transaction: see prepare_transaction_bundle
    if (!s) return hearth::unexpected(std::move(s).error());
    if (!*s) continue;
    fhir::json_value* own = keep_stored_links(p.resource, **s);
    if (own == nullptr) continue;
    bool replaced = false;
    for (const fhir::json_value& l : own->items()) {
      const fhir::json_value* t = l.find("type");
      if (t != nullptr && t->is_string() && t->str() == "replaced-by") replaced = true;
    }
    if (replaced) p.resource.set("active", fhir::json_value(false));
  }

  // 2. Rewrite the references between entries.
  for (std::size_t i = 0; i < n; ++i) {
    if (auto r = rewrite_references(plans[i].resource, targets, i, 0); !r) return hearth::unexpected(r.error());
  }

  return res;
}

/// Step 3: write, in entry order; an entry superseded by a later one with
/// the same conditional url is written by that one. A plan's prepared body
/// is written as it is; otherwise the resource is checked and indexed here.
hearth::result<std::vector<applied_resource>> write_plans(resource_tx& tx, resolution& res) {
  std::vector<plan>& plans = res.plans;
  const std::size_t n = plans.size();
  std::vector<applied_resource> applied;
  applied.resize(n);
  // What merges wrote (each resource's last write) and, in order, the
  // resources they moved: the results' versions are brought up to date with
  // it, and the moved resources not among the entries are reported after them.
  std::map<std::pair<std::string, std::string>, applied_resource> merged;
  std::vector<std::pair<std::string, std::string>> moved;
  const auto note = [&](const applied_resource& a) { merged[{a.type, a.id}] = a; };
  update_options existing;
  existing.allow_create = false;
  for (std::size_t i = 0; i < n; ++i) {
    plan& p = plans[i];
    if (p.merge) {
      const std::string target_id = plans[p.merge->target_entry].id;
      // The survivor: "replaces" the source (already in the content the
      // Bundle wrote for it, step 1b, unless it wrote none).
      auto target = read_current(tx, "Patient", target_id, i);
      if (!target) return hearth::unexpected(target.error());
      if (add_link(target->value, p.id, "replaces")) {
        auto out = tx.update("Patient", target_id, std::move(target->value), existing);
        if (!out) return hearth::unexpected(entry_error(out.error().code, i, out.error().message));
        note(applied_resource{"Patient", target_id, out->version.version_id, false, out->changed});
      }
      // The source: inactive, "replaced-by" the survivor (R4 patient.html#links).
      auto source = read_current(tx, "Patient", p.id, i);
      if (!source) return hearth::unexpected(source.error());
      bool changed = add_link(source->value, target_id, "replaced-by");
      if (const fhir::json_value* active = source->value.find("active");
          active == nullptr || !active->is_bool() || active->as_bool()) {
        source->value.set("active", fhir::json_value(false));
        changed = true;
      }
      applied[i] = applied_resource{"Patient", p.id, source->version_id, false, false};
      if (changed) {
        auto out = tx.update("Patient", p.id, std::move(source->value), existing);
        if (!out) return hearth::unexpected(entry_error(out.error().code, i, out.error().message));
        applied[i].version_id = out->version.version_id;
        applied[i].changed = out->changed;
        note(applied[i]);
      }
      // What refers to the source refers to the survivor, except the records
      // of what happened (AuditEvent, Provenance) and Patients (their only
      // Patient references are links, which record merges and links too).
      static constexpr std::string_view kept[] = {"Patient", "AuditEvent", "Provenance"};
      auto referrers = detail::find_referrers(tx, "Patient", p.id, kept, max_merge_moves);
      if (!referrers) return hearth::unexpected(entry_error(referrers.error().code, i, referrers.error().message));
      if (referrers->size() > max_merge_moves) {
        return hearth::unexpected(entry_error(error_codes::too_costly, i,
                                              "the merge would move more than " + std::to_string(max_merge_moves) +
                                                  " resources"));
      }
      const std::string from = "Patient/" + p.id, to = "Patient/" + target_id;
      for (const detail::resource_key& k : *referrers) {
        auto current = read_current(tx, k.type, k.id, i);
        if (!current) return hearth::unexpected(current.error());
        // Only the exact relative reference is rewritten: a versioned one
        // names that version, an absolute one may name another server.
        if (!move_references(current->value, from, to, 0)) continue;
        auto out = tx.update(k.type, k.id, std::move(current->value), existing);
        if (!out) return hearth::unexpected(entry_error(out.error().code, i, out.error().message));
        note(applied_resource{k.type, k.id, out->version.version_id, false, out->changed});
        if (std::find(moved.begin(), moved.end(), std::make_pair(k.type, k.id)) == moved.end()) {
          moved.emplace_back(k.type, k.id);
        }
      }
      continue;
    }
    if (p.writer == no_writer) {
      // A conditional create that matched: the stored resource, unchanged.
      auto current = tx.read(p.type, p.id);
      if (!current) return hearth::unexpected(entry_error(current.error().code, i, current.error().message));
      applied[i] = applied_resource{p.type, p.id, current->version_id, false, false};
      continue;
    }
    if (p.writer != i) continue;
    update_options opts;
    opts.allow_create = true;  // a new id: update-as-create (resource_store::new_id's contract)
    auto out = p.prepared ? tx.update(std::move(*p.prepared), opts) : tx.update(p.type, p.id, std::move(p.resource), opts);
    if (!out) return hearth::unexpected(entry_error(out.error().code, i, out.error().message));
    applied[i] = applied_resource{p.type, p.id, out->version.version_id, out->created, out->changed};
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (plans[i].merge) continue;
    if (plans[i].writer != i && plans[i].writer != no_writer) applied[i] = applied[plans[i].writer];
  }
  std::set<std::pair<std::string, std::string>> in_entries;
  for (applied_resource& a : applied) {
    in_entries.emplace(a.type, a.id);
    const auto it = merged.find({a.type, a.id});
    if (it == merged.end()) continue;
    a.version_id = std::max(a.version_id, it->second.version_id);
    a.changed = a.changed || it->second.changed;
  }
  for (const auto& key : moved) {
    if (in_entries.count(key) == 0) applied.push_back(merged.at(key));
  }
  return applied;
}

/// Step 1c's view of a stored Patient: its content, or nullopt when there is
/// none (or it is deleted). Errors: the read's, or "exception" for a body
/// that cannot be parsed.
hearth::result<std::optional<fhir::json_value>> stored_patient(hearth::result<resource_version> v) {
  if (!v) {
    if (v.error().code == error_codes::not_found || v.error().code == error_codes::deleted) {
      return std::optional<fhir::json_value>();
    }
    return hearth::unexpected(std::move(v).error());
  }
  if (v->deleted) return std::optional<fhir::json_value>();
  auto parsed = fhir::parse_json(v->json);
  if (!parsed) return hearth::unexpected(make_error(error_codes::exception, "a stored Patient could not be read"));
  return std::optional<fhir::json_value>(std::move(*parsed));
}

hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                       const fhir::json_value& bundle) {
  auto find = [&tx](std::string_view type, std::string_view system, std::string_view value) {
    return tx.find_by_identifier(type, system, value, 2);
  };
  auto stored = [&tx](const std::string& id) { return stored_patient(tx.read("Patient", id)); };
  auto res = resolve(bundle, find, stored, &tx);
  if (!res) return hearth::unexpected(std::move(res).error());
  return write_plans(tx, *res);
}

struct prepared_bundle::impl {
  const fhir::json_value* bundle = nullptr;
  /// Planned and prepared outside the transaction; false: the transaction
  /// does everything (a merge, or anything the planning could not settle,
  /// whose error the transaction then reports as apply_transaction_bundle does).
  bool planned = false;
  resolution res;
  std::vector<lookup_record> lookups;
  std::vector<read_record> reads;
};

prepared_bundle::prepared_bundle(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
prepared_bundle::prepared_bundle(prepared_bundle&&) noexcept = default;
prepared_bundle& prepared_bundle::operator=(prepared_bundle&&) noexcept = default;
prepared_bundle::~prepared_bundle() = default;

prepared_bundle prepare_transaction_bundle(const resource_store& rs, const fhir::json_value& bundle) {
  auto out = std::make_unique<prepared_bundle::impl>();
  out->bundle = &bundle;
  std::vector<lookup_record>& lookups = out->lookups;
  auto find = [&rs, &lookups](std::string_view type, std::string_view system,
                              std::string_view value) -> hearth::result<std::vector<std::string>> {
    auto ids = rs.find_by_identifier(type, system, value, 2);
    if (ids) lookups.push_back(lookup_record{std::string(type), std::string(system), std::string(value), *ids});
    return ids;
  };
  // Step 1c reads stored Patients on a reader: one that has links (a merge's)
  // is left to the transaction, which reads it again under the writer's
  // lock; for the others the version read is checked again there.
  std::vector<read_record>& reads = out->reads;
  auto stored = [&rs, &reads](const std::string& id) -> hearth::result<std::optional<fhir::json_value>> {
    auto v = rs.read("Patient", id);
    const std::int64_t version = v ? v->version_id : 0;
    auto s = stored_patient(std::move(v));
    if (!s) return s;
    if (*s && (*s)->find("link") != nullptr) {
      return hearth::unexpected(make_error(needs_transaction, "a stored Patient with links"));
    }
    reads.push_back(read_record{id, version});
    return s;
  };
  auto res = resolve(bundle, find, stored, nullptr);
  if (!res) return prepared_bundle(std::move(out));
  for (std::size_t i = 0; i < res->plans.size(); ++i) {
    plan& p = res->plans[i];
    if (p.writer != i) continue;
    auto w = rs.prepare(p.type, p.id, std::move(p.resource));
    if (!w) return prepared_bundle(std::move(out));  // the transaction reports it
    p.resource = fhir::json_value();
    p.prepared.emplace(std::move(*w));
  }
  out->res = std::move(*res);
  out->planned = true;
  return prepared_bundle(std::move(out));
}

hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx, prepared_bundle&& prepared) {
  prepared_bundle::impl& b = *prepared.impl_;
  if (!b.planned) return apply_transaction_bundle(tx, *b.bundle);
  // The plan holds only if every lookup finds what it found before (another
  // write may have landed in between): otherwise plan again, here.
  for (const lookup_record& l : b.lookups) {
    auto ids = tx.find_by_identifier(l.type, l.system, l.value, 2);
    if (!ids) return hearth::unexpected(std::move(ids).error());
    if (*ids != l.ids) return apply_transaction_bundle(tx, *b.bundle);
  }
  for (const read_record& r : b.reads) {
    auto v = tx.read("Patient", r.id);
    const std::int64_t now = v ? v->version_id : 0;
    if (!v && v.error().code != error_codes::not_found && v.error().code != error_codes::deleted) {
      return hearth::unexpected(std::move(v).error());
    }
    if (now != r.version_id) return apply_transaction_bundle(tx, *b.bundle);
  }
  b.planned = false;  // written once
  return write_plans(tx, b.res);
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
