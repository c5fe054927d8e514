// SIU messages: S12 (new appointment), S13 (rescheduling), S14
// (modification), S15 (cancellation), S26 (no-show) -> one Appointment
// (IG message map SIU_S12; segment maps SCH[Appointment], AIS[Appointment],
// AIG[Appointment], AIL[Appointment], AIP[Appointment], PID[Appointment],
// NTE[Appointment-Comment], PV1[Encounter]; data type map TQ[Appointment];
// code system map FillerStatusCodes[Appointment]). The IG maps S12 only;
// S13-S26 share its structure (HL7 v2.5.1 10.4), so they are read the same
// way, and their Appointment is the S12's one again (same identity: a
// conditional update).
//
// What the IG leaves open, and what is chosen here (each also noted where it
// is done):
// - Identity: SCH-2 (filler appointment id, the scheduler's own key: the
//   filler sends SIU, HL7 v2.5.1 10.3) when valued, else SCH-1.
// - Status: S15 -> cancelled and S26 -> noshow whatever SCH-25 says (the
//   event is the notification of exactly that); otherwise SCH-25, else the
//   first AIS-10 (the IG maps both to status), else "booked" (S12 is the
//   notification of a booking, S13/S14 change a booked one).
// - Table 0278 codes are matched without regard to case ("BOOKED" is sent as
//   often as "Booked").
// - participant.status has no IG map: table 0278 -> participationstatus in
//   participation_status() below.
// - start/end: SCH-11 (TQ.4/TQ.5); the TQ1 segment (TQ1-7/TQ1-8, which
//   replaces SCH-11 from v2.5 on) and the first AIS (AIS-4, AIS-7) when SCH-11
//   has none.
// - PV1 of the PATIENT group (SIU_S12 4.2): the Encounter is a conditional
//   create on PV1-19 (encounter_mode::context, mapping_detail.hpp): an
//   appointment names the visit, it does not rewrite the Encounter ADT keeps;
//   one is created when none is stored. Without PV1-19: no Encounter (a
//   warning). Nothing refers to it: the IG links the Appointment to no
//   Encounter, and R4 Appointment has no element for one (Encounter.appointment
//   points the other way, which the IG does not map either).
// - PV2, OBX and DG1 of the PATIENT group (Encounter, Observation, Condition
//   in the IG) are not mapped yet: reported as warnings.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

json_value text_concept(std::string_view text) {
  json_value cc = json_value::object();
  cc.set("text", text);
  return cc;
}

// ------------------------------------------------------------- table 0278

// HL7 table 0278 (filler status codes), as spelt in the table.
constexpr std::string_view table_0278[] = {"Pending", "Waitlist", "Booked",  "Started", "Complete", "Cancelled",
                                           "Discontinued", "Deleted", "Blocked", "Overbook", "Noshow"};

// The table's spelling of `code` (compared without case); empty when the
// code is not in table 0278.
std::string_view canonical_0278(std::string_view code) {
  for (const std::string_view c : table_0278) {
    if (iequals(c, code)) return c;
  }
  return {};
}

// A filler status code (SCH-25, AIS-10) -> Appointment.status through
// FillerStatusCodes[Appointment]. Empty (after a 103 warning at `where`) when
// the code is unknown or maps to nothing (Discontinued, Blocked, Overbook).
std::string appointment_status(context& ctx, const hl7v2::coded& code, const position& where) {
  if (code.identifier.empty()) return {};
  const std::string_view canonical = canonical_0278(code.identifier);
  return map_code(ctx, "FillerStatusCodes[Appointment]", canonical.empty() ? code.identifier : canonical,
                  child(where, 1));
}

// participant.status (participationstatus, required binding) from a resource's
// filler status code (AIP-12, AIL-12, AIG-14, table 0278). The IG maps AIP-12
// to participant.status without a vocabulary map; this one is Hearth's:
// booked, started, complete and overbooked resources have accepted; pending
// ones tentatively; a waitlisted one still needs to act; cancelled,
// discontinued, deleted, blocked and no-show ones declined.
std::string participation_status(std::string_view canonical) {
  if (canonical == "Booked" || canonical == "Started" || canonical == "Complete" || canonical == "Overbook") {
    return "accepted";
  }
  if (canonical == "Pending") return "tentative";
  if (canonical == "Waitlist") return "needs-action";
  if (canonical.empty()) return {};
  return "declined";
}

// The participant.status of a participant that sent no status of its own
// (the Patient, SCH contacts), from the Appointment's status.
std::string default_participation(std::string_view appointment_status) {
  if (appointment_status == "proposed" || appointment_status == "pending" || appointment_status == "waitlist") {
    return "needs-action";
  }
  if (appointment_status == "cancelled" || appointment_status == "entered-in-error") return "declined";
  return "accepted";
}

// A participant's status from its filler status code field, else the default.
std::string participant_status(context& ctx, const segment_view& seg, std::size_t field,
                               std::string_view fallback) {
  const auto code = hl7v2::read_cwe(seg.field(field));
  if (code.identifier.empty()) return std::string(fallback);
  const std::string status = participation_status(canonical_0278(code.identifier));
  if (status.empty()) {
    ctx.warn(error_code::table_value_not_found, "filler status code not in table 0278: participant status derived",
             at(seg, field, 0, 1));
    return std::string(fallback);
  }
  return status;
}

// ------------------------------------------------------------ time arithmetic

// Days since 1970-01-01 of a proleptic Gregorian date, and back (the
// well-known civil-calendar algorithms of H. Hinnant, "chrono-Compatible
// Low-Level Date Algorithms").
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

// `t` moved by `seconds` in its own offset (local clock time; the offset is
// kept, so the instant moves by exactly `seconds`). nullopt when the result
// leaves the years 1-9999.
std::optional<hl7v2::date_time> add_seconds(hl7v2::date_time t, std::int64_t seconds) {
  const std::int64_t day_seconds = 86400;
  std::int64_t total = days_from_civil(t.year, t.month == 0 ? 1 : t.month, t.day == 0 ? 1 : t.day) * day_seconds +
                       t.hour * 3600 + t.minute * 60 + std::min<std::int64_t>(t.second, 59) + seconds;
  std::int64_t days = total / day_seconds;
  std::int64_t rest = total % day_seconds;
  if (rest < 0) {
    rest += day_seconds;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  civil_from_days(days, y, m, d);
  if (y < 1 || y > 9999) return std::nullopt;
  t.year = static_cast<std::uint16_t>(y);
  t.month = static_cast<std::uint8_t>(m);
  t.day = static_cast<std::uint8_t>(d);
  t.hour = static_cast<std::uint8_t>(rest / 3600);
  t.minute = static_cast<std::uint8_t>(rest / 60 % 60);
  t.second = static_cast<std::uint8_t>(rest % 60);
  const auto needed = seconds % 60 != 0 ? hl7v2::time_precision::second : hl7v2::time_precision::minute;
  if (t.precision < needed) t.precision = needed;
  return t;
}

// Seconds per unit of a duration or offset units field (CNE: UCUM "s", "min",
// "h", "d", "wk", or the ISO+/ANSI "S", "MIN", "HR", "D", "WK"). Not valued:
// minutes, the chapter 10 default (HL7 v2.5.1 10.6.4.6/8: "the default value
// ... is minutes"). 0 when the unit is not one of these.
std::int64_t unit_seconds(const element_view& units) {
  const std::string u = hl7v2::read_cne(units).identifier;
  if (u.empty()) return 60;
  for (const std::string_view s : {"s", "sec", "second", "seconds"}) {
    if (iequals(u, s)) return 1;
  }
  for (const std::string_view s : {"min", "minute", "minutes"}) {
    if (iequals(u, s)) return 60;
  }
  for (const std::string_view s : {"h", "hr", "hour", "hours"}) {
    if (iequals(u, s)) return 3600;
  }
  for (const std::string_view s : {"d", "day", "days"}) {
    if (iequals(u, s)) return 86400;
  }
  for (const std::string_view s : {"wk", "week", "weeks"}) {
    if (iequals(u, s)) return 604800;
  }
  return 0;
}

// An NM amount of `units` as whole seconds. nullopt when not valued, or
// after an error (102: not a number) or a warning (unknown units, beyond ten
// years: a limit so that the arithmetic cannot overflow and no nonsense
// interval is produced).
std::optional<std::int64_t> seconds_of(context& ctx, const segment_view& seg, std::size_t amount_field,
                                       std::size_t units_field) {
  const element_view amount = seg.field(amount_field);
  if (!valued(amount)) return std::nullopt;
  auto nm = hl7v2::read_nm(amount);
  if (!nm) {
    ctx.fail(error_code::data_type_error, "not a number (NM)", at(seg, amount_field));
    return std::nullopt;
  }
  const std::int64_t per_unit = unit_seconds(seg.field(units_field));
  if (per_unit == 0) {
    ctx.warn(error_code::table_value_not_found, "time units not known: interval left out", at(seg, units_field));
    return std::nullopt;
  }
  const double value = std::strtod(nm->text.c_str(), nullptr) * static_cast<double>(per_unit);
  constexpr double ten_years = 10.0 * 366 * 86400;
  if (!(std::fabs(value) <= ten_years)) {
    ctx.warn(error_code::data_type_error, "interval longer than ten years: left out", at(seg, amount_field));
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::llround(value));
}

// A timestamp of an Appointment (start, end, participant.period): FHIR
// instant (Appointment.start/end) needs a time with an offset; a date alone
// is a 102 at `where`.
struct moment {
  hl7v2::date_time time;
  std::string text;  // FHIR form
};

std::optional<moment> instant_of(context& ctx, const hl7v2::date_time& dt, const position& where) {
  if (dt.precision < hl7v2::time_precision::hour) {
    ctx.fail(error_code::data_type_error, "an appointment time needs at least the hour (FHIR instant)", where);
    return std::nullopt;
  }
  auto text = datetime_text(ctx, dt, where);
  if (!text) return std::nullopt;
  return moment{dt, std::move(*text)};
}

std::optional<moment> instant_of(context& ctx, const element_view& e, const position& where) {
  if (!valued(e)) return std::nullopt;
  auto dt = hl7v2::read_dtm(e);
  if (!dt) {
    ctx.fail(error_code::data_type_error, dt.error().message, where);
    return std::nullopt;
  }
  return instant_of(ctx, *dt, where);
}

std::optional<moment> shifted(context& ctx, const moment& m, std::int64_t seconds, const position& where) {
  auto t = add_seconds(m.time, seconds);
  if (!t) {
    ctx.warn(error_code::data_type_error, "interval leaves the years 1-9999: left out", where);
    return std::nullopt;
  }
  return instant_of(ctx, *t, where);
}

// --------------------------------------------------------------- participants

// Where a resource segment keeps its times: start, start offset (+ units),
// duration (+ units) and filler status code (AIS, AIG, AIL, AIP layouts,
// HL7 v2.5.1 10.6.4-10.6.7).
struct resource_layout {
  std::size_t start;
  std::size_t offset;
  std::size_t offset_units;
  std::size_t duration;
  std::size_t duration_units;
  std::size_t status;
};
constexpr resource_layout ais_layout{4, 5, 6, 7, 8, 10};
constexpr resource_layout aig_layout{8, 9, 10, 11, 12, 14};
constexpr resource_layout ail_layout{6, 7, 8, 9, 10, 12};
constexpr resource_layout aip_layout{6, 7, 8, 9, 10, 12};

// The period of a resource (AIx[Appointment]): its start, else the
// Appointment's start plus the start offset ("IF AIx-start NOT VALUED");
// the end is the start plus the duration.
json_value resource_period(context& ctx, const segment_view& seg, const resource_layout& l,
                           const std::optional<moment>& appointment_start, std::optional<moment>* start_out = nullptr) {
  std::optional<moment> start = instant_of(ctx, seg.field(l.start), at(seg, l.start));
  if (!start && appointment_start) {
    if (auto offset = seconds_of(ctx, seg, l.offset, l.offset_units)) {
      start = shifted(ctx, *appointment_start, *offset, at(seg, l.offset));
    }
  }
  json_value period = json_value::object();
  if (!start) return period;
  period.set("start", start->text);
  if (auto duration = seconds_of(ctx, seg, l.duration, l.duration_units)) {
    if (*duration < 0) {
      ctx.warn(error_code::data_type_error, "negative duration: end left out", at(seg, l.duration));
    } else if (auto end = shifted(ctx, *start, *duration, at(seg, l.duration))) {
      period.set("end", end->text);
    }
  }
  if (start_out != nullptr) *start_out = start;
  return period;
}

json_value participant(json_value type, json_value actor, const std::string& status, json_value period) {
  json_value p = json_value::object();
  append(p, "type", std::move(type));
  put(p, "actor", std::move(actor));
  p.set("status", status);
  put(p, "period", std::move(period));
  return p;
}

// AIG-3 (CWE): the general resource by its identifier, a logical reference
// (R4 references.html#logical): AIG names rooms, equipment and teams that
// Hearth holds no resource for (AIG[Appointment]: CWE[Identifier]).
json_value general_resource(context& ctx, const hl7v2::coded& id, const position& where) {
  if (id.identifier.empty() && id.text.empty()) return {};
  json_value r = json_value::object();
  if (!id.identifier.empty()) {
    json_value i = json_value::object();
    std::string system;
    if (!id.coding_system.empty()) {
      system = coding_system_uri(id.coding_system, ctx.cfg);
      if (system.empty()) {
        ctx.warn(error_code::table_value_not_found, "coding system name not known: Identifier.system left out",
                 child(where, 3));
      }
    }
    put(i, "system", system);
    i.set("value", id.identifier);
    r.set("identifier", std::move(i));
  }
  put(r, "display", id.text);
  return r;
}

// SCH-1 / SCH-2 (EI[Identifier-Extension]), typed PLAC / FILL (table 0203)
// so that the two are told apart.
json_value appointment_identifier(context& ctx, const segment_view& sch, std::size_t field, std::string_view type,
                                  identity* id_out) {
  json_value id = ei_identifier(ctx, hl7v2::read_ei(sch.field(field)), id_out);
  if (is_empty(id)) return id;
  json_value typed = json_value::object();
  typed.set("type", fixed_concept(v2_table_uri("0203"), type,
                                  type == "PLAC" ? "Placer Identifier" : "Filler Identifier"));
  for (auto& m : id.members()) typed.set(m.key, std::move(m.value));
  return typed;
}

// Segments of an SIU message read here (or envelope: MSH, RGS).
bool mapped_segment(std::string_view id) {
  static constexpr std::string_view ids[] = {"MSH", "SCH", "TQ1", "NTE", "PID", "PD1",
                                             "RGS", "AIS", "AIG", "AIL", "AIP"};
  return std::find(std::begin(ids), std::end(ids), id) != std::end(ids) || (!id.empty() && id[0] == 'Z');
}

}  // namespace

void map_siu(context& ctx) {
  const auto sch_seg = ctx.msg.find("SCH");
  if (!sch_seg) {
    position p;
    p.segment_id = "SCH";
    ctx.fail(error_code::required_field_missing, "SCH segment missing", p);
    return;
  }
  const segment_view sch = *sch_seg;
  const std::string event = ctx.msg.trigger_event();

  // Identity first: without one the Appointment could never be updated by
  // the S13/S14/S15/S26 that follow.
  json_value appt = new_resource("Appointment");
  identity placer;
  identity filler;
  json_value placer_id = appointment_identifier(ctx, sch, 1, "PLAC", &placer);
  json_value filler_id = appointment_identifier(ctx, sch, 2, "FILL", &filler);
  if (!placer.valid() && !filler.valid()) {
    ctx.fail(error_code::required_field_missing,
             "no placer (SCH-1) or filler (SCH-2) appointment id to identify the appointment", at(sch, 2));
    return;
  }
  const identity key = filler.valid() ? filler : placer;

  // The PATIENT group is optional in SIU (HL7 v2.5.1 10.4.1); with a PID the
  // Patient comes first, as every Bundle's dependency order wants.
  const bool has_patient = ctx.msg.find("PID").has_value();
  // Its PV1 (SIU_S12 4.2), before the RESOURCES group (RGS): the Encounter.
  std::optional<segment_view> visit;
  if (has_patient) {
    map_patient(ctx);
    if (ctx.failed()) return;
    visit = patient_visit(ctx.msg, {"RGS", "AIS", "AIG", "AIL", "AIP"});
    map_context_encounter(ctx, visit);
    if (ctx.failed()) return;
  }

  // PID[Appointment]: the subject as the R5 Appointment.subject extension
  // (besides the participant below).
  if (has_patient) {
    append(appt, "extension",
           extension("http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.subject", "valueReference",
                     reference(ctx.patient_url)));
  }
  append(appt, "identifier", std::move(placer_id));
  append(appt, "identifier", std::move(filler_id));

  // Status (see the file comment).
  std::vector<segment_view> ais_segments;
  for (const segment_view seg : ctx.msg) {
    if (seg.id() == "AIS") ais_segments.push_back(seg);
  }
  std::string status;
  if (event == "S15") {
    status = "cancelled";
  } else if (event == "S26") {
    status = "noshow";
  } else {
    status = appointment_status(ctx, hl7v2::read_cwe(sch.field(25)), at(sch, 25));
    if (status.empty() && !valued(sch.field(25)) && !ais_segments.empty()) {
      status = appointment_status(ctx, hl7v2::read_cwe(ais_segments.front().field(10)),
                                  at(ais_segments.front(), 10));
    }
    if (status.empty()) status = "booked";
  }
  appt.set("status", status);

  // SCH-6 event reason: a cancellation or no-show reason for S15/S26
  // (Appointment.cancelationReason, app-4: only for those statuses). The IG
  // leaves SCH-6 unmapped; for the other events it says why the message was
  // sent, not why the appointment exists.
  if (status == "cancelled" || status == "noshow") {
    put(appt, "cancelationReason", codeable_concept(ctx, hl7v2::read_cwe(sch.field(6)), at(sch, 6)));
  }

  // AIS-3 -> serviceType (each AIS: the IG leaves "which AIS" open; all of
  // them describe the services booked).
  for (const auto& ais : ais_segments) {
    append(appt, "serviceType", codeable_concept(ctx, hl7v2::read_cwe(ais.field(3)), at(ais, 3)));
  }

  // SCH-7 appointment reason, SCH-8 appointment type. The IG maps SCH-7 to
  // reasonCode when coded in HL70276 and to appointmentType when coded in
  // HL70277, SCH-8 to appointmentType when HL70277. Departure: a local code
  // (any other CWE.3) keeps the meaning of its field, reason or type.
  {
    const auto reason = hl7v2::read_cwe(sch.field(7));
    const auto type = hl7v2::read_cwe(sch.field(8));
    const bool reason_is_type = reason.coding_system == "HL70277";
    if (!reason.empty() && !reason_is_type) {
      append(appt, "reasonCode", codeable_concept(ctx, reason, at(sch, 7), "AppointmentReasonCodes", "0276"));
    }
    if (!type.empty()) {
      put(appt, "appointmentType", codeable_concept(ctx, type, at(sch, 8), {}, "0277"));
    } else if (reason_is_type) {
      put(appt, "appointmentType", codeable_concept(ctx, reason, at(sch, 7), {}, "0277"));
    }
  }

  // Timing: SCH-11 TQ[Appointment] (TQ.4 start, TQ.5 end), then TQ1-7/TQ1-8,
  // then the first AIS (AIS-4, AIS-4 + AIS-7).
  std::optional<moment> start;
  std::optional<moment> end;
  std::optional<std::int64_t> minutes;
  if (const element_view tq_field = sch.field(11); valued(tq_field)) {
    const element_view tq_rep = tq_field.repetition(1);
    auto tq = hl7v2::read_tq(tq_rep);
    if (!tq) {
      position p = at(sch, 11, 1);
      p.component = tq.error().where.component;
      p.subcomponent = tq.error().where.subcomponent;
      ctx.fail(error_code::data_type_error, tq.error().message, p);
      return;
    }
    if (tq->start) start = instant_of(ctx, tq->start->time, at(sch, 11, 1, 4));
    if (tq->end) end = instant_of(ctx, tq->end->time, at(sch, 11, 1, 5));
    // TQ.3 "M30": minutes (TQ[Appointment]: only when known to be minutes;
    // a bare number does not say its unit).
    if (tq->duration.size() > 1 && tq->duration[0] == 'M' && tq->duration.size() <= 7 &&
        std::all_of(tq->duration.begin() + 1, tq->duration.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      minutes = std::stoll(tq->duration.substr(1));
    }
  }
  if (ctx.failed()) return;
  if (!start && !end) {
    if (const auto tq1 = ctx.msg.find("TQ1")) {
      start = instant_of(ctx, tq1->field(7), at(*tq1, 7));
      end = instant_of(ctx, tq1->field(8), at(*tq1, 8));
    }
  }
  if (!start && !end && !ais_segments.empty()) {
    json_value period = resource_period(ctx, ais_segments.front(), ais_layout, std::nullopt, &start);
    if (start) {
      if (const json_value* e = period.find("end")) end = moment{{}, e->str()};
    }
  }
  if (ctx.failed()) return;
  // SCH-9 duration when SCH-10 says minutes (SCH[Appointment]).
  if (const element_view d = sch.field(9); valued(d)) {
    auto nm = hl7v2::read_nm(d.repetition(1));
    if (!nm) {
      ctx.fail(error_code::data_type_error, "appointment duration is not a number (NM)", at(sch, 9, 1));
      return;
    }
    const std::string unit = hl7v2::read_cne(sch.field(10).repetition(1)).identifier;
    if (iequals(unit, "min") || iequals(unit, "minutes") || iequals(unit, "minute")) {
      const double v = std::strtod(nm->text.c_str(), nullptr);
      if (v >= 1 && v <= 2147483647.0 && v == std::floor(v)) minutes = static_cast<std::int64_t>(v);
    }
  }
  // The end from the start and the duration when only the start was sent.
  if (start && !end && minutes) end = shifted(ctx, *start, *minutes * 60, at(sch, 9));
  // app-2: start and end together or neither.
  if (start.has_value() != end.has_value()) {
    ctx.warn(error_code::required_field_missing, "appointment start or end without the other: both left out",
             at(sch, 11));
    start.reset();
    end.reset();
  }
  // app-3: only proposed, cancelled and waitlisted appointments may lack them.
  if (!start && status != "proposed" && status != "cancelled" && status != "waitlist") {
    ctx.fail(error_code::required_field_missing, "appointment start and end missing (SCH-11, TQ1, AIS-4)",
             at(sch, 11));
    return;
  }
  if (start) {
    appt.set("start", start->text);
    appt.set("end", end->text);
  }
  if (minutes && *minutes > 0) appt.set("minutesDuration", json_value::number(std::to_string(*minutes)));

  // SCH-26, SCH-27 placer and filler order numbers: basedOn. The IG creates
  // a ServiceRequest from SCH (SCH[ServiceRequest]); until that map exists
  // they are logical references by identifier.
  for (const std::size_t f : {std::size_t{26}, std::size_t{27}}) {
    each_repetition(sch, f, [&](const element_view& rep, const position&) {
      json_value id = ei_identifier(ctx, hl7v2::read_ei(rep));
      if (is_empty(id)) return;
      json_value r = json_value::object();
      r.set("type", "ServiceRequest");
      r.set("identifier", std::move(id));
      append(appt, "basedOn", std::move(r));
    });
  }

  // Comments: the NTEs after SCH and after an AIS (SIU_S12: both go to the
  // Appointment; R4 has one comment string, so they are joined with line
  // feeds, NTE[Appointment-Comment]). NTEs of the AIG, AIL and AIP groups
  // have no target in the IG.
  std::string comment;
  std::string_view group = "MSH";
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id != "NTE") {
      if (id == "SCH" || id == "AIS" || id == "AIG" || id == "AIL" || id == "AIP" || id == "PID" || id == "RGS") {
        group = id;
      }
      continue;
    }
    if (group != "SCH" && group != "AIS") {
      ctx.warn(error_code::message_accepted, "note of a resource group: not mapped (IG)", at(seg, 0));
      continue;
    }
    each_repetition(seg, 3, [&](const element_view& rep, const position&) {
      if (!comment.empty()) comment.push_back('\n');
      comment += hl7v2::read_ft(rep);
    });
  }
  put(appt, "comment", comment);

  // Participants: the Patient, the SCH contacts, then AIG, AIL, AIP in order.
  const std::string fallback = default_participation(status);
  if (has_patient) {
    append(appt, "participant", participant({}, reference(ctx.patient_url), fallback, {}));
  }
  // SCH-12 placer contact, SCH-16 filler contact (type "#placer contact#" /
  // "#filler contact#" in the IG: placeholders, no code; kept as text),
  // SCH-20 entered by (provenance-participant-type "enterer").
  const struct {
    std::size_t field;
    std::string_view text;
  } contacts[] = {{12, "placer contact"}, {16, "filler contact"}, {20, "enterer"}};
  for (const auto& c : contacts) {
    // SCH-12, -16 and -20 repeat, participant.actor does not: the first.
    json_value who = practitioner_reference(ctx, hl7v2::read_xcn(sch.field(c.field).repetition(1)),
                                            at(sch, c.field, 1));
    if (is_empty(who)) continue;
    json_value type = c.field == 20
                          ? fixed_concept("http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                          "enterer", "Enterer")
                          : text_concept(c.text);
    append(appt, "participant", participant(std::move(type), std::move(who), fallback, {}));
  }
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "AIG") {
      // AIG-4 resource type -> participant.type; AIG-3 -> the actor.
      json_value type = codeable_concept(ctx, hl7v2::read_cwe(seg.field(4)), at(seg, 4));
      json_value actor = general_resource(ctx, hl7v2::read_cwe(seg.field(3)), at(seg, 3));
      if (is_empty(type) && is_empty(actor)) {
        ctx.fail(error_code::required_field_missing, "general resource without type (AIG-4) or id (AIG-3)",
                 at(seg, 4));
        return;
      }
      json_value period = resource_period(ctx, seg, aig_layout, start);
      append(appt, "participant",
             participant(std::move(type), std::move(actor),
                         participant_status(ctx, seg, aig_layout.status, fallback), std::move(period)));
    } else if (id == "AIL") {
      json_value actor = location_reference(ctx, hl7v2::read_pl(seg.field(3)), at(seg, 3));
      // AIL-4 location type: participant.type has no place for it (its
      // binding names participation roles, not kinds of room); the IG leaves
      // it unmapped.
      if (is_empty(actor)) {
        ctx.fail(error_code::required_field_missing, "location resource without location (AIL-3)", at(seg, 3));
        return;
      }
      json_value period = resource_period(ctx, seg, ail_layout, start);
      append(appt, "participant",
             participant({}, std::move(actor), participant_status(ctx, seg, ail_layout.status, fallback),
                         std::move(period)));
    } else if (id == "AIP") {
      json_value type = codeable_concept(ctx, hl7v2::read_cwe(seg.field(4)), at(seg, 4));
      json_value actor = practitioner_reference(ctx, hl7v2::read_xcn(seg.field(3)), at(seg, 3));
      if (is_empty(type) && is_empty(actor)) {
        ctx.fail(error_code::required_field_missing, "personnel resource without id (AIP-3) or type (AIP-4)",
                 at(seg, 3));
        return;
      }
      json_value period = resource_period(ctx, seg, aip_layout, start);
      append(appt, "participant",
             participant(std::move(type), std::move(actor),
                         participant_status(ctx, seg, aip_layout.status, fallback), std::move(period)));
    }
    if (ctx.failed()) return;
  }
  if (appt.find("participant") == nullptr) {
    // Appointment.participant is 1..*: someone must take part.
    ctx.fail(error_code::required_field_missing, "no participant: no PID, SCH contact, AIG, AIL or AIP", at(sch, 0));
    return;
  }
  ctx.add_entry(std::move(appt), key);

  for (const segment_view seg : ctx.msg) {
    if (visit && seg.index() == visit->index()) continue;  // the Encounter's, reported there
    if (!mapped_segment(seg.id())) ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
  }
}

}  // namespace hearth::mapping::detail
