#include "detail/identifier_finder.hpp"

#include <soci/soci.h>

#include <algorithm>

#include "detail/param_key.hpp"
#include "detail/prepared.hpp"

namespace hearth::store::detail {

identifier_finder::identifier_finder(soci::session& sql) {
  using soci::into;
  using soci::use;
  // The identifier rows of idx_token (index_writer.cpp: param is
  // param_key(type, "identifier"); Identifier.system and .value in system
  // and code). Rows exist for current, non-deleted versions only; the
  // deleted test says so once more. DISTINCT: an Identifier with several
  // type codings has one row per coding.
  statement_ = prepare_bound(sql,
                             "SELECT DISTINCT r.id FROM idx_token x JOIN resource r ON r.resource_pk = x.resource_pk"
                             " WHERE x.param = :param AND x.code = :value AND x.system = :system AND r.type = :type"
                             " AND r.deleted = 0 ORDER BY r.id LIMIT :lim",
                             into(id_), use(param_, "param"), use(value_, "value"), use(system_, "system"),
                             use(type_, "type"), use(limit_, "lim"));
}

identifier_finder::~identifier_finder() = default;

std::vector<std::string> identifier_finder::find(std::string_view type, std::string_view system,
                                                 std::string_view value, std::size_t limit) {
  std::vector<std::string> ids;
  if (limit == 0) return ids;
  param_ = param_key(type, "identifier");
  limit_ = static_cast<long long>(std::min<std::size_t>(limit, 1u << 20));
  type_.assign(type);
  system_.assign(system);
  value_.assign(value);
  if (!statement_->execute(true)) return ids;
  ids.push_back(id_);
  while (statement_->fetch()) ids.push_back(id_);
  return ids;
}

}  // namespace hearth::store::detail
