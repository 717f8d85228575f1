#include "check_command.h"

#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <clusterdns/clusterdns.h>

#include "json_text.h"

namespace clusterdns {

namespace {

constexpr const char* kCheckUsage =
    R"(usage: clusterdns check --manifests PATH [--manifests PATH ...] [-o table|json] [--strict]
                       [--pod-cidr CIDR ...] [--service-cidr CIDR[,CIDR] ...]

Checks what DNS and routing will make of the manifests: Services whose selector matches no Pod
(a ClusterIP but no endpoints), headless Services without ready endpoints (NXDOMAIN), ports
without names (no SRV), ExternalNames that are not host names, duplicate ClusterIPs, objects in
namespaces no manifest creates, Ingresses whose backend or class does not exist, NetworkPolicies
that block DNS or whose namespaceSelector matches no namespace. Each finding names the file, the
object and the field, with a fix. Every problem is reported, not the first: each object the
server would refuse, each document that is not YAML (the file's others are still read), each
path that cannot be read; grouped by file. PATH - is standard input. Exit 1 when an error is
found (with --strict, a warning too).
Services without clusterIP get addresses from --service-cidr (10.96.0.0/12 by default) as the
server allocates them: a Service asking for a family no range has, or a range too small, is an
error.
)";

}  // namespace

int check_command(int argc, const char* const* argv) {
    std::vector<std::string> paths;
    std::vector<std::string> cidrs;
    std::vector<std::string> service_cidrs;
    std::string output = "table";
    bool strict = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--help" || arg == "-h") {
            fmt::print("{}", kCheckUsage);
            return 0;
        } else if (arg == "--strict") {
            strict = true;
        } else if ((arg == "--manifests" || arg == "-o" || arg == "--output" ||
                    arg == "--pod-cidr" || arg == "--service-cidr") && !has_value) {
            fmt::print(stderr, "[ERROR] clusterdns check: {} needs a value\n", arg);
            return 2;
        } else if (arg == "--manifests") {
            paths.emplace_back(argv[++i]);
        } else if (arg == "-o" || arg == "--output") {
            output = argv[++i];
        } else if (arg == "--pod-cidr") {
            try {
                check_cidr(argv[++i]);
            } catch (const std::exception& e) {
                fmt::print(stderr, "[ERROR] clusterdns check: --pod-cidr: {}\n", e.what());
                return 2;
            }
            cidrs.emplace_back(argv[i]);
        } else if (arg == "--service-cidr") {
            service_cidrs.emplace_back(argv[++i]);
        } else {
            fmt::print(stderr, "[ERROR] clusterdns check: unknown argument {} (see --help)\n",
                       quoted_text(arg));
            return 2;
        }
    }
    if (paths.empty() || (output != "table" && output != "json")) {
        fmt::print(stderr, "[ERROR] clusterdns check: {}\n",
                   paths.empty() ? "give --manifests PATH" : "-o: expected table or json");
        return 2;
    }
    Options options;  // the server's defaults where no flag is given
    options.manifests = paths;
    if (!cidrs.empty()) {
        options.pod_cidrs = cidrs;
    }
    if (!service_cidrs.empty()) {
        options.service_cidrs = service_cidrs;
    }
    std::vector<Finding> findings;
    try {
        findings = check_manifests(options);
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "[ERROR] clusterdns check: {}\n", e.what());
        return 2;
    }
    const auto errors = std::count_if(findings.begin(), findings.end(),
                                      [](const Finding& f) { return f.severity == "error"; });
    const auto warnings = static_cast<long>(findings.size()) - errors;
    if (output == "json") {
        const auto number = [](size_t n) {
            return n == 0 ? std::string("null") : std::to_string(n);
        };
        fmt::print("[");
        for (size_t i = 0; i < findings.size(); ++i) {
            const Finding& f = findings[i];
            fmt::print("{}\n  {{\"severity\": {}, \"file\": {}, \"document\": {}, \"line\": {}, "
                       "\"kind\": {}, \"namespace\": {}, \"name\": {}, \"field\": {}, "
                       "\"message\": {}, \"fix\": {}}}",
                       i == 0 ? "" : ",", json_string(f.severity), json_string(f.file),
                       number(f.document), number(f.line), json_string(f.kind),
                       json_string(f.ns), json_string(f.name), json_string(f.field),
                       json_string(f.message), json_string(f.fix));
        }
        fmt::print("{}]\n", findings.empty() ? "" : "\n");
    } else {
        // For each file, its name and counts, then an aligned table of where each finding is
        // (object, field, document and line), with its message and fix below it, indented.
        const bool colour = isatty(STDOUT_FILENO) != 0;
        const char* bold = colour ? "\033[1m" : "";
        const char* reset = colour ? "\033[0m" : "";
        const auto object = [](const Finding& f) {
            return f.kind.empty() && f.name.empty() ? std::string("-")
                                                    : fmt::format("{} {}/{}", f.kind, f.ns, f.name);
        };
        const auto place = [](const Finding& f) {
            if (f.document == 0) {
                return f.line == 0 ? std::string("-") : fmt::format("line {}", f.line);
            }
            return f.line == 0 ? fmt::format("document {}", f.document)
                               : fmt::format("document {}, line {}", f.document, f.line);
        };
        size_t object_width = 6;
        size_t field_width = 5;
        for (const Finding& f : findings) {
            object_width = std::max(object_width, object(f).size());
            field_width = std::max(field_width, f.field.size());
        }
        size_t files = 0;
        for (size_t i = 0; i < findings.size(); ++i) {
            const Finding& f = findings[i];
            if (i == 0 || f.file != findings[i - 1].file) {
                size_t file_errors = 0;
                size_t file_warnings = 0;
                for (size_t j = i; j < findings.size() && findings[j].file == f.file; ++j) {
                    ++(findings[j].severity == "error" ? file_errors : file_warnings);
                }
                fmt::print("{}{}{}{}: {} error{}, {} warning{}\n", i == 0 ? "" : "\n", bold,
                           f.file.empty() ? "(made from the manifests)" : f.file, reset,
                           file_errors, file_errors == 1 ? "" : "s", file_warnings,
                           file_warnings == 1 ? "" : "s");
                fmt::print("  {}{:<9}{:<{}}  {:<{}}  {}{}\n", bold, "SEVERITY", "OBJECT",
                           object_width, "FIELD", field_width, "WHERE", reset);
                ++files;
            }
            const char* on = !colour ? "" : f.severity == "error" ? "\033[31m" : "\033[33m";
            fmt::print("  {}{:<9}{}{:<{}}  {:<{}}  {}\n           {}\n           fix: {}\n", on,
                       f.severity, reset, object(f), object_width, f.field, field_width, place(f),
                       f.message, f.fix);
        }
        fmt::print("{}{} error{}, {} warning{}{}\n", findings.empty() ? "" : "\n", errors,
                   errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
                   files == 0 ? "" : fmt::format(" in {} file{}", files, files == 1 ? "" : "s"));
    }
    return errors > 0 || (strict && warnings > 0) ? 1 : 0;
}

}  // namespace clusterdns
