#include "plugins/forward/upstreams.h"

#include <arpa/inet.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>

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

namespace {

constexpr const char* kKubeDnsFiles[] = {"stubDomains", "upstreamNameservers", "federations"};

// kube-dns refuses more upstreamNameservers than this (a ConfigMap it would refuse is refused
// here too, not half taken).
constexpr size_t kKubeDnsMaxUpstreams = 3;

// A ConfigMap holds 1 MiB at most.
constexpr std::uintmax_t kMaxKubeDnsFileBytes = 1 << 20;

// The text of `path`; nullopt when it is missing, or holds nothing but white space (a key
// with no value, like a missing one).
Result<std::optional<std::string>> read_kube_dns_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return std::optional<std::string>();
    }
    if (!std::filesystem::is_regular_file(path, ec) ||
        std::filesystem::file_size(path, ec) > kMaxKubeDnsFileBytes) {
        return Error{fmt::format("{}: not a regular file of at most 1 MiB", path)};
    }
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
        return Error{fmt::format("{}: cannot read", path)};
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        return std::optional<std::string>();
    }
    return std::optional<std::string>(std::move(text));
}

// A nameserver as kube-dns takes it: an IP address with an optional port ("[V6]:PORT").
Result<std::string> kube_dns_nameserver(simdjson::dom::element element) {
    std::string_view text;
    if (element.get(text) != simdjson::SUCCESS) {
        return Error{"a nameserver is not a string"};
    }
    if (text.find("://") != std::string_view::npos) {
        return Error{fmt::format("nameserver {}: expected ADDR or ADDR:PORT", quoted(text))};
    }
    return parse_upstream(text);
}

}  // namespace

Result<KubeDnsConfig> read_kube_dns_config(const std::string& directory) {
    std::error_code ec;
    if (!std::filesystem::is_directory(directory, ec)) {
        return Error{fmt::format("kube_dns_config: {}: not a directory", directory)};
    }
    KubeDnsConfig out;
    simdjson::dom::parser parser;
    for (const char* file : kKubeDnsFiles) {
        const std::string path = (std::filesystem::path(directory) / file).string();
        auto text = read_kube_dns_file(path);
        if (!text) {
            return text.error();
        }
        if (!*text) {
            continue;
        }
        if (std::string_view(file) == "federations") {
            return Error{fmt::format("{}: kube-dns's federations (records of the retired "
                                     "cluster federation) are not served here; remove the key "
                                     "from the ConfigMap",
                                     path)};
        }
        simdjson::dom::element root;
        if (const auto error = parser.parse(**text).get(root); error != simdjson::SUCCESS) {
            return Error{fmt::format("{}: invalid JSON: {}", path, simdjson::error_message(error))};
        }
        if (root.is_null()) {
            continue;
        }
        const auto bad = [&](const std::string& why) {
            return Error{fmt::format("{}: {}", path, why)};
        };
        if (std::string_view(file) == "upstreamNameservers") {
            simdjson::dom::array list;
            if (root.get(list) != simdjson::SUCCESS) {
                return bad("expected a JSON array of nameservers, [\"ADDR\", ...]");
            }
            if (list.size() > kKubeDnsMaxUpstreams) {
                return bad(fmt::format("{} nameservers; kube-dns takes at most {}", list.size(),
                                       kKubeDnsMaxUpstreams));
            }
            for (simdjson::dom::element item : list) {
                auto upstream = kube_dns_nameserver(item);
                if (!upstream) {
                    return bad(upstream.error().message);
                }
                out.upstreams.push_back(std::move(*upstream));
            }
            continue;
        }
        simdjson::dom::object domains;
        if (root.get(domains) != simdjson::SUCCESS) {
            return bad("expected a JSON object, {\"DOMAIN\": [\"ADDR\", ...]}");
        }
        for (simdjson::dom::key_value_pair field : domains) {
            // parse_stub_domain checks the name and gives it the form stub_domains have.
            auto stub = parse_stub_domain(fmt::format("{}=0.0.0.0", field.key));
            if (!stub || field.key.empty()) {
                return bad(fmt::format("{} is not a domain name", quoted(field.key)));
            }
            stub->upstreams.clear();
            for (const StubDomain& earlier : out.stub_domains) {
                if (earlier.domain == stub->domain) {
                    return bad(fmt::format("{} is given twice", quoted(field.key)));
                }
            }
            simdjson::dom::array list;
            if (field.value.get(list) != simdjson::SUCCESS) {
                return bad(fmt::format("{}: expected a JSON array of nameservers",
                                       quoted(field.key)));
            }
            for (simdjson::dom::element item : list) {
                auto upstream = kube_dns_nameserver(item);
                if (!upstream) {
                    return bad(fmt::format("{}: {}", quoted(field.key), upstream.error().message));
                }
                stub->upstreams.push_back(std::move(*upstream));
            }
            if (stub->upstreams.empty()) {
                return bad(fmt::format("{}: no nameserver", quoted(field.key)));
            }
            out.stub_domains.push_back(std::move(*stub));
        }
    }
    return out;
}

std::vector<std::string> kube_dns_config_files(const std::string& directory) {
    std::vector<std::string> out;
    for (const char* file : kKubeDnsFiles) {
        out.push_back((std::filesystem::path(directory) / file).string());
    }
    return out;
}

}  // namespace clusterdns
