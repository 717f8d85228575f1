#include "server/query_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fmt/format.h>

#include "dns/message.h"
#include "dns/types.h"

namespace clusterdns {

namespace {

// Room for any line (a name in presentation form is at most about 1,000 characters): the buffer
// never grows onto the heap.
using Line = fmt::basic_memory_buffer<char, 2048>;

void write_line(const Line& line) noexcept {
    [[maybe_unused]] const ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
}

// "A", or "TYPE99" for a type without a mnemonic (RFC 3597).
template <class Out>
Out type_text(Out out, uint16_t type) {
    const std::string_view name = rr_type_name(type);
    return name.empty() ? fmt::format_to(out, "TYPE{}", type) : fmt::format_to(out, "{}", name);
}

template <class Out>
Out class_text(Out out, uint16_t qclass) {
    switch (qclass) {
        case 1:
            return fmt::format_to(out, "IN");
        case 3:
            return fmt::format_to(out, "CH");
        case 255:
            return fmt::format_to(out, "ANY");
        default:
            return fmt::format_to(out, "CLASS{}", qclass);
    }
}

template <class Out>
Out name_text(Out out, const Query& q) {
    if (!q.has_question) {
        return fmt::format_to(out, "-");
    }
    return fmt::format_to(out, "{}", q.qname.to_text());
}

template <class Out>
Out peer_text(Out out, const sockaddr* peer) {
    char text[INET6_ADDRSTRLEN] = "-";
    if (peer != nullptr && peer->sa_family == AF_INET) {
        const auto* sa = reinterpret_cast<const sockaddr_in*>(peer);
        inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
        return fmt::format_to(out, "{}:{}", text, ntohs(sa->sin_port));
    }
    if (peer != nullptr && peer->sa_family == AF_INET6) {
        const auto* sa = reinterpret_cast<const sockaddr_in6*>(peer);
        inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
        return fmt::format_to(out, "[{}]:{}", text, ntohs(sa->sin6_port));
    }
    return fmt::format_to(out, "-");
}

}  // namespace

bool LogLimiter::allow(std::string_view what) noexcept {
    uint64_t left_out = 0;
    const bool allowed = lines_.allow(left_out);
    if (left_out != 0) {
        Line line;
        fmt::format_to(std::back_inserter(line),
                       "[WARNING] plugin/log: {} {} lines left out (more than {} a second)\n",
                       left_out, what, kLogLinesPerSecond);
        write_line(line);
    }
    return allowed;
}

void log_query(const sockaddr* peer, std::span<const uint8_t> query,
               std::span<const uint8_t> response, bool tcp, uint64_t elapsed_ns) noexcept {
    Query q;
    parse_query(query, q);
    Line line;
    auto out = fmt::format_to(std::back_inserter(line), "[INFO] ");
    out = peer_text(out, peer);
    out = fmt::format_to(out, " - {} \"", q.id);
    out = type_text(out, static_cast<uint16_t>(q.qtype));
    out = fmt::format_to(out, " ");
    out = class_text(out, q.qclass);
    out = fmt::format_to(out, " ");
    out = name_text(out, q);
    out = fmt::format_to(out, " {} {} {} {}\" {} ", tcp ? "tcp" : "udp", query.size(),
                         q.dnssec_ok, tcp ? 65535 : q.udp_payload_size,
                         rcode_name(static_cast<uint8_t>(response.size() > 3 ? response[3] & 0x0F : 2)));
    // Header flags in CoreDNS's order.
    const uint16_t flags = response.size() > 3 ? static_cast<uint16_t>(response[2] << 8 | response[3]) : 0;
    const std::pair<uint16_t, const char*> names[] = {{0x8000, "qr"}, {0x0400, "aa"},
                                                      {0x0200, "tc"}, {0x0100, "rd"},
                                                      {0x0080, "ra"}, {0x0020, "ad"},
                                                      {0x0010, "cd"}};
    bool first = true;
    for (const auto& [bit, name] : names) {
        if ((flags & bit) != 0) {
            out = fmt::format_to(out, "{}{}", first ? "" : ",", name);
            first = false;
        }
    }
    fmt::format_to(out, " {} {:.9f}s\n", response.size(), static_cast<double>(elapsed_ns) / 1e9);
    write_line(line);
}

void log_error(std::span<const uint8_t> query, std::string_view why) noexcept {
    Query q;
    parse_query(query, q);
    Line line;
    auto out = fmt::format_to(std::back_inserter(line), "[ERROR] plugin/errors: 2 ");
    out = name_text(out, q);
    out = fmt::format_to(out, " ");
    out = type_text(out, static_cast<uint16_t>(q.qtype));
    fmt::format_to(out, ": {}\n", why);
    write_line(line);
}

}  // namespace clusterdns
