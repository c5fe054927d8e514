#pragma once
// Compiling StructureDefinitions (RapidJSON DOM) into detail::model
// (private to profiles; RapidJSON stays out of public headers).

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <rapidjson/document.h>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>

#include "detail/model.hpp"

namespace hearth::profiles::detail {

/// Every constraint of every compiled definition, shared by models: the same
/// (key, expression) is parsed once. Not thread-safe; filled while building.
class constraint_store {
 public:
  /// The constraint for this ElementDefinition.constraint entry.
  const constraint_def* intern(const rapidjson::Value& c);

 private:
  std::deque<constraint_def> items_;
  std::unordered_map<std::string, const constraint_def*> by_key_;
};

/// A StructureDefinition's snapshot as a model. Errors: "invalid" (no url,
/// no snapshot elements). `core` marks the R4 base definitions.
hearth::result<std::unique_ptr<model>, hearth::error> compile_structure_definition(const rapidjson::Value& sd,
                                                                                   const fhir::definitions& defs,
                                                                                   constraint_store& constraints,
                                                                                   bool core);

/// Sets on `el` the properties an ElementDefinition (snapshot or
/// differential) gives; those it does not give are left as they are, so a
/// differential element can be laid over a copy of its base.
void apply_element(element& el, const rapidjson::Value& e, const fhir::definitions& defs,
                   constraint_store& constraints);

/// Reads StructureDefinition.context into m.contexts.
void read_contexts(const rapidjson::Value& sd, model& m);

/// (Re)computes every element's children and slices from the ids.
void build_tree(model& m);

/// A deep copy of an element (fixed and pattern values included).
element clone(const element& e);

/// The string member `key` of a RapidJSON object; empty when absent, not a
/// string, or `o` is not an object. Views into `o`.
std::string_view str(const rapidjson::Value& o, const char* key);

/// A RapidJSON value as a json_value (numbers through their shortest text).
fhir::json_value to_json_value(const rapidjson::Value& v);

/// Why an R4 constraint is not evaluated, or "" when it is. See compile.cpp.
std::string_view skipped_constraint(std::string_view key, std::string_view expression) noexcept;

}  // namespace hearth::profiles::detail
