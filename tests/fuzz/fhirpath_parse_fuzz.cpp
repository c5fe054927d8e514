// libFuzzer target: the FHIRPath parser on arbitrary bytes. Properties checked
// (a failure traps, so libFuzzer saves the input):
// - parse() never crashes, overflows the stack, leaks or hits UB (ASan/UBSan),
//   whatever the input — deep nesting included;
// - an error has a code, a message, and an offset and location inside the input;
// - a tree is well formed: post-order (every operand and focus has a smaller id
//   than its node), every node's offset lies inside the input, operand counts
//   match the node kinds;
// - to_string() works on every tree it returns.

#include <hearth/fhir/fhirpath_ast.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace fp = hearth::fhir::fhirpath;

volatile std::size_t sink = 0;

std::size_t expected_children(const fp::node& n) {
  switch (n.kind) {
    case fp::node_kind::indexer:
    case fp::node_kind::binary: return 2;
    case fp::node_kind::unary:
    case fp::node_kind::type_operation: return 1;
    case fp::node_kind::function: return n.child_count;  // any number of arguments
    default: return 0;
  }
}

void check_tree(const fp::expression& e, std::string_view input) {
  if (e.size() == 0 || e.root() != e.size() - 1) __builtin_trap();
  for (fp::node_id id = 0; id < e.size(); ++id) {
    const fp::node& n = e.at(id);
    if (n.offset >= input.size()) __builtin_trap();
    if (n.focus != fp::no_node && n.focus >= id) __builtin_trap();
    if (e.children(id).size() != expected_children(n)) __builtin_trap();
    for (fp::node_id c : e.children(id)) {
      if (c >= id) __builtin_trap();
    }
  }
  sink = sink + e.to_string().size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // A small depth limit keeps runs fast; the default (200) is exercised by the tests.
  fp::parse_options opts;
  opts.max_depth = 64;
  auto r = fp::parse(input, opts);
  if (!r) {
    const hearth::error& err = r.error();
    if (err.code.empty() || err.message.empty() || err.location.empty()) __builtin_trap();
    if (err.offset > input.size()) __builtin_trap();
    return 0;
  }
  check_tree(*r, input);
  return 0;
}
