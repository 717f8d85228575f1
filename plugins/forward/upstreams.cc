#include "plugins/forward/upstreams.h"

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "dns/name.h"

namespace clusterdns {

Result<std::string> parse_upstream(std::string_view written) {
    // tcp:// asks over TCP only (CoreDNS's force_tcp); dns:// is the default, plain DNS.
    const bool tcp = written.starts_with(kTcpScheme);
    std::string_view text = written;
    if (tcp) {
        text.remove_prefix(kTcpScheme.size());
    } else if (text.starts_with("dns://")) {
        text.remove_prefix(6);
    }
    const std::string_view scheme = tcp ? kTcpScheme : std::string_view();
    std::string_view address = text;
    std::string_view port = "53";
    const bool bracketed = text.starts_with('[');
    if (bracketed) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos ||
            (close + 1 < text.size() && text[close + 1] != ':')) {
            return Error{fmt::format("upstream {}: expected [IPv6]:PORT", quoted(text))};
        }
        address = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            port = text.substr(close + 2);
        }
    } else if (text.find(':') == text.rfind(':') && text.find(':') != std::string_view::npos) {
        address = text.substr(0, text.find(':'));  // IPv4:PORT; a bare IPv6 has several colons
        port = text.substr(text.find(':') + 1);
    }
    unsigned char bytes[16];
    const std::string host(address);
    const bool v4 = inet_pton(AF_INET, host.c_str(), bytes) == 1;
    const bool v6 = !v4 && inet_pton(AF_INET6, host.c_str(), bytes) == 1;
    if (!v4 && !v6) {
        return Error{fmt::format("upstream {}: not an IP address (with an optional :PORT)",
                                 quoted(text))};
    }
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
        return Error{fmt::format("upstream {}: port {} is not 1-65535", quoted(text),
                                 quoted(port))};
    }
    return v4 ? fmt::format("{}{}:{}", scheme, host, number)
              : fmt::format("{}[{}]:{}", scheme, host, number);
}

Result<StubDomain> parse_stub_domain(std::string_view text) {
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
        return Error{fmt::format("stub domain {}: expected DOMAIN=ADDR[:PORT][,ADDR...]",
                                 quoted(text))};
    }
    StubDomain stub;
    std::string_view domain = text.substr(0, eq);
    if (domain.ends_with('.')) {
        domain.remove_suffix(1);
    }
    auto name = Name::from_text(domain);
    if (!name || domain.empty()) {
        return Error{fmt::format("stub domain {}: {} is not a domain name", quoted(text),
                                 quoted(domain))};
    }
    for (const char c : domain) {
        stub.domain.push_back(static_cast<char>(lower_ascii(static_cast<uint8_t>(c))));
    }
    std::string_view rest = text.substr(eq + 1);
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        auto upstream = parse_upstream(rest.substr(0, comma));
        if (!upstream) {
            return Error{fmt::format("stub domain {}: {}", quoted(text), upstream.error().message)};
        }
        stub.upstreams.push_back(std::move(*upstream));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return stub;
}

Result<std::vector<std::string>> resolv_conf_upstreams(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Error{fmt::format("{}: cannot read", path)};
    }
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string keyword;
        std::string address;
        if (!(words >> keyword >> address) || keyword != "nameserver") {
            continue;
        }
        // A scope ("fe80::1%eth0") is not something c-ares takes: such a server is skipped.
        if (auto upstream = parse_upstream(address)) {
            out.push_back(std::move(*upstream));
        }
    }
    if (out.empty()) {
        return Error{fmt::format("{}: no nameserver line to forward to", path)};
    }
    return out;
}

}  // namespace clusterdns
