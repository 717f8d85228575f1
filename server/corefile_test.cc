#include "server/corefile.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "plugins/corefile/corefile.h"

namespace clusterdns {
namespace {

using Strings = std::vector<std::string>;

Result<Options> translate(const std::string& text) {
    CorefileSources sources;
    sources.read = [](const std::string& path) -> Result<std::string> {
        return Error{path + ": cannot read"};
    };
    sources.glob = [](const std::string&) { return Strings{}; };
    sources.getenv = [](const std::string&) { return std::optional<std::string>(); };
    auto corefile = parse_corefile(text, "Corefile", sources);
    if (!corefile) {
        return corefile.error();
    }
    Options options;
    if (auto applied = apply_corefile(*corefile, options); !applied) {
        return applied.error();
    }
    return options;
}

std::string refusal(const std::string& text) {
    auto options = translate(text);
    REQUIRE_FALSE(options);
    return options.error().message;
}

constexpr const char* kKubeadm = R"(.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
)";

TEST_CASE("corefile translation: kubeadm's Corefile") {
    auto o = translate(kKubeadm);
    REQUIRE(o);
    CHECK(o->zone == "cluster.local");
    CHECK(o->listen == Strings{"0.0.0.0:53"});
    CHECK(o->pods == Options::Pods::Insecure);
    CHECK(o->ttl_seconds == 30);
    CHECK(o->in_cluster);
    CHECK(o->health == ":8080");
    CHECK(o->lameduck_seconds == 5);
    CHECK(o->ready == ":8181");
    CHECK(o->metrics == ":9153");
    CHECK(o->upstreams.empty());
    CHECK(o->resolv_conf == "/etc/resolv.conf");
    CHECK(o->max_concurrent == 1000);
    CHECK(o->cache);
    CHECK(o->cache_success_ttl == 30);
    CHECK(o->cache_denial_ttl == 30);
    CHECK(o->loadbalance);
    CHECK_FALSE(o->query_log);
    REQUIRE(o->server_blocks.size() == 1);
    CHECK(o->server_blocks[0].server == "dns://:53");
    CHECK(o->server_blocks[0].zones == Strings{"."});
}

TEST_CASE("corefile translation: what a Corefile leaves out is off") {
    auto o = translate(".:5353 {\n kubernetes example.internal\n}\n");
    REQUIRE(o);
    CHECK(o->zone == "example.internal");
    CHECK(o->listen == Strings{"0.0.0.0:5353"});
    CHECK(o->health == "none");
    CHECK(o->ready == "none");
    CHECK(o->metrics == "none");
    CHECK(o->lameduck_seconds == 0);
    CHECK_FALSE(o->cache);
    CHECK_FALSE(o->loadbalance);
    CHECK(o->upstreams == Strings{"none"});  // no forward: outside names are not answered
}

TEST_CASE("corefile translation: plugins and their options") {
    auto o = translate(R"(cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    log
    kubernetes {
        pods verified
        endpoint_pod_names
        namespaces prod staging
        labels app in (a, b)
        kubeconfig /k/config ctx
    }
    autopath @kubernetes
    hosts /etc/extra.hosts example.com {
        10.1.2.3 db.example.com db
        ttl 60
        reload 15s
        no_reverse
        fallthrough example.com
    }
    rewrite name suffix .corp.example .svc.cluster.local answer auto
    rewrite stop {
        name regex (.*)\.corp\.example {1}.svc.cluster.local
        answer name (.*)\.svc\.cluster\.local {1}.corp.example
    }
    prometheus localhost:9253
    k8s_external example.org
}
.:53 {
    forward . 10.0.0.1 10.0.0.2:5353 {
        except skip.example
        force_tcp
        prefer_udp
        policy sequential
        health_check 250ms
        max_fails 3
        expire 10s
    }
    cache 300 {
        success 5000 600 10
        denial 2000 60
        prefetch 5
        serve_stale 2m
    }
}
consul.local:53 {
    errors
    cache 30
    forward . 10.150.0.1 {
        force_tcp
    }
}
)");
    REQUIRE(o);
    CHECK(o->zone == "cluster.local");
    CHECK(o->query_log);
    CHECK(o->pods == Options::Pods::Verified);
    CHECK(o->endpoint_pod_names);
    CHECK(o->namespaces == Strings{"prod", "staging"});
    CHECK(o->label_selector == "app in (a, b)");
    CHECK(o->kubeconfig == "/k/config");
    CHECK(o->context == "ctx");
    CHECK_FALSE(o->in_cluster);
    CHECK(o->autopath);
    CHECK(o->hosts_file == "/etc/extra.hosts");
    CHECK(o->hosts_zones == Strings{"example.com"});
    CHECK(o->hosts == Strings{"10.1.2.3 db.example.com db"});
    CHECK(o->hosts_ttl == 60);
    CHECK(o->hosts_reload_seconds == 15);
    CHECK(o->hosts_no_reverse);
    CHECK(o->hosts_fallthrough_set);
    CHECK(o->hosts_fallthrough == Strings{"example.com"});
    REQUIRE(o->rewrite.size() == 2);
    CHECK(o->rewrite[0] == "name suffix .corp.example .svc.cluster.local answer auto");
    CHECK(o->rewrite[1] ==
          "stop name regex (.*)\\.corp\\.example {1}.svc.cluster.local answer name "
          "(.*)\\.svc\\.cluster\\.local {1}.corp.example");
    CHECK(o->metrics == "127.0.0.1:9253");
    CHECK(o->external_zones == Strings{"example.org"});
    CHECK(o->upstreams == Strings{"10.0.0.1:53", "10.0.0.2:5353"});
    CHECK(o->forward_except == Strings{"skip.example"});
    CHECK(o->force_tcp);
    CHECK(o->prefer_udp);
    CHECK(o->policy == "sequential");
    CHECK(o->health_check_ms == 250);
    CHECK(o->max_fails == 3);
    CHECK(o->cache);
    CHECK(o->cache_success_ttl == 600);
    CHECK(o->cache_success_min_ttl == 10);
    CHECK(o->cache_denial_ttl == 60);
    CHECK(o->cache_capacity == 7000);
    CHECK(o->prefetch == 5);
    CHECK(o->serve_stale == 120);
    CHECK_FALSE(o->loadbalance);
    CHECK(o->stub_domains == Strings{"consul.local=tcp://10.150.0.1:53"});
    REQUIRE(o->server_blocks.size() == 3);
    CHECK(o->server_blocks[0].zones == Strings{"cluster.local.", "in-addr.arpa.", "ip6.arpa."});
    CHECK(o->server_blocks[2].zones == Strings{"consul.local."});
}

TEST_CASE("corefile translation: a stub block's endpoints are the main block's") {
    auto o = translate(
        ".:53 {\n kubernetes cluster.local\n prometheus :9153\n}\n"
        "consul.local {\n forward . 10.0.0.1\n prometheus :9153\n health :8080 {\n"
        "  lameduck 7s\n }\n}\n");
    REQUIRE(o);
    CHECK(o->metrics == ":9153");
    CHECK(o->health == ":8080");  // the main block has none: the stub's serves
    CHECK(o->lameduck_seconds == 7);
    CHECK(refusal(".:53 {\n kubernetes cluster.local\n prometheus :9153\n}\n"
                  "consul.local {\n forward . 10.0.0.1\n prometheus :9253\n}\n")
              .starts_with("Corefile:7: \"prometheus\": prometheus here names another address"));
}

TEST_CASE("corefile translation: a root block without kubernetes forwards only") {
    auto o = translate(
        ".:53 {\n forward . 10.0.0.1\n cache\n}\nexample.com {\n forward . "
        "10.0.0.2\n}\n");
    REQUIRE(o);
    CHECK(o->node_local);
    CHECK(o->upstreams == Strings{"10.0.0.1:53"});
    CHECK(o->stub_domains == Strings{"example.com=10.0.0.2:53"});
    CHECK(o->cache_success_ttl == 3600);
}

TEST_CASE("corefile translation: refusals name the file, the line and the reason") {
    const std::string head = ".:53 {\n kubernetes cluster.local\n";
    CHECK(refusal(head + " whoami\n}\n").starts_with("Corefile:3: \"whoami\": unknown plugin"));
    CHECK(refusal(head + " cache {\n  keepttl\n }\n}\n")
              .starts_with("Corefile:4: \"keepttl\": unknown option of cache"));
    CHECK(refusal(head + " cache thirty\n}\n")
              .starts_with("Corefile:3: \"thirty\": expected a number"));
    CHECK(refusal(head + "}\nother.local {\n kubernetes other.local\n forward . 1.1.1.1\n}\n")
              .starts_with("Corefile:5: \"kubernetes\": a second kubernetes block"));
    CHECK(refusal(head + "}\nconsul.local:5353 {\n forward . 10.0.0.1\n}\n")
              .starts_with("Corefile:4: \"consul.local:5353\": a block on port 5353"));
    CHECK(refusal(head + "}\nconsul.local {\n hosts {\n  10.0.0.1 a.consul.local\n }\n "
                         "forward . 10.0.0.1\n}\n")
              .starts_with("Corefile:5: \"hosts\": hosts in a block for other zones"));
    CHECK(refusal(head + "}\nconsul.local {\n errors\n}\n")
              .starts_with("Corefile:4: \"consul.local\": a block for other zones than the main "
                           "one needs forward"));
    CHECK(refusal(".:53 {\n kubernetes cluster.local {\n  noendpoints now\n }\n}\n")
              .starts_with("Corefile:3: \"now\": expected noendpoints with no argument"));
    CHECK(refusal(".:53 {\n kubernetes cluster.local {\n  fallthrough\n }\n}\n")
              .starts_with("Corefile:3: \"fallthrough\": fallthrough for every zone"));
    CHECK(refusal(".:53 {\n kubernetes cluster.local {\n  ttl 4000\n }\n}\n")
              .starts_with("Corefile:3: \"4000\": ttl: \"4000\" is not a number from 0 to 3600"));
    CHECK(refusal(".:53 {\n kubernetes cluster.local {\n  pods maybe\n }\n}\n")
              .starts_with("Corefile:3: \"maybe\": pods:"));
    CHECK(refusal(head + " forward . 10.0.0.1 {\n  policy fastest\n }\n}\n")
              .starts_with("Corefile:4: \"fastest\": policy:"));
    CHECK(refusal(head + " forward . tls://10.0.0.1\n}\n")
              .starts_with("Corefile:3: \"tls://10.0.0.1\": only plain DNS"));
    CHECK(refusal(head + " forward . 10.0.0.1 {\n  next NXDOMAIN\n }\n}\n")
              .starts_with("Corefile:4: \"next\": unknown option of forward"));
    CHECK(refusal(head + " health {\n  lameduck soon\n }\n}\n")
              .starts_with("Corefile:4: \"soon\": \"soon\" is not a duration"));
    CHECK(refusal(head + " errors\n errors\n}\n")
              .starts_with("Corefile:4: \"errors\": errors is given twice"));
    CHECK(refusal("tls://.:853 {\n forward . 10.0.0.1\n}\n")
              .starts_with("Corefile:1: \"tls://.:853\": tls:// server blocks"));
    CHECK(refusal(".:53 {\n kubernetes\n}\n")
              .starts_with("Corefile:1: \".:53\": kubernetes for the root zone"));
    CHECK(refusal(".:53 {\n kubernetes a.local b.local\n}\n")
              .starts_with("Corefile:2: \"b.local\": a second cluster domain"));
    CHECK(refusal(head + " loadbalance weighted /w\n}\n")
              .starts_with("Corefile:3: \"/w\": loadbalance round_robin is the one policy"));
    CHECK(refusal(head + " hosts {\n  nonsense here\n }\n}\n")
              .starts_with("Corefile:4: \"nonsense\": unknown option of hosts"));
}

TEST_CASE("corefile translation: Go durations") {
    CHECK(*parse_go_duration("5s") == 5000);
    CHECK(*parse_go_duration("1m30s") == 90000);
    CHECK(*parse_go_duration("250ms") == 250);
    CHECK(*parse_go_duration("1.5h") == 5400000);
    CHECK(*parse_go_duration("0") == 0);
    CHECK_FALSE(parse_go_duration("5"));
    CHECK_FALSE(parse_go_duration("s"));
    CHECK_FALSE(parse_go_duration("5d"));
    CHECK_FALSE(parse_go_duration(""));
    CHECK_FALSE(parse_go_duration("99999999999999999h"));
}

}  // namespace
}  // namespace clusterdns
