#!/usr/bin/env python3
"""Generate a synthetic Kubernetes cluster for the clusterdns benchmark.

Python 3 standard library only.  Output directory layout:

  OUT/manifests/namespaces.yaml      all Namespace objects (multi-document)
  OUT/manifests/<ns>.yaml            Services + EndpointSlices of one namespace
  OUT/zones/cluster.local.zone       equivalent zone file (knot / any RFC 1035 server)
  OUT/zones/10.in-addr.arpa.zone     equivalent reverse zone (PTR for ClusterIPs and endpoints)
  OUT/queries.txt                    dnsperf query file ("name TYPE" per line)
  OUT/expected.txt                   a few known names + expected answers (sanity checks)
  OUT/meta.json                      counts and parameters

Service mix (deterministic for a given --seed): ~80% ClusterIP with two named
ports (http/TCP 80, grpc/TCP 9090), ~10% headless (clusterIP: None) backed by an
EndpointSlice with 3 ready endpoints (hostname <svc>-0..2, ports http/TCP 8080
and metrics/TCP 9100), ~10% ExternalName.

DNS data follows /work/notes/CONTRACT.md (TTL 30, SRV "0 W port target",
SRV on the bare service name lists every named port, headless endpoints get
<hostname>.<svc>.<ns>.svc.<zone>).  The SRV weight W is CoreDNS's
max(1, 100 // records-in-the-RRset), i.e. 100 for _port._proto of a ClusterIP
service, 50 on its bare name, 33 / 16 for headless ones (--srv-weight 100 for flat 100).
"""

import argparse
import ipaddress
import json
import os
import random
import sys
import time
import uuid

ZONE = "cluster.local"
TTL = 30
CLUSTER_NET = ipaddress.ip_network("10.96.0.0/12")
POD_NET = ipaddress.ip_network("10.244.0.0/14")   # 10.244.0.0 - 10.247.255.255
DNS_SVC_IP = "10.96.0.10"                          # kube-dns, used for ns.dns.<zone>
CLUSTERIP_PORTS = (("http", "TCP", 80, 8080), ("grpc", "TCP", 9090, 9090))
HEADLESS_PORTS = (("http", "TCP", 8080), ("metrics", "TCP", 9100))
ENDPOINTS_PER_HEADLESS = 3
EXTERNAL_DOMAINS = ("example.com", "example.net", "example.org", "corp.example")
NODES = 50

# Query mix: (kind, weight).  Weights are percentages.
QUERY_MIX = (
    ("a_clusterip", 55),     # A  <svc>.<ns>.svc.cluster.local (ClusterIP)
    ("aaaa_clusterip", 5),   # AAAA on an IPv4-only service -> NOERROR/NODATA
    ("srv_port", 10),        # SRV _http._tcp.<svc>... / _grpc._tcp.<svc>...
    ("srv_bare", 2),         # SRV <svc>.<ns>.svc... (all named ports)
    ("a_headless", 8),       # A  <headless>.<ns>.svc... (3 endpoint addresses)
    ("a_endpoint", 4),       # A  <svc>-1.<headless>.<ns>.svc...
    ("srv_headless", 4),     # SRV _http._tcp.<headless>... (3 targets)
    ("externalname", 6),     # A on an ExternalName -> CNAME (target outside zone)
    ("nxdomain", 6),         # names that do not exist inside cluster.local
)

# A few realistic words to make service names a bit less uniform.
WORDS = ("api", "web", "auth", "cart", "pay", "user", "search", "cache", "db",
         "queue", "mail", "img", "feed", "geo", "ads", "log", "metrics", "gw")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--services", "-n", type=int, default=10000,
                   help="total number of Services (default 10000)")
    p.add_argument("--namespaces", type=int, default=100,
                   help="number of namespaces (default 100)")
    p.add_argument("--queries", type=int, default=100000,
                   help="lines in the dnsperf query file (default 100000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--headless-pct", type=float, default=10.0)
    p.add_argument("--externalname-pct", type=float, default=10.0)
    p.add_argument("--srv-weight", choices=("split", "100"), default="split",
                   help="SRV weight in the zone file: 'split' = max(1, 100 // records in the "
                        "RRset) like CoreDNS/clusterdns (default), '100' = always 100")
    p.add_argument("--no-reverse", action="store_true",
                   help="do not write the 10.in-addr.arpa reverse zone")
    p.add_argument("--out", "-o", required=True, help="output directory")
    a = p.parse_args(argv)
    if a.services < 1 or a.namespaces < 1:
        p.error("--services and --namespaces must be >= 1")
    return a


def det_uid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ip_list(net, count, rng, reserved_low):
    """`count` unique random host addresses from `net` (as strings), skipping the
    first `reserved_low` addresses and any address ending in .0 or .255."""
    base = int(net.network_address)
    size = net.num_addresses
    out = []
    seen = set()
    # Oversample: ~0.8% of candidates end in .0/.255.
    while len(out) < count:
        need = count - len(out)
        for off in rng.sample(range(reserved_low, size - 1), min(size - 1 - reserved_low, need + need // 50 + 16)):
            if off in seen or (off & 0xFF) in (0, 255):
                continue
            seen.add(off)
            out.append(str(ipaddress.IPv4Address(base + off)))
            if len(out) == count:
                break
    return out


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    rng = random.Random(a.seed)
    nns = a.namespaces
    nsvc = a.services

    # ---- model -------------------------------------------------------------
    namespaces = ["ns-%03d-%s" % (i, WORDS[i % len(WORDS)]) for i in range(nns)]

    # Service type per index: exact proportions, shuffled deterministically.
    n_head = int(round(nsvc * a.headless_pct / 100.0))
    n_ext = int(round(nsvc * a.externalname_pct / 100.0))
    n_cip = nsvc - n_head - n_ext
    if n_cip < 0:
        sys.exit("headless-pct + externalname-pct > 100")
    kinds = ["c"] * n_cip + ["h"] * n_head + ["e"] * n_ext
    rng.shuffle(kinds)

    cluster_ips = iter(ip_list(CLUSTER_NET, n_cip, rng, reserved_low=16))
    pod_ips = iter(ip_list(POD_NET, n_head * ENDPOINTS_PER_HEADLESS, rng, reserved_low=2))

    # services[i] = (ns, name, kind, data)
    #   kind c: data = cluster_ip ; h: data = [(hostname, ip, node)] ; e: data = external name
    services = []
    per_ns = [[] for _ in range(nns)]
    for i in range(nsvc):
        ns_idx = i % nns
        ns = namespaces[ns_idx]
        name = "%s-%s" % (WORDS[rng.randrange(len(WORDS))], format(i, "05d"))
        k = kinds[i]
        if k == "c":
            data = next(cluster_ips)
        elif k == "h":
            data = [("%s-%d" % (name, j), next(pod_ips), "node-%02d" % rng.randrange(NODES))
                    for j in range(ENDPOINTS_PER_HEADLESS)]
        else:
            data = "%s.%s" % (name, EXTERNAL_DOMAINS[rng.randrange(len(EXTERNAL_DOMAINS))])
        s = (ns, name, k, data)
        services.append(s)
        per_ns[ns_idx].append(s)

    # ---- manifests ---------------------------------------------------------
    mdir = os.path.join(a.out, "manifests")
    zdir = os.path.join(a.out, "zones")
    os.makedirs(mdir, exist_ok=True)
    os.makedirs(zdir, exist_ok=True)
    ts = "2024-01-15T10:00:00Z"

    with open(os.path.join(mdir, "namespaces.yaml"), "w") as f:
        docs = []
        for ns in namespaces:
            docs.append(
                "apiVersion: v1\n"
                "kind: Namespace\n"
                "metadata:\n"
                "  name: %s\n"
                "  uid: %s\n"
                "  creationTimestamp: \"%s\"\n"
                "  labels:\n"
                "    kubernetes.io/metadata.name: %s\n"
                "spec:\n"
                "  finalizers:\n"
                "  - kubernetes\n"
                "status:\n"
                "  phase: Active\n" % (ns, det_uid(rng), ts, ns))
        f.write("---\n".join(docs))

    rv = 100000
    for ns_idx, ns in enumerate(namespaces):
        docs = []
        for (_, name, k, data) in per_ns[ns_idx]:
            rv += 1
            meta = ("metadata:\n"
                    "  name: %s\n"
                    "  namespace: %s\n"
                    "  uid: %s\n"
                    "  resourceVersion: \"%d\"\n"
                    "  creationTimestamp: \"%s\"\n"
                    "  labels:\n"
                    "    app.kubernetes.io/name: %s\n"
                    "    app.kubernetes.io/part-of: %s\n"
                    "  annotations:\n"
                    "    bench.clusterdns/generated: \"true\"\n"
                    % (name, ns, det_uid(rng), rv, ts, name, ns))
            if k == "c":
                ports = "".join(
                    "  - name: %s\n"
                    "    protocol: %s\n"
                    "    port: %d\n"
                    "    targetPort: %d\n" % p for p in CLUSTERIP_PORTS)
                docs.append(
                    "apiVersion: v1\nkind: Service\n" + meta +
                    "spec:\n"
                    "  type: ClusterIP\n"
                    "  clusterIP: %s\n"
                    "  clusterIPs:\n"
                    "  - %s\n"
                    "  internalTrafficPolicy: Cluster\n"
                    "  ipFamilies:\n"
                    "  - IPv4\n"
                    "  ipFamilyPolicy: SingleStack\n"
                    "  ports:\n%s"
                    "  selector:\n"
                    "    app.kubernetes.io/name: %s\n"
                    "  sessionAffinity: None\n"
                    "status:\n"
                    "  loadBalancer: {}\n" % (data, data, ports, name))
            elif k == "h":
                sports = "".join(
                    "  - name: %s\n"
                    "    protocol: %s\n"
                    "    port: %d\n"
                    "    targetPort: %d\n" % (pn, pr, po, po) for (pn, pr, po) in HEADLESS_PORTS)
                docs.append(
                    "apiVersion: v1\nkind: Service\n" + meta +
                    "spec:\n"
                    "  type: ClusterIP\n"
                    "  clusterIP: None\n"
                    "  clusterIPs:\n"
                    "  - None\n"
                    "  ipFamilies:\n"
                    "  - IPv4\n"
                    "  ipFamilyPolicy: SingleStack\n"
                    "  ports:\n%s"
                    "  selector:\n"
                    "    app.kubernetes.io/name: %s\n"
                    "  sessionAffinity: None\n"
                    "status:\n"
                    "  loadBalancer: {}\n" % (sports, name))
                rv += 1
                eps = "".join(
                    "- addresses:\n"
                    "  - %s\n"
                    "  conditions:\n"
                    "    ready: true\n"
                    "    serving: true\n"
                    "    terminating: false\n"
                    "  hostname: %s\n"
                    "  nodeName: %s\n"
                    "  targetRef:\n"
                    "    kind: Pod\n"
                    "    name: %s\n"
                    "    namespace: %s\n"
                    "    uid: %s\n" % (ip, host, node, host, ns, det_uid(rng))
                    for (host, ip, node) in data)
                eports = "".join(
                    "- name: %s\n"
                    "  protocol: %s\n"
                    "  port: %d\n" % p for p in HEADLESS_PORTS)
                docs.append(
                    "apiVersion: discovery.k8s.io/v1\n"
                    "kind: EndpointSlice\n"
                    "metadata:\n"
                    "  name: %s-%s\n"
                    "  namespace: %s\n"
                    "  uid: %s\n"
                    "  resourceVersion: \"%d\"\n"
                    "  creationTimestamp: \"%s\"\n"
                    "  generateName: %s-\n"
                    "  labels:\n"
                    "    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n"
                    "    kubernetes.io/service-name: %s\n"
                    "    service.kubernetes.io/headless: \"\"\n"
                    "  ownerReferences:\n"
                    "  - apiVersion: v1\n"
                    "    kind: Service\n"
                    "    name: %s\n"
                    "    blockOwnerDeletion: true\n"
                    "    controller: true\n"
                    "    uid: %s\n"
                    "addressType: IPv4\n"
                    "endpoints:\n%s"
                    "ports:\n%s"
                    % (name, format(rng.getrandbits(20), "05x"), ns, det_uid(rng), rv, ts,
                       name, name, name, det_uid(rng), eps, eports))
            else:
                docs.append(
                    "apiVersion: v1\nkind: Service\n" + meta +
                    "spec:\n"
                    "  type: ExternalName\n"
                    "  externalName: %s\n"
                    "  sessionAffinity: None\n"
                    "status:\n"
                    "  loadBalancer: {}\n" % data)
        with open(os.path.join(mdir, "%s.yaml" % ns), "w") as f:
            f.write("---\n".join(docs))

    # ---- zone file ---------------------------------------------------------
    z = []
    w = z.append
    w("$ORIGIN %s.\n$TTL %d\n" % (ZONE, TTL))
    w("@\tIN\tSOA\tns.dns.%s. hostmaster.%s. 1 7200 1800 86400 %d\n" % (ZONE, ZONE, TTL))
    w("@\tIN\tNS\tns.dns.%s.\n" % ZONE)
    w("ns.dns\tIN\tA\t%s\n" % DNS_SVC_IP)
    w("dns-version\tIN\tTXT\t\"1.1.0\"\n")
    ptr = []   # (ip, fqdn)
    def weight(n):
        # CoreDNS (and clusterdns) split the weight over the records of one SRV RRset:
        # max(1, 100 // n).  --srv-weight 100 writes a flat "0 100" everywhere instead.
        return 100 if a.srv_weight == "100" else max(1, 100 // n)

    n_cports = len(CLUSTERIP_PORTS)
    n_hsrv = ENDPOINTS_PER_HEADLESS            # per _port._proto owner
    n_hbare = ENDPOINTS_PER_HEADLESS * len(HEADLESS_PORTS)
    for (ns, name, k, data) in services:
        owner = "%s.%s.svc" % (name, ns)
        fq = "%s.%s." % (owner, ZONE)
        if k == "c":
            w("%s\tIN\tA\t%s\n" % (owner, data))
            for (pn, pr, po, _tp) in CLUSTERIP_PORTS:
                w("_%s._%s.%s\tIN\tSRV\t0 %d %d %s\n" % (pn, pr.lower(), owner, weight(1), po, fq))
            for (pn, pr, po, _tp) in CLUSTERIP_PORTS:
                w("%s\tIN\tSRV\t0 %d %d %s\n" % (owner, weight(n_cports), po, fq))
            ptr.append((data, fq))
        elif k == "h":
            for (host, ip, _node) in data:
                w("%s\tIN\tA\t%s\n" % (owner, ip))
            for (host, ip, _node) in data:
                w("%s.%s\tIN\tA\t%s\n" % (host, owner, ip))
                ptr.append((ip, "%s.%s" % (host, fq)))
            for (pn, pr, po) in HEADLESS_PORTS:
                for (host, ip, _node) in data:
                    w("_%s._%s.%s\tIN\tSRV\t0 %d %d %s.%s\n"
                      % (pn, pr.lower(), owner, weight(n_hsrv), po, host, fq))
            for (pn, pr, po) in HEADLESS_PORTS:
                for (host, ip, _node) in data:
                    w("%s\tIN\tSRV\t0 %d %d %s.%s\n" % (owner, weight(n_hbare), po, host, fq))
        else:
            w("%s\tIN\tCNAME\t%s.\n" % (owner, data))
    with open(os.path.join(zdir, "%s.zone" % ZONE), "w") as f:
        f.write("".join(z))
    del z

    if not a.no_reverse:
        rz = ["$ORIGIN 10.in-addr.arpa.\n$TTL %d\n" % TTL,
              "@\tIN\tSOA\tns.dns.%s. hostmaster.%s. 1 7200 1800 86400 %d\n" % (ZONE, ZONE, TTL),
              "@\tIN\tNS\tns.dns.%s.\n" % ZONE]
        for ip, fq in ptr:
            o = ip.split(".")
            rz.append("%s.%s.%s\tIN\tPTR\t%s\n" % (o[3], o[2], o[1], fq))
        with open(os.path.join(zdir, "10.in-addr.arpa.zone"), "w") as f:
            f.write("".join(rz))

    # ---- queries -----------------------------------------------------------
    by_kind = {"c": [], "h": [], "e": []}
    for s in services:
        by_kind[s[2]].append(s)
    # Fall back to ClusterIP if a kind is empty (tiny clusters).
    for kk in ("h", "e"):
        if not by_kind[kk]:
            by_kind[kk] = by_kind["c"] or by_kind["h"] or by_kind["e"]
    if not by_kind["c"]:
        by_kind["c"] = by_kind["h"] or by_kind["e"]

    def fqdn(s):
        return "%s.%s.svc.%s" % (s[1], s[0], ZONE)

    qrng = random.Random(a.seed + 1)
    kinds_q = [k for k, _ in QUERY_MIX]
    weights_q = [wt for _, wt in QUERY_MIX]
    lines = []
    counts = dict((k, 0) for k in kinds_q)
    for kq in qrng.choices(kinds_q, weights=weights_q, k=a.queries):
        counts[kq] += 1
        if kq == "a_clusterip":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "aaaa_clusterip":
            lines.append("%s AAAA" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "srv_port":
            s = qrng.choice(by_kind["c"])
            pn = CLUSTERIP_PORTS[qrng.randrange(len(CLUSTERIP_PORTS))][0]
            lines.append("_%s._tcp.%s SRV" % (pn, fqdn(s)))
        elif kq == "srv_bare":
            lines.append("%s SRV" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "a_headless":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["h"])))
        elif kq == "a_endpoint":
            s = qrng.choice(by_kind["h"])
            host = ("%s-%d" % (s[1], qrng.randrange(ENDPOINTS_PER_HEADLESS))) if s[2] == "h" else "x"
            lines.append("%s.%s A" % (host, fqdn(s)))
        elif kq == "srv_headless":
            lines.append("_http._tcp.%s SRV" % fqdn(qrng.choice(by_kind["h"])))
        elif kq == "externalname":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["e"])))
        else:  # nxdomain, three flavours
            r = qrng.randrange(3)
            s = qrng.choice(services)
            if r == 0:    # unknown service in a known namespace
                lines.append("nosuch-%05d.%s.svc.%s A" % (qrng.randrange(100000), s[0], ZONE))
            elif r == 1:  # search-path expansion garbage (ndots:5)
                lines.append("%s.%s.svc.%s A" % (fqdn(s), s[0], ZONE))
            else:         # unknown namespace
                lines.append("%s.nosuch-ns-%03d.svc.%s A" % (s[1], qrng.randrange(1000), ZONE))
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        f.write("\n".join(lines))
        f.write("\n")

    # ---- expected answers for sanity checks ------------------------------
    exp = []
    c = by_kind["c"][0]
    exp.append("%s A %s" % (fqdn(c), c[3]))
    exp.append("_http._tcp.%s SRV 0 100 %d %s." % (fqdn(c), CLUSTERIP_PORTS[0][2], fqdn(c)))
    if not a.no_reverse and c[2] == "c":
        exp.append("%s.in-addr.arpa PTR %s." % (".".join(reversed(c[3].split("."))), fqdn(c)))
    h = by_kind["h"][0]
    if h[2] == "h":
        exp.append("%s A %s" % (fqdn(h), " ".join(sorted(ip for _, ip, _ in h[3]))))
        exp.append("%s.%s A %s" % (h[3][0][0], fqdn(h), h[3][0][1]))
    e = by_kind["e"][0]
    if e[2] == "e":
        exp.append("%s CNAME %s." % (fqdn(e), e[3]))
    with open(os.path.join(a.out, "expected.txt"), "w") as f:
        f.write("\n".join(exp) + "\n")

    meta = {
        "services": nsvc, "namespaces": nns, "clusterip": n_cip, "headless": n_head,
        "externalname": n_ext, "endpoints": n_head * ENDPOINTS_PER_HEADLESS,
        "queries": a.queries, "query_mix": counts, "seed": a.seed, "zone": ZONE,
        "reverse_zone": not a.no_reverse,
        "sample_clusterip": fqdn(c), "sample_clusterip_ip": c[3] if c[2] == "c" else None,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("gen_cluster: %d services (%d ClusterIP, %d headless, %d ExternalName) in %d namespaces, "
          "%d queries -> %s (%.1fs)" % (nsvc, n_cip, n_head, n_ext, nns, a.queries, a.out, time.time() - t0),
          file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
