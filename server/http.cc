#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

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
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || listen(fd, 64) != 0) {
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

}  // namespace

struct HttpListener::Impl {
    std::vector<HttpRoute> routes;
    std::string bound;
    MHD_Daemon* daemon = nullptr;

    static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                                 const char* method, const char*, const char*, size_t*,
                                 void**) {
        const Impl& impl = *static_cast<const Impl*>(cls);
        HttpResponse response{.status = 404, .body = "404 page not found\n"};
        if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
            response = {.status = 405, .body = "method not allowed\n"};
        } else {
            for (const HttpRoute& route : impl.routes) {
                if (route.path == url) {
                    HttpRequest request;
                    // With their lengths: a NUL (%00) stays in the value for the handler to
                    // refuse, rather than cutting it short.
                    MHD_get_connection_values_n(
                        connection, MHD_GET_ARGUMENT_KIND,
                        [](void* into, MHD_ValueKind, const char* key, size_t key_size,
                           const char* value, size_t value_size) {
                            static_cast<HttpRequest*>(into)->args[std::string(key, key_size)] =
                                value ? std::string(value, value_size) : std::string();
                            return MHD_YES;
                        },
                        &request);
                    response = route.handler(request);
                    break;
                }
            }
        }
        MHD_Response* r = MHD_create_response_from_buffer(
            response.body.size(), response.body.data(), MHD_RESPMEM_MUST_COPY);
        if (r == nullptr) {
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", response.content_type.c_str());
        const MHD_Result queued = MHD_queue_response(connection, response.status, r);
        MHD_destroy_response(r);
        return queued;
    }
};

Status check_http_address(std::string_view address) {
    if (auto parsed = parse_http_address(address); !parsed) {
        return parsed.error();
    }
    return {};
}

Result<std::unique_ptr<HttpListener>> HttpListener::start(std::string_view address,
                                                          std::vector<HttpRoute> routes) {
    auto parsed = parse_http_address(address);
    if (!parsed) {
        return parsed.error();
    }
    const int fd = listen_on(*parsed, address.starts_with(':'));
    if (fd < 0) {
        return Error{fmt::format("{}: {}", address, std::strerror(-fd))};
    }
    auto impl = std::make_unique<Impl>();
    impl->routes = std::move(routes);
    impl->bound = local_address(fd);
    impl->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, nullptr, nullptr, &Impl::on_request,
        impl.get(), MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (impl->daemon == nullptr) {
        close(fd);
        return Error{fmt::format("{}: the HTTP server did not start", address)};
    }
    return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

HttpListener::HttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

HttpListener::~HttpListener() {
    MHD_stop_daemon(impl_->daemon);  // closes the listening socket too
}

const std::string& HttpListener::bound() const noexcept {
    return impl_->bound;
}

}  // namespace clusterdns
