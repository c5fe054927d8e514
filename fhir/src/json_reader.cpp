#include <hearth/fhir/json_reader.hpp>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <hearth/core/utf8.hpp>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace hearth::fhir {

namespace {

// Objects with more members than this check duplicates through a hash set;
// smaller ones by a scan, which is faster for the few members FHIR objects have.
constexpr std::size_t linear_duplicate_check = 32;

/// Builds json_values from RapidJSON's SAX events with an explicit stack (the
/// iterative parser and this stack together never recurse, so depth costs
/// heap, not the call stack), checking FHIR's rules and the limits as it goes.
class builder {
 public:
  builder(const json_read_options& opts, const rapidjson::MemoryStream& in) : opts_(opts), in_(in) {}

  bool Null() {
    if (opts_.fhir_rules && (stack_.empty() || stack_.back().is_object)) {
      return fail("invalid", "null is allowed only inside arrays in FHIR JSON");
    }
    return add(json_value());
  }
  bool Bool(bool b) { return add(json_value(b)); }
  // With kParseNumbersAsStringsFlag every number arrives as RawNumber.
  bool Int(int) { return unexpected_number(); }
  bool Uint(unsigned) { return unexpected_number(); }
  bool Int64(std::int64_t) { return unexpected_number(); }
  bool Uint64(std::uint64_t) { return unexpected_number(); }
  bool Double(double) { return unexpected_number(); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return add(json_value::number(std::string(s, n)));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (n > opts_.max_string_bytes) return fail("too-costly", "string longer than the configured limit");
    if (opts_.fhir_rules && n == 0) return fail("invalid", "empty string (FHIR JSON strings are never empty)");
    if (!valid_unicode(s, n)) return bad_escape();
    return add(json_value(std::string(s, n)));
  }
  bool StartObject() { return open(true); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (n > opts_.max_string_bytes) return fail("too-costly", "key longer than the configured limit");
    frame& f = stack_.back();
    const std::string_view key(s, n);
    if (opts_.fhir_rules && n == 0) return fail("invalid", "empty property name");
    if (!valid_unicode(s, n)) return bad_escape();
    auto& members = f.value.members();
    if (f.seen) {
      if (!f.seen->insert(std::string(key)).second) return duplicate(key);
    } else {
      for (const json_member& m : members) {
        if (m.key == key) return duplicate(key);
      }
      if (members.size() + 1 > linear_duplicate_check) {
        f.seen = std::make_unique<std::unordered_set<std::string>>();
        for (const json_member& m : members) f.seen->insert(m.key);
        f.seen->insert(std::string(key));
      }
    }
    f.key.assign(key);
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  /// The path of where the parser is now: `$`, `$.name[0].given`.
  std::string path() const {
    std::string p = "$";
    for (const frame& f : stack_) {
      if (f.is_object) {
        if (f.key.empty()) break;
        p += '.';
        p += f.key;
      } else {
        p += '[';
        p += std::to_string(f.value.items().size());
        p += ']';
      }
    }
    return p;
  }

  bool failed() const noexcept { return !error_.message.empty(); }
  hearth::error& error() noexcept { return error_; }
  json_value take_root() { return std::move(root_); }

 private:
  struct frame {
    json_value value;
    bool is_object;
    std::string key;  // the member being read, for objects
    std::unique_ptr<std::unordered_set<std::string>> seen;  // large objects only
  };

  bool open(bool object) {
    if (stack_.size() >= opts_.max_depth) return fail("too-costly", "nesting deeper than the configured limit");
    stack_.push_back(frame{object ? json_value::object() : json_value::array(), object, {}, nullptr});
    return true;
  }

  bool close() {
    if (opts_.fhir_rules && stack_.back().value.size() == 0) {
      return fail("invalid", stack_.back().is_object ? "empty object (FHIR JSON objects are never empty)"
                                                      : "empty array (FHIR JSON arrays are never empty)");
    }
    json_value v = std::move(stack_.back().value);
    stack_.pop_back();
    return add(std::move(v));
  }

  bool add(json_value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    frame& f = stack_.back();
    if (f.value.size() >= opts_.max_items) {
      return fail("too-costly", "more array items or object members than the configured limit");
    }
    if (f.is_object) {
      f.value.members().push_back(json_member{std::move(f.key), std::move(v)});
      f.key.clear();
    } else {
      f.value.items().push_back(std::move(v));
    }
    return true;
  }

  bool duplicate(std::string_view key) {
    // The key is a property name of the document, not a value: safe to name.
    stack_.back().key.assign(key);
    return fail("structure", "duplicate property name");
  }

  // RapidJSON checks the raw bytes and surrogate pairs that start with a high
  // surrogate, but lets a lone low surrogate (\udc00-\udfff) through as the
  // bytes of a surrogate, which are not UTF-8 (RFC 3629 section 3). The decoded
  // string is checked again so that nothing invalid enters a value.
  static bool valid_unicode(const char* s, rapidjson::SizeType n) noexcept {
    return hearth::utf8::find_invalid(std::string_view(s, n)) == hearth::utf8::npos;
  }
  bool bad_escape() { return fail("structure", "\\u escape is not a Unicode scalar value (lone surrogate)"); }

  bool unexpected_number() { return fail("exception", "number reported without its text"); }

  bool fail(const char* code, const char* message) {
    error_ = hearth::error{code, message, path(), in_.Tell()};
    return false;
  }

  const json_read_options& opts_;
  const rapidjson::MemoryStream& in_;
  std::vector<frame> stack_;
  json_value root_;
  hearth::error error_;
};

}  // namespace

hearth::result<json_value> parse_json(std::string_view text, const json_read_options& opts) {
  if (text.size() > opts.max_bytes) {
    return hearth::unexpected(hearth::error{"too-costly", "document larger than the configured limit", "$", 0});
  }
  // MemoryStream reads the bytes in place and shows the end as a NUL, so a NUL
  // inside the text ends the parse early: caught below (RFC 8259 allows no
  // unescaped control character anywhere).
  rapidjson::MemoryStream in(text.data(), text.size());
  builder b(opts, in);
  rapidjson::Reader reader;
  constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                             rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult r = reader.Parse<flags>(in, b);
  if (b.failed()) return hearth::unexpected(std::move(b.error()));
  if (r.IsError()) {
    return hearth::unexpected(
        hearth::error{"structure", rapidjson::GetParseError_En(r.Code()), b.path(), r.Offset()});
  }
  if (in.Tell() != text.size()) {
    return hearth::unexpected(hearth::error{"structure", "NUL byte in the document", "$", in.Tell()});
  }
  return b.take_root();
}

}  // namespace hearth::fhir
