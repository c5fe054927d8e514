#pragma once
// The identifier lookup of conditional updates and creates
// (resource_tx::find_by_identifier, resource_store::find_by_identifier),
// prepared once per connection: preparing it again for every lookup cost
// more than running it (an HL7 v2 message makes a dozen lookups before its
// transaction and again inside it).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace soci {
class session;
class statement;
}  // namespace soci

namespace hearth::store::detail {

/// Thread-safety: none; one connection's user at a time (the writer thread,
/// or the thread that leased a reader). Lifetime: within the session it was
/// built on; throw it away after a database error (the session may have been
/// reconnected, which drops its statements).
class identifier_finder {
 public:
  explicit identifier_finder(soci::session& sql);
  ~identifier_finder();
  identifier_finder(const identifier_finder&) = delete;
  identifier_finder& operator=(const identifier_finder&) = delete;

  /// The ids of the current (not deleted) resources of `type` with an
  /// `identifier` of exactly this system and value, sorted, at most `limit`
  /// (see resource_tx::find_by_identifier). Throws on database errors. The
  /// statement is run to its end, so it holds no read snapshot afterwards.
  std::vector<std::string> find(std::string_view type, std::string_view system, std::string_view value,
                                std::size_t limit);

 private:
  long long param_ = 0, limit_ = 0;
  std::string type_, system_, value_, id_;
  std::unique_ptr<soci::statement> statement_;
};

}  // namespace hearth::store::detail
