#pragma once
// CoreDNS's hosts plugin: names answered from /etc/hosts-style lines ("ADDRESS NAME [NAME...]",
// '#' to the end of a line a comment), given inline and read from a file, ahead of the cluster's
// zone. The lines make an immutable HostsTable the workers read with no lock; when the file
// changes, HostsSource builds a new table and the server hands it to the workers as it does a
// zone (server/frontend.h), the old one freed off the query path.

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/message.h"
#include "dns/name.h"
#include "zone/objects.h"

namespace clusterdns {

struct HostsConfig {
    std::vector<std::string> lines;  // inline, as in the file
    std::string file;                // empty: none
    uint32_t ttl_seconds = 3600;
    unsigned reload_seconds = 5;     // how often the file is checked for a change; 0: never
    std::vector<std::string> zones;  // names answered (others go on); empty: every name
    bool fallthrough = false;        // a name with no line goes on instead of SERVFAIL
    std::vector<std::string> fallthrough_zones;  // only below these; empty: every name
    bool no_reverse = false;                     // no PTR records from the lines

    bool operator==(const HostsConfig&) const = default;
};

// The plugin is on when it has lines or a file.
inline bool hosts_enabled(const HostsConfig& c) {
    return !c.lines.empty() || !c.file.empty();
}

// One usable line: an address and its names, lowercased.
struct HostsLine {
    IpAddress address;
    std::vector<Name> names;
};

// Parses /etc/hosts-style text. As CoreDNS does, a line it cannot use is skipped (a name alone,
// an address that is not one) and so is a name that is not a domain name; each adds a warning
// "SOURCE:LINE: why" to `warnings`. An IPv6 address's zone ("%eth0") is dropped, and an
// IPv4-mapped IPv6 address is IPv4.
std::vector<HostsLine> parse_hosts(std::string_view text, std::string_view source,
                                   std::vector<std::string>& warnings);

// Whether an inline line is usable whole (one that is only a comment, or blank, is): the error
// quotes it and says why not.
Status check_hosts_line(std::string_view line);

// What the config's own text holds: each inline line usable whole, each zone a domain name, the
// TTL from 1 to 65535 (CoreDNS's range). The error names the key and the value.
Status check_hosts_config(const HostsConfig& config);

class HostsTable {
public:
    // The file's lines, then the inline ones (CoreDNS answers a file's addresses first). Names
    // outside config.zones are left out; an address a name has twice is listed once.
    HostsTable(const HostsConfig& config, std::span<const HostsLine> file,
               std::span<const HostsLine> inline_lines);

    enum class Outcome : uint8_t {
        Answered,  // `w` holds the answer: AA, the name's A, AAAA or PTR records (or none: NODATA)
        ServFail,  // a name of the zones with no line, and no fallthrough for it
        Next,      // not ours: the next link answers, `w` untouched
    };

    // Answers `q` (a parsed QUERY of class IN; others are Next) as CoreDNS's hosts does: a name
    // of the zones with an A or AAAA line answers its addresses of the type asked, and NODATA for
    // any other type; a name without is SERVFAIL (there is no SOA to say NXDOMAIN with) unless
    // it falls through. A PTR question is answered wherever its name is, when a line's address
    // is the one it spells, and goes on otherwise, fallthrough or not. `*.example.com` stands
    // for one label more, with no PTR. Allocates nothing.
    Outcome answer(const Query& q, ResponseWriter& w) const noexcept;

    // Names and reverse names the table holds (each with its records).
    size_t size() const noexcept { return nodes_.size(); }

private:
    struct Node {
        std::string key;  // lowercase wire form
        uint32_t v4_begin = 0, v4_end = 0;
        uint32_t v6_begin = 0, v6_end = 0;
        uint32_t ptr_begin = 0, ptr_end = 0;  // in ptr_: nodes whose names it points to

        bool has_addresses() const noexcept { return v4_begin != v4_end || v6_begin != v6_end; }
    };

    const Node* find(WireName name) const noexcept;
    bool in(const std::vector<Name>& zones, WireName name) const noexcept;

    std::vector<Node> nodes_;  // sorted by key
    std::vector<std::array<uint8_t, 4>> v4_;
    std::vector<std::array<uint8_t, 16>> v6_;
    std::vector<uint32_t> ptr_;
    std::vector<Name> zones_;
    bool fallthrough_ = false;
    std::vector<Name> fallthrough_zones_;
    uint32_t ttl_seconds_ = 3600;
};

// The config's inline lines and its file, read into tables: once at the start, then again each
// time the file's size, modification time or identity changes (a ConfigMap's symlink swap).
class HostsSource {
public:
    // Reads the file; one that cannot be read is an error naming it. Warnings about lines
    // skipped are logged on stderr as "[WARNING] plugin/hosts: FILE:LINE: why".
    static Result<std::unique_ptr<HostsSource>> open(HostsConfig config);

    const HostsConfig& config() const noexcept { return config_; }
    std::shared_ptr<const HostsTable> table() const { return table_; }

    // Reads the file again when it changed: the new table, or null when it did not change or
    // cannot be read now (the last table stays, as in CoreDNS; a warning says why, once).
    std::shared_ptr<const HostsTable> reread();

private:
    struct Stamp {
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = -1;
        timespec modified{};
        bool operator==(const Stamp& o) const noexcept;
    };

    explicit HostsSource(HostsConfig config) : config_(std::move(config)) {}
    Status read_file(std::shared_ptr<const HostsTable>& out);

    HostsConfig config_;
    std::vector<HostsLine> inline_lines_;
    Stamp stamp_;
    bool unreadable_ = false;  // the last try failed and said so
    std::shared_ptr<const HostsTable> table_;
};

}  // namespace clusterdns
