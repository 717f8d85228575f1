#include "records_command.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <clusterdns/clusterdns.h>

#include "json_text.h"

namespace clusterdns {

namespace {

constexpr const char* kRecordsUsage =
    R"(usage: clusterdns records --manifests PATH [--manifests PATH ...] [-o table|zone|json]
                         [--out DIR] [--zone cluster.local] [--ttl 30] [--pod-cidr CIDR ...]
                         [--listen ADDR:PORT ...] [--external-zone ZONE ...]
                         [--config FILE] [--kubeconfig FILE]

Prints every record the zone holds, exactly as the server answers it: a table (default), JSON
(an array of objects with name, type, ttl, data), or RFC 1035 zone files. With -o zone and
--out DIR, one file per served zone (cluster.local.zone, in-addr.arpa.zone, ip6.arpa.zone, and
each --external-zone) that an authoritative server such as knot loads and answers the same from,
and that zone checkers such as kzonecheck accept. The name server ns.dns.<zone>
answers where the server would listen (--listen; a wildcard address: this host's addresses),
and the zones carry those addresses as its glue.

A Service of the manifests without clusterIP gets one from --service-cidr (10.96.0.0/12 by
default), as the API server would allocate it: its A, AAAA and PTR records say so ("; allocated
from the service range" after the record; "allocated": true in JSON).
)";

// After a record whose ClusterIP was allocated (its Service gives no clusterIP): in the table
// and, as a comment, in zone files.
constexpr const char* kAllocatedNote = "  ; allocated from the service range";

void print_table(const std::vector<Server::Record>& records) {
    size_t name_width = 4;
    size_t type_width = 4;
    for (const Server::Record& r : records) {
        name_width = std::max(name_width, r.name.size());
        type_width = std::max(type_width, r.type.size());
    }
    const bool colour = isatty(STDOUT_FILENO) != 0;
    const char* bold = colour ? "\033[1m" : "";
    const char* cyan = colour ? "\033[36m" : "";
    const char* reset = colour ? "\033[0m" : "";
    fmt::print("{}{:<{}}  {:>6}  {:<{}}  {}{}\n", bold, "NAME", name_width, "TTL", "TYPE",
               type_width, "DATA", reset);
    for (const Server::Record& r : records) {
        fmt::print("{:<{}}  {:>6}  {}{:<{}}{}  {}{}\n", r.name, name_width, r.ttl, cyan, r.type,
                   type_width, reset, r.data, r.allocated ? kAllocatedNote : "");
    }
}

void print_json(const std::vector<Server::Record>& records) {
    fmt::print("[");
    for (size_t i = 0; i < records.size(); ++i) {
        const Server::Record& r = records[i];
        fmt::print("{}\n  {{\"name\": {}, \"type\": {}, \"ttl\": {}, \"data\": {}, "
                   "\"allocated\": {}}}",
                   i == 0 ? "" : ",", json_string(r.name), json_string(r.type), r.ttl,
                   json_string(r.data), r.allocated);
    }
    fmt::print("{}]\n", records.empty() ? "" : "\n");
}

// One zone file's text: $ORIGIN, then its records, the apex SOA first.
std::string zone_text(const std::string& zone, const std::vector<const Server::Record*>& records) {
    std::string out = fmt::format("; {} as clusterdns answers it (clusterdns records -o zone)\n"
                                  "$ORIGIN {}\n",
                                  zone, zone);
    for (const Server::Record* r : records) {
        out += fmt::format("{} {} IN {} {}{}\n", r->name, r->ttl, r->type, r->data,
                           r->allocated ? kAllocatedNote : "");
    }
    return out;
}

// The name server of `zone` inside it that has no A or AAAA there (RFC 1034 4.2.1: glue);
// empty when there is none.
std::string missing_glue(const std::string& zone,
                         const std::vector<const Server::Record*>& records) {
    for (const Server::Record* ns : records) {
        if (ns->type != "NS" || !(ns->data == zone || ns->data.ends_with("." + zone))) {
            continue;
        }
        const bool glue = std::any_of(records.begin(), records.end(), [&](const auto* r) {
            return (r->type == "A" || r->type == "AAAA") && r->name == ns->data;
        });
        if (!glue) {
            return ns->data;
        }
    }
    return {};
}

}  // namespace

int records_command(int argc, const char* const* argv) {
    std::string output = "table";
    std::string out_dir;
    std::vector<const char*> rest = {"clusterdns"};
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            fmt::print("{}", kRecordsUsage);
            return 0;
        }
        if ((arg == "-o" || arg == "--output" || arg == "--out") && i + 1 >= argc) {
            fmt::print(stderr, "[ERROR] clusterdns records: {} needs a value\n", arg);
            return 2;
        }
        if (arg == "-o" || arg == "--output") {
            output = argv[++i];
        } else if (arg == "--out") {
            out_dir = argv[++i];
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (output != "table" && output != "zone" && output != "json") {
        fmt::print(stderr, "[ERROR] clusterdns records: -o {}: expected table, zone or json\n",
                   output);
        return 2;
    }
    if (!out_dir.empty() && output != "zone") {
        fmt::print(stderr, "[ERROR] clusterdns records: --out writes zone files: give -o zone\n");
        return 2;
    }
    Options options;
    try {
        options = parse_command_line(static_cast<int>(rest.size()), rest.data()).options;
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns records: {}\n", e.what());
        return 2;
    }
    options.health = options.ready = options.metrics = "none";  // nothing is served
    std::vector<Server::Record> records;
    try {
        Server server(options);
        records = server.records();
    } catch (const std::exception& e) {
        fmt::print(stderr, "[ERROR] clusterdns records: {}\n", e.what());
        return 1;
    }
    if (output == "table") {
        print_table(records);
        return 0;
    }
    if (output == "json") {
        print_json(records);
        return 0;
    }
    std::map<std::string, std::vector<const Server::Record*>> zones;  // those with an SOA
    for (const Server::Record& r : records) {
        if (r.type == "SOA" && r.name == r.zone) {
            zones[r.zone];
        }
    }
    for (const Server::Record& r : records) {
        if (const auto it = zones.find(r.zone); it != zones.end()) {
            it->second.push_back(&r);
        }
    }
    for (const auto& [zone, zone_records] : zones) {
        if (const std::string name = missing_glue(zone, zone_records); !name.empty()) {
            fmt::print(stderr,
                       "[WARNING] clusterdns records: {} has no address (the server answers "
                       "where it listens): zone checkers will report missing glue; give --listen "
                       "ADDR:PORT\n",
                       name);
        }
        const std::string text = zone_text(zone, zone_records);
        if (out_dir.empty()) {
            fmt::print("{}\n", text);
            continue;
        }
        std::error_code ec;
        std::filesystem::create_directories(out_dir, ec);
        const std::string path =
            fmt::format("{}/{}zone", out_dir, zone);  // "cluster.local." + "zone"
        std::ofstream file(path);
        file << text;
        if (!file.flush()) {
            fmt::print(stderr, "[ERROR] clusterdns records: {}: cannot write\n", path);
            return 1;
        }
        fmt::print(stderr, "[INFO] clusterdns records: {}: {} records\n", path,
                   zone_records.size());
    }
    return 0;
}

}  // namespace clusterdns
