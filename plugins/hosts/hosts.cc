#include "plugins/hosts/hosts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "zone/listing.h"

namespace clusterdns {

namespace {

constexpr std::string_view kSpace = " \t\r\v\f";

std::string_view key_of(WireName name) noexcept {
    return {reinterpret_cast<const char*>(name.data()), name.size()};
}

WireName wire_of(std::string_view key) noexcept {
    return {reinterpret_cast<const uint8_t*>(key.data()), key.size()};
}

// The fields of one line, its comment cut.
std::vector<std::string_view> fields_of(std::string_view line) {
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
        line = line.substr(0, hash);
    }
    std::vector<std::string_view> out;
    size_t at = line.find_first_not_of(kSpace);
    while (at != std::string_view::npos) {
        const size_t end = std::min(line.find_first_of(kSpace, at), line.size());
        out.push_back(line.substr(at, end - at));
        at = line.find_first_not_of(kSpace, end);
    }
    return out;
}

// One line, or why it cannot be used (empty: nothing to use, no complaint).
Result<std::optional<HostsLine>> parse_line(std::string_view line,
                                            std::vector<std::string>* bad_names) {
    const std::vector<std::string_view> fields = fields_of(line);
    if (fields.empty()) {
        return std::optional<HostsLine>();
    }
    if (fields.size() < 2) {
        return Error{fmt::format("{} has no name", quoted(fields[0]))};
    }
    std::string_view address = fields[0];
    address = address.substr(0, address.find('%'));  // an IPv6 zone says nothing to DNS
    auto ip = parse_ip(address);
    if (!ip) {
        return Error{fmt::format("{} is not an IP address", quoted(fields[0]))};
    }
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (ip->v6 && std::memcmp(ip->bytes.data(), kMapped, sizeof kMapped) == 0) {
        IpAddress v4;  // ::ffff:a.b.c.d is IPv4, as Go's To4() has it
        std::copy_n(ip->bytes.begin() + 12, 4, v4.bytes.begin());
        ip = v4;
    }
    HostsLine out{.address = *ip};
    for (size_t i = 1; i < fields.size(); ++i) {
        auto name = Name::from_text(fields[i]);
        if (!name || name->is_root()) {
            const std::string why = fmt::format(
                "{} is not a domain name{}", quoted(fields[i]),
                name ? "" : fmt::format(" ({})", name.error().message));
            if (bad_names == nullptr) {
                return Error{why};
            }
            bad_names->push_back(why);
            continue;
        }
        name->to_lower();
        out.names.push_back(*name);
    }
    if (out.names.empty()) {
        return std::optional<HostsLine>();
    }
    return std::optional<HostsLine>(std::move(out));
}

}  // namespace

std::vector<HostsLine> parse_hosts(std::string_view text, std::string_view source,
                                   std::vector<std::string>& warnings) {
    std::vector<HostsLine> out;
    size_t number = 0;
    while (!text.empty()) {
        ++number;
        const size_t end = std::min(text.find('\n'), text.size());
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(std::min(end + 1, text.size()));
        std::vector<std::string> bad_names;
        auto parsed = parse_line(line, &bad_names);
        for (const std::string& why : bad_names) {
            warnings.push_back(fmt::format("{}:{}: {}; name skipped", source, number, why));
        }
        if (!parsed) {
            warnings.push_back(
                fmt::format("{}:{}: {}; line skipped", source, number, parsed.error().message));
        } else if (*parsed) {
            out.push_back(std::move(**parsed));
        }
    }
    return out;
}

Status check_hosts_line(std::string_view line) {
    if (line.find('\n') != std::string_view::npos) {
        return Error{fmt::format("{}: one line per entry", quoted(line))};
    }
    if (auto parsed = parse_line(line, nullptr); !parsed) {
        return Error{fmt::format("{}: {}", quoted(line), parsed.error().message)};
    }
    return {};
}

Status check_hosts_config(const HostsConfig& config) {
    for (const std::string& line : config.lines) {
        if (Status s = check_hosts_line(line); !s) {
            return Error{fmt::format("hosts: {}", s.error().message)};
        }
    }
    const auto check_zones = [](const char* key, const std::vector<std::string>& zones) -> Status {
        for (const std::string& zone : zones) {
            if (!Name::from_text(zone)) {
                return Error{fmt::format("{}: {} is not a domain name", key, quoted(zone))};
            }
        }
        return {};
    };
    if (Status s = check_zones("hosts_zones", config.zones); !s) {
        return s;
    }
    if (Status s = check_zones("hosts_fallthrough", config.fallthrough_zones); !s) {
        return s;
    }
    if (config.ttl_seconds < 1 || config.ttl_seconds > 65535) {  // CoreDNS's range
        return Error{fmt::format("hosts_ttl: {} is not from 1 to 65535", config.ttl_seconds)};
    }
    return {};
}

HostsTable::HostsTable(const HostsConfig& config, std::span<const HostsLine> file,
                       std::span<const HostsLine> inline_lines)
    : zones_(lowercase_names(config.zones)),
      fallthrough_(config.fallthrough),
      fallthrough_zones_(lowercase_names(config.fallthrough_zones)),
      ttl_seconds_(config.ttl_seconds) {
    struct Entry {
        std::vector<std::array<uint8_t, 4>> v4;
        std::vector<std::array<uint8_t, 16>> v6;
        std::vector<std::string> ptr;  // keys of the names
    };
    std::map<std::string, Entry> entries;
    const auto add_once = [](auto& list, const auto& value) {
        if (std::find(list.begin(), list.end(), value) == list.end()) {
            list.push_back(value);
        }
    };
    for (const std::span<const HostsLine> lines : {file, inline_lines}) {
        for (const HostsLine& line : lines) {
            for (const Name& name : line.names) {
                if (!in(zones_, name.wire())) {
                    continue;  // as CoreDNS: the lines hold only names of its zones
                }
                const std::string key(key_of(name.wire()));
                Entry& e = entries[key];
                if (line.address.v6) {
                    std::array<uint8_t, 16> a;
                    std::copy_n(line.address.bytes.begin(), 16, a.begin());
                    add_once(e.v6, a);
                } else {
                    std::array<uint8_t, 4> a;
                    std::copy_n(line.address.bytes.begin(), 4, a.begin());
                    add_once(e.v4, a);
                }
                const bool wildcard = name_first_label(name.wire()) == "*";
                if (config.no_reverse || wildcard) {
                    continue;
                }
                auto reverse = Name::from_text(reverse_text(line.address));
                add_once(entries[std::string(key_of(reverse->wire()))].ptr, key);
            }
        }
    }
    nodes_.reserve(entries.size());
    for (const auto& [key, e] : entries) {  // std::map: sorted by key already
        Node node{.key = key};
        node.v4_begin = static_cast<uint32_t>(v4_.size());
        v4_.insert(v4_.end(), e.v4.begin(), e.v4.end());
        node.v4_end = static_cast<uint32_t>(v4_.size());
        node.v6_begin = static_cast<uint32_t>(v6_.size());
        v6_.insert(v6_.end(), e.v6.begin(), e.v6.end());
        node.v6_end = static_cast<uint32_t>(v6_.size());
        nodes_.push_back(std::move(node));
    }
    for (Node& node : nodes_) {
        node.ptr_begin = static_cast<uint32_t>(ptr_.size());
        for (const std::string& target : entries[node.key].ptr) {
            const auto it = std::lower_bound(
                nodes_.begin(), nodes_.end(), target,
                [](const Node& n, const std::string& k) { return n.key < k; });
            ptr_.push_back(static_cast<uint32_t>(it - nodes_.begin()));
        }
        node.ptr_end = static_cast<uint32_t>(ptr_.size());
    }
}

bool HostsTable::in(const std::vector<Name>& zones, WireName name) const noexcept {
    return zones.empty() || std::any_of(zones.begin(), zones.end(), [&](const Name& zone) {
               return name_in_zone(name, zone.wire());
           });
}

const HostsTable::Node* HostsTable::find(WireName name) const noexcept {
    const std::string_view key = key_of(name);
    const auto it = std::lower_bound(nodes_.begin(), nodes_.end(), key,
                                     [](const Node& n, std::string_view k) { return n.key < k; });
    return it != nodes_.end() && it->key == key ? &*it : nullptr;
}

HostsTable::Outcome HostsTable::answer(const Query& q, ResponseWriter& w) const noexcept {
    if (!q.has_question || q.qclass != static_cast<uint16_t>(RrClass::In)) {
        return Outcome::Next;
    }
    const WireName name = q.qname_lower.wire();
    const Node* exact = find(name);
    if (q.qtype == RrType::Ptr) {
        // Reverse names need not be of the zones; one no line spells goes on, fallthrough or not.
        if (exact == nullptr || exact->ptr_begin == exact->ptr_end) {
            return Outcome::Next;
        }
        w.set_authoritative(true);
        for (uint32_t i = exact->ptr_begin; i < exact->ptr_end; ++i) {
            w.add(Section::Answer, q.qname.wire(), RrType::Ptr, ttl_seconds_,
                  wire_of(nodes_[ptr_[i]].key));
        }
        return Outcome::Answered;
    }
    if (!in(zones_, name)) {
        return Outcome::Next;
    }
    const Node* node = exact != nullptr && exact->has_addresses() ? exact : nullptr;
    if (node == nullptr && !q.qname_lower.is_root()) {
        Name wildcard;
        if (Name::from_wire(name_parent(name), wildcard) && wildcard.prepend("*")) {
            node = find(wildcard.wire());
        }
    }
    if (node == nullptr || !node->has_addresses()) {
        return fallthrough_ && in(fallthrough_zones_, name) ? Outcome::Next : Outcome::ServFail;
    }
    w.set_authoritative(true);
    if (q.qtype == RrType::A) {
        for (uint32_t i = node->v4_begin; i < node->v4_end; ++i) {
            w.add(Section::Answer, q.qname.wire(), RrType::A, ttl_seconds_, v4_[i]);
        }
    } else if (q.qtype == RrType::Aaaa) {
        for (uint32_t i = node->v6_begin; i < node->v6_end; ++i) {
            w.add(Section::Answer, q.qname.wire(), RrType::Aaaa, ttl_seconds_, v6_[i]);
        }
    }
    return Outcome::Answered;  // any other type: NODATA, the name is ours
}

bool HostsSource::Stamp::operator==(const Stamp& o) const noexcept {
    return device == o.device && inode == o.inode && size == o.size &&
           modified.tv_sec == o.modified.tv_sec && modified.tv_nsec == o.modified.tv_nsec;
}

Result<std::unique_ptr<HostsSource>> HostsSource::open(HostsConfig config) {
    if (Status s = check_hosts_config(config); !s) {
        return s.error();
    }
    std::unique_ptr<HostsSource> source(new HostsSource(std::move(config)));
    std::vector<std::string> warnings;  // none: check_hosts_config refused those
    for (const std::string& line : source->config_.lines) {
        for (HostsLine& parsed : parse_hosts(line, "hosts", warnings)) {
            source->inline_lines_.push_back(std::move(parsed));
        }
    }
    std::shared_ptr<const HostsTable> table;
    if (Status s = source->read_file(table); !s) {
        return s.error();
    }
    source->table_ = std::move(table);
    return source;
}

Status HostsSource::read_file(std::shared_ptr<const HostsTable>& out) {
    const std::string& path = config_.file;
    std::vector<HostsLine> lines;
    if (!path.empty()) {
        // Opened once: the stamp and the text are of the same file, whatever a rename does.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            const int error = errno;
            const bool regular = fd < 0 || S_ISREG(st.st_mode);
            if (fd >= 0) {
                close(fd);
            }
            return Error{fmt::format("plugin/hosts: {}: cannot read: {}", path,
                                     regular ? std::strerror(error) : "not a regular file")};
        }
        const Stamp stamp{
            .device = st.st_dev, .inode = st.st_ino, .size = st.st_size, .modified = st.st_mtim};
        if (table_ != nullptr && stamp == stamp_) {
            close(fd);
            return {};  // unchanged: `out` stays null
        }
        std::string text;
        char buf[65536];
        ssize_t n = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            text.append(buf, static_cast<size_t>(n));
        }
        const int error = errno;
        close(fd);
        if (n < 0) {
            return Error{
                fmt::format("plugin/hosts: {}: cannot read: {}", path, std::strerror(error))};
        }
        std::vector<std::string> warnings;
        lines = parse_hosts(text, path, warnings);
        for (const std::string& warning : warnings) {
            fmt::print(stderr, "[WARNING] plugin/hosts: {}\n", warning);
        }
        stamp_ = stamp;
    }
    out = std::make_shared<const HostsTable>(config_, lines, inline_lines_);
    return {};
}

std::shared_ptr<const HostsTable> HostsSource::reread() {
    if (config_.file.empty()) {
        return nullptr;
    }
    std::shared_ptr<const HostsTable> table;
    if (Status s = read_file(table); !s) {
        if (!unreadable_) {
            fmt::print(stderr, "[WARNING] {}; the last entries stay\n", s.error().message);
        }
        unreadable_ = true;
        return nullptr;
    }
    unreadable_ = false;
    if (table != nullptr) {
        table_ = table;
    }
    return table;
}

}  // namespace clusterdns
