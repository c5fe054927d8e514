#pragma once
// `hearth audit ...` commands (DESIGN.md, Commands: `hearth audit verify`).

#include <string>
#include <vector>

namespace hearth::app {

/// `hearth audit verify [--data DIR | --database-url URL] [--config FILE]`:
/// walks the AuditEvent hash chain of the database `hearth serve` would use
/// with the same settings (SECURITY.md "an edit, deletion or reordering is
/// found by `hearth audit verify`"). Exit status 0 when the chain is whole,
/// 1 at the first broken link (its sequence number and kind printed), 2 for
/// a usage error or a database that cannot be opened.
int audit_main(const std::vector<std::string>& args);

}  // namespace hearth::app
