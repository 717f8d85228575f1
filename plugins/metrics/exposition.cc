#include "plugins/metrics/exposition.h"

#include <fmt/format.h>

namespace clusterdns {

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
}

void Exposition::sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty()) {
        fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    } else {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
}

void Exposition::histogram(std::string_view name, std::string_view labels,
                           std::span<const uint64_t> bounds, std::span<const uint64_t> counts,
                           uint64_t sum, double scale) {
    const std::string prefix = labels.empty() ? std::string() : fmt::format("{},", labels);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le =
            i < bounds.size() ? fmt::format("{}", static_cast<double>(bounds[i]) * scale) : "+Inf";
        fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, le,
                       cumulative);
    }
    const std::string braces = labels.empty() ? std::string() : fmt::format("{{{}}}", labels);
    fmt::format_to(std::back_inserter(out_), "{}_sum{} {}\n{}_count{} {}\n", name, braces,
                   static_cast<double>(sum) * scale, name, braces, cumulative);
}

std::string Exposition::label(std::string_view name, std::string_view value) {
    std::string out = fmt::format("{}=\"", name);
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

}  // namespace clusterdns
