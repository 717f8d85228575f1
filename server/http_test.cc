#include "server/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace clusterdns {
namespace {

// A blocking client socket to the listener, closed when it goes.
class Client {
public:
    explicit Client(const HttpListener& listener) {
        const std::string& bound = listener.bound();  // "127.0.0.1:PORT"
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1))));
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    }
    ~Client() { close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send_text(std::string_view text) const {
        REQUIRE(send(fd_, text.data(), text.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(text.size()));
    }

    // Everything until the server closes the connection (at most 5 s).
    std::string read_all() const {
        std::string out;
        while (wait_readable()) {
            char buf[4096];
            const ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                break;
            }
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }

    // One response: its head and a body of Content-Length bytes.
    std::string read_response() {
        while (true) {
            const size_t end = buffered_.find("\r\n\r\n");
            if (end != std::string::npos) {
                size_t length = 0;
                const size_t at = buffered_.find("Content-Length: ");
                if (at != std::string::npos && at < end) {
                    length = std::stoul(buffered_.substr(at + 16));
                }
                const bool head_only = buffered_.starts_with("HEAD-ONLY");
                const size_t total = end + 4 + (head_only ? 0 : length);
                if (buffered_.size() >= total) {
                    std::string out = buffered_.substr(0, total);
                    buffered_.erase(0, total);
                    return out;
                }
            }
            if (!wait_readable()) {
                return {};
            }
            char buf[4096];
            const ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                return std::exchange(buffered_, {});
            }
            buffered_.append(buf, static_cast<size_t>(n));
        }
    }

    // Whether the server closed the connection (EOF or reset) within 5 s.
    bool closed_by_server() const {
        if (!wait_readable()) {
            return false;
        }
        char c;
        return recv(fd_, &c, 1, 0) <= 0;
    }

private:
    bool wait_readable() const {
        pollfd p{fd_, POLLIN, 0};
        return poll(&p, 1, 5000) == 1;
    }

    int fd_ = -1;
    std::string buffered_;
};

std::unique_ptr<HttpListener> start(HttpLimits limits = {}) {
    std::vector<HttpRoute> routes = {
        {"/health", [](const HttpRequest&) { return HttpResponse{.body = "OK"}; }},
        {"/args",
         [](const HttpRequest& request) {
             std::string body;
             for (const auto& [key, value] : request.args) {
                 body += key + "=[" + value + "]\n";
             }
             return HttpResponse{.body = body};
         }},
        {"/throws", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("oops"); }},
    };
    auto listener = HttpListener::start("127.0.0.1:0", std::move(routes), limits);
    REQUIRE(listener.has_value());
    return std::move(*listener);
}

bool starts_with(const std::string& text, std::string_view prefix) {
    return text.starts_with(prefix);
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("http: GET and HEAD of a route, 404 and 405 otherwise") {
    auto listener = start();
    {
        Client c(*listener);
        c.send_text("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const std::string r = c.read_all();
        CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
        CHECK(contains(r, "Content-Length: 2\r\n"));
        CHECK(contains(r, "Connection: close\r\n"));
        CHECK(r.ends_with("\r\n\r\nOK"));
    }
    {
        Client c(*listener);
        c.send_text("HEAD /health HTTP/1.1\r\nConnection: close\r\n\r\n");
        const std::string r = c.read_all();
        CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
        CHECK(contains(r, "Content-Length: 2\r\n"));
        CHECK(r.ends_with("\r\n\r\n"));  // no body
    }
    {
        Client c(*listener);
        c.send_text("GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
        CHECK(starts_with(c.read_all(), "HTTP/1.1 404 Not Found\r\n"));
    }
    {
        Client c(*listener);
        c.send_text("POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        const std::string r = c.read_all();  // refused requests close the connection
        CHECK(starts_with(r, "HTTP/1.1 405 Method Not Allowed\r\n"));
        CHECK(contains(r, "Allow: GET, HEAD\r\n"));
    }
    {
        Client c(*listener);
        c.send_text("GET /throws HTTP/1.1\r\nConnection: close\r\n\r\n");
        const std::string r = c.read_all();
        CHECK(starts_with(r, "HTTP/1.1 500 Internal Server Error\r\n"));
        CHECK(r.ends_with("oops\n"));
    }
}

TEST_CASE("http: query arguments are decoded, a NUL kept for the handler to judge") {
    auto listener = start();
    Client c(*listener);
    c.send_text(
        "GET /args?name=a%00b.c&type=A+AAAA&flag&empty=&name2=%41 HTTP/1.1\r\n"
        "Connection: close\r\n\r\n");
    const std::string r = c.read_all();
    CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
    CHECK(contains(r, std::string("name=[a\0b.c]\n", 13)));
    CHECK(contains(r, "type=[A AAAA]\n"));
    CHECK(contains(r, "flag=[]\n"));
    CHECK(contains(r, "empty=[]\n"));
    CHECK(contains(r, "name2=[A]\n"));
}

TEST_CASE("http: keep-alive, pipelining, a bare LF, HTTP/1.0 and absolute-form") {
    auto listener = start();
    SUBCASE("two requests on one connection, the second pipelined behind the first") {
        Client c(*listener);
        c.send_text("GET /health HTTP/1.1\r\n\r\nGET /args?x=1 HTTP/1.1\r\n\r\n");
        const std::string first = c.read_response();
        CHECK(starts_with(first, "HTTP/1.1 200 OK\r\n"));
        CHECK(first.ends_with("OK"));
        CHECK_FALSE(contains(first, "Connection: close"));
        CHECK(c.read_response().ends_with("x=[1]\n"));
        c.send_text("GET /health HTTP/1.1\nConnection: close\n\n");
        CHECK(c.read_all().ends_with("OK"));
    }
    SUBCASE("HTTP/1.0 closes after the answer") {
        Client c(*listener);
        c.send_text("GET /health HTTP/1.0\r\n\r\n");
        const std::string r = c.read_all();
        CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
        CHECK(contains(r, "Connection: close\r\n"));
    }
    SUBCASE("absolute-form") {
        Client c(*listener);
        c.send_text("GET http://127.0.0.1/health HTTP/1.1\r\nConnection: close\r\n\r\n");
        CHECK(c.read_all().ends_with("OK"));
    }
    SUBCASE("a request with a body is answered, then the connection closes") {
        Client c(*listener);
        c.send_text("GET /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /");
        const std::string r = c.read_all();
        CHECK(starts_with(r, "HTTP/1.1 200 OK\r\n"));
        CHECK(contains(r, "Connection: close\r\n"));
    }
}

TEST_CASE("http: malformed requests are refused and closed") {
    auto listener = start();
    const std::pair<std::string, std::string_view> cases[] = {
        {"GARBAGE\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /health\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /health HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /health FTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET health HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /args?x=%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /args?x=%4 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /health HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400 "},
        {"GET /health HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", "HTTP/1.1 431 "},
        {"GET /" + std::string(9000, 'a'), "HTTP/1.1 431 "},
    };
    for (const auto& [request, status] : cases) {
        CAPTURE(request.substr(0, 40));
        Client c(*listener);
        c.send_text(request);
        CHECK(starts_with(c.read_all(), status));  // read_all: the server closed it
    }
}

TEST_CASE("http: at the cap a new client is answered; the connection idle longest is closed") {
    auto listener = start({.max_connections = 3});
    Client first(*listener);
    first.send_text("GET /health HTTP/1.1\r\n\r\n");  // answered, then idle: the oldest
    CHECK(first.read_response().ends_with("OK"));
    Client trickling(*listener);
    trickling.send_text("GET /hea");  // a request begun: busy, not idle
    Client second(*listener);
    second.send_text("GET /health HTTP/1.1\r\n\r\n");
    CHECK(second.read_response().ends_with("OK"));
    Client probe(*listener);
    probe.send_text("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(probe.read_all().ends_with("OK"));
    CHECK(first.closed_by_server());
    Client slow2(*listener);
    slow2.send_text("GET /hea");
    Client probe2(*listener);
    probe2.send_text("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(probe2.read_all().ends_with("OK"));
    CHECK(second.closed_by_server());
    // None idle: the request begun earliest goes.
    Client slow3(*listener);
    slow3.send_text("GET /hea");
    Client probe3(*listener);
    probe3.send_text("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(probe3.read_all().ends_with("OK"));
    CHECK(trickling.closed_by_server());
}

}  // namespace clusterdns
