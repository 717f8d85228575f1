#pragma once
// The HTTP endpoints (health, readiness, metrics) on listeners of their own, served by
// libmicrohttpd on a thread of its own per listener: a scrape never runs on a DNS worker.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/codec/result.h"

namespace clusterdns {

struct HttpResponse {
    unsigned status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
};

struct HttpRequest {
    std::map<std::string, std::string, std::less<>> args;  // the query string's
};

struct HttpRoute {
    std::string path;  // "/health"
    std::function<HttpResponse(const HttpRequest&)> handler;
};

class HttpListener {
public:
    // Serves GET and HEAD of each route on `address`: "ADDR:PORT", "[V6]:PORT", or ":PORT" for
    // every address (IPv6 and IPv4 when the host has IPv6). Other paths are 404. Fails with a
    // message naming the address if it cannot be bound.
    static Result<std::unique_ptr<HttpListener>> start(std::string_view address,
                                                       std::vector<HttpRoute> routes);
    ~HttpListener();  // stops, waiting for requests being answered
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    // Where it listens, with the port chosen for port 0: "127.0.0.1:8080", "[::]:8080".
    const std::string& bound() const noexcept;

    struct Impl;

private:
    explicit HttpListener(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Checks an endpoint's address as start() takes it, without binding.
Status check_http_address(std::string_view address);

}  // namespace clusterdns
