#pragma once
// Reading a command's input: a file, or standard input for "-".

#include <string>

namespace hearth::app {

/// Reads all of `name` ("-": standard input) into `out`; false when it cannot.
bool read_input(const std::string& name, std::string& out);

/// How to name `name` in a message: the path, or "standard input".
inline std::string input_name(const std::string& name) { return name == "-" ? "standard input" : name; }

}  // namespace hearth::app
