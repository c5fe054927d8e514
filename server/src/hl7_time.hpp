#pragma once
// The current time as an HL7 v2 DTM in UTC, for what the server writes into
// messages (ACK MSH-7 in hl7_intake.cpp, the conformance suites' ${now}).

#include <cstdio>
#include <ctime>
#include <string>

namespace hearth::server {

/// "YYYYMMDDHHMMSS+0000", now (DTM, HL7 v2.5.1 2.A.22).
inline std::string hl7_now_dtm() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d+0000", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
                tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
  return buf;
}

}  // namespace hearth::server
