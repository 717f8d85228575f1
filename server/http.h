#pragma once
// The HTTP endpoints (health, readiness, metrics) on listeners of their own, each served on a
// thread of its own: a scrape never runs on a DNS worker. A small HTTP/1.1 server of our own
// (GET and HEAD of a few fixed paths, keep-alive, pipelining), because what a probe needs under
// load is what libmicrohttpd does not offer: its timeout is one of inactivity, so a client
// trickling a byte now and then holds its connection for ever, and at its connection limit it
// turns new clients away, the kubelet's probe among them.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

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
    // Runs on the listener's thread; an exception it throws is answered 500.
    std::function<HttpResponse(const HttpRequest&)> handler;
};

// How a listener keeps slow or idle clients from starving the others, as the DNS TCP listener
// does: deadlines that trickling bytes do not extend, and a new client always gets a slot.
struct HttpLimits {
    // Open connections at most; at the cap a new client closes the connection idle longest, or
    // else the one whose request (or answer) began earliest.
    unsigned max_connections = 64;
    unsigned idle_timeout_ms = 10'000;  // from the connection or the last answer to a request
    // A request must arrive whole within this of its first byte; an answer not taken is given
    // this long again each time the client takes some of it.
    unsigned io_timeout_ms = 5'000;
};

class HttpListener {
public:
    // Serves GET and HEAD of each route on `address`: "ADDR:PORT", "[V6]:PORT", or ":PORT" for
    // every address (IPv6 and IPv4 when the host has IPv6). Other paths are 404, other methods
    // 405, a request that is not HTTP/1.x or whose head is over 8 KiB 400 (or 431, 505). Fails
    // with a message naming the address if it cannot be bound.
    static Result<std::unique_ptr<HttpListener>> start(std::string_view address,
                                                       std::vector<HttpRoute> routes,
                                                       HttpLimits limits = {});
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
