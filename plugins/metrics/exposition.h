#pragma once
// The Prometheus text format (version 0.0.4): families with HELP and TYPE, samples with labels,
// histograms with cumulative buckets. Built at scrape time, off the query path.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace clusterdns {

class Exposition {
public:
    // "# HELP" and "# TYPE" for the samples that follow; each family once.
    void family(std::string_view name, std::string_view type, std::string_view help);
    // `labels`: `a="x",b="y"` (values escaped with label()), or empty.
    void sample(std::string_view name, std::string_view labels, double value);
    // A histogram's series: `counts` per bucket (one more than `bounds`, the last above them all),
    // `sum` in the unit of the bounds; `scale` converts that unit for the output (ns to seconds).
    void histogram(std::string_view name, std::string_view labels,
                   std::span<const uint64_t> bounds, std::span<const uint64_t> counts,
                   uint64_t sum, double scale);

    const std::string& text() const noexcept { return out_; }

    // `name="value"` with the value escaped as the format wants.
    static std::string label(std::string_view name, std::string_view value);

private:
    std::string out_;
};

}  // namespace clusterdns
