// hearth — the command line (DESIGN.md, Commands).

#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "audit_commands.hpp"
#include "fhir_commands.hpp"
#include "hl7_commands.hpp"
#ifdef HEARTH_WITH_SERVE
#include "auth_commands.hpp"
#include "conformance_command.hpp"
#include "serve_command.hpp"
#endif

namespace {

void print_help(std::ostream& out) {
  out << "hearth " << HEARTH_VERSION << " - FHIR R4 server and HL7 v2 interface engine\n"
      << "\n"
      << "Commands available in this build:\n"
      << "  hearth hl7 inspect FILE|-   print each HL7 v2 message (or batch) as JSON, one per line\n"
      << "  hearth hl7 convert FILE|- [--config FILE]\n"
      << "                              convert each HL7 v2 message (ADT) to a FHIR transaction Bundle,\n"
      << "                              one JSON document per line (v2-to-FHIR IG)\n"
#ifdef HEARTH_WITH_SERVE
      << "  hearth hl7 send FILE... --to HOST:PORT [--tls] [--ca FILE] [--cert FILE --key FILE]\n"
      << "                              send HL7 v2 messages over MLLP and print each ACK\n"
#endif
      << "  hearth fhirpath EXPR FILE|- evaluate a FHIRPath expression on a FHIR resource (JSON or XML)\n"
      << "  hearth convert FILE|- --to json|xml [--pretty]\n"
      << "                              convert a FHIR resource between JSON and XML\n"
      << "  hearth validate FILE|- [--profile URL]... [--package PATH]... [--json]\n"
      << "                              validate a FHIR resource against the R4 definitions and profiles\n"
      << "  hearth serve [flags]        the FHIR R4 REST server (hearth serve --help: its settings);\n"
      << "                              every request needs a bearer token unless --insecure-no-auth\n"
      << "  hearth token --scope S [--data DIR] [--base-url URL] [--patient ID] [--ttl SECONDS] ...\n"
      << "                              mint an access token for hearth serve (hearth token --help)\n"
#ifdef HEARTH_WITH_SERVE
      << "  hearth conformance --fhir URL [--token T | --client-id ID --key FILE] [--mllp HOST:PORT]\n"
      << "                              run the conformance suites against a FHIR server and/or an MLLP\n"
      << "                              endpoint (hearth conformance --help)\n"
#endif
      << "  hearth audit verify [--data DIR | --database-url URL]\n"
      << "                              check the AuditEvent hash chain (exit 1 when broken)\n"
      << "  hearth version              print the version\n"
      << "  hearth help                 this text\n"
      << "\n"
      << "Not built yet (see the project's issues): import.\n";
}

}  // namespace

int main(int argc, char** argv) {
  // Exceptions only at start-up and configuration (CONVENTIONS.md); one catch here.
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
      print_help(std::cout);
      return 0;
    }
    if (args[0] == "version" || args[0] == "--version") {
      std::cout << "hearth " << HEARTH_VERSION << "\n";
      return 0;
    }
    if (args[0] == "fhirpath") {
      return hearth::app::fhirpath_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (args[0] == "validate") {
      return hearth::app::validate_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (args[0] == "convert") {
      return hearth::app::convert_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
#ifdef HEARTH_WITH_SERVE
    if (args[0] == "serve") {
      return hearth::app::serve_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (args[0] == "token") {
      return hearth::app::token_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (args[0] == "conformance") {
      return hearth::app::conformance_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
#endif
    if (args[0] == "audit") {
      return hearth::app::audit_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (args[0] == "hl7") {
      return hearth::app::hl7_main(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    std::cerr << "hearth: unknown command '" << args[0] << "'\n\n";
    print_help(std::cerr);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hearth: internal error: " << e.what() << "\n";
    return 70;
  }
}
