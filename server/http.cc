#include "server/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "base/threads.h"
#include "server/frontend.h"

namespace clusterdns {

namespace {

// ":8080" is every address; anything else is ADDR:PORT as --listen takes it.
Result<ListenAddress> parse_http_address(std::string_view address) {
    if (address.starts_with(':')) {
        auto any = parse_listen_address(fmt::format("[::]{}", address));
        if (!any) {
            return Error{fmt::format("{}: expected ADDR:PORT or :PORT", address)};
        }
        return any;
    }
    return parse_listen_address(address);
}

// A listening socket; with `every` an IPv6 one taking IPv4 too, or IPv4 alone on hosts without
// IPv6. Returns -errno on failure.
int listen_on(const ListenAddress& address, bool every) {
    const bool v6 = address.host.find(':') != std::string::npos;
    sockaddr_storage storage{};
    socklen_t length = 0;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && every && errno == EAFNOSUPPORT) {
        return listen_on({.host = "0.0.0.0", .port = address.port}, false);
    }
    if (fd < 0) {
        return -errno;
    }
    if (v6) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(address.port);
        inet_pton(AF_INET6, address.host.c_str(), &sa->sin6_addr);
        length = sizeof *sa;
        const int v6_only = every ? 0 : 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only);
    } else {
        auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
        sa->sin_family = AF_INET;
        sa->sin_port = htons(address.port);
        inet_pton(AF_INET, address.host.c_str(), &sa->sin_addr);
        length = sizeof *sa;
    }
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    // A deep queue: a flood of connections beyond it would have the kernel drop a probe's SYN,
    // and its retry comes a second later; in the queue it waits for one turn of the loop each.
    if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        const int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

std::string local_address(int fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
    char text[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET6) {
        const auto* sa = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
        return fmt::format("[{}]:{}", text, ntohs(sa->sin6_port));
    }
    const auto* sa = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(sa->sin_port));
}

// The request line and headers; a GET or HEAD has no body, and nothing we serve takes one.
constexpr size_t kMaxRequestHead = 8192;
// How long a closing connection waits for the client's end (at most io_timeout).
constexpr uint64_t kLingerMs = 1000;

uint64_t now_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

std::string_view reason_phrase(unsigned status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

// A comma-separated header value (Connection) has `token`, in any case.
bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (equals_ignoring_case(item, token)) {
            return true;
        }
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    }
    return false;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Percent-decoding (RFC 3986 2.1), and '+' as a space in a query (HTML forms). Bytes such as
// %00 are kept: what a value may hold is for its handler to say. False for a bad escape.
bool decode(std::string_view in, bool plus_is_space, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) {
                return false;
            }
            const int high = hex_digit(in[i + 1]);
            const int low = hex_digit(in[i + 2]);
            if (high < 0 || low < 0) {
                return false;
            }
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else if (in[i] == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

// What a request's head asked for, or the status to refuse it with.
struct ParsedRequest {
    unsigned refuse = 0;  // a status, when the request cannot be served
    bool head = false;    // HEAD: the answer without its body
    bool keep_alive = true;
    std::string path;
    HttpRequest request;
};

// Parses a request head (RFC 9112: the request line and header fields, each line ending in
// CRLF or a bare LF, without the empty line that ends it).
ParsedRequest parse_head(std::string_view head) {
    ParsedRequest out;
    const auto next_line = [&head]() {
        const size_t end = head.find('\n');
        std::string_view line = head.substr(0, end);
        head = end == std::string_view::npos ? std::string_view() : head.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        return line;
    };
    std::string_view line = next_line();
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
        out.refuse = 400;
        return out;
    }
    const std::string_view method = line.substr(0, first);
    std::string_view target = line.substr(first + 1, last - first - 1);
    const std::string_view version = line.substr(last + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        out.refuse = version.starts_with("HTTP/") ? 505 : 400;
        return out;
    }
    out.keep_alive = version == "HTTP/1.1";
    bool body = false;
    while (!head.empty()) {
        line = next_line();
        const size_t colon = line.find(':');
        // RFC 9112 5.1: no whitespace between a field name and its colon.
        if (colon == 0 || colon == std::string_view::npos || line.find_first_of(" \t") < colon) {
            out.refuse = 400;
            return out;
        }
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = line.substr(colon + 1);
        if (equals_ignoring_case(name, "connection")) {
            if (has_token(value, "close")) {
                out.keep_alive = false;
            }
        } else if (equals_ignoring_case(name, "transfer-encoding") ||
                   (equals_ignoring_case(name, "content-length") &&
                    value.find_first_not_of(" \t0") != std::string_view::npos)) {
            body = true;
        }
    }
    // A body we do not read would be taken for the next request: answer, then close.
    if (body) {
        out.keep_alive = false;
    }
    if (method != "GET" && method != "HEAD") {
        out.refuse = 405;
        return out;
    }
    out.head = method == "HEAD";
    // RFC 9112 3.2.2: absolute-form, as a proxy would send it.
    if (target.starts_with("http://")) {
        const size_t slash = target.find('/', 7);
        target = slash == std::string_view::npos ? "/" : target.substr(slash);
    }
    if (!target.starts_with('/')) {
        out.refuse = 400;
        return out;
    }
    const size_t question = target.find('?');
    if (!decode(target.substr(0, question), false, out.path)) {
        out.refuse = 400;
        return out;
    }
    std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const size_t equals = pair.find('=');
        std::string key;
        std::string value;
        if (!decode(pair.substr(0, equals), true, key) ||
            (equals != std::string_view::npos && !decode(pair.substr(equals + 1), true, value))) {
            out.refuse = 400;
            return out;
        }
        out.request.args[std::move(key)] = std::move(value);
    }
    return out;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7).
std::string http_date() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[64];
    const size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    return std::string(text, n);
}

// Lingering: answered and shut for writing, reading what the client still sends until it closes
// too, so that our close does not reset the connection before the client has read the answer.
enum class State { Free, Idle, Reading, Writing, Lingering };

struct Connection {
    int fd = -1;
    State state = State::Free;
    uint64_t entered = 0;      // when this state began, in order: who is evicted first
    uint64_t deadline_ms = 0;  // when it is closed, unless it moves on
    std::string in;            // read, not yet answered
    std::string out;           // the answer, from `sent` on not yet taken
    size_t sent = 0;
    bool close_after = false;  // once the answer is taken
};

}  // namespace

struct HttpListener::Impl {
    std::vector<HttpRoute> routes;
    HttpLimits limits;
    std::string bound;
    int listen_fd = -1;
    int stop_fd = -1;
    std::vector<Connection> connections;  // max_connections slots
    uint64_t accept_paused_until = 0;     // out of file descriptors: try again then
    uint64_t transitions = 0;
    std::thread thread;

    ~Impl() {
        for (Connection& c : connections) {
            if (c.fd >= 0) {
                close(c.fd);
            }
        }
        for (const int fd : {listen_fd, stop_fd}) {
            if (fd >= 0) {
                close(fd);
            }
        }
    }

    void enter(Connection& c, State state, uint64_t now) {
        c.state = state;
        c.entered = ++transitions;
        c.deadline_ms =
            now + (state == State::Idle        ? limits.idle_timeout_ms
                   : state == State::Lingering ? std::min<uint64_t>(kLingerMs, limits.io_timeout_ms)
                                               : limits.io_timeout_ms);
    }

    void drop(Connection& c) {
        close(c.fd);
        c.fd = -1;
        c.state = State::Free;
        std::string().swap(c.in);  // a big answer's memory goes with it
        std::string().swap(c.out);
        c.sent = 0;
        c.close_after = false;
    }

    // The connection a new client displaces, as the DNS TCP listener does: one closing, or else
    // the one idle longest, or else the one whose request or answer began earliest. Null when
    // none is open.
    Connection* victim() {
        Connection* lingering = nullptr;
        Connection* oldest_idle = nullptr;
        Connection* oldest_busy = nullptr;
        for (Connection& c : connections) {
            if (c.state == State::Free) {
                continue;
            }
            Connection*& oldest = c.state == State::Lingering ? lingering
                                  : c.state == State::Idle    ? oldest_idle
                                                              : oldest_busy;
            if (oldest == nullptr || c.entered < oldest->entered) {
                oldest = &c;
            }
        }
        return lingering ? lingering : oldest_idle ? oldest_idle : oldest_busy;
    }

    // A free slot, or the victim's, closed; null only with max_connections 0.
    Connection* slot() {
        for (Connection& c : connections) {
            if (c.state == State::Free) {
                return &c;
            }
        }
        Connection* displaced = victim();
        if (displaced != nullptr) {
            drop(*displaced);
        }
        return displaced;
    }

    // One connection a turn of the loop: what those accepted before have sent is read first,
    // so a connection that has begun a request is not taken for an idle one when a new client
    // needs its slot, and a flood of connections cannot keep the loop from answering.
    void accept_one(uint64_t now) {
        int fd = -1;
        do {
            fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The client waits in the listen queue: a connection closed frees a descriptor
                // for it, and we try again shortly rather than spin.
                if (Connection* displaced = victim()) {
                    drop(*displaced);
                }
                accept_paused_until = now + 100;
            }
            return;  // EAGAIN, ECONNABORTED: nobody after all
        }
        Connection* c = slot();
        if (c == nullptr) {  // max_connections 0
            close(fd);
            return;
        }
        c->fd = fd;
        enter(*c, State::Idle, now);
    }

    // The answer to one request, with its head.
    std::string respond(const ParsedRequest& parsed, bool keep_alive) const {
        HttpResponse response{.status = 404, .body = "404 page not found\n"};
        if (parsed.refuse != 0) {
            response = {.status = parsed.refuse,
                        .body = fmt::format("{}\n", reason_phrase(parsed.refuse))};
        } else {
            for (const HttpRoute& route : routes) {
                if (route.path == parsed.path) {
                    try {
                        response = route.handler(parsed.request);
                    } catch (const std::exception& e) {
                        response = {.status = 500, .body = fmt::format("{}\n", e.what())};
                    }
                    break;
                }
            }
        }
        std::string out = fmt::format(
            "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
            response.status, reason_phrase(response.status), http_date(), response.content_type,
            response.body.size(), parsed.refuse == 405 ? "Allow: GET, HEAD\r\n" : "",
            keep_alive ? "" : "Connection: close\r\n");
        if (!parsed.head) {
            out += response.body;
        }
        return out;
    }

    // Answers every whole request read, one at a time: the next once this answer is taken.
    void serve(Connection& c, uint64_t now) {
        while (c.state == State::Idle || c.state == State::Reading) {
            // The head ends at an empty line, within kMaxRequestHead bytes.
            const std::string_view window = std::string_view(c.in).substr(0, kMaxRequestHead + 4);
            size_t end = window.find("\r\n\r\n");
            size_t skip = 4;
            if (const size_t lf = window.find("\n\n"); lf < end) {
                end = lf;
                skip = 2;
            }
            if (end == std::string::npos) {
                if (c.in.size() > kMaxRequestHead) {
                    c.out = respond({.refuse = 431}, false);
                    c.close_after = true;
                    c.in.clear();
                    send_out(c, now);
                } else if (!c.in.empty() && c.state == State::Idle) {
                    enter(c, State::Reading, now);  // the deadline runs from the first byte
                }
                return;
            }
            const ParsedRequest parsed = parse_head(std::string_view(c.in).substr(0, end));
            c.in.erase(0, end + skip);
            const bool keep_alive = parsed.keep_alive && parsed.refuse == 0;
            c.out = respond(parsed, keep_alive);
            c.close_after = !keep_alive;
            send_out(c, now);
        }
    }

    // Sends what the client takes of the answer now; the rest when it takes more.
    void send_out(Connection& c, uint64_t now) {
        while (c.sent < c.out.size()) {
            const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            if (n <= 0) {
                drop(c);
                return;
            }
            c.sent += static_cast<size_t>(n);
            if (c.state == State::Writing) {
                c.deadline_ms = now + limits.io_timeout_ms;  // the client took some: another period
            }
        }
        if (c.sent < c.out.size()) {
            if (c.state != State::Writing) {
                enter(c, State::Writing, now);
            }
            return;
        }
        if (c.close_after) {
            shutdown(c.fd, SHUT_WR);
            c.in.clear();
            enter(c, State::Lingering, now);
            return;
        }
        c.out.clear();
        c.sent = 0;
        enter(c, c.in.empty() ? State::Idle : State::Reading, now);
    }

    void read_from(Connection& c, uint64_t now) {
        char buf[4096];
        // A few reads a turn: a client sending without pause must not hold the loop.
        for (int reads = 0; reads < 8 && c.in.size() <= kMaxRequestHead; ++reads) {
            const ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            if (n <= 0) {
                drop(c);  // closed by the client, or failed
                return;
            }
            if (c.state != State::Lingering) {
                c.in.append(buf, static_cast<size_t>(n));
            }
        }
        if (c.state != State::Lingering) {
            serve(c, now);
        }
    }

    void run() {
        std::vector<pollfd> fds;
        std::vector<Connection*> polled;
        while (true) {
            uint64_t now = now_ms();
            uint64_t next = UINT64_MAX;
            fds.clear();
            polled.clear();
            fds.push_back({stop_fd, POLLIN, 0});
            const bool accepting = now >= accept_paused_until;
            fds.push_back({accepting ? listen_fd : -1, POLLIN, 0});
            if (!accepting) {
                next = accept_paused_until;
            }
            for (Connection& c : connections) {
                if (c.state == State::Free) {
                    continue;
                }
                if (now >= c.deadline_ms) {
                    drop(c);  // idle too long, a request too slow, or an answer nobody takes
                    continue;
                }
                next = std::min(next, c.deadline_ms);
                fds.push_back(
                    {c.fd, static_cast<short>(c.state == State::Writing ? POLLOUT : POLLIN), 0});
                polled.push_back(&c);
            }
            const int timeout =
                next == UINT64_MAX ? -1 : static_cast<int>(std::min<uint64_t>(next - now, 60'000));
            if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
                return;
            }
            if (fds[0].revents != 0) {
                return;  // stopping
            }
            now = now_ms();
            for (size_t i = 0; i < polled.size(); ++i) {
                Connection& c = *polled[i];
                const short events = fds[i + 2].revents;
                if (events == 0 || c.fd != fds[i + 2].fd) {
                    continue;
                }
                if (c.state == State::Writing) {
                    if ((events & (POLLERR | POLLHUP)) != 0 && (events & POLLOUT) == 0) {
                        drop(c);
                    } else {
                        send_out(c, now);
                        serve(c, now);  // requests pipelined behind the answer
                    }
                } else {
                    read_from(c, now);
                }
            }
            // After the others: a new client may take the slot of one read just now.
            if ((fds[1].revents & POLLIN) != 0) {
                accept_one(now);
            }
        }
    }
};

Status check_http_address(std::string_view address) {
    if (auto parsed = parse_http_address(address); !parsed) {
        return parsed.error();
    }
    return {};
}

Result<std::unique_ptr<HttpListener>> HttpListener::start(std::string_view address,
                                                          std::vector<HttpRoute> routes,
                                                          HttpLimits limits) {
    auto parsed = parse_http_address(address);
    if (!parsed) {
        return parsed.error();
    }
    const int fd = listen_on(*parsed, address.starts_with(':'));
    if (fd < 0) {
        return Error{fmt::format("{}: {}", address, std::strerror(-fd))};
    }
    auto impl = std::make_unique<Impl>();
    impl->listen_fd = fd;
    impl->routes = std::move(routes);
    impl->limits = limits;
    impl->connections.resize(limits.max_connections);
    impl->bound = local_address(fd);
    impl->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (impl->stop_fd < 0) {
        return Error{fmt::format("{}: {}", address, std::strerror(errno))};
    }
    Impl* raw = impl.get();
    impl->thread = start_quiet_thread([raw] { raw->run(); });
    return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

HttpListener::HttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

HttpListener::~HttpListener() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t ignored = write(impl_->stop_fd, &one, sizeof one);
    impl_->thread.join();  // the answer being made is finished first
}

const std::string& HttpListener::bound() const noexcept {
    return impl_->bound;
}

}  // namespace clusterdns
