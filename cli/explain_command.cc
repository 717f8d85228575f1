#include "explain_command.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <clusterdns/clusterdns.h>

namespace clusterdns {

namespace {

constexpr const char* kExplainUsage =
    R"(usage: clusterdns explain NAME [--type A] [--manifests PATH ... | --kubeconfig FILE]
                         [--from NAMESPACE/POD] [--zone cluster.local] [--config FILE]

Prints the answer the server gives for NAME and why: which Service, EndpointSlice, endpoint or
workload made each record, and for NXDOMAIN the reason (no such namespace, no such Service and
the names closest to it, a Service without ready endpoints, a selector that matches no Pod).
A ClusterIP Service without ready endpoints answers, yet every connection to it fails: explain
says so, with its endpoints that are not ready, or its selector, the labels the Pods of its
namespace have and the closest of them.
With --from, the queries a Pod of that namespace sends for NAME: its search path
(<ns>.svc.<zone> svc.<zone> <zone>) and ndots:5, as glibc's resolver walks them.
Exit 0 when the name answers, 1 when it does not.
)";

}  // namespace

int explain_command(int argc, const char* const* argv) {
    std::string name;
    std::string type_name = "A";
    std::string from;
    std::vector<const char*> rest = {"clusterdns"};
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            fmt::print("{}", kExplainUsage);
            return 0;
        }
        if ((arg == "--type" || arg == "-t" || arg == "--from") && i + 1 >= argc) {
            fmt::print(stderr, "[ERROR] clusterdns explain: {} needs a value\n", arg);
            return 2;
        }
        if (arg == "--type" || arg == "-t") {
            type_name = argv[++i];
            std::transform(type_name.begin(), type_name.end(), type_name.begin(),
                           [](unsigned char c) { return std::toupper(c); });
        } else if (arg == "--from") {
            from = argv[++i];
        } else if (!arg.starts_with("-") && name.empty()) {
            name = std::string(arg);
        } else {
            // The server's own flags, each with its value (--flag VALUE or --flag=VALUE).
            rest.push_back(argv[i]);
            if (arg.starts_with("--") && arg.find('=') == std::string_view::npos &&
                i + 1 < argc) {
                rest.push_back(argv[++i]);
            }
        }
    }
    if (name.empty() || !is_record_type(type_name)) {
        fmt::print(stderr, "[ERROR] clusterdns explain: {}\n",
                   name.empty() ? "give the NAME to explain" : "--type: unknown type " + type_name);
        return 2;
    }
    std::string from_ns;
    if (!from.empty()) {
        from_ns = from.substr(0, from.find('/'));
        if (!is_namespace_name(from_ns)) {
            fmt::print(stderr, "[ERROR] clusterdns explain: --from: expected NAMESPACE/POD\n");
            return 2;
        }
    }
    CommandLine command_line;
    try {
        command_line = parse_command_line(static_cast<int>(rest.size()), rest.data());
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns explain: {}\n", e.what());
        return 2;
    }
    try {
        const Explanation explanation = explain(command_line.options, name, type_name, from_ns);
        fmt::print("{}", explanation.text);
        // With --from the walk is the answer, whatever it finds.
        return from_ns.empty() && !explanation.answers ? 1 : 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns explain: {}\n", e.what());
        return 1;
    }
}

}  // namespace clusterdns
