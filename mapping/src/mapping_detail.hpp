#pragma once
// Shared machinery of the v2 -> FHIR mapping, for every message family.
//
// How a message family is added (ORU^R01, SIU, MDM, ORM/OML, VXU, ...):
//   1. write `void map_xxx(context& ctx)` in a new src/xxx.cpp (see adt.cpp);
//   2. add its MSH-9 codes and events to the dispatch table in convert.cpp;
//   3. reuse what is here: map_patient() (PID/PD1 -> the Patient entry),
//      map_encounter() / map_context_encounter() (PV1 -> the Encounter entry),
//      the data type maps (CX, XPN, XAD, XTN, CWE, XCN, PL, DTM...), the code
//      system lookups and the bundle builder (context::add_entry).
//
// Errors: a map never throws and never returns early through many layers.
// It calls ctx.fail() with the first error (a table 0357 code and a
// position) and carries on with empty values; convert() looks at
// ctx.failed() and discards the Bundle. Warnings (what was sent but could not
// be mapped) go to ctx.warn(). Neither ever holds message content (PHI): texts
// name fields and say what is wrong; positions say where.
//
// Thread-safety: a context belongs to one convert() call. The code system
// tables (code_systems.cpp) are built once, thread-safely, and then read-only.

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/datatypes.hpp>
#include <hearth/hl7v2/datetime.hpp>
#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/message.hpp>
#include <hearth/mapping/config.hpp>
#include <hearth/mapping/convert.hpp>

namespace hearth::mapping::detail {

using fhir::json_value;
using hl7v2::element_view;
using hl7v2::error_code;
using hl7v2::position;
using hl7v2::segment_view;

// ------------------------------------------------------------------ positions

/// The position of field `field` (and deeper parts, 0 = whole) of `seg`.
position at(const segment_view& seg, std::size_t field, std::size_t repetition = 0, std::size_t component = 0,
            std::size_t subcomponent = 0);

/// True for an element that says something: neither empty nor the HL7
/// explicit null `""` (HL7 v2.5.1 2.5.3).
inline bool valued(const element_view& e) { return !e.empty() && !e.is_null(); }

/// Calls fn(repetition, position) for each valued repetition of field
/// `field` of `seg`, in order, with the repetition's 1-based position.
template <class Fn>
void each_repetition(const segment_view& seg, std::size_t field, Fn&& fn) {
  const element_view f = seg.field(field);
  if (!valued(f)) return;
  std::size_t r = 0;
  for (const element_view rep : f.children()) {
    ++r;
    if (!valued(rep)) continue;
    fn(rep, at(seg, field, r));
  }
}
/// Part n one level down in a data type's structure: component n of a
/// field or repetition position, subcomponent n of a component position (as
/// element_view::part() reads them).
position child(position p, std::size_t n);

// ----------------------------------------------------------------- identities

/// What makes a resource the same one in a later message: an Identifier
/// system and value. Both non-empty when valid.
struct identity {
  std::string system;
  std::string value;
  bool valid() const noexcept { return !system.empty() && !value.empty(); }
};

/// A derived identity (see convert.hpp): system derived_identifier_system_prefix
/// + `resource_type`, value the hex SHA-1 of `parts` (each length-prefixed, so
/// that ("ab","c") and ("a","bc") differ).
identity derived_identity(std::string_view resource_type, std::initializer_list<std::string_view> parts);

/// An Identifier JSON object {system, value} for `id`.
json_value identifier_json(const identity& id);
/// True when `resource` carries an Identifier with id's system and value.
bool has_identifier(const json_value& resource, const identity& id);

/// "identifier=<system>|<value>": system and value escaped as R4
/// search.html#escaping says (`\`, `|`, `,`, `$` get a `\` first), then
/// percent-encoded for a URL query (all but RFC 3986 unreserved characters).
/// A conditional create's ifNoneExist (R4 http.html#ccreate).
std::string conditional_query(const identity& id);

/// "Type?" + conditional_query(id): a conditional update's url.
std::string conditional_url(std::string_view resource_type, const identity& id);

// -------------------------------------------------------------------- context

/// One conversion in progress: the message, the sender's settings, the
/// Bundle entries built so far, the warnings and the first error.
class context {
 public:
  /// Both are referenced, not copied: they must outlive the context.
  context(const hl7v2::message& msg, const sender_config& cfg);
  context(const hl7v2::message& msg, sender_config&& cfg) = delete;
  context(hl7v2::message&& msg, const sender_config& cfg) = delete;

  const hl7v2::message& msg;
  const sender_config& cfg;
  /// The R4 terminology for ConceptMap translations (convert_options), or nullptr.
  const terminology::registry* terminology = nullptr;

  /// Records the first error; later ones are dropped (the first is the cause).
  void fail(error_code code, std::string text, position where);
  bool failed() const noexcept { return error_.has_value(); }
  const hl7v2::error& error() const { return *error_; }

  /// Adds a warning (severity W) for the ACK.
  void warn(error_code code, std::string text, position where);
  std::vector<hl7v2::ack_issue>& warnings() noexcept { return warnings_; }

  /// Appends an entry and returns its fullUrl ("urn:uuid:..."). With an
  /// identity: a conditional PUT, and `resource` must carry that identifier
  /// (add_entry adds it when missing). When an entry of the same type and
  /// identity exists already (the same practitioner in PV1-7 and PV1-17), the
  /// new resource is dropped and that entry's fullUrl returned: a transaction
  /// must not touch one resource twice (R4 http.html#trules).
  /// Without an identity: a POST.
  std::string add_entry(json_value resource, const std::optional<identity>& id);

  /// Appends a conditional create (R4 http.html#ccreate) and returns its
  /// fullUrl: {"method":"POST","url":"Type","ifNoneExist":
  /// conditional_query(id)}. The store creates the resource when nothing
  /// carries that identifier, and otherwise writes nothing and points the
  /// entry's references at the match: for a resource this message names but
  /// must not rewrite (a visit's Encounter seen from a lab result; the one
  /// ADT wrote is fuller). `resource` carries `id` (added when missing). As
  /// add_entry, an entry of the same type and identity already in the Bundle
  /// (either kind) is that resource: its fullUrl, the new resource dropped.
  /// An invalid `id`: a plain POST.
  std::string add_entry_if_none_exist(json_value resource, const identity& id);

  /// The entry's resource, by fullUrl, to complete it after adding (e.g. an
  /// Encounter's diagnoses); nullptr when unknown.
  json_value* resource(std::string_view full_url);

  /// The transaction Bundle of every entry added, in order.
  json_value bundle() const;

  /// The Patient of this message (fullUrl, identity), set by map_patient().
  std::string patient_url;
  identity patient_identity;

 private:
  struct entry {
    std::string full_url;
    std::string type;
    std::string conditional;   ///< conditional URL; empty for a plain POST
    bool create_only = false;  ///< with `conditional`: POST ifNoneExist, not PUT
    json_value resource;
  };
  std::string add(json_value resource, const std::optional<identity>& id, bool create_only);
  std::vector<entry> entries_;
  std::vector<hl7v2::ack_issue> warnings_;
  std::optional<hl7v2::error> error_;
  std::string uuid_name_prefix_;  ///< sender and MSH-10, the name of the entries' UUIDs
};

// ---------------------------------------------------------------- JSON helpers

/// A Reference to an entry of this Bundle.
json_value reference(std::string_view full_url);
/// True for null, "", [] and {}: FHIR JSON forbids empty values.
bool is_empty(const json_value& v);
/// Sets `obj[key] = value` unless value is empty.
void put(json_value& obj, std::string_view key, json_value value);
/// Appends `value` to the array `obj[key]` (created when missing) unless empty.
void append(json_value& obj, std::string_view key, json_value value);
/// A new resource object with resourceType first.
json_value new_resource(std::string_view type);
/// An extension {url, <value_key>: value}.
json_value extension(std::string_view url, std::string_view value_key, json_value value);

// ----------------------------------------------------------- code systems

/// One target concept of an IG code system map: the FHIR code, its display
/// and system. `code` empty: the v2 code is listed but maps to nothing.
struct concept_map_target {
  std::string code;
  std::string display;
  std::string system;
};

/// The target of `v2_code` in the IG map named `map_name` (the CSV's name,
/// e.g. "AdministrativeSex", "PatientClass[EncounterClass]"); nullptr when the
/// code is not in the map. Exact, case-sensitive match as in the tables.
const concept_map_target* lookup_code(std::string_view map_name, std::string_view v2_code);

/// Names of the embedded maps (for tests).
std::vector<std::string> code_map_names();

/// The CodeSystem URI of an HL7 table 0396 coding system name (CWE.3):
/// the sender's code_systems first, then the names we know ("LN", "SCT",
/// "I10", "HL70001"...); empty when unknown.
std::string coding_system_uri(std::string_view name, const sender_config& cfg);

/// The CodeSystem URI of HL7 v2 table `number` ("0001" ->
/// "http://terminology.hl7.org/CodeSystem/v2-0001").
std::string v2_table_uri(std::string_view number);

/// Maps a coded value to a FHIR `code` through `map_name`: the code, or empty
/// after a warning (103) at `where` when the code is not mapped. Empty input:
/// empty output, no warning.
std::string map_code(context& ctx, std::string_view map_name, std::string_view v2_code, const position& where);

// ------------------------------------------------------------------ data types
// Each takes the decoded v2 value (hl7v2/datatypes.hpp readers) and the
// position it came from; returns FHIR JSON, empty (null) when nothing was sent.

/// DTM -> FHIR dateTime (R4 datatypes.html#dateTime): only the precision sent;
/// a time gets seconds (":00" padded for hour and minute precision) and the
/// fraction as sent; an offset is required with a time: the one sent, else
/// cfg.default_offset, else error 102 at `where`. nullopt when `e` is empty or
/// the null "". A malformed value: error 102 at `where`.
std::optional<std::string> to_datetime(context& ctx, const element_view& e, const position& where);
/// The same from text already read (a TS/DTM component kept as sent by a reader).
std::optional<std::string> to_datetime(context& ctx, std::string_view text, const position& where);
/// DT or DTM -> FHIR date (R4 datatypes.html#date): the date part only, at the
/// precision sent (year, month or day).
std::optional<std::string> to_date(context& ctx, const element_view& e, const position& where);
std::optional<std::string> to_date(context& ctx, std::string_view text, const position& where);
/// A parsed DTM as a FHIR dateTime (rules of to_datetime).
std::optional<std::string> datetime_text(context& ctx, const hl7v2::date_time& dt, const position& where);

/// The Identifier.system an assigning authority resolves to: the sender's
/// identifier_systems (HD.1, then HD.2), else HD[uri] of the IG: HD.2 with
/// HD.3 "ISO" -> "urn:oid:" + HD.2, "UUID" -> "urn:uuid:" + HD.2, another
/// type with HD.2 an absolute URI -> HD.2; HD.1 when it is an absolute URI.
/// Empty when none (HD.1 "MRN" names an authority, it is no URI).
std::string resolve_system(const hl7v2::hd& authority, const sender_config& cfg);

/// Identifier.system prefixes of the fallback below (Hearth URNs).
inline constexpr std::string_view authority_system_prefix = "urn:hearth:v2-authority:";
inline constexpr std::string_view sender_system_prefix = "urn:hearth:v2-sender:";
/// The system of an identifier whose authority resolve_system() cannot
/// turn into one: the sender's default_identifier_system when configured;
/// else authority_system_prefix + HD.1 (percent-encoded) when the authority
/// has a namespace id; else sender_system_prefix + MSH-4.1 (or MSH-3.1):
/// an identifier without an authority belongs to its sender. Empty only
/// when the message names no sender at all.
std::string fallback_system(const context& ctx, const hl7v2::hd& authority);

/// CX -> Identifier (CX[Identifier]): value CX.1, system per resolve_system
/// (CX.4), else fallback_system(); type CX.5 (IdentifierType);
/// period CX.7/CX.8; an unresolved CX.4 becomes assigner.display.
/// `id_out`, when given, receives the identity (system may be empty).
json_value cx_identifier(context& ctx, const hl7v2::cx& v, const position& where, identity* id_out = nullptr);
/// EI -> Identifier: value EI.1, system from EI.2-4 as an HD.
json_value ei_identifier(context& ctx, const hl7v2::ei& v, identity* id_out = nullptr);
/// `id` (an Identifier) with Identifier.type set to code `code` of HL7
/// table 0203 ("PLAC", "FILL", "PGN", "FGN"...), type first as FHIR lists
/// the elements; empty for an empty `id`.
json_value typed_identifier(json_value id, std::string_view code);
/// ei_identifier() typed as typed_identifier() says (EIP[Identifier-
/// PlacerAssignedIdentifier], ORC[...] placer and filler numbers).
json_value typed_ei(context& ctx, const hl7v2::ei& v, std::string_view type, identity* id_out = nullptr);

/// XPN -> HumanName (XPN[HumanName]).
json_value human_name(context& ctx, const hl7v2::xpn& v, const position& where);
/// XAD -> Address (XAD[Address]).
json_value address(context& ctx, const hl7v2::xad& v, const position& where);
/// XTN -> ContactPoint (XTN[ContactPoint]). `default_use` ("home", "work")
/// applies when XTN.2 is not valued (PID-13, PID-14 rules).
json_value contact_point(context& ctx, const hl7v2::xtn& v, const position& where,
                         std::string_view default_use = {});
/// CWE/CE/CNE -> Coding of its first triplet; `table` ("0004") gives the
/// system when CWE.3 is empty.
json_value coding(context& ctx, const hl7v2::coded& v, const position& where, std::string_view table = {});
/// A CodeableConcept of one fixed Coding (a code Hearth chooses, not one
/// read from the message); no display when `display` is empty.
json_value fixed_concept(std::string_view system, std::string_view code, std::string_view display = {});
/// CWE/CE/CNE -> CodeableConcept (CWE[CodeableConcept]). With `map_name`, a
/// code found in that IG map becomes the first coding (its FHIR code, display
/// and system) and the v2 coding follows; `table` gives the v2 system when
/// CWE.3 is empty.
json_value codeable_concept(context& ctx, const hl7v2::coded& v, const position& where,
                            std::string_view map_name = {}, std::string_view table = {});

/// Adds to `cc` (a CodeableConcept) the codings the R4 ConceptMap
/// `concept_map` maps its codings to, "equivalent" and "equal" matches only,
/// each once (convert_options::terminology; nothing without it). The map is
/// the definitions' own, so its source system must be the coding's.
void add_mapped_codings(context& ctx, json_value& cc, std::string_view concept_map);

/// XCN -> a Reference to a Practitioner entry (XCN[Practitioner]): with an id
/// (XCN.1) a Practitioner conditional on its identifier (XCN.9 rules; a
/// derived identity scoped by the sender when XCN.9 does not resolve); with a
/// name only, a Reference with just a display (no resource: it could not be
/// found again). Null when nothing was sent.
json_value practitioner_reference(context& ctx, const hl7v2::xcn& v, const position& where);

/// PL -> a Reference to a Location entry (PL[Location]); null when empty.
json_value location_reference(context& ctx, const hl7v2::pl& v, const position& where);

/// The text of the first primitive of `e` (ST), empty for the null "".
std::string st(const element_view& e);

/// Message text as a FHIR code (Coding.code, Quantity.code, contentType):
/// runs of white space (space, tab, CR, LF; HL7 escapes such as \X09\ give
/// them) collapse to one space and the ends are trimmed. R4
/// datatypes.html#code allows "no whitespace other than single spaces"; this
/// is the xs:token normalisation FHIR's XML form gives a code anyway.
std::string fhir_code(std::string_view text);

/// Message text as a FHIR uri or url (Attachment.url): white space and
/// control characters percent-encoded (RFC 3986 2.1), the rest as sent. R4
/// datatypes.html#uri: URIs "SHALL NOT contain whitespace".
std::string fhir_uri(std::string_view text);

// -------------------------------------------------------------- shared segment maps

/// PID (+ PD1 and Z-segment extensions) -> the Patient entry, first in the
/// Bundle (only the Practitioners it refers to from PD1-4 precede it: entries
/// are in dependency order). Sets ctx.patient_url and ctx.patient_identity.
/// No PID: error 101; no PID-3 that identifies the patient: 101 at PID-3.
/// `contacts` become Patient.contact (ADT's NK1 of table 0131 roles).
void map_patient(context& ctx, const std::vector<json_value>& contacts = {});

/// PV1 says something worth an Encounter: a visit number (PV1-19), or a
/// patient class (PV1-2) other than N (not applicable: A28/A31 send "PV1|1|N").
bool encounter_worthy(const segment_view& pv1);

/// What the message is to the visit, which decides how PV1[Encounter] is written.
enum class encounter_mode {
  /// ADT: the message is about the visit and its PV1 is the full account.
  /// A conditional update on PV1-19, else on a derived identity (convert.hpp);
  /// PV1-2 missing (101) or not in PatientClass[EncounterClass] (103) fails
  /// the message: Encounter.class is required.
  visit,
  /// ORU, SIU, MDM, ORM/OML, VXU: the visit is the context of a result,
  /// appointment, document, order or immunization, and their PV1 is often a
  /// reduced copy. A conditional create on PV1-19 only (add_entry_if_none_exist):
  /// ADT's Encounter, when stored, is kept and referred to; none: this one is
  /// created. Without PV1-19 (or with one that gives no identity): no Encounter,
  /// a warning at PV1-19; the derived identity of `visit` (patient, class,
  /// admit time) is too weak to name a visit from a message that is not about
  /// it. PV1-2 missing or unmapped: a warning at PV1-2 (same codes), no
  /// Encounter; the message itself is still mapped.
  context,
};

/// PV1[Encounter] (encounter.cpp), after the Patient (ctx.patient_url):
/// adds the Encounter entry (and the Practitioners and Locations it refers
/// to) and returns its fullUrl; empty when none was added (see the mode).
/// `conditions` (fullUrls of Condition entries) become Encounter.diagnosis.
std::string map_encounter(context& ctx, const segment_view& pv1, encounter_mode mode,
                          const std::vector<std::string>& conditions = {});

/// The PV1 of the message's patient: the first PV1 after the first PID and
/// before a second PID (another patient's group) or any segment named in
/// `stop` (the first segment of a group after the patient's). nullopt when
/// none: a PV1 elsewhere belongs to no visit of this patient (OML's prior
/// results).
std::optional<segment_view> patient_visit(const hl7v2::message& msg, std::initializer_list<std::string_view> stop);

/// The Encounter of a message that is not about the visit: map_encounter()
/// in encounter_mode::context for `pv1` when it is encounter_worthy(); its
/// fullUrl, empty when there is none (nothing worth one, or what the mode says).
std::string map_context_encounter(context& ctx, const std::optional<segment_view>& pv1);

}  // namespace hearth::mapping::detail
