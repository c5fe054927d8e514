#include <hearth/server/smart_scopes.hpp>

#include <doctest/doctest.h>

#include <hearth/fhir/definitions.hpp>

#include <array>
#include <string>
#include <string_view>

namespace hearth::server::auth {
namespace {

/// A handful of R4 resource types: enough for the grammar; one case below
/// uses the real definitions.
bool small_registry(std::string_view t) {
  static constexpr std::array<std::string_view, 6> types{"Condition",         "Encounter", "Medication",
                                                          "MedicationRequest", "Observation", "Patient"};
  for (auto x : types)
    if (x == t) return true;
  return false;
}

const resource_type_predicate types = small_registry;

scope_set parse_ok(std::string_view text) {
  auto r = parse_scopes(text, parse_mode::strict, types);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().message));
  CHECK(r->dropped.empty());
  return r->scopes;
}

/// Strict parsing fails; returns the error.
hearth::error parse_bad(std::string_view text, const scope_limits& limits = {}) {
  auto r = parse_scopes(text, parse_mode::strict, types, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_scope");
  CHECK(r.error().message.rfind("malformed scopes rejected: ", 0) == 0);
  return r.error();
}

access_request req(interaction what, std::string_view type, bool compartment = false) {
  access_request r;
  r.what = what;
  r.resource_type = type;
  r.patient_compartment = compartment;
  return r;
}

const launch_context with_patient{"123"};
const launch_context no_patient{};

constexpr permission_bits rs = permission::read | permission::search;

TEST_CASE("smart scopes: v1 forms mean their v2 letters") {
  CHECK(parse_ok("patient/Observation.read") == parse_ok("patient/Observation.rs"));
  CHECK(parse_ok("user/*.write") == parse_ok("user/*.cud"));
  CHECK(parse_ok("system/*.*") == parse_ok("system/*.cruds"));
  const auto s = parse_ok("patient/Observation.read");
  REQUIRE(s.resources.size() == 1);
  CHECK(s.resources[0].level == scope_level::patient);
  CHECK(s.resources[0].resource_type == "Observation");
  CHECK(s.resources[0].permissions == rs);
  CHECK(to_string(parse_ok("user/*.write")) == "user/*.cud");
}

TEST_CASE("smart scopes: each permission letter on its own") {
  CHECK(parse_ok("user/Patient.c").resources.at(0).permissions == permission::create);
  CHECK(parse_ok("user/Patient.r").resources.at(0).permissions == permission::read);
  CHECK(parse_ok("user/Patient.u").resources.at(0).permissions == permission::update);
  CHECK(parse_ok("user/Patient.d").resources.at(0).permissions == permission::remove);
  CHECK(parse_ok("user/Patient.s").resources.at(0).permissions == permission::search);
  CHECK(parse_ok("user/Patient.cruds").resources.at(0).permissions == permission::all);
  CHECK(parse_ok("user/Patient.cd").resources.at(0).permissions == (permission::create | permission::remove));
  CHECK(permission_letters(permission::update | permission::create) == "cu");
}

TEST_CASE("smart scopes: letters out of order, repeated, unknown or missing are malformed") {
  for (std::string_view bad : {"patient/Observation.sr", "patient/Observation.dus", "patient/Observation.rrs",
                               "patient/Observation.cc", "patient/Observation.rx", "patient/Observation.",
                               "patient/Observation.R", "patient/Observation.crudss", "patient/Observation.Read",
                               "patient/Observation.all", "patient/Observation"}) {
    CAPTURE(bad);
    const auto e = parse_bad(bad);
    CHECK(e.location == "scope[0]");
    CHECK(e.offset == 0);
  }
}

TEST_CASE("smart scopes: malformed resource scopes") {
  for (std::string_view bad :
       {"patient/", "patient/.r", "patient/.read", "Patient/x.read", "Patient/Observation.read", "PATIENT/*.rs",
        "patient/x.read", "patient/observation.rs", "patient/Resource.rs", "patient/DomainResource.rs",
        "patient/**.rs", "practitioner/*.rs", "/Observation.rs", "patient//Observation.rs", "patient/Observation.rs?",
        "patient/Observation.rs?category", "patient/Observation.rs?=x", "patient/Observation.rs?category=",
        "patient/Observation.rs?a=1&&b=2", "patient/Observation.rs?a=1&", "patient/Observation.read?category=x",
        "patient/Observation.*?category=x", "patient/Observation.rs?na me=x"}) {
    CAPTURE(bad);
    (void)parse_bad(bad);
  }
}

TEST_CASE("smart scopes: errors name the scope by index and offset, never its text") {
  const auto e = parse_bad("openid  patient/Observation.rs user/Secret-Thing.rs");
  CHECK(e.location == "scope[2]");
  CHECK(e.offset == 31);
  CHECK(e.message.find("Secret") == std::string::npos);
  CHECK(e.message == "malformed scopes rejected: not an R4 resource type");
}

TEST_CASE("smart scopes: unicode and characters outside RFC 6749 scope-token") {
  // "é" in UTF-8, a tab, a quote and a backslash, a NUL byte.
  (void)parse_bad("patient/Observ\xC3\xA9tion.rs");
  (void)parse_bad("patient/Observation.rs\topenid");
  (void)parse_bad("patient/Observation.rs?code=\"x\"");
  (void)parse_bad("patient/Observation.rs?code=a\\b");
  (void)parse_bad(std::string_view("openid\0", 7));
  (void)parse_bad("openid\xE2\x80\x83profile");  // an em space is not a separator
}

TEST_CASE("smart scopes: empty input and separators") {
  CHECK(parse_ok("") == scope_set{});
  CHECK(parse_ok("   ") == scope_set{});
  CHECK(parse_ok("  openid   fhirUser ") == parse_ok("openid fhirUser"));
}

TEST_CASE("smart scopes: context and identity scopes") {
  const auto s =
      parse_ok("launch launch/patient launch/encounter openid fhirUser profile offline_access online_access");
  CHECK(s.resources.empty());
  CHECK(s.has(context_scope::launch));
  CHECK(s.has(context_scope::launch_patient));
  CHECK(s.has(context_scope::launch_encounter));
  CHECK(s.has(context_scope::openid));
  CHECK(s.has(context_scope::fhir_user));
  CHECK(s.has(context_scope::profile));
  CHECK(s.has(context_scope::offline_access));
  CHECK(s.has(context_scope::online_access));
  CHECK_FALSE(parse_ok("openid").has(context_scope::fhir_user));
  // Case matters, and nothing else is known.
  for (std::string_view bad : {"OpenID", "fhiruser", "launch/Patient", "launch/location", "email", "*", "launch/"}) {
    CAPTURE(bad);
    (void)parse_bad(bad);
  }
}

TEST_CASE("smart scopes: duplicates and split letters merge into one scope") {
  const auto s = parse_ok("patient/Observation.r patient/Observation.rs patient/Observation.s openid openid");
  REQUIRE(s.resources.size() == 1);
  CHECK(s.resources[0].permissions == rs);
  CHECK(to_string(s) == "patient/Observation.rs openid");
  // Different levels or queries stay apart.
  CHECK(parse_ok("patient/Observation.rs user/Observation.rs").resources.size() == 2);
  CHECK(parse_ok("patient/Observation.rs patient/Observation.rs?category=laboratory").resources.size() == 2);
}

TEST_CASE("smart scopes: granular query kept as name/value pairs") {
  const auto s = parse_ok(
      "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
  REQUIRE(s.resources.size() == 1);
  REQUIRE(s.resources[0].query.size() == 1);
  CHECK(s.resources[0].query[0].name == "category");
  CHECK(s.resources[0].query[0].value == "http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
  CHECK(s.resources[0].permissions == rs);

  // Several parameters, sorted; a modifier in the name; '=' inside a value.
  const auto t = parse_ok("user/Condition.r?code:in=http://x/vs&category=problem-list-item&_tag=a=b");
  REQUIRE(t.resources.at(0).query.size() == 3);
  CHECK(t.resources[0].query[0] == query_param{"_tag", "a=b"});
  CHECK(t.resources[0].query[1] == query_param{"category", "problem-list-item"});
  CHECK(t.resources[0].query[2] == query_param{"code:in", "http://x/vs"});
  // Parameter order does not matter to equality.
  CHECK(parse_ok("user/Condition.r?b=2&a=1") == parse_ok("user/Condition.r?a=1&b=2"));
}

TEST_CASE("smart scopes: to_string gives the normalised v2 string, which parses back equal") {
  const auto s = parse_ok(
      "offline_access user/*.read patient/Observation.s?category=vital-signs patient/Observation.read "
      "openid launch/patient system/Patient.*");
  const std::string text = to_string(s);
  CHECK(text ==
        "patient/Observation.rs patient/Observation.s?category=vital-signs user/*.rs system/Patient.cruds "
        "launch/patient openid offline_access");
  CHECK(parse_ok(text) == s);
}

TEST_CASE("smart scopes: lenient mode drops what it cannot parse and says which, by index") {
  auto r = parse_scopes("openid patient/Observation.sr email  user/Patient.rs Patient/x.read", parse_mode::lenient,
                        types);
  REQUIRE(r.has_value());
  CHECK(r->dropped == std::vector<std::size_t>{1, 2, 4});
  CHECK(to_string(r->scopes) == "user/Patient.rs openid");

  auto none = parse_scopes("openid fhirUser", parse_mode::lenient, types);
  REQUIRE(none.has_value());
  CHECK(none->dropped.empty());
}

TEST_CASE("smart scopes: limits") {
  scope_limits small;
  small.max_input_bytes = 64;
  small.max_scopes = 3;
  small.max_scope_bytes = 40;
  small.max_query_bytes = 12;
  small.max_query_params = 2;

  // Whole-string limits fail in both modes.
  const std::string long_input(65, 'a');
  CHECK(parse_bad(long_input, small).message == "malformed scopes rejected: scope string too long");
  CHECK_FALSE(parse_scopes(long_input, parse_mode::lenient, types, small).has_value());
  CHECK(parse_scopes("openid fhirUser profile", parse_mode::strict, types, small).has_value());
  const auto many = parse_bad("openid fhirUser profile launch", small);
  CHECK(many.message == "malformed scopes rejected: too many scopes");
  CHECK(many.location == "scope[3]");
  CHECK_FALSE(parse_scopes("openid fhirUser profile launch", parse_mode::lenient, types, small).has_value());

  // Per-scope limits: an error in strict mode, a drop in lenient mode.
  CHECK(parse_bad("user/Patient.rs?abcd=12&efgh=3", small).message ==
        "malformed scopes rejected: query part too long");
  CHECK(parse_bad("user/Patient.rs?a=1&b=2&c=3", small).message == "malformed scopes rejected: too many query parameters");
  CHECK(parse_scopes("user/Patient.rs?a=1&b=2", parse_mode::strict, types, small).has_value());
  CHECK(parse_bad("user/Patient.rs?abcdefghijklmnopqrstuvwxyz=1", small).message ==
        "malformed scopes rejected: scope too long");
  auto r = parse_scopes("user/Patient.rs?a=1&b=2&c=3 openid", parse_mode::lenient, types, small);
  REQUIRE(r.has_value());
  CHECK(r->dropped == std::vector<std::size_t>{0});
}

TEST_CASE("smart scopes: huge hostile strings fail fast under the default limits") {
  const scope_limits defaults;
  const std::string huge(defaults.max_input_bytes + 1, 'r');
  CHECK(parse_bad(huge).message == "malformed scopes rejected: scope string too long");
  std::string one_long = "patient/Observation.rs?category=" + std::string(2000, 'x');
  CHECK(parse_bad(one_long).message == "malformed scopes rejected: scope too long");
  std::string many;
  for (std::size_t i = 0; i <= defaults.max_scopes; ++i) many += "openid ";
  CHECK(parse_bad(many).message == "malformed scopes rejected: too many scopes");
}

TEST_CASE("smart scopes: the real R4 definitions decide resource types") {
  auto defs = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
  REQUIRE(defs.has_value());
  const resource_type_predicate r4 = [&](std::string_view t) { return defs->is_resource_type(t); };
  CHECK(parse_scopes("patient/AllergyIntolerance.rs user/MedicinalProductPharmaceutical.r", parse_mode::strict, r4)
            .has_value());
  CHECK_FALSE(parse_scopes("patient/Resource.rs", parse_mode::strict, r4).has_value());
  CHECK_FALSE(parse_scopes("patient/HumanName.rs", parse_mode::strict, r4).has_value());
  // R4B only: not served by an R4 server.
  CHECK_FALSE(parse_scopes("patient/SubscriptionStatus.rs", parse_mode::strict, r4).has_value());
  // No predicate: only "*" passes.
  CHECK(parse_scopes("patient/*.rs", parse_mode::strict, resource_type_predicate{}).has_value());
  CHECK_FALSE(parse_scopes("patient/Patient.rs", parse_mode::strict, resource_type_predicate{}).has_value());
}

TEST_CASE("smart scopes: each interaction needs its letter") {
  CHECK(required_permission(interaction::read) == permission::read);
  CHECK(required_permission(interaction::vread) == permission::read);
  CHECK(required_permission(interaction::history_instance) == permission::read);
  CHECK(required_permission(interaction::search_type) == permission::search);
  CHECK(required_permission(interaction::history_type) == permission::search);
  CHECK(required_permission(interaction::search_system) == permission::search);
  CHECK(required_permission(interaction::history_system) == permission::search);
  CHECK(required_permission(interaction::create) == permission::create);
  CHECK(required_permission(interaction::update) == permission::update);
  CHECK(required_permission(interaction::patch) == permission::update);
  CHECK(required_permission(interaction::remove) == permission::remove);
  CHECK(to_string(interaction::remove) == "delete");
  CHECK(to_string(interaction::history_instance) == "history-instance");

  struct row {
    std::string_view letters;
    interaction what;
  };
  for (const row& r : {row{"r", interaction::read}, row{"r", interaction::vread}, row{"r", interaction::history_instance},
                       row{"s", interaction::search_type}, row{"s", interaction::history_type},
                       row{"c", interaction::create}, row{"u", interaction::update}, row{"u", interaction::patch},
                       row{"d", interaction::remove}}) {
    CAPTURE(to_string(r.what));
    // The matching letter grants; every other single letter does not.
    for (std::string_view l : {"c", "r", "u", "d", "s"}) {
      const auto s = parse_ok("user/Observation." + std::string(l));
      const auto d = decide(s, no_patient, req(r.what, "Observation"));
      CHECK(d.allowed == (l == r.letters));
      if (!d.allowed) CHECK(d.reason == deny_reason::missing_permission);
    }
  }
}

TEST_CASE("smart scopes: write does not imply read, v1 read does not allow create") {
  const auto w = parse_ok("user/Observation.write");
  CHECK(decide(w, no_patient, req(interaction::update, "Observation")).allowed);
  CHECK_FALSE(decide(w, no_patient, req(interaction::read, "Observation")).allowed);
  const auto r = parse_ok("user/Observation.read");
  CHECK(decide(r, no_patient, req(interaction::search_type, "Observation")).allowed);
  CHECK_FALSE(decide(r, no_patient, req(interaction::create, "Observation")).allowed);
}

TEST_CASE("smart scopes: wildcards cover every type, specific types only themselves") {
  const auto s = parse_ok("user/*.rs");
  CHECK(decide(s, no_patient, req(interaction::read, "Condition")).allowed);
  CHECK(decide(s, no_patient, req(interaction::search_system, "")).allowed);
  const auto t = parse_ok("user/Observation.rs");
  const auto other = decide(t, no_patient, req(interaction::read, "Condition"));
  CHECK_FALSE(other.allowed);
  CHECK(other.reason == deny_reason::no_scope_for_type);
  // A system-wide search may return any type: only "*" covers it.
  CHECK_FALSE(decide(t, no_patient, req(interaction::search_system, "")).allowed);
  CHECK_FALSE(decide(t, no_patient, req(interaction::history_system, "")).allowed);
  CHECK_FALSE(decide(scope_set{}, no_patient, req(interaction::read, "Condition")).allowed);
}

TEST_CASE("smart scopes: patient scopes need a patient in context and a compartment access") {
  const auto s = parse_ok("patient/Observation.rs");
  const auto none = decide(s, no_patient, req(interaction::read, "Observation", true));
  CHECK_FALSE(none.allowed);
  CHECK(none.reason == deny_reason::no_patient_in_context);
  const auto outside = decide(s, with_patient, req(interaction::search_type, "Observation", false));
  CHECK_FALSE(outside.allowed);
  CHECK(outside.reason == deny_reason::outside_patient_compartment);
  const auto ok = decide(s, with_patient, req(interaction::search_type, "Observation", true));
  CHECK(ok.allowed);
  CHECK(ok.levels == level_bit(scope_level::patient));
  CHECK(ok.filters.empty());

  // A user scope beside it grants without the compartment.
  const auto both = parse_ok("patient/Observation.rs user/Observation.r");
  const auto d = decide(both, no_patient, req(interaction::read, "Observation", true));
  CHECK(d.allowed);
  CHECK(d.levels == level_bit(scope_level::user));
  const auto d2 = decide(both, with_patient, req(interaction::read, "Observation", true));
  CHECK(d2.levels == (level_bit(scope_level::user) | level_bit(scope_level::patient)));
}

TEST_CASE("smart scopes: granular filters are the union of the granting scopes") {
  const std::string lab = "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
  const std::string vit = "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs";
  const auto one = parse_ok("patient/Observation.rs?" + lab);
  const auto d = decide(one, with_patient, req(interaction::search_type, "Observation", true));
  REQUIRE(d.allowed);
  REQUIRE(d.filters.size() == 1);
  REQUIRE(d.filters[0].size() == 1);
  CHECK(d.filters[0][0].name == "category");

  const auto two = parse_ok("patient/Observation.rs?" + lab + " patient/Observation.rs?" + vit);
  CHECK(decide(two, with_patient, req(interaction::read, "Observation", true)).filters.size() == 2);

  // An unfiltered grant lifts every filter.
  const auto open = parse_ok("patient/Observation.rs?" + lab + " user/Observation.r");
  const auto o = decide(open, with_patient, req(interaction::read, "Observation", true));
  CHECK(o.allowed);
  CHECK(o.filters.empty());
  // ... but not when that grant does not have the letter: search stays filtered.
  const auto s = decide(open, with_patient, req(interaction::search_type, "Observation", true));
  CHECK(s.allowed);
  CHECK(s.filters.size() == 1);
  // A filtered scope of another type adds nothing.
  const auto mixed = parse_ok("user/Condition.rs?category=problem-list-item user/Observation.rs");
  CHECK(decide(mixed, no_patient, req(interaction::read, "Observation")).filters.empty());
  // A filtered patient scope does not apply outside a patient context.
  CHECK_FALSE(decide(one, no_patient, req(interaction::read, "Observation", true)).allowed);
}

TEST_CASE("smart scopes: operations name one letter; inconsistent requests fail closed") {
  const auto s = parse_ok("user/Patient.rs");
  access_request op = req(interaction::operation, "Patient");
  op.operation_permission = permission::search;
  CHECK(decide(s, no_patient, op).allowed);
  op.operation_permission = permission::create;
  CHECK(decide(s, no_patient, op).reason == deny_reason::missing_permission);
  op.operation_permission = 0;
  CHECK(decide(s, no_patient, op).reason == deny_reason::invalid_request);
  op.operation_permission = rs;  // two letters: ask twice
  CHECK(decide(s, no_patient, op).reason == deny_reason::invalid_request);
  op.operation_permission = 0x20;
  CHECK(decide(s, no_patient, op).reason == deny_reason::invalid_request);

  const auto all = parse_ok("system/*.cruds");
  // A type-level interaction without a type, a system one with a type.
  CHECK(decide(all, no_patient, req(interaction::read, "")).reason == deny_reason::invalid_request);
  CHECK(decide(all, no_patient, req(interaction::search_system, "Patient")).reason == deny_reason::invalid_request);
  CHECK(decide(all, no_patient, req(interaction::remove, "Patient")).allowed);
  CHECK_FALSE(to_string(deny_reason::no_patient_in_context).empty());
}

TEST_CASE("smart scopes: a refresh may narrow, never widen") {
  const auto granted = parse_ok(
      "patient/Observation.rs user/*.r patient/Condition.rs?category=problem-list-item openid fhirUser "
      "offline_access");
  CHECK(is_subset(granted, granted));
  CHECK(is_subset(parse_ok(""), granted));
  CHECK(is_subset(parse_ok("patient/Observation.r openid"), granted));
  CHECK(is_subset(parse_ok("patient/Observation.read"), granted));  // v1 rs == v2 rs
  CHECK(is_subset(parse_ok("user/Encounter.r"), granted));           // covered by user/*.r
  CHECK(is_subset(parse_ok("patient/Observation.s?category=laboratory"), granted));  // a filter narrows
  CHECK(is_subset(parse_ok("patient/Condition.r?category=problem-list-item&code=x"), granted));

  CHECK_FALSE(is_subset(parse_ok("patient/Observation.rs launch"), granted));  // new context scope
  CHECK_FALSE(is_subset(parse_ok("patient/Observation.c"), granted));          // new letter
  CHECK_FALSE(is_subset(parse_ok("user/*.rs"), granted));                      // s on every type
  CHECK_FALSE(is_subset(parse_ok("user/Encounter.s"), granted));
  CHECK_FALSE(is_subset(parse_ok("patient/Condition.rs"), granted));           // the filter dropped
  CHECK_FALSE(is_subset(parse_ok("patient/Condition.r?category=encounter-diagnosis"), granted));
  CHECK_FALSE(is_subset(parse_ok("system/Observation.r"), granted));           // another level
  CHECK_FALSE(is_subset(parse_ok("patient/*.r"), granted));                    // "*" is not covered by one type
}

}  // namespace
}  // namespace hearth::server::auth
