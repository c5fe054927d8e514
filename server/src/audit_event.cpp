// The AuditEvent of one interaction (audit.hpp): FHIR R4 auditevent.html in
// the shape of IHE BALP. Pure functions; thread-safe.

#include <algorithm>

#include <hearth/core/base64.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/index_entry.hpp>

namespace hearth::server {

namespace {

using fhir::json_value;

// Code systems (R4 terminology, DICOM, IHE BALP).
constexpr std::string_view audit_event_type = "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view restful_interaction = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view dicom = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view ihe_event_type = "urn:ihe:event-type-code";
constexpr std::string_view balp_agent_types = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes";
constexpr std::string_view balp_entity_types = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
constexpr std::string_view security_source_type = "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view audit_entity_type = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view object_role = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view v2_message_type = "http://terminology.hl7.org/CodeSystem/v2-0076";
constexpr std::string_view v2_event_type = "http://terminology.hl7.org/CodeSystem/v2-0003";
/// The system of a message log record id (hl7_intake.hpp, store/message_log.hpp).
constexpr std::string_view hl7_message_log = "urn:hearth:hl7v2-message-log";
/// BALP OAUTHaccessTokenUse: "jti SHALL be prefixed with
/// urn:ietf:params:oauth:jti:" (RFC 3553 URN).
constexpr std::string_view jti_urn = "urn:ietf:params:oauth:jti:";

/// A Coding. Only the event's `type` carries a display: every other code
/// here is a fixed one of a published system (DICOM, BALP, R4's), which a
/// reader resolves, and an event is written for every request, so its size
/// is the trail's cost (bench/RESULTS.md).
json_value coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  json_value c = json_value::object();
  c.set("system", system);
  c.set("code", code);
  if (!display.empty()) c.set("display", display);
  return c;
}

json_value codeable(json_value c) {
  json_value cc = json_value::object();
  json_value codings = json_value::array();
  codings.push_back(std::move(c));
  cc.set("coding", std::move(codings));
  return cc;
}

json_value identifier(std::string_view system, std::string_view value) {
  json_value id = json_value::object();
  if (!system.empty()) id.set("system", system);
  id.set("value", value);
  return id;
}

json_value reference_to(std::string_view ref) {
  json_value r = json_value::object();
  r.set("reference", ref);
  return r;
}

json_value who_identifier(std::string_view system, std::string_view value) {
  json_value r = json_value::object();
  r.set("identifier", identifier(system, value));
  return r;
}

json_value who_display(std::string_view display) {
  json_value r = json_value::object();
  r.set("display", display);
  return r;
}


/// BALP: for reads (data flowing from the server to the client) the client
/// is the Destination Role ID and the server the Source Role ID; for queries
/// and writes (the request flowing to the server) the other way round
/// (BALP Query note: "This pattern is established and thus followed here").
bool client_is_destination(audit_interaction i) noexcept {
  switch (i) {
    case audit_interaction::read:
    case audit_interaction::vread:
    case audit_interaction::history_instance:
    case audit_interaction::history_type:
    case audit_interaction::history_system:
      return true;
    default:
      return false;
  }
}

bool is_auth(audit_interaction i) noexcept {
  return i == audit_interaction::login || i == audit_interaction::token;
}

/// entity[patient] (BALP PatientRead/PatientQuery/PatientCreate...):
/// type 1 Person, role 1 Patient, what Patient/id.
json_value patient_entity(std::string_view id) {
  json_value e = json_value::object();
  e.set("what", reference_to("Patient/" + std::string(id)));
  e.set("type", coding(audit_entity_type, "1"));  // Person
  e.set("role", coding(object_role, "1"));        // Patient
  return e;
}

}  // namespace

std::string_view to_string(audit_interaction i) noexcept {
  switch (i) {
    case audit_interaction::read: return "read";
    case audit_interaction::vread: return "vread";
    case audit_interaction::history_instance: return "history-instance";
    case audit_interaction::history_type: return "history-type";
    case audit_interaction::history_system: return "history-system";
    case audit_interaction::search_type: return "search-type";
    case audit_interaction::search_system: return "search-system";
    case audit_interaction::create: return "create";
    case audit_interaction::update: return "update";
    case audit_interaction::patch: return "patch";
    case audit_interaction::remove: return "delete";
    case audit_interaction::batch: return "batch";
    case audit_interaction::transaction: return "transaction";
    case audit_interaction::operation: return "operation";
    case audit_interaction::capabilities: return "capabilities";
    case audit_interaction::login: return "login";
    case audit_interaction::token: return "token";
    case audit_interaction::hl7_message: return "hl7v2-message";
  }
  return "operation";
}

std::optional<audit_interaction> audit_interaction_of(std::string_view name) noexcept {
  for (int i = 0; i <= static_cast<int>(audit_interaction::hl7_message); ++i) {
    const auto candidate = static_cast<audit_interaction>(i);
    if (to_string(candidate) == name) return candidate;
  }
  if (name == "conditional-update") return audit_interaction::update;
  if (name == "conditional-delete") return audit_interaction::remove;
  if (name == "conditional-patch") return audit_interaction::patch;
  if (name == "search-compartment") return audit_interaction::search_type;
  if (name == "batch-transaction") return audit_interaction::batch;
  return std::nullopt;
}

audit_action default_action(audit_interaction i) noexcept {
  switch (i) {
    case audit_interaction::create: return audit_action::create;
    case audit_interaction::read:
    case audit_interaction::vread:
    case audit_interaction::history_instance:
    case audit_interaction::history_type:
    case audit_interaction::history_system:
      return audit_action::read;
    case audit_interaction::update:
    case audit_interaction::patch:
      return audit_action::update;
    case audit_interaction::remove: return audit_action::remove;
    default: return audit_action::execute;
  }
}

audit_outcome outcome_of_status(int status) noexcept {
  if (status >= 500) return audit_outcome::serious_failure;
  if (status >= 400) return audit_outcome::minor_failure;
  return audit_outcome::success;
}

void set_principal(audit_record& r, const auth::principal* p) {
  if (p == nullptr) return;
  r.client_id = p->client_id;
  r.user = p->fhir_user;
  r.subject = p->subject;
  r.issuer = p->issuer;
  r.jti = p->jti;
  const std::string& patient = p->context.patient_id;
  if (!patient.empty() && std::find(r.patient_ids.begin(), r.patient_ids.end(), patient) == r.patient_ids.end()) {
    r.patient_ids.push_back(patient);
  }
}

fhir::json_value build_audit_event(const audit_record& r, const audit_source& source) {
  json_value ev = json_value::object();
  ev.set("resourceType", "AuditEvent");

  // type and subtype: REST interactions (BALP Read, Query, Create...) or
  // authentication (DICOM 110114 User Authentication; IUA ITI-71).
  json_value subtype = json_value::array();
  if (r.interaction == audit_interaction::login) {
    ev.set("type", coding(dicom, "110114", "User Authentication"));
    subtype.push_back(coding(dicom, "110122"));
  } else if (r.interaction == audit_interaction::token) {
    ev.set("type", coding(dicom, "110114", "User Authentication"));
    subtype.push_back(coding(ihe_event_type, "ITI-71"));
  } else if (r.interaction == audit_interaction::hl7_message) {
    // SECURITY.md: "rest (or the v2 transmit/receive type)": DICOM 110107
    // Import (data received into this system from outside), subtyped by the
    // v2 message code (HL7 table 0076) and trigger event (table 0003).
    ev.set("type", coding(dicom, "110107", "Import"));
    const std::size_t caret = r.hl7_message_type.find('^');
    const std::string_view type = r.hl7_message_type;
    if (!type.empty()) subtype.push_back(coding(v2_message_type, type.substr(0, caret)));
    if (caret != std::string_view::npos) subtype.push_back(coding(v2_event_type, type.substr(caret + 1)));
  } else {
    ev.set("type", coding(audit_event_type, "rest", "Restful Operation"));
    subtype.push_back(coding(restful_interaction, to_string(r.interaction)));
  }
  ev.set("subtype", std::move(subtype));
  ev.set("action", std::string(1, static_cast<char>(r.action.value_or(default_action(r.interaction)))));
  ev.set("recorded", store::format_instant(r.recorded));
  const audit_outcome outcome = r.outcome.value_or(outcome_of_status(r.status));
  ev.set("outcome", std::to_string(static_cast<int>(outcome)));
  if (outcome != audit_outcome::success) {
    // A fixed text: the status and its reason phrase, never an error
    // message (which may quote input) nor anything of the resource.
    if (r.interaction == audit_interaction::hl7_message) {
      // The acknowledgment code answered (HL7 table 0008), a fixed text.
      ev.set("outcomeDesc", r.hl7_ack_code.empty() ? std::string("HL7 v2: no acknowledgment sent")
                                                   : "HL7 v2 MSA-1 " + r.hl7_ack_code);
    } else {
      const std::string_view phrase = reason_phrase(r.status);
      ev.set("outcomeDesc", "HTTP " + std::to_string(r.status) + (phrase.empty() ? "" : " ") + std::string(phrase));
    }
  }

  // agent: the client application, the user, this server.
  const bool has_user = !r.user.empty() || (!r.subject.empty() && r.subject != r.client_id);
  json_value agents = json_value::array();
  json_value policy = json_value::array();
  if (!r.jti.empty()) policy.push_back(std::string(jti_urn) + r.jti);
  const bool destination = client_is_destination(r.interaction);
  {
    json_value client = json_value::object();
    client.set("type", codeable(is_auth(r.interaction) ? coding(dicom, "110150")   // Application
                               : destination          ? coding(dicom, "110152")   // Destination Role ID
                                                      : coding(dicom, "110153")));  // Source Role ID
    // BALP: who 1..1, "more likely an identifier given the App identified in
    // the OAuth token"; without a token (authorisation off, or refused before
    // the client was known) the client is known by its address only.
    // An HL7 v2 sender is known by its MSH-3/MSH-4 (and, over mTLS, by its
    // certificate's subject, in client_id).
    if (r.interaction == audit_interaction::hl7_message && r.client_id.empty()) {
      client.set("who", who_display(r.hl7_sender.empty() ? std::string_view("unidentified sender")
                                                         : std::string_view(r.hl7_sender)));
    } else {
      client.set("who", r.client_id.empty() ? who_display("unidentified client")
                                            : who_identifier(r.issuer, r.client_id));
      if (r.interaction == audit_interaction::hl7_message && !r.hl7_sender.empty())
        client.set("name", r.hl7_sender);
    }
    // R4 agent.requestor 1..1: the user asked when there is one; otherwise
    // the client did (Backend Services: sub is the client).
    client.set("requestor", !has_user);
    if (!has_user && !policy.items().empty()) client.set("policy", policy);
    if (!r.remote_address.empty()) {
      json_value network = json_value::object();
      network.set("address", r.remote_address);
      network.set("type", "2");  // IP address (R4 network-type)
      client.set("network", std::move(network));
    }
    agents.push_back(std::move(client));
  }
  if (has_user) {
    // BALP OAUTHaccessTokenUse agent[oUser]: UserOauthAgent, requestor, the
    // token's jti as policy; who the fhirUser, else the sub.
    json_value user = json_value::object();
    user.set("type", codeable(coding(balp_agent_types, "UserOauthAgent")));
    user.set("who", !r.user.empty() ? reference_to(r.user) : who_identifier(r.issuer, r.subject));
    user.set("requestor", true);
    if (!policy.items().empty()) user.set("policy", policy);
    agents.push_back(std::move(user));
  }
  {
    json_value server = json_value::object();
    server.set("type", codeable(is_auth(r.interaction) ? coding(balp_agent_types, "AuthzOauthService")
                               : destination          ? coding(dicom, "110153")   // Source Role ID
                                                      : coding(dicom, "110152")));  // Destination Role ID
    server.set("who", who_display(source.observer));
    server.set("requestor", false);
    if (!source.base_url.empty()) {
      json_value network = json_value::object();
      network.set("address", source.base_url);
      network.set("type", "5");  // URI (R4 network-type)
      server.set("network", std::move(network));
    }
    agents.push_back(std::move(server));
  }
  ev.set("agent", std::move(agents));

  json_value src = json_value::object();
  src.set("observer", who_display(source.observer));
  json_value src_type = json_value::array();
  src_type.push_back(coding(security_source_type, "4"));  // Application Server
  src.set("type", std::move(src_type));
  ev.set("source", std::move(src));

  // entity: the data touched, the patients, the query, the request id.
  json_value entities = json_value::array();
  std::vector<std::string> patients = r.patient_ids;
  if (!r.resource_type.empty() && !r.resource_id.empty()) {
    std::string what = r.resource_type + "/" + r.resource_id;
    if (r.version_id > 0) what += "/_history/" + std::to_string(r.version_id);
    json_value data = json_value::object();
    data.set("what", reference_to(what));
    data.set("type", coding(audit_entity_type, "2"));  // System Object
    data.set("role", coding(object_role, "4"));        // Domain Resource
    entities.push_back(std::move(data));
    if (r.resource_type == "Patient") patients.insert(patients.begin(), r.resource_id);
  }
  for (const std::string& what : r.hl7_resources) {
    // Each resource an HL7 v2 message wrote, as entity[data] of a write.
    json_value data = json_value::object();
    data.set("what", reference_to(what));
    data.set("type", coding(audit_entity_type, "2"));  // System Object
    data.set("role", coding(object_role, "4"));        // Domain Resource
    entities.push_back(std::move(data));
  }
  std::vector<std::string> seen;
  for (const std::string& p : patients) {
    if (p.empty() || std::find(seen.begin(), seen.end(), p) != seen.end()) continue;
    seen.push_back(p);
    entities.push_back(patient_entity(p));
  }
  if (!r.query.empty()) {
    // BALP Query entity[query]: type 2 System Object, role 24 Query, no
    // `what`; the raw request base64 (R4 base64Binary).
    const std::string_view raw = std::string_view(r.query).substr(0, audit_record::max_query_bytes);
    json_value query = json_value::object();
    query.set("type", coding(audit_entity_type, "2"));  // System Object
    query.set("role", coding(object_role, "24"));       // Query
    query.set("query", base64::encode(raw));
    entities.push_back(std::move(query));
  }
  if (r.interaction == audit_interaction::hl7_message && (r.hl7_log_id != 0 || !r.hl7_control_id.empty())) {
    // The message itself: its record in Hearth's message log, with its
    // control id (MSH-10) and type (MSH-9) as details (R4
    // AuditEvent.entity.detail). Type 2 System Object, role 3 Report.
    json_value message = json_value::object();
    if (r.hl7_log_id != 0) {
      json_value what = json_value::object();
      what.set("identifier", identifier(hl7_message_log, std::to_string(r.hl7_log_id)));
      message.set("what", std::move(what));
    }
    message.set("type", coding(audit_entity_type, "2"));  // System Object
    message.set("role", coding(object_role, "3"));        // Report
    json_value details = json_value::array();
    for (const auto& [name, value] : {std::pair<std::string_view, const std::string*>{"MSH-10", &r.hl7_control_id},
                                      std::pair<std::string_view, const std::string*>{"MSH-9", &r.hl7_message_type}}) {
      if (value->empty()) continue;
      json_value d = json_value::object();
      d.set("type", name);
      d.set("valueString", *value);
      details.push_back(std::move(d));
    }
    if (!details.items().empty()) message.set("detail", std::move(details));
    entities.push_back(std::move(message));
  }
  if (!r.request_id.empty()) {
    // BALP entity[transaction]: the X-Request-Id.
    json_value tx = json_value::object();
    json_value what = json_value::object();
    what.set("identifier", identifier({}, r.request_id));
    tx.set("what", std::move(what));
    tx.set("type", coding(balp_entity_types, "XrequestId"));
    entities.push_back(std::move(tx));
  }
  if (!entities.items().empty()) ev.set("entity", std::move(entities));
  return ev;
}

std::vector<std::string> patient_ids_in(const fhir::json_value& resource, const store::indexer& ix) {
  std::vector<std::string> out;
  const fhir::json_value* rt = resource.is_object() ? resource.find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) return out;
  const std::string& type = rt->str();
  if (type == "Patient") {
    if (const fhir::json_value* id = resource.find("id"); id != nullptr && id->is_string()) out.push_back(id->str());
  }
  const auto params = ix.definitions().patient_compartment_params(type);
  if (params.empty()) return out;
  auto entries = ix.index(resource, params);  // the compartment's parameters only
  if (!entries) return out;
  for (const store::reference_entry& e : entries->references) {
    if (e.param == nullptr || e.target.type != "Patient" || e.target.id.empty()) continue;
    if (e.target.kind != store::reference_kind::relative && e.target.kind != store::reference_kind::absolute) continue;
    if (std::find(params.begin(), params.end(), e.param->code) == params.end()) continue;
    if (std::find(out.begin(), out.end(), e.target.id) == out.end()) out.push_back(e.target.id);
  }
  return out;
}

}  // namespace hearth::server
