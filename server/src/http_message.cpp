#include <hearth/server/http_message.hpp>

#include <hearth/core/text.hpp>

namespace hearth::server {

std::optional<std::string_view> http_request::header(std::string_view name) const {
  for (const http_header& h : headers) {
    if (hearth::text::iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

void http_response::set_header(std::string_view name, std::string value) {
  std::erase_if(headers, [name](const http_header& h) { return hearth::text::iequals(h.name, name); });
  headers.push_back(http_header{std::string(name), std::move(value)});
}

std::optional<std::string_view> http_response::header(std::string_view name) const {
  for (const http_header& h : headers) {
    if (hearth::text::iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace hearth::server
