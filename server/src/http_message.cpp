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

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return {};
  }
}

}  // namespace hearth::server
