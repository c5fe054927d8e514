#pragma once
// The registry's private state: the compiled definitions and the membership
// cache. Built once by registry::load(); then only the cache changes, under
// its mutex.

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <hearth/terminology/registry.hpp>
#include "detail/model.hpp"

namespace hearth::terminology::detail {

/// The precomputed membership of one registry value set (check_membership()).
struct membership {
  /// False: the value set could not be expanded from the registry alone
  /// (it needs a grammar, an unknown code system...): evaluate per call.
  bool enumerable = false;
  /// system + '\x1f' + code (code folded to lower case for case-insensitive systems).
  std::unordered_set<std::string, string_hash, std::equal_to<>> keys;
  /// code alone, for a check without system.
  std::unordered_set<std::string, string_hash, std::equal_to<>> codes;
};

}  // namespace hearth::terminology::detail

namespace hearth::terminology {

struct registry::impl {
  // Owned by pointer so that addresses stay put while the maps grow.
  std::vector<std::unique_ptr<detail::code_system>> code_systems;
  std::vector<std::unique_ptr<detail::value_set>> value_sets;
  std::vector<std::unique_ptr<detail::concept_map>> concept_maps;
  /// url -> the first code system read with that url (the default version).
  detail::url_map<const detail::code_system*> cs_by_url;
  /// "url|version" -> that version, for every code system with a version
  /// (the v2 tables hold several versions of some tables).
  detail::url_map<const detail::code_system*> cs_by_url_version;
  detail::url_map<const detail::value_set*> vs_by_url;
  detail::url_map<const detail::concept_map*> cm_by_url;
  std::size_t concept_count = 0;

  // check_membership() cache: value set URL -> membership; grows to at most
  // one entry per registry value set.
  mutable std::shared_mutex cache_mutex;
  mutable detail::url_map<std::shared_ptr<const detail::membership>> cache;

  /// The code system `url` in `version` when held, else its default version.
  const detail::code_system* find_cs(std::string_view url, std::string_view version = {}) const {
    if (!version.empty()) {
      std::string key;
      key.reserve(url.size() + version.size() + 1);
      key.append(url).push_back('|');
      key.append(version);
      if (const auto it = cs_by_url_version.find(key); it != cs_by_url_version.end()) return it->second;
    }
    const auto it = cs_by_url.find(url);
    return it == cs_by_url.end() ? nullptr : it->second;
  }
  const detail::value_set* find_vs(std::string_view url) const {
    const auto it = vs_by_url.find(url);
    return it == vs_by_url.end() ? nullptr : it->second;
  }
  const detail::concept_map* find_cm(std::string_view url) const {
    const auto it = cm_by_url.find(url);
    return it == cm_by_url.end() ? nullptr : it->second;
  }
};

}  // namespace hearth::terminology
