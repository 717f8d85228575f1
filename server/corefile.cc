#include "server/corefile.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "dns/name.h"
#include "plugins/corefile/corefile.h"
#include "plugins/forward/forward.h"
#include "plugins/forward/upstreams.h"
#include "server/config.h"
#include "zone/objects.h"

namespace clusterdns {
namespace {

using Directive = CorefileDirective;
using Token = CorefileToken;

Error refuse(const Token& at, std::string_view message) {
    return Error{fmt::format("{}{}", corefile_position(at), message)};
}

// "cluster.local", "cluster.local." and "." alike: lowercase, with the final dot.
Result<std::string> zone_name(const Token& at, std::string_view text) {
    if (text.empty() || text == ".") {
        return std::string(".");
    }
    if (text.find('/') != std::string_view::npos) {
        return refuse(at,
                      "a zone written as a CIDR is not read here: write the reverse zone "
                      "(in-addr.arpa, ip6.arpa)");
    }
    std::string_view bare = text;
    if (bare.ends_with('.')) {
        bare.remove_suffix(1);
    }
    if (bare.empty() || bare.starts_with('.') || !Name::from_text(bare)) {
        return refuse(at, fmt::format("{} is not a domain name", quoted(text)));
    }
    std::string out;
    for (const char c : bare) {
        out += static_cast<char>(lower_ascii(static_cast<uint8_t>(c)));
    }
    return out + ".";
}

bool is_reverse_zone(std::string_view zone) {
    return zone == "in-addr.arpa." || zone == "ip6.arpa." || zone.ends_with(".in-addr.arpa.") ||
           zone.ends_with(".ip6.arpa.");
}

// Whether `name` is `zone` or below it (both as zone_name() writes them).
bool in_zone(std::string_view name, std::string_view zone) {
    return zone == "." || name == zone ||
           (name.size() > zone.size() && name.ends_with(zone) &&
            name[name.size() - zone.size() - 1] == '.');
}

std::string without_dot(const std::string& zone) {
    return zone == "." ? zone : zone.substr(0, zone.size() - 1);
}

struct Block {
    const CorefileServerBlock* source = nullptr;
    std::vector<std::string> zones;  // "cluster.local.", "."
    unsigned port = 53;
    const Token* key = nullptr;  // the first, for messages
};

Result<Block> read_keys(const CorefileServerBlock& block) {
    Block out;
    out.source = &block;
    out.key = &block.keys.front();
    std::optional<unsigned> port;
    for (const Token& key : block.keys) {
        std::string_view text = key.text;
        if (const size_t scheme = text.find("://"); scheme != std::string_view::npos) {
            if (text.substr(0, scheme) != "dns") {
                return refuse(key, fmt::format("{} server blocks are not served here: plain DNS "
                                               "only (dns:// or no scheme)",
                                               text.substr(0, scheme + 3)));
            }
            text.remove_prefix(scheme + 3);
        }
        unsigned key_port = 53;
        if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
            const std::string_view digits = text.substr(colon + 1);
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), key_port);
            if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
                key_port == 0 || key_port > 65535) {
                return refuse(key, fmt::format("port {} is not 1-65535", quoted(digits)));
            }
            text = text.substr(0, colon);
        }
        if (port && *port != key_port) {
            return refuse(key,
                          "the keys of one block name different ports: clusterdns serves "
                          "one port");
        }
        port = key_port;
        auto zone = zone_name(key, text);
        if (!zone) {
            return zone.error();
        }
        if (std::find(out.zones.begin(), out.zones.end(), *zone) == out.zones.end()) {
            out.zones.push_back(std::move(*zone));
        }
    }
    out.port = *port;
    return out;
}

Status check_no_block(const Directive& d) {
    if (!d.block.empty()) {
        return refuse(d.block.front().name,
                      fmt::format("unknown option of {} (it takes none)", d.name.text));
    }
    return {};
}

Status check_args(const Directive& d, size_t min, size_t max, std::string_view usage) {
    if (d.args.size() < min || d.args.size() > max) {
        const Token& at = d.args.size() > max ? d.args[max] : d.name;
        return refuse(at, fmt::format("expected {}", usage));
    }
    return {};
}

Result<unsigned> number(const Token& at, unsigned min, unsigned max) {
    unsigned value = 0;
    const std::string& text = at.text;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
        return refuse(at, fmt::format("expected a number from {} to {}", min, max));
    }
    return value;
}

Result<uint64_t> duration_ms(const Token& at) {
    auto ms = parse_go_duration(at.text);
    if (!ms) {
        return refuse(at, ms.error().message);
    }
    return *ms;
}

unsigned whole_seconds(uint64_t ms) {
    return static_cast<unsigned>(std::min<uint64_t>((ms + 999) / 1000, 0xFFFFFFFFu));
}

// Through the setting the flag uses, so the value is checked as the flag's is.
Status set(Options& o, const Token& at, std::string_view key, std::string_view value) {
    if (Status s = apply_setting(o, key, value); !s) {
        return refuse(at, s.error().message);
    }
    return {};
}

// Through the setting when there is one (the plugin checks the value), else kept as it is for
// the plugin to check when it lands.
Status set_or_keep(Options& o, const Token& at, std::string_view key, const std::string& value,
                   std::vector<std::string>& field) {
    if (is_setting(key)) {
        return set(o, at, key, value);
    }
    field.push_back(value);
    return {};
}

// A number through its setting when there is one (so its range is the flag's), else directly.
Status assign(Options& o, const Token& at, std::string_view key, uint64_t value, unsigned& field) {
    if (is_setting(key)) {
        return set(o, at, key, std::to_string(value));
    }
    field = static_cast<unsigned>(std::min<uint64_t>(value, 0xFFFFFFFFu));
    return {};
}

// CoreDNS's HTTP addresses ("localhost:9153", ":8080") as check_http_address takes them.
std::string http_address(std::string_view text) {
    if (text.starts_with("localhost:")) {
        return fmt::format("127.0.0.1:{}", text.substr(10));
    }
    return std::string(text);
}

// The plugins clusterdns runs, and those it reads only to refuse with a reason.
constexpr std::string_view kPlugins[] = {"kubernetes", "forward", "cache",       "errors",
                                         "log",        "health",  "ready",       "prometheus",
                                         "loop",       "reload",  "loadbalance", "autopath",
                                         "hosts",      "rewrite", "bind",        "k8s_external"};
constexpr std::string_view kStubPlugins[] = {"forward",     "cache", "errors", "log",
                                             "loadbalance", "loop",  "reload", "prometheus",
                                             "health",      "ready", "bind"};

class Translator {
public:
    Translator(Options& options, CorefileTranslation& out) : o_(options), out_(out) {}

    Status run(const Corefile& corefile) {
        if (corefile.blocks.empty()) {
            return Error{fmt::format("{}: no server block (such as .:53 {{ ... }})",
                                     corefile.files.front())};
        }
        std::vector<Block> blocks;
        std::map<std::string, const Token*> zones_seen;
        for (const CorefileServerBlock& source : corefile.blocks) {
            auto block = read_keys(source);
            if (!block) {
                return block.error();
            }
            if (!blocks.empty() && block->port != blocks.front().port) {
                return refuse(*block->key,
                              fmt::format("a block on port {} beside one on port {} ({}:{}): "
                                          "clusterdns serves every zone on one port",
                                          block->port, blocks.front().port,
                                          blocks.front().key->file, blocks.front().key->line));
            }
            for (const std::string& zone : block->zones) {
                if (auto [it, added] = zones_seen.emplace(zone, block->key); !added) {
                    return refuse(*block->key,
                                  fmt::format("zone {} is already served by the block at {}:{}",
                                              quoted(zone), it->second->file, it->second->line));
                }
            }
            for (const Directive& d : source.directives) {
                if (std::find(std::begin(kPlugins), std::end(kPlugins), d.name.text) ==
                    std::end(kPlugins)) {
                    return refuse(d.name, unknown_plugin(d.name.text));
                }
            }
            blocks.push_back(std::move(*block));
        }
        // The main block: the one with kubernetes, else the root zone's. Its plugins set the
        // server's settings; every other block is a stub domain.
        const Block* main = nullptr;
        for (const Block& block : blocks) {
            for (const Directive& d : block.source->directives) {
                if (d.name.text != "kubernetes") {
                    continue;
                }
                if (main != nullptr) {
                    return refuse(d.name, fmt::format("a second kubernetes block (the first at "
                                                      "{}:{}): clusterdns serves one cluster",
                                                      main->key->file, main->key->line));
                }
                main = &block;
                break;
            }
        }
        out_.kubernetes = main != nullptr;
        for (const Block& block : blocks) {
            if (main == nullptr &&
                std::find(block.zones.begin(), block.zones.end(), ".") != block.zones.end()) {
                main = &block;
            }
        }
        o_.listen = {fmt::format("0.0.0.0:{}", blocks.front().port)};
        o_.server_blocks.clear();
        o_.stub_domains.clear();
        // What the main block leaves out is off, as in CoreDNS without the plugin.
        o_.health = o_.ready = o_.metrics = "none";
        o_.lameduck_seconds = 0;  // CoreDNS has one only with health's lameduck
        o_.cache = false;
        o_.loadbalance = false;
        o_.query_log = false;
        if (main == nullptr) {
            // No kubernetes and no root zone: the named zones are forwarded, the rest REFUSED.
            o_.node_local = true;
            o_.upstreams = {"none"};
        } else {
            if (Status s = main_block(*main); !s) {
                return s;
            }
        }
        for (const Block& block : blocks) {
            if (&block != main) {
                if (Status s = stub_block(block); !s) {
                    return s;
                }
            }
        }
        if (!forwarded_root_) {
            o_.upstreams = {"none"};  // without forward, CoreDNS has no answer for them either
        }
        return {};
    }

private:
    static std::string unknown_plugin(std::string_view name) {
        return fmt::format(
            "unknown plugin {} (clusterdns runs kubernetes, forward, cache, "
            "errors, log, health, ready, prometheus, loop, reload, loadbalance, "
            "autopath, hosts, rewrite, bind, k8s_external and import)",
            quoted(name));
    }

    std::string server_label(const Block& block) const {
        return fmt::format("dns://:{}", block.port);
    }

    Status main_block(const Block& block) {
        o_.server_blocks.push_back({server_label(block), block.zones});
        const bool has_kubernetes =
            std::any_of(block.source->directives.begin(), block.source->directives.end(),
                        [](const Directive& d) { return d.name.text == "kubernetes"; });
        if (!has_kubernetes) {
            o_.node_local = true;  // forwarding only, through the cache
        }
        std::set<std::string> once;
        for (const Directive& d : block.source->directives) {
            const std::string& name = d.name.text;
            if (name != "forward" && name != "rewrite" && name != "hosts" &&
                name != "k8s_external" && !once.insert(name).second) {
                return refuse(d.name, fmt::format("{} is given twice in this block", name));
            }
            Status s;
            if (name == "kubernetes") {
                s = kubernetes(block, d);
            } else if (name == "forward") {
                s = forward(block, d);
            } else if (name == "cache") {
                s = cache(block, d, o_);
            } else if (name == "hosts") {
                s = hosts(block, d);
            } else if (name == "rewrite") {
                s = rewrite(d);
            } else if (name == "autopath") {
                s = autopath(d, has_kubernetes);
            } else if (name == "k8s_external") {
                s = k8s_external(d);
            } else {
                s = common(block, d, o_);
            }
            if (!s) {
                return s;
            }
        }
        return {};
    }

    // A block for other zones: its forward makes stub domains; its other plugins must be
    // ones that need no block of their own.
    Status stub_block(const Block& block) {
        o_.server_blocks.push_back({server_label(block), block.zones});
        const Directive* forward_directive = nullptr;
        for (const Directive& d : block.source->directives) {
            const std::string& name = d.name.text;
            if (std::find(std::begin(kStubPlugins), std::end(kStubPlugins), name) ==
                std::end(kStubPlugins)) {
                return refuse(d.name,
                              fmt::format("{} in a block for other zones than the main one (the "
                                          "kubernetes or root block): such a block is a stub "
                                          "domain here, which forwards, caches and logs only",
                                          name));
            }
            if (name == "forward") {
                if (forward_directive != nullptr) {
                    return refuse(d.name, "forward is given twice in this block");
                }
                forward_directive = &d;
                if (Status s = forward(block, d); !s) {
                    return s;
                }
                continue;
            }
            // The root zone's cache is the one of forwarded names.
            const bool root =
                std::find(block.zones.begin(), block.zones.end(), ".") != block.zones.end();
            if (name == "cache" && root) {
                if (Status s = cache(block, d, o_); !s) {
                    return s;
                }
                continue;
            }
            // One set of these serves every block: the stub's must be valid, and is the main
            // block's (README.md says so).
            Options scratch = o_;
            if (Status s = name == "cache" ? cache(block, d, scratch) : common(block, d, scratch);
                !s) {
                return s;
            }
            if (name == "log" && !o_.query_log) {
                o_.query_log = true;  // a query log is global: one block asking turns it on
            }
            // An endpoint the main block leaves out is the stub's; one it has must be the same.
            for (auto [plugin, field] :
                 {std::pair{"health", &Options::health}, std::pair{"ready", &Options::ready},
                  std::pair{"prometheus", &Options::metrics}}) {
                if (name != plugin) {
                    continue;
                }
                if (o_.*field == "none") {
                    o_.*field = scratch.*field;
                } else if (scratch.*field != o_.*field) {
                    return refuse(d.name, fmt::format("{} here names another address than the "
                                                      "main block's: clusterdns has one",
                                                      name));
                }
                if (name == "health") {
                    o_.lameduck_seconds = scratch.lameduck_seconds;
                }
            }
            if (name == "bind" && scratch.listen != o_.listen) {
                return refuse(d.name,
                              "bind here differs from the main block's: clusterdns "
                              "listens on one set of addresses");
            }
        }
        if (forward_directive == nullptr) {
            return refuse(*block.key,
                          "a block for other zones than the main one needs forward: "
                          "clusterdns serves them as stub domains");
        }
        return {};
    }

    Status kubernetes(const Block& block, const Directive& d) {
        std::vector<std::string> zones;
        for (const Token& arg : d.args) {
            auto zone = zone_name(arg, arg.text);
            if (!zone) {
                return zone.error();
            }
            zones.push_back(*zone);
        }
        if (zones.empty()) {
            zones = block.zones;
        }
        std::optional<std::string> cluster_zone;
        for (size_t i = 0; i < zones.size(); ++i) {
            const Token& at = d.args.empty() ? *block.key : d.args[i];
            if (is_reverse_zone(zones[i])) {
                continue;
            }
            if (zones[i] == ".") {
                return refuse(at,
                              "kubernetes for the root zone: give the cluster domain "
                              "(kubernetes cluster.local in-addr.arpa ip6.arpa)");
            }
            if (cluster_zone && *cluster_zone != zones[i]) {
                return refuse(at, fmt::format("a second cluster domain (after {}): clusterdns "
                                              "serves one",
                                              quoted(*cluster_zone)));
            }
            cluster_zone = zones[i];
        }
        if (!cluster_zone) {
            return refuse(d.name,
                          "kubernetes without its cluster domain (kubernetes "
                          "cluster.local in-addr.arpa ip6.arpa)");
        }
        if (Status s = set(o_, d.name, "zone", without_dot(*cluster_zone)); !s) {
            return s;
        }
        bool kubeconfig = false;
        std::set<std::string> once;
        for (const Directive& option : d.block) {
            const std::string& name = option.name.text;
            if (!once.insert(name).second) {
                return refuse(option.name, fmt::format("{} is given twice", name));
            }
            Status s;
            if (name == "pods") {
                s = check_args(option, 1, 1, "pods disabled, insecure or verified");
                if (s) {
                    s = set(o_, option.args[0], "pods", option.args[0].text);
                }
            } else if (name == "ttl") {
                s = check_args(option, 1, 1, "ttl SECONDS (0-3600)");
                if (s) {
                    s = set(o_, option.args[0], "ttl", option.args[0].text);
                }
            } else if (name == "endpoint_pod_names") {
                s = check_args(option, 0, 0, "endpoint_pod_names with no argument");
                o_.endpoint_pod_names = true;
            } else if (name == "namespaces") {
                s = check_args(option, 1, 1000, "namespaces NAMESPACE...");
                o_.namespaces.clear();
                for (const Token& ns : option.args) {
                    if (s) {
                        s = set(o_, ns, "namespaces", ns.text);
                    }
                }
            } else if (name == "labels") {
                s = check_args(option, 1, 1000, "labels SELECTOR");
                std::string selector;
                for (const Token& part : option.args) {
                    selector += (selector.empty() ? "" : " ") + part.text;
                }
                o_.label_selector = selector;
            } else if (name == "kubeconfig") {
                s = check_args(option, 1, 2, "kubeconfig FILE [CONTEXT]");
                if (s) {
                    o_.kubeconfig = option.args[0].text;
                    o_.context = option.args.size() > 1 ? option.args[1].text : "";
                    kubeconfig = true;
                }
            } else if (name == "fallthrough") {
                // The cluster's names with no record are NXDOMAIN here; reverse names with no
                // record are always asked upstream, as kubeadm's fallthrough does.
                if (option.args.empty()) {
                    s = refuse(option.name,
                               "fallthrough for every zone: a name of the cluster domain with no "
                               "record is NXDOMAIN here; write fallthrough in-addr.arpa ip6.arpa");
                }
                for (const Token& zone : option.args) {
                    auto z = zone_name(zone, zone.text);
                    if (s && !z) {
                        s = z.error();
                    } else if (s && !is_reverse_zone(*z)) {
                        s = refuse(zone,
                                   "fallthrough of a zone other than the reverse ones: a "
                                   "name of the cluster domain with no record is NXDOMAIN "
                                   "here");
                    }
                }
            } else if (name == "noendpoints") {
                s = check_args(option, 0, 0, "noendpoints with no argument");
                o_.no_endpoints = true;
            } else if (name == "endpoint" || name == "tls") {
                s = refuse(option.name, fmt::format("{} is not supported: give a kubeconfig "
                                                    "(kubeconfig FILE) or run in a pod",
                                                    name));
            } else {
                s = refuse(option.name,
                           fmt::format("unknown option of kubernetes (clusterdns reads pods, ttl, "
                                       "endpoint_pod_names, namespaces, labels, kubeconfig, "
                                       "fallthrough)"));
            }
            if (!s) {
                return s;
            }
        }
        if (!kubeconfig) {
            o_.in_cluster = true;  // as CoreDNS: the pod's service account
            o_.kubeconfig.clear();
            o_.context.clear();
        } else {
            o_.in_cluster = false;
        }
        out_.api_source = true;
        return {};
    }

    // `forward FROM TO... { options }`.
    Status forward(const Block& block, const Directive& d) {
        if (Status s = check_args(d, 2, 16, "forward FROM TO... (at most 15 TO)"); !s) {
            return s;
        }
        auto from = zone_name(d.args[0], d.args[0].text);
        if (!from) {
            return from.error();
        }
        const bool root = *from == ".";
        // What `.` means in this block: its zones.
        std::vector<std::string> domains;
        if (root) {
            domains = block.zones;
        } else {
            if (!std::any_of(block.zones.begin(), block.zones.end(),
                             [&](const std::string& z) { return in_zone(*from, z); })) {
                return refuse(d.args[0], "forward FROM must be within the block's zones");
            }
            domains = {*from};
        }
        // The root zone's forward is the server's upstreams, whichever block holds it.
        const bool global = std::find(domains.begin(), domains.end(), ".") != domains.end();
        if (global && domains.size() > 1) {
            return refuse(d.args[0],
                          "forward . in a block for the root zone and others: give "
                          "the other zones a block of their own");
        }
        std::vector<std::string> addresses;
        std::optional<std::string> file;
        bool force_tcp = false;
        for (size_t i = 1; i < d.args.size(); ++i) {
            const Token& to = d.args[i];
            if (to.text.starts_with("tls://") || to.text.starts_with("https://") ||
                to.text.starts_with("grpc://")) {
                return refuse(to,
                              "only plain DNS upstreams are supported (no tls://, "
                              "https:// or grpc://)");
            }
            if (auto address = parse_upstream(to.text)) {
                addresses.push_back(*address);
            } else if (to.text.find('/') != std::string::npos && !to.text.starts_with("dns://")) {
                if (file) {
                    return refuse(to, "a second resolv.conf file for forward");
                }
                file = to.text;
            } else {
                return refuse(to, address.error().message);
            }
        }
        if (file && !addresses.empty()) {
            return refuse(d.args[1],
                          "forward to both a resolv.conf file and addresses is not "
                          "supported: give one or the other");
        }
        if (file && !global) {
            return refuse(d.args[1],
                          "a stub domain forwards to addresses: a resolv.conf file "
                          "only serves the root zone's forward");
        }
        std::set<std::string> once;
        for (const Directive& option : d.block) {
            const std::string& name = option.name.text;
            if (!once.insert(name).second) {
                return refuse(option.name, fmt::format("{} is given twice", name));
            }
            if (name == "force_tcp" || name == "prefer_udp") {
                if (Status s = check_args(option, 0, 0, name + " with no argument"); !s) {
                    return s;
                }
                if (name == "force_tcp") {
                    force_tcp = true;
                }
                if (global) {
                    (name == "force_tcp" ? o_.force_tcp : o_.prefer_udp) = true;
                }
                if (!global && name == "prefer_udp") {
                    return refuse(option.name,
                                  "prefer_udp is read for the root zone's forward "
                                  "only");
                }
                continue;
            }
            if (!global) {
                return refuse(option.name,
                              fmt::format("{} in the forward of a stub domain: only force_tcp is "
                                          "kept per stub domain here; give it to the root "
                                          "zone's forward",
                                          name));
            }
            Status s;
            if (name == "except") {
                s = check_args(option, 1, 1000, "except DOMAIN...");
                for (const Token& zone : option.args) {
                    auto z = zone_name(zone, zone.text);
                    if (s && !z) {
                        s = z.error();
                    } else if (s) {
                        o_.forward_except.push_back(without_dot(*z));
                    }
                }
            } else if (name == "max_concurrent") {
                s = check_args(option, 1, 1, "max_concurrent NUMBER");
                if (s) {
                    s = set(o_, option.args[0], "max_concurrent", option.args[0].text);
                }
            } else if (name == "policy") {
                s = check_args(option, 1, 1, "policy random, round_robin or sequential");
                if (s) {
                    s = set(o_, option.args[0], "policy", option.args[0].text);
                }
            } else if (name == "max_fails") {
                s = check_args(option, 1, 1, "max_fails NUMBER");
                if (s) {
                    auto n = number(option.args[0], 0, 1000000);
                    s = n ? Status{} : Status{n.error()};
                    if (n) {
                        s = assign(o_, option.args[0], "max_fails", *n, o_.max_fails);
                    }
                }
            } else if (name == "health_check") {
                s = check_args(option, 1, 1,
                               "health_check DURATION (no_rec and domain are not "
                               "supported)");
                if (s) {
                    auto ms = duration_ms(option.args[0]);
                    if (!ms || *ms == 0 || *ms > 3600000) {
                        s = ms ? refuse(option.args[0], "expected 1ms to 1h") : Status{ms.error()};
                    } else {
                        s = assign(o_, option.args[0], "health_check_ms", *ms, o_.health_check_ms);
                    }
                }
            } else if (name == "expire") {
                s = check_args(option, 1, 1, "expire DURATION");
                if (s) {
                    auto ms = duration_ms(option.args[0]);
                    s = ms ? Status{} : Status{ms.error()};
                    if (ms) {
                        std::fprintf(stderr,
                                     "[WARNING] plugin/forward: %s:%u: expire has no effect here "
                                     "(c-ares manages the connections to upstreams)\n",
                                     option.name.file.c_str(), option.name.line);
                    }
                }
            } else if (name == "tls" || name == "tls_servername") {
                s = refuse(option.name, "TLS to upstreams is not supported");
            } else {
                s = refuse(option.name,
                           "unknown option of forward (clusterdns reads except, force_tcp, "
                           "prefer_udp, max_concurrent, policy, health_check, expire, max_fails)");
            }
            if (!s) {
                return s;
            }
        }
        if (global) {
            if (forwarded_root_) {
                return refuse(d.name, "a second forward for the root zone");
            }
            forwarded_root_ = true;
            o_.upstreams.clear();
            if (file) {
                o_.resolv_conf = *file;
            } else {
                o_.upstreams = addresses;
            }
            return {};
        }
        if (force_tcp) {
            for (std::string& address : addresses) {
                address = std::string(kTcpScheme) + address;
            }
        }
        for (const std::string& domain : domains) {
            std::string entry = without_dot(domain) + "=";
            for (size_t i = 0; i < addresses.size(); ++i) {
                entry += (i ? "," : "") + addresses[i];
            }
            if (Status s = set(o_, d.name, "stub_domains", entry); !s) {
                return s;
            }
        }
        return {};
    }

    // `cache [TTL] [ZONES...] { success, denial, prefetch, serve_stale }`.
    Status cache(const Block& block, const Directive& d, Options& o) {
        o.cache = true;
        if (!d.args.empty()) {
            auto ttl = number(d.args[0], 0, 86400 * 7);
            if (!ttl) {
                return ttl.error();
            }
            if (Status s = assign(o, d.args[0], "cache_success_ttl", *ttl, o.cache_success_ttl);
                !s) {
                return s;
            }
            if (Status s = assign(o, d.args[0], "cache_denial_ttl", *ttl, o.cache_denial_ttl); !s) {
                return s;
            }
            for (size_t i = 1; i < d.args.size(); ++i) {
                auto zone = zone_name(d.args[i], d.args[i].text);
                if (!zone) {
                    return zone.error();
                }
                if (std::find(block.zones.begin(), block.zones.end(), *zone) == block.zones.end()) {
                    return refuse(d.args[i],
                                  "cache for some zones only: clusterdns caches every "
                                  "forwarded name of the block alike");
                }
            }
        }
        std::optional<unsigned> capacity[2];
        std::set<std::string> once;
        for (const Directive& option : d.block) {
            const std::string& name = option.name.text;
            if (!once.insert(name).second) {
                return refuse(option.name, fmt::format("{} is given twice", name));
            }
            if (name == "success" || name == "denial") {
                if (Status s = check_args(option, 1, 3, name + " CAPACITY [TTL [MINTTL]]"); !s) {
                    return s;
                }
                const bool success = name == "success";
                auto cap = number(option.args[0], 1, 10000000);
                if (!cap) {
                    return cap.error();
                }
                capacity[success ? 0 : 1] = *cap;
                uint32_t& ttl = success ? o.cache_success_ttl : o.cache_denial_ttl;
                uint32_t& min_ttl = success ? o.cache_success_min_ttl : o.cache_denial_min_ttl;
                const std::string kind = success ? "success" : "denial";
                if (option.args.size() > 1) {
                    auto n = number(option.args[1], 0, 86400 * 7);
                    if (!n) {
                        return n.error();
                    }
                    if (Status s = assign(o, option.args[1], "cache_" + kind + "_ttl", *n, ttl);
                        !s) {
                        return s;
                    }
                }
                if (option.args.size() > 2) {
                    auto n = number(option.args[2], 0, 86400 * 7);
                    if (!n) {
                        return n.error();
                    }
                    if (Status s =
                            assign(o, option.args[2], "cache_" + kind + "_min_ttl", *n, min_ttl);
                        !s) {
                        return s;
                    }
                }
            } else if (name == "prefetch") {
                if (Status s = check_args(option, 1, 1,
                                          "prefetch AMOUNT (DURATION and "
                                          "PERCENTAGE are not supported)");
                    !s) {
                    return s;
                }
                auto n = number(option.args[0], 1, 1000000);
                if (!n) {
                    return n.error();
                }
                if (Status s = assign(o, option.args[0], "prefetch", *n, o.prefetch); !s) {
                    return s;
                }
            } else if (name == "serve_stale") {
                if (Status s = check_args(option, 0, 2, "serve_stale [DURATION] [immediate]"); !s) {
                    return s;
                }
                uint64_t ms = 3600 * 1000;  // CoreDNS's default: an hour
                if (!option.args.empty()) {
                    auto d_ms = duration_ms(option.args[0]);
                    if (!d_ms) {
                        return d_ms.error();
                    }
                    ms = *d_ms;
                }
                if (option.args.size() > 1 && option.args[1].text != "immediate") {
                    return refuse(option.args[1], "only the immediate refresh mode is supported");
                }
                const Token& at = option.args.empty() ? option.name : option.args[0];
                if (Status s = assign(o, at, "serve_stale", whole_seconds(ms), o.serve_stale); !s) {
                    return s;
                }
            } else {
                return refuse(option.name,
                              "unknown option of cache (clusterdns reads success, "
                              "denial, prefetch, serve_stale)");
            }
        }
        if (capacity[0] || capacity[1]) {
            // One cache holds both kinds here: CoreDNS's default per kind for the one left out.
            const uint64_t total =
                uint64_t{capacity[0].value_or(9984)} + capacity[1].value_or(9984);
            if (Status s = assign(o, d.name, "cache_capacity", total, o.cache_capacity); !s) {
                return s;
            }
        }
        return {};
    }

    Status hosts(const Block& block, const Directive& d) {
        if (hosts_seen_) {
            return refuse(d.name, "hosts is given twice in this block");
        }
        hosts_seen_ = true;
        o_.hosts_file = d.args.empty() ? "/etc/hosts" : d.args[0].text;
        std::vector<std::string> zones;
        for (size_t i = 1; i < d.args.size(); ++i) {
            auto zone = zone_name(d.args[i], d.args[i].text);
            if (!zone) {
                return zone.error();
            }
            zones.push_back(*zone);
        }
        if (zones.empty()) {
            zones = block.zones;
        }
        o_.hosts_zones.clear();
        for (const std::string& zone : zones) {
            if (zone != ".") {
                o_.hosts_zones.push_back(without_dot(zone));
            }
        }
        if (std::find(zones.begin(), zones.end(), ".") != zones.end()) {
            o_.hosts_zones.clear();  // every name
        }
        o_.hosts.clear();
        std::set<std::string> once;
        for (const Directive& option : d.block) {
            const std::string& name = option.name.text;
            const bool keyword =
                name == "ttl" || name == "reload" || name == "no_reverse" || name == "fallthrough";
            if (keyword && !once.insert(name).second) {
                return refuse(option.name, fmt::format("{} is given twice", name));
            }
            if (name == "ttl") {
                if (Status s = check_args(option, 1, 1, "ttl SECONDS"); !s) {
                    return s;
                }
                auto n = number(option.args[0], 0, 0x7FFFFFFF);
                if (!n) {
                    return n.error();
                }
                if (Status s = assign(o_, option.args[0], "hosts_ttl", *n, o_.hosts_ttl); !s) {
                    return s;
                }
            } else if (name == "reload") {
                if (Status s = check_args(option, 1, 1, "reload DURATION"); !s) {
                    return s;
                }
                auto ms = duration_ms(option.args[0]);
                if (!ms) {
                    return ms.error();
                }
                if (Status s = assign(o_, option.args[0], "hosts_reload", whole_seconds(*ms),
                                      o_.hosts_reload_seconds);
                    !s) {
                    return s;
                }
            } else if (name == "no_reverse") {
                if (Status s = check_args(option, 0, 0, "no_reverse with no argument"); !s) {
                    return s;
                }
                o_.hosts_no_reverse = true;
            } else if (name == "fallthrough") {
                o_.hosts_fallthrough_set = true;
                o_.hosts_fallthrough.clear();
                for (const Token& zone : option.args) {
                    auto z = zone_name(zone, zone.text);
                    if (!z) {
                        return z.error();
                    }
                    o_.hosts_fallthrough.push_back(without_dot(*z));
                }
            } else {
                // An inline line: ADDRESS NAME... (CoreDNS's hosts reads any other line so).
                if (option.has_block) {
                    return refuse(option.name, "unknown option of hosts");
                }
                if (!parse_ip(option.name.text)) {
                    return refuse(option.name,
                                  "unknown option of hosts (an inline entry starts "
                                  "with an IP address: ADDRESS NAME...)");
                }
                if (option.args.empty()) {
                    return refuse(option.name, "an inline entry without a name (ADDRESS NAME...)");
                }
                std::string line = option.name.text;
                for (const Token& name_token : option.args) {
                    line += " " + name_token.text;
                }
                if (Status s = set_or_keep(o_, option.name, "hosts", line, o_.hosts); !s) {
                    return s;
                }
            }
        }
        return {};
    }

    // The rest of the line as one string; the rewrite plugin parses it. The block form
    // (`rewrite stop {` with `name ...` and `answer ...` lines) is the same rule on one line.
    Status rewrite(const Directive& d) {
        if (d.args.empty() && !d.has_block) {
            return refuse(d.name, "rewrite without a rule");
        }
        std::string rule;
        auto add = [&](const Token& word) -> Status {
            if (word.text.empty() || word.text.find_first_of(" \t\r\n") != std::string::npos) {
                return refuse(word, "a rewrite word holding a space (or empty) is not supported");
            }
            rule += (rule.empty() ? "" : " ") + word.text;
            return {};
        };
        for (const Token& arg : d.args) {
            if (Status s = add(arg); !s) {
                return s;
            }
        }
        for (const Directive& line : d.block) {
            if (line.has_block) {
                return refuse(line.name, "a block inside rewrite's block");
            }
            if (Status s = add(line.name); !s) {
                return s;
            }
            for (const Token& arg : line.args) {
                if (Status s = add(arg); !s) {
                    return s;
                }
            }
        }
        return set_or_keep(o_, d.name, "rewrite", rule, o_.rewrite);
    }

    Status autopath(const Directive& d, bool has_kubernetes) {
        if (d.args.size() != 1 || d.args[0].text != "@kubernetes" || d.has_block) {
            return refuse(d.args.empty() ? d.name : d.args[0],
                          "autopath @kubernetes is the one form supported (the search path "
                          "comes from the cluster; a resolv.conf's from --autopath-search)");
        }
        if (!has_kubernetes) {
            return refuse(d.args[0], "autopath @kubernetes without kubernetes in this block");
        }
        o_.autopath = true;
        return {};
    }

    Status k8s_external(const Directive& d) {
        if (Status s = check_args(d, 1, 100, "k8s_external ZONE..."); !s) {
            return s;
        }
        if (Status s = check_no_block(d); !s) {
            return s;
        }
        for (const Token& zone : d.args) {
            auto z = zone_name(zone, zone.text);
            if (!z) {
                return z.error();
            }
            if (Status s = set(o_, zone, "external_zones", without_dot(*z)); !s) {
                return s;
            }
        }
        return {};
    }

    // Plugins with a setting or two, the same in every block.
    Status common(const Block& block, const Directive& d, Options& o) {
        const std::string& name = d.name.text;
        if (name == "errors") {
            if (Status s = check_args(d, 0, 0, "errors with no argument"); !s) {
                return s;
            }
            return check_no_block(d);
        }
        if (name == "log") {
            if (d.args.size() > 1 || (d.args.size() == 1 && d.args[0].text != ".")) {
                return refuse(d.args.back(),
                              "log for some names or with a format is not "
                              "supported: clusterdns logs every query in "
                              "CoreDNS's common format");
            }
            for (const Directive& option : d.block) {
                if (option.name.text != "class" || option.args.size() != 1 ||
                    option.args[0].text != "all") {
                    return refuse(option.name,
                                  "log's options are not supported (class all "
                                  "only)");
                }
            }
            o.query_log = true;
            return {};
        }
        if (name == "health" || name == "ready" || name == "prometheus") {
            if (Status s = check_args(d, 0, 1, name + " [ADDRESS]"); !s) {
                return s;
            }
            const char* fallback = name == "health"  ? ":8080"
                                   : name == "ready" ? ":8181"
                                                     : "127.0.0.1:9153";
            const std::string address = d.args.empty() ? fallback : http_address(d.args[0].text);
            const Token& at = d.args.empty() ? d.name : d.args[0];
            const char* key = name == "prometheus" ? "metrics" : name.c_str();
            if (Status s = set(o, at, key, address); !s) {
                return s;
            }
            for (const Directive& option : d.block) {
                if (name != "health" || option.name.text != "lameduck") {
                    return refuse(option.name, fmt::format("unknown option of {}", name));
                }
                if (Status s = check_args(option, 1, 1, "lameduck DURATION"); !s) {
                    return s;
                }
                auto ms = duration_ms(option.args[0]);
                if (!ms) {
                    return ms.error();
                }
                auto seconds = std::to_string(whole_seconds(*ms));
                if (Status s = set(o, option.args[0], "lameduck", seconds); !s) {
                    return s;
                }
            }
            return {};
        }
        if (name == "loop") {
            if (Status s = check_args(d, 0, 0, "loop with no argument"); !s) {
                return s;
            }
            return check_no_block(d);  // loop detection is always on here
        }
        if (name == "reload") {
            if (Status s = check_args(d, 0, 2, "reload [INTERVAL] [JITTER]"); !s) {
                return s;
            }
            for (const Token& arg : d.args) {
                if (auto ms = duration_ms(arg); !ms) {
                    return ms.error();
                }
            }
            return check_no_block(d);  // reload follows the files' changes here
        }
        if (name == "loadbalance") {
            if (d.args.size() > 1 || (d.args.size() == 1 && d.args[0].text != "round_robin")) {
                return refuse(d.args.back(), "loadbalance round_robin is the one policy supported");
            }
            if (Status s = check_no_block(d); !s) {
                return s;
            }
            o.loadbalance = true;
            return {};
        }
        if (name == "bind") {
            if (Status s = check_args(d, 1, 16, "bind ADDRESS..."); !s) {
                return s;
            }
            if (Status s = check_no_block(d); !s) {
                return s;
            }
            o.listen.clear();
            for (const Token& address : d.args) {
                if (!parse_ip(address.text)) {
                    return refuse(address, "bind takes IP addresses here (not interface names)");
                }
                const bool v6 = address.text.find(':') != std::string::npos;
                o.listen.push_back(v6 ? fmt::format("[{}]:{}", address.text, block.port)
                                      : fmt::format("{}:{}", address.text, block.port));
            }
            return {};
        }
        return refuse(d.name, unknown_plugin(name));
    }

    Options& o_;
    CorefileTranslation& out_;
    bool forwarded_root_ = false;
    bool hosts_seen_ = false;
};

}  // namespace

Result<uint64_t> parse_go_duration(std::string_view text) {
    if (text == "0") {
        return uint64_t{0};
    }
    if (text.empty()) {
        return Error{"expected a duration such as 5s, 1m or 250ms"};
    }
    double total_ms = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        size_t digits = 0;
        while (digits < rest.size() &&
               ((rest[digits] >= '0' && rest[digits] <= '9') || rest[digits] == '.')) {
            ++digits;
        }
        double value = 0;
        const auto [end, ec] = std::from_chars(rest.data(), rest.data() + digits, value);
        if (digits == 0 || ec != std::errc() || end != rest.data() + digits) {
            return Error{fmt::format("{} is not a duration such as 5s, 1m or 250ms", quoted(text))};
        }
        rest.remove_prefix(digits);
        size_t unit_size = 0;
        while (unit_size < rest.size() && !(rest[unit_size] >= '0' && rest[unit_size] <= '9')) {
            ++unit_size;
        }
        const std::string_view unit = rest.substr(0, unit_size);
        rest.remove_prefix(unit_size);
        double scale = 0;
        if (unit == "h") {
            scale = 3600e3;
        } else if (unit == "m") {
            scale = 60e3;
        } else if (unit == "s") {
            scale = 1e3;
        } else if (unit == "ms") {
            scale = 1;
        } else if (unit == "us" || unit == "µs") {
            scale = 1e-3;
        } else if (unit == "ns") {
            scale = 1e-6;
        } else {
            return Error{
                fmt::format("{} is not a duration such as 5s, 1m or 250ms (units h, m, "
                            "s, ms, us, ns)",
                            quoted(text))};
        }
        total_ms += value * scale;
        if (total_ms > 1e12) {
            return Error{fmt::format("{} is too long a duration", quoted(text))};
        }
    }
    return static_cast<uint64_t>(total_ms + 0.5);
}

Result<CorefileTranslation> apply_corefile(const Corefile& corefile, Options& options) {
    CorefileTranslation out;
    out.files = corefile.files;
    Options translated = options;
    Translator translator(translated, out);
    if (Status s = translator.run(corefile); !s) {
        return s.error();
    }
    options = std::move(translated);
    return out;
}

Result<CorefileTranslation> apply_corefile(const std::string& path, Options& options) {
    auto corefile = read_corefile(path);
    if (!corefile) {
        return corefile.error();
    }
    return apply_corefile(*corefile, options);
}

}  // namespace clusterdns
