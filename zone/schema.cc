#include "zone/schema.h"

#include <algorithm>

#include <fmt/format.h>

#include "dns/name.h"

namespace clusterdns {
namespace {

// The names derived from the origin besides the apex itself: what the SOA, the NS, the TXT and
// the empty non-terminals are written at.
constexpr std::string_view kDerivedLabels[] = {kNameServerLabels, kHostmasterLabel, kVersionLabel,
                                               kServicesLabel, kPodsLabel};

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

}  // namespace

std::string dashed_address(const IpAddress& ip) {
    std::string text = ip_to_text(ip);
    std::replace(text.begin(), text.end(), ip.v6 ? ':' : '.', '-');
    return text;
}

Status validate_zone_name(std::string_view zone) {
    std::string_view text = zone;
    if (text.ends_with('.')) {
        text.remove_suffix(1);  // "cluster.local." is the same name
    }
    if (text.empty()) {
        return Error{fmt::format("zone {}: the root is not a cluster domain", quoted(zone))};
    }
    std::string_view last_label;
    for (std::string_view rest = text; !rest.empty();) {
        const size_t dot = rest.find('.');
        const std::string_view label = rest.substr(0, dot);
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
        if (label.empty() || label.size() > 63 || (dot != std::string_view::npos && rest.empty())) {
            return Error{fmt::format("zone {}: labels must have 1 to 63 characters", quoted(zone))};
        }
        if (!std::all_of(label.begin(), label.end(), is_label_char)) {
            return Error{fmt::format(
                "zone {}: only letters, digits, '-' and '_' may appear in a label", quoted(zone))};
        }
        if (label.front() == '-' || label.back() == '-') {
            return Error{
                fmt::format("zone {}: a label may not start or end with '-'", quoted(zone))};
        }
        last_label = label;
    }
    const bool in_arpa =
        std::equal(last_label.begin(), last_label.end(), "arpa", "arpa" + 4,
                   [](char c, char arpa) { return lower_ascii(static_cast<uint8_t>(c)) == arpa; });
    if (in_arpa) {
        return Error{fmt::format("zone {}: arpa holds the reverse zones, not a cluster domain",
                                 quoted(zone))};
    }
    // Every label is 1-63 characters, so only the length can fail a name from here on: wire form
    // takes a length octet per label instead of each dot, plus the root.
    for (const std::string_view labels : kDerivedLabels) {
        const size_t wire = labels.size() + 1 + text.size() + 2;
        if (wire > kMaxNameWire) {
            return Error{fmt::format(
                "zone name too long: {}.<zone> would take {} octets, more than {} (the zone has "
                "{} characters)",
                labels, wire, kMaxNameWire, text.size())};
        }
    }
    return {};
}

}  // namespace clusterdns
