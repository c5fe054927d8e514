#pragma once
// hearth::mapping::mapping_config — per-sender settings of the v2 -> FHIR mapping,
// read from JSON so that a new sender needs no rebuild (issue "Per-sender
// configuration").
//
// The JSON document:
//
//   {
//     "*":            { ...sender settings used when no sender entry matches... },
//     "LAB^HOSP":     { ...settings for MSH-3.1 "LAB", MSH-4.1 "HOSP"... }
//   }
//
// and the settings of one sender (every member optional):
//
//   {
//     "identifierSystems":       { "MRN": "urn:oid:1.2.3", "1.2.36.1": "http://hosp.example/mrn" },
//     "defaultIdentifierSystem": "http://hosp.example/id",
//     "defaultOffset":           "+01:00",
//     "codeSystems":             { "LOCAL": "http://hosp.example/codes" },
//     "zExtensions":             { "ZPI-2": "http://hosp.example/fhir/StructureDefinition/pet-name" }
//   }
//
// Unknown members are an error (a misspelt setting must not be silently
// ignored); so is a value of the wrong JSON type, a defaultOffset that is not
// "Z" or +/-hh:mm, a system that is not an absolute URI, and a zExtensions key
// that is not a Z segment field ("ZPI-2").

#include <map>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::mapping {

/// The settings for one sender. Plain value type; no thread-safety concerns.
struct sender_config {
  /// Assigning authority -> Identifier.system. Key: the HD namespace id (HD.1)
  /// or universal id (HD.2) exactly as sent. Looked up before the IG's HD rules
  /// (HD[uri]: HD.2 with HD.3 "ISO" -> "urn:oid:" + HD.2, ...).
  std::map<std::string, std::string, std::less<>> identifier_systems;
  /// Identifier.system used for a CX without an assigning authority we can
  /// resolve; empty: such identifiers keep no system (and cannot identify a
  /// resource).
  std::string default_identifier_system;
  /// "+01:00" (or "Z"): the UTC offset given to a DTM with a time but no
  /// offset (a FHIR dateTime with a time must have one, R4
  /// datatypes.html#dateTime). Empty: such a value is an error (102) naming
  /// its position.
  std::string default_offset;
  /// Local coding system name (CWE.3 / CWE.6) -> CodeSystem URI, beside the
  /// HL7 table 0396 names the mapping knows. Looked up first.
  std::map<std::string, std::string, std::less<>> code_systems;
  /// Z-segment fields -> extension URL on the message's main resource
  /// ("ZPI-2" -> "http://..."). The field's text becomes valueString.
  std::map<std::string, std::string, std::less<>> z_extensions;
};

/// The settings of all senders. Immutable once built: concurrent reads are
/// safe. Cheap to move; copying copies the maps.
class mapping_config {
 public:
  /// No sender entries: every sender gets the default (empty) settings.
  mapping_config() = default;

  /// Reads the JSON document above. Errors (code "invalid") name the bad
  /// member as a JSON path ("LAB^HOSP.defaultOffset"); they never quote values.
  static hearth::result<mapping_config> parse(std::string_view json);
  /// parse() of a file's content; code "not-found" when it cannot be read.
  static hearth::result<mapping_config> load(const std::string& path);

  /// The settings for MSH-3.1 `application` and MSH-4.1 `facility`: the entry
  /// "application^facility", else "*", else empty settings. The reference stays
  /// valid while this object lives.
  const sender_config& for_sender(std::string_view application, std::string_view facility) const;

  /// Number of sender entries, "*" included.
  std::size_t size() const noexcept { return senders_.size(); }

 private:
  std::map<std::string, sender_config, std::less<>> senders_;
  sender_config empty_;
};

}  // namespace hearth::mapping
