#pragma once
// The chain a query goes through, in order: each link answers it or leaves it to the next, as
// CoreDNS's plugins do in the order of its plugin.cfg. Declared here once; the front end's
// serve() follows it, a response's `plugin` label names the link that wrote it, and the
// metrics' list of enabled plugins is made from it.
//
//   rewrite     the question's name rewritten, the response written back (plugins/rewrite)
//   autopath    a Pod's short name tried along its search path, server side (plugins/autopath)
//   hosts       /etc/hosts-style lines, inline and from a file (plugins/hosts)
//   kubernetes  the zone built from the cluster's objects (zone/answer.h)
//   cache       the upstreams' answers, kept (plugins/cache)
//   forward     the upstreams (plugins/forward)
//
// rewrite comes before autopath as in plugin.cfg; CoreDNS puts cache before it, ours is only in
// front of forward, so rewrite runs first (server/worker.h serve()) and the cache keeps answers
// under the rewritten name. hosts answers before the zone (server/handler.cc), for the name as
// asked: autopath's walk does not look there. autopath walks the zone, so those two answer in
// one step (server/handler.h); cache and forward are one stage (plugins/forward/stage.h), which
// an ExternalName chase or a search path walk that leaves the zone goes through too.

#include <cstdint>
#include <string_view>

namespace clusterdns {

enum class Link : uint8_t { Rewrite, Autopath, Hosts, Kubernetes, Cache, Forward };

inline constexpr Link kChain[] = {Link::Rewrite,    Link::Autopath, Link::Hosts,
                                  Link::Kubernetes, Link::Cache,    Link::Forward};

// CoreDNS's name of the plugin.
constexpr std::string_view link_name(Link link) noexcept {
    switch (link) {
        case Link::Rewrite:
            return "rewrite";
        case Link::Autopath:
            return "autopath";
        case Link::Hosts:
            return "hosts";
        case Link::Kubernetes:
            return "kubernetes";
        case Link::Cache:
            return "cache";
        case Link::Forward:
            return "forward";
    }
    return {};
}

}  // namespace clusterdns
