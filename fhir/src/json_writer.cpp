#include <hearth/fhir/json_writer.hpp>

namespace hearth::fhir {

namespace {

void write_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the current run of bytes needing no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
    }
  }
  out.append(s.substr(run));
  out.push_back('"');
}

void newline(std::string& out, std::size_t depth) {
  out.push_back('\n');
  out.append(2 * depth, ' ');
}

void write(std::string& out, const json_value& v, bool pretty, std::size_t depth) {
  switch (v.type()) {
    case json_value::kind::null: out.append("null"); return;
    case json_value::kind::boolean: out.append(v.as_bool() ? "true" : "false"); return;
    case json_value::kind::number: out.append(v.number_text()); return;
    case json_value::kind::string: write_string(out, v.str()); return;
    case json_value::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json_value& item : v.items()) {
        if (!first) out.push_back(',');
        first = false;
        if (pretty) newline(out, depth + 1);
        write(out, item, pretty, depth + 1);
      }
      if (pretty && !first) newline(out, depth);
      out.push_back(']');
      return;
    }
    case json_value::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const json_member& m : v.members()) {
        if (!first) out.push_back(',');
        first = false;
        if (pretty) newline(out, depth + 1);
        write_string(out, m.key);
        out.append(pretty ? ": " : ":");
        write(out, m.value, pretty, depth + 1);
      }
      if (pretty && !first) newline(out, depth);
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

void write_json_string(std::string& out, std::string_view utf8) { write_string(out, utf8); }

void write_json(std::string& out, const json_value& v, const json_write_options& opts) {
  write(out, v, opts.pretty, 0);
}

std::string to_json(const json_value& v, const json_write_options& opts) {
  std::string out;
  write_json(out, v, opts);
  return out;
}

}  // namespace hearth::fhir
