#!/usr/bin/env python3
"""Generate a synthetic Kubernetes cluster for the clusterdns benchmark.

Python 3 standard library only.  Output directory layout:

  OUT/manifests/namespaces.yaml      all Namespace objects (multi-document)
  OUT/manifests/<ns>.yaml            Services + EndpointSlices of one namespace
  OUT/zones/cluster.local.zone       equivalent zone file (knot / any RFC 1035 server)
  OUT/zones/10.in-addr.arpa.zone     equivalent reverse zone (PTR for ClusterIPs and endpoints)
  OUT/queries.txt                    dnsperf query file ("name TYPE" per line): the mixed set
  OUT/queries-internal.txt           the same lines less PTR and NXDOMAIN: the internal set,
                                     names of Services and endpoints that exist
  OUT/check.txt                      every name and type of a sample of Services, for
                                     `dnscheck.py record` against both servers + `diff`
  OUT/expected.txt                   a few known names + expected answers (sanity checks)
  OUT/meta.json                      counts and parameters

Two shapes (deterministic for a given --seed):

--shape classic (default): ~80% ClusterIP with two named ports (http/TCP 80, grpc/TCP
  9090) and no endpoints, ~10% headless (clusterIP: None) backed by an EndpointSlice with
  3 ready endpoints (hostname <svc>-0..2, ports http/TCP 8080 and metrics/TCP 9100),
  ~10% ExternalName.

--shape real: 80% ClusterIP with 1-3 named ports drawn from PORT_POOL and an
  EndpointSlice of 1-3 ready endpoints without hostname (named by their dashed address),
  15% headless with 1-3 named ports and 3 ready endpoints, 40% of these endpoints with a
  hostname (whole StatefulSet-like Services: <svc>-0..2), 5% ExternalName.  Every
  endpoint has a unique pod IP from 10.128.0.0/10, a nodeName and a targetRef to its Pod.

The zone files hold every record clusterdns derives from these objects (README.md, "What
it answers"; zone/answer.cc): A of the ClusterIP; SRV "0 W port <svc>" on
_<port>._<proto>.<svc> and on the bare name for every port, A of the ClusterIP on the
_<port>._<proto> names too; for every endpoint of any Service an A at
<hostname-or-dashed-ip>.<svc>.<ns>.svc; for headless Services A of every endpoint on the
name, SRV to each endpoint name with the EndpointSlice's port numbers, and A of the
endpoints on the _<port>._<proto> names; PTR of every ClusterIP to its Service and of every
endpoint address to its endpoint name; CNAME for ExternalName.  TTL 30.  The SRV weight W
is CoreDNS's max(1, 100 // records-in-the-RRset) (--srv-weight 100 for a flat 100).
Not in the zone files: pod names (a-b-c-d.<ns>.pod, synthesized by clusterdns) and the
empty <ns>.svc names of namespaces without Services.
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
POD_NET = ipaddress.ip_network("10.244.0.0/14")   # classic: 10.244.0.0 - 10.247.255.255
REAL_POD_NET = ipaddress.ip_network("10.128.0.0/10")  # real: 10.128.0.0 - 10.191.255.255
DNS_SVC_IP = "10.96.0.10"                          # kube-dns, used for ns.dns.<zone>
# (name, protocol, port, targetPort)
CLUSTERIP_PORTS = (("http", "TCP", 80, 8080), ("grpc", "TCP", 9090, 9090))
HEADLESS_PORTS = (("http", "TCP", 8080, 8080), ("metrics", "TCP", 9100, 9100))
# real shape: a Service takes 1-3 of these (distinct port and targetPort numbers, so that no
# two SRV records of one Service collapse into one)
PORT_POOL = (("http", "TCP", 80, 8080), ("grpc", "TCP", 9090, 9091), ("metrics", "TCP", 9100, 9102),
             ("https", "TCP", 443, 8443), ("syslog", "UDP", 514, 5514))
ENDPOINTS_PER_HEADLESS = 3
EXTERNAL_DOMAINS = ("example.com", "example.net", "example.org", "corp.example")
NODES = 50
POD_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # what Kubernetes uses in generated names

SHAPES = {
    # headless %, ExternalName %, ClusterIP ports, ClusterIP endpoints, headless hostname %
    "classic": {"headless_pct": 10.0, "externalname_pct": 10.0},
    "real": {"headless_pct": 15.0, "externalname_pct": 5.0, "hostname_pct": 40.0},
}

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
QUERY_MIX_REAL = (
    ("a_clusterip", 50),
    ("aaaa_clusterip", 5),
    ("srv_port", 10),        # SRV on one of the Service's named ports
    ("srv_bare", 2),
    ("a_headless", 8),
    ("a_endpoint", 4),       # A <hostname or dashed ip>.<headless>...
    ("a_cip_endpoint", 2),   # A <dashed ip>.<clusterip svc>...
    ("srv_headless", 4),     # SRV _<port>._<proto>.<headless>... (3 targets)
    ("externalname", 4),
    ("ptr", 5),              # PTR of a ClusterIP (60%) or an endpoint address (40%)
    ("nxdomain", 6),
)

# The internal set: queries for the names of Services, their ports and endpoints, that exist.
# The mixed set (queries.txt) is every query, reverse names and NXDOMAIN included.
INTERNAL_KINDS = ("a_clusterip", "aaaa_clusterip", "srv_port", "srv_bare", "a_headless",
                  "a_endpoint", "a_cip_endpoint", "srv_headless", "externalname")

# A few realistic words to make service names a bit less uniform.
WORDS = ("api", "web", "auth", "cart", "pay", "user", "search", "cache", "db",
         "queue", "mail", "img", "feed", "geo", "ads", "log", "metrics", "gw")


class Svc:
    """One Service and what DNS sees of it.

    kind: "c" ClusterIP, "h" headless, "e" ExternalName.  ports: (name, protocol, port,
    targetPort); the EndpointSlice's ports are (name, protocol, targetPort).  eps:
    (ip, hostname or None, nodeName, pod name)."""
    __slots__ = ("ns", "name", "kind", "cip", "ports", "eps", "ext")

    def __init__(self, ns, name, kind, cip=None, ports=(), eps=(), ext=None):
        self.ns, self.name, self.kind = ns, name, kind
        self.cip, self.ports, self.eps, self.ext = cip, list(ports), list(eps), ext


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--services", "-n", type=int, default=10000,
                   help="total number of Services (default 10000)")
    p.add_argument("--shape", choices=sorted(SHAPES), default="classic",
                   help="cluster shape (default classic; see above)")
    p.add_argument("--namespaces", type=int, default=100,
                   help="number of namespaces (default 100)")
    p.add_argument("--queries", type=int, default=100000,
                   help="lines in the dnsperf query file (default 100000)")
    p.add_argument("--check-services", type=int, default=200,
                   help="Services whose every name goes into check.txt (default 200)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--headless-pct", type=float, default=None,
                   help="headless Services in %% (default: 10 classic, 15 real)")
    p.add_argument("--externalname-pct", type=float, default=None,
                   help="ExternalName Services in %% (default: 10 classic, 5 real)")
    p.add_argument("--srv-weight", choices=("split", "100"), default="split",
                   help="SRV weight in the zone file: 'split' = max(1, 100 // records in the "
                        "RRset) like CoreDNS/clusterdns (default), '100' = always 100")
    p.add_argument("--no-reverse", action="store_true",
                   help="do not write the 10.in-addr.arpa reverse zone")
    p.add_argument("--out", "-o", required=True, help="output directory")
    a = p.parse_args(argv)
    if a.services < 1 or a.namespaces < 1:
        p.error("--services and --namespaces must be >= 1")
    if a.headless_pct is None:
        a.headless_pct = SHAPES[a.shape]["headless_pct"]
    if a.externalname_pct is None:
        a.externalname_pct = SHAPES[a.shape]["externalname_pct"]
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


def service_kinds(a, rng):
    n_head = int(round(a.services * a.headless_pct / 100.0))
    n_ext = int(round(a.services * a.externalname_pct / 100.0))
    n_cip = a.services - n_head - n_ext
    if n_cip < 0:
        sys.exit("headless-pct + externalname-pct > 100")
    kinds = ["c"] * n_cip + ["h"] * n_head + ["e"] * n_ext
    rng.shuffle(kinds)
    return kinds, n_cip, n_head


def model_classic(a, rng, namespaces):
    kinds, n_cip, n_head = service_kinds(a, rng)
    cluster_ips = iter(ip_list(CLUSTER_NET, n_cip, rng, reserved_low=16))
    pod_ips = iter(ip_list(POD_NET, n_head * ENDPOINTS_PER_HEADLESS, rng, reserved_low=2))
    services = []
    for i in range(a.services):
        ns = namespaces[i % len(namespaces)]
        name = "%s-%s" % (WORDS[rng.randrange(len(WORDS))], format(i, "05d"))
        k = kinds[i]
        if k == "c":
            services.append(Svc(ns, name, k, cip=next(cluster_ips), ports=CLUSTERIP_PORTS))
        elif k == "h":
            eps = []
            for j in range(ENDPOINTS_PER_HEADLESS):
                host = "%s-%d" % (name, j)
                eps.append((next(pod_ips), host, "node-%02d" % rng.randrange(NODES), host))
            services.append(Svc(ns, name, k, ports=HEADLESS_PORTS, eps=eps))
        else:
            ext = "%s.%s" % (name, EXTERNAL_DOMAINS[rng.randrange(len(EXTERNAL_DOMAINS))])
            services.append(Svc(ns, name, k, ext=ext))
    return services


def model_real(a, rng, namespaces):
    kinds, n_cip, n_head = service_kinds(a, rng)
    n_sts = int(round(n_head * SHAPES["real"]["hostname_pct"] / 100.0))
    sts = [True] * n_sts + [False] * (n_head - n_sts)   # headless Services with hostnames
    rng.shuffle(sts)
    sts = iter(sts)

    def gen_name(n):
        return "".join(rng.choice(POD_SUFFIX_CHARS) for _ in range(n))

    # First the shape of every Service, then the addresses (all unique).
    plan = []
    n_eps = 0
    for i in range(a.services):
        k = kinds[i]
        name = "%s-%s" % (WORDS[rng.randrange(len(WORDS))], format(i, "05d"))
        if k == "e":
            plan.append((k, name, None, 0, False))
            continue
        ports = sorted(rng.sample(range(len(PORT_POOL)), rng.randint(1, 3)))
        neps = rng.randint(1, 3) if k == "c" else ENDPOINTS_PER_HEADLESS
        plan.append((k, name, [PORT_POOL[p] for p in ports], neps, k == "h" and next(sts)))
        n_eps += neps
    cluster_ips = iter(ip_list(CLUSTER_NET, n_cip, rng, reserved_low=16))
    pod_ips = iter(ip_list(REAL_POD_NET, n_eps, rng, reserved_low=2))
    nodes = max(NODES, n_eps // 50)
    services = []
    for i, (k, name, ports, neps, with_hostnames) in enumerate(plan):
        ns = namespaces[i % len(namespaces)]
        if k == "e":
            ext = "%s.%s" % (name, EXTERNAL_DOMAINS[rng.randrange(len(EXTERNAL_DOMAINS))])
            services.append(Svc(ns, name, k, ext=ext))
            continue
        replica_set = gen_name(10)
        eps = []
        for j in range(neps):
            if with_hostnames:
                host = pod = "%s-%d" % (name, j)
            else:
                host, pod = None, "%s-%s-%s" % (name, replica_set, gen_name(5))
            eps.append((next(pod_ips), host, "node-%04d" % rng.randrange(nodes), pod))
        services.append(Svc(ns, name, k, cip=next(cluster_ips) if k == "c" else None,
                            ports=ports, eps=eps))
    return services


def endpoint_label(ep):
    return ep[1] if ep[1] else ep[0].replace(".", "-")


def service_records(s, srv_weight):
    """The records clusterdns serves for Service s, as zone/answer.cc synthesizes them:
    ([(owner relative to the zone, type, rdata)], [(ip, PTR target fqdn)])."""
    owner = "%s.%s.svc" % (s.name, s.ns)
    fq = "%s.%s." % (owner, ZONE)
    if s.kind == "e":
        return [(owner, "CNAME", s.ext + ".")], []
    rrs, ptrs, srv = [], [], []   # srv: (owner, port, target); weights need the RRset size
    ep_names = []
    for ep in s.eps:
        ename = "%s.%s" % (endpoint_label(ep), owner)
        rrs.append((ename, "A", ep[0]))
        ptrs.append((ep[0], "%s.%s." % (ename, ZONE)))
        ep_names.append((ename, ep[0]))
    if s.kind == "c":
        rrs.append((owner, "A", s.cip))
        ptrs.append((s.cip, fq))
        for (pn, pr, po, _tp) in s.ports:
            srv.append((owner, po, fq))
            pown = "_%s._%s.%s" % (pn, pr.lower(), owner)
            rrs.append((pown, "A", s.cip))
            srv.append((pown, po, fq))
    else:
        for (ename, ip) in ep_names:
            rrs.append((owner, "A", ip))
            for (pn, pr, _po, tp) in s.ports:   # the EndpointSlice's port: the targetPort
                srv.append((owner, tp, "%s.%s." % (ename, ZONE)))
                pown = "_%s._%s.%s" % (pn, pr.lower(), owner)
                rrs.append((pown, "A", ip))
                srv.append((pown, tp, "%s.%s." % (ename, ZONE)))
    count = {}
    for (o, _p, _t) in srv:
        count[o] = count.get(o, 0) + 1
    for (o, po, t) in srv:
        w = 100 if srv_weight == "100" else max(1, 100 // count[o])
        rrs.append((o, "SRV", "0 %d %d %s" % (w, po, t)))
    return rrs, ptrs


def reverse_name(ip):
    return "%s.in-addr.arpa" % ".".join(reversed(ip.split(".")))


def write_manifests(a, rng, namespaces, per_ns):
    mdir = os.path.join(a.out, "manifests")
    os.makedirs(mdir, exist_ok=True)
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
        for s in per_ns[ns_idx]:
            name = s.name
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
            ports = "".join(
                "  - name: %s\n"
                "    protocol: %s\n"
                "    port: %d\n"
                "    targetPort: %d\n" % p for p in s.ports)
            if s.kind == "c":
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
                    "  loadBalancer: {}\n" % (s.cip, s.cip, ports, name))
            elif s.kind == "h":
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
                    "  loadBalancer: {}\n" % (ports, name))
            else:
                docs.append(
                    "apiVersion: v1\nkind: Service\n" + meta +
                    "spec:\n"
                    "  type: ExternalName\n"
                    "  externalName: %s\n"
                    "  sessionAffinity: None\n"
                    "status:\n"
                    "  loadBalancer: {}\n" % s.ext)
            if not s.eps:
                continue
            rv += 1
            eps = "".join(
                "- addresses:\n"
                "  - %s\n"
                "  conditions:\n"
                "    ready: true\n"
                "    serving: true\n"
                "    terminating: false\n"
                "%s"
                "  nodeName: %s\n"
                "  targetRef:\n"
                "    kind: Pod\n"
                "    name: %s\n"
                "    namespace: %s\n"
                "    uid: %s\n" % (ip, ("  hostname: %s\n" % host) if host else "", node, pod, ns,
                                   det_uid(rng))
                for (ip, host, node, pod) in s.eps)
            eports = "".join(
                "- name: %s\n"
                "  protocol: %s\n"
                "  port: %d\n" % (pn, pr, tp) for (pn, pr, _po, tp) in s.ports)
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
                "%s"
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
                   name, name,
                   "    service.kubernetes.io/headless: \"\"\n" if s.kind == "h" else "",
                   name, det_uid(rng), eps, eports))
        with open(os.path.join(mdir, "%s.yaml" % ns), "w") as f:
            f.write("---\n".join(docs))


def write_zones(a, services, check_set):
    """Writes the zone files; returns (counts, check lines of the sampled Services)."""
    zdir = os.path.join(a.out, "zones")
    os.makedirs(zdir, exist_ok=True)
    z = []
    w = z.append
    w("$ORIGIN %s.\n$TTL %d\n" % (ZONE, TTL))
    w("@\tIN\tSOA\tns.dns.%s. hostmaster.%s. 1 7200 1800 86400 %d\n" % (ZONE, ZONE, TTL))
    w("@\tIN\tNS\tns.dns.%s.\n" % ZONE)
    w("ns.dns\tIN\tA\t%s\n" % DNS_SVC_IP)
    w("dns-version\tIN\tTXT\t\"1.1.0\"\n")
    ptr = []   # (ip, fqdn)
    fwd_rrs = 0
    owners = set()
    rrsets = set()
    check = []
    for i, s in enumerate(services):
        rrs, ptrs = service_records(s, a.srv_weight)
        for (o, t, rd) in rrs:
            w("%s\tIN\t%s\t%s\n" % (o, t, rd))
        fwd_rrs += len(rrs)
        for (o, t, _rd) in rrs:
            owners.add(o)
            rrsets.add((o, t))
        ptr.extend(ptrs)
        if i in check_set:
            seen = []
            for (o, t, _rd) in rrs:
                if (o, t) not in seen:
                    seen.append((o, t))
            for (o, t) in seen:
                check.append("%s.%s %s" % (o, ZONE, t))
            check.append("%s.%s.svc.%s AAAA" % (s.name, s.ns, ZONE))   # NODATA (or CNAME)
            check.append("nosuch.%s.%s.svc.%s A" % (s.name, s.ns, ZONE))   # NXDOMAIN
            if not a.no_reverse:
                for (ip, _t) in ptrs:
                    check.append("%s PTR" % reverse_name(ip))
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
    counts = {"forward_records": fwd_rrs, "forward_rrsets": len(rrsets),
              "forward_names": len(owners),
              "reverse_records": 0 if a.no_reverse else len(ptr),
              "reverse_names": 0 if a.no_reverse else len(set(ip for ip, _ in ptr))}
    return counts, check


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    rng = random.Random(a.seed)
    nns = a.namespaces
    nsvc = a.services

    # ---- model -------------------------------------------------------------
    namespaces = ["ns-%03d-%s" % (i, WORDS[i % len(WORDS)]) for i in range(nns)]
    services = (model_real if a.shape == "real" else model_classic)(a, rng, namespaces)
    per_ns = [[] for _ in range(nns)]
    for i, s in enumerate(services):
        per_ns[i % nns].append(s)

    # ---- manifests and zone files -------------------------------------------
    write_manifests(a, rng, namespaces, per_ns)
    crng = random.Random(a.seed + 2)
    check_set = set(crng.sample(range(nsvc), min(nsvc, max(0, a.check_services))))
    counts, check = write_zones(a, services, check_set)

    # ---- queries -----------------------------------------------------------
    by_kind = {"c": [], "h": [], "e": []}
    for s in services:
        by_kind[s.kind].append(s)
    # Fall back to ClusterIP if a kind is empty (tiny clusters).
    for kk in ("h", "e"):
        if not by_kind[kk]:
            by_kind[kk] = by_kind["c"] or by_kind["h"] or by_kind["e"]
    if not by_kind["c"]:
        by_kind["c"] = by_kind["h"] or by_kind["e"]

    def fqdn(s):
        return "%s.%s.svc.%s" % (s.name, s.ns, ZONE)

    qrng = random.Random(a.seed + 1)
    mix = QUERY_MIX_REAL if a.shape == "real" else QUERY_MIX
    kinds_q = [k for k, _ in mix]
    weights_q = [wt for _, wt in mix]
    lines = []
    internal = []
    counts_q = dict((k, 0) for k in kinds_q)
    real = a.shape == "real"
    for kq in qrng.choices(kinds_q, weights=weights_q, k=a.queries):
        counts_q[kq] += 1
        if kq == "a_clusterip":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "aaaa_clusterip":
            lines.append("%s AAAA" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "srv_port":
            s = qrng.choice(by_kind["c"])
            if real and s.ports:
                pn, pr = s.ports[qrng.randrange(len(s.ports))][:2]
                lines.append("_%s._%s.%s SRV" % (pn, pr.lower(), fqdn(s)))
            else:
                pn = CLUSTERIP_PORTS[qrng.randrange(len(CLUSTERIP_PORTS))][0]
                lines.append("_%s._tcp.%s SRV" % (pn, fqdn(s)))
        elif kq == "srv_bare":
            lines.append("%s SRV" % fqdn(qrng.choice(by_kind["c"])))
        elif kq == "a_headless":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["h"])))
        elif kq == "a_endpoint":
            s = qrng.choice(by_kind["h"])
            if real:
                host = endpoint_label(s.eps[qrng.randrange(len(s.eps))]) if s.eps else "x"
            else:
                host = ("%s-%d" % (s.name, qrng.randrange(ENDPOINTS_PER_HEADLESS))) if s.kind == "h" else "x"
            lines.append("%s.%s A" % (host, fqdn(s)))
        elif kq == "a_cip_endpoint":
            s = qrng.choice(by_kind["c"])
            host = endpoint_label(s.eps[qrng.randrange(len(s.eps))]) if s.eps else "x"
            lines.append("%s.%s A" % (host, fqdn(s)))
        elif kq == "srv_headless":
            s = qrng.choice(by_kind["h"])
            if real and s.ports:
                pn, pr = s.ports[qrng.randrange(len(s.ports))][:2]
                lines.append("_%s._%s.%s SRV" % (pn, pr.lower(), fqdn(s)))
            else:
                lines.append("_http._tcp.%s SRV" % fqdn(s))
        elif kq == "externalname":
            lines.append("%s A" % fqdn(qrng.choice(by_kind["e"])))
        elif kq == "ptr":
            if qrng.random() < 0.6 or not by_kind["h"][0].eps:
                s = qrng.choice(by_kind["c"])
                ip = s.cip if s.cip else (s.eps[0][0] if s.eps else "10.96.0.10")
            else:
                s = qrng.choice(by_kind["h"] if qrng.random() < 0.5 else by_kind["c"])
                ip = s.eps[qrng.randrange(len(s.eps))][0] if s.eps else (s.cip or "10.96.0.10")
            lines.append("%s PTR" % reverse_name(ip))
        else:  # nxdomain, three flavours
            r = qrng.randrange(3)
            s = qrng.choice(services)
            if r == 0:    # unknown service in a known namespace
                lines.append("nosuch-%05d.%s.svc.%s A" % (qrng.randrange(100000), s.ns, ZONE))
            elif r == 1:  # search-path expansion garbage (ndots:5)
                lines.append("%s.%s.svc.%s A" % (fqdn(s), s.ns, ZONE))
            else:         # unknown namespace
                lines.append("%s.nosuch-ns-%03d.svc.%s A" % (s.name, qrng.randrange(1000), ZONE))
        if kq in INTERNAL_KINDS:
            internal.append(lines[-1])
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        f.write("\n".join(lines))
        f.write("\n")
    with open(os.path.join(a.out, "queries-internal.txt"), "w") as f:
        f.write("\n".join(internal))
        f.write("\n")
    with open(os.path.join(a.out, "check.txt"), "w") as f:
        f.write("\n".join(check) + "\n")

    # ---- expected answers for sanity checks ------------------------------
    exp = []
    c = by_kind["c"][0]
    if c.kind == "c":
        exp.append("%s A %s" % (fqdn(c), c.cip))
        pn, pr, po, _tp = c.ports[0]
        exp.append("_%s._%s.%s SRV 0 100 %d %s." % (pn, pr.lower(), fqdn(c), po, fqdn(c)))
        if not a.no_reverse:
            exp.append("%s PTR %s." % (reverse_name(c.cip), fqdn(c)))
    h = by_kind["h"][0]
    if h.kind == "h":
        exp.append("%s A %s" % (fqdn(h), " ".join(sorted(ep[0] for ep in h.eps))))
        exp.append("%s.%s A %s" % (endpoint_label(h.eps[0]), fqdn(h), h.eps[0][0]))
    e = by_kind["e"][0]
    if e.kind == "e":
        exp.append("%s CNAME %s." % (fqdn(e), e.ext))
    with open(os.path.join(a.out, "expected.txt"), "w") as f:
        f.write("\n".join(exp) + "\n")

    n_cip = sum(1 for s in services if s.kind == "c")
    n_head = sum(1 for s in services if s.kind == "h")
    n_ext = nsvc - n_cip - n_head
    n_eps = sum(len(s.eps) for s in services)
    meta = {
        "shape": a.shape, "services": nsvc, "namespaces": nns, "clusterip": n_cip,
        "headless": n_head, "externalname": n_ext, "endpoints": n_eps,
        "endpoint_slices": sum(1 for s in services if s.eps),
        "endpoints_with_hostname": sum(1 for s in services for ep in s.eps if ep[1]),
        "named_ports": sum(len(s.ports) for s in services),
        "records": counts,
        "queries": a.queries, "internal_queries": len(internal), "query_mix": counts_q, "check_queries": len(check),
        "seed": a.seed, "zone": ZONE, "reverse_zone": not a.no_reverse,
        "sample_clusterip": fqdn(c), "sample_clusterip_ip": c.cip,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("gen_cluster: %s shape, %d services (%d ClusterIP, %d headless, %d ExternalName), "
          "%d endpoints in %d namespaces; %d forward + %d reverse records; %d queries -> %s (%.1fs)"
          % (a.shape, nsvc, n_cip, n_head, n_ext, n_eps, nns, counts["forward_records"],
             counts["reverse_records"], a.queries, a.out, time.time() - t0),
          file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
