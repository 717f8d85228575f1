#!/usr/bin/env python3
"""A test double of the kube-apiserver: HTTPS, list+watch, faults on command (standard library only).

Serves core/v1 services, endpoints, namespaces, pods and discovery.k8s.io/v1 endpointslices the way a
real kube-apiserver does for a JSON client (kubectl, client-go, the Python client, libcurl):

- discovery (/api, /apis, /api/v1, /apis/discovery.k8s.io[/v1], /version), /healthz, /readyz, /livez;
- GET, LIST (limit/continue with consistent snapshots, labelSelector, fieldSelector, resourceVersion and
  resourceVersionMatch), WATCH (chunked, one WatchEvent per line, bookmarks, timeoutSeconds, 410 Gone
  as an HTTP status or as an ERROR event), POST, PUT, PATCH (merge patch), DELETE; errors are
  metav1.Status objects; `kubectl get` receives server-side Tables;
- one etcd-like resourceVersion sequence over all kinds and a bounded event history.

Authentication: `Authorization: Bearer <token>` or a client certificate signed by the generated CA.

Faults, object changes and the request log are driven from Python (FakeApiServer methods) or over the
control API: /_fake/... on the HTTPS port (authenticated like the API) and on a plain-HTTP loopback
control port (no authentication). README.md beside this file documents both.

Library use:

    from fake_apiserver import FakeApiServer
    with FakeApiServer(state_dir) as api:        # state_dir: certificates, token, kubeconfig
        api.create({"apiVersion": "v1", "kind": "Service", ...})
        api.close_watches(mode="mid_event")
        api.requests(path="/api/v1/services")

Command line (prints one line, then serves until SIGTERM or SIGINT):

    python3 fake_apiserver.py --state-dir DIR [--port 0] [--objects FILE.yaml|json ...]
    fake-apiserver: listening on https://127.0.0.1:PORT

Everything listens on 127.0.0.1 only.
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import hmac
import http.server
import ipaddress
import itertools
import json
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

LISTEN_LINE = "fake-apiserver: listening on {url}"
SERVER_VERSION = {
    "major": "1", "minor": "29", "gitVersion": "v1.29.0-fake", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21.0",
    "compiler": "gc", "platform": "linux/amd64",
}
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = "10.96.0.1"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# ------------------------------------------------------------------------------------------------
# Resource table: what the server serves. One entry per resource; discovery, routing, lists and
# the control API all read it.


class Resource:
    def __init__(self, group, version, plural, kind, namespaced, short_names=(), categories=(),
                 field_labels=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.api_version = f"{group}/{version}" if group else version
        # Field selectors the real apiserver accepts beyond metadata.name/metadata.namespace.
        self.field_labels = ("metadata.name",) + (("metadata.namespace",) if namespaced else ()) \
            + tuple(field_labels)
        # Encoded once: prepended to an item to give a watch event or GET its kind/apiVersion.
        self.type_prefix = (f'{{"kind":"{kind}","apiVersion":"{self.api_version}",').encode()
        self.list_prefix = f'{{"kind":"{kind}List","apiVersion":"{self.api_version}",'.encode()

    def __repr__(self):
        return f"<Resource {self.api_version} {self.plural}>"


RESOURCES = [
    Resource("", "v1", "namespaces", "Namespace", False, ["ns"], field_labels=("status.phase",)),
    Resource("", "v1", "services", "Service", True, ["svc"], ["all"],
             field_labels=("spec.clusterIP", "spec.type")),
    Resource("", "v1", "endpoints", "Endpoints", True, ["ep"]),
    Resource("", "v1", "pods", "Pod", True, ["po"], ["all"],
             field_labels=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                           "spec.serviceAccountName", "status.phase", "status.podIP",
                           "status.nominatedNodeName")),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
             field_labels=("addressType",)),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def find_resource(name):
    """'Service', 'services', 'svc', 'EndpointSlice', 'discovery.k8s.io/v1/endpointslices' -> Resource."""
    low = str(name).lower()
    for r in RESOURCES:
        if low in (r.plural, r.kind.lower(), f"{r.api_version}/{r.plural}".lower(),
                   *r.short_names):
            return r
    raise KeyError(f"unknown resource {name!r}; known: {[r.plural for r in RESOURCES]}")


# ------------------------------------------------------------------------------------------------
# Small helpers


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


_now_cache = [0, ""]


def now_rfc3339():
    t = int(time.time())
    if _now_cache[0] != t:       # one strftime a second: bulk creates make thousands a second
        _now_cache[:] = [t, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))]
    return _now_cache[1]


def parse_bool(text):
    """strconv.ParseBool, as the apiserver parses query booleans ('True' from the Python client)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise ValueError(f"invalid boolean {text!r}")


def status_obj(code, reason, message, details=None, continue_token=None):
    """metav1.Status for an error answer."""
    st = {"kind": "Status", "apiVersion": "v1",
          "metadata": {"continue": continue_token} if continue_token else {},
          "status": "Failure", "message": message, "reason": reason, "code": code}
    if details is not None:
        st["details"] = details
    return st


class ApiError(Exception):
    """An answer that is a metav1.Status (404, 409, 410, 422, ...)."""

    def __init__(self, code, reason, message, details=None, headers=None, continue_token=None):
        super().__init__(message)
        self.code = code
        self.status = status_obj(code, reason, message, details, continue_token)
        self.headers = headers or {}


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} '
                    f'"{name}" not found', {"name": name, "group": res.group, "kind": res.plural}
                    if res.group else {"name": name, "kind": res.plural})


def invalid(res, name, field, value, detail):
    msg = f'{res.kind} "{name}" is invalid: {field}: Invalid value: {json.dumps(value)}: {detail}'
    return ApiError(422, "Invalid", msg, {
        "name": name, "kind": res.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": f"Invalid value: "
                    f"{json.dumps(value)}: {detail}", "field": field}]})


def human_age(seconds):
    """Kubernetes' duration.HumanDuration, as Tables print AGE."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    return f"{h // 24}d"


DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_name(res, name):
    """Name rules of the real API (Service: DNS-1035 label; Namespace: DNS-1123 label; others:
    DNS-1123 subdomain). Raises ApiError 422."""
    if res.kind == "Service":
        ok, what, limit = DNS1035_LABEL.match(name), "a DNS-1035 label", 63
    elif res.kind == "Namespace":
        ok, what, limit = DNS1123_LABEL.match(name), "a lowercase RFC 1123 label", 63
    else:
        ok, what, limit = DNS1123_SUBDOMAIN.match(name), "a lowercase RFC 1123 subdomain", 253
    if not ok or len(name) > limit:
        raise invalid(res, name, "metadata.name", name, f"must be {what} of at most {limit} "
                      f"characters")


# ------------------------------------------------------------------------------------------------
# Selectors


class SelectorError(ValueError):
    pass


LABEL_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|"
                        r"\s(in|notin)\s*\(([^)]*)\))?\s*$")


def split_terms(text):
    """Split on commas outside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t for t in terms if t.strip()] if text.strip() else []


def parse_label_selector(text):
    """labelSelector -> predicate over a labels dict. Raises SelectorError."""
    preds = []
    for term in split_terms(text or ""):
        m = LABEL_TERM.match(term)
        if not m:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        neg, key, op, val, setop, vals = m.groups()
        if neg and (op or setop):
            raise SelectorError(f"unable to parse requirement: {term!r}")
        if neg:
            preds.append(lambda lb, k=key: k not in lb)
        elif op in ("=", "=="):
            preds.append(lambda lb, k=key, v=val: lb.get(k) == v)
        elif op == "!=":
            preds.append(lambda lb, k=key, v=val: lb.get(k) != v)
        elif setop == "in":
            s = {x.strip() for x in vals.split(",")}
            preds.append(lambda lb, k=key, s=s: k in lb and lb[k] in s)
        elif setop == "notin":
            s = {x.strip() for x in vals.split(",")}
            preds.append(lambda lb, k=key, s=s: lb.get(k) not in s)
        else:
            preds.append(lambda lb, k=key: k in lb)
    if not preds:
        return None
    return lambda obj: all(p(obj.get("metadata", {}).get("labels") or {}) for p in preds)


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def parse_field_selector(text, res):
    preds = []
    for term in split_terms(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        key, op, val = m.groups()
        if key not in res.field_labels:
            raise SelectorError(f'"{key}" is not a known field selector: only '
                                f'"{", ".join(res.field_labels)}"')
        if op == "!=":
            preds.append(lambda o, k=key, v=val: field_value(o, k) != v)
        else:
            preds.append(lambda o, k=key, v=val: field_value(o, k) == v)
    if not preds:
        return None
    return lambda obj: all(p(obj) for p in preds)


# ------------------------------------------------------------------------------------------------
# The store: objects, one resourceVersion sequence, a bounded event history, list snapshots.


class Entry:
    """A stored object (without kind/apiVersion, as list items are served) and its JSON."""
    __slots__ = ("obj", "raw")

    def __init__(self, obj):
        self.obj = obj
        self.raw = dumps(obj)


class Event:
    __slots__ = ("rv", "res", "type", "entry", "old")

    def __init__(self, rv, res, etype, entry, old):
        self.rv, self.res, self.type, self.entry, self.old = rv, res, etype, entry, old


def object_key(res, ns, name):
    return f"{ns}/{name}" if res.namespaced else name


class Store:
    """All state behind one lock; `cond` wakes watchers when an event or a command arrives."""

    def __init__(self, history_size):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1
        self.objects = {r.plural: {} for r in RESOURCES}
        self.changed_rv = {r.plural: 0 for r in RESOURCES}   # last rv that touched a resource
        self.history = []                   # [Event], rv ascending
        self.history_rvs = []
        self.history_size = history_size
        self.history_start = 1              # events with rv > history_start are all in history
        self._sorted = {}                   # plural -> (changed_rv, keys, entries)
        self.snapshots = collections.OrderedDict()   # (plural, list rv) -> (keys, entries)
        self.continue_floor = 0             # continue tokens with rv below this are expired
        self.used_ips = set()
        self._next_ip = int(SERVICE_CIDR.network_address) + 2

    # -- writes (called with the lock held) --

    def _record(self, res, etype, entry, old):
        ev = Event(self.rv, res, etype, entry, old)
        self.history.append(ev)
        self.history_rvs.append(ev.rv)
        self.changed_rv[res.plural] = self.rv
        if len(self.history) > self.history_size:
            drop = len(self.history) - (self.history_size * 3) // 4
            self.history_start = self.history[drop - 1].rv
            del self.history[:drop]
            del self.history_rvs[:drop]
        self.cond.notify_all()

    def compact(self):
        """Forget all history: a watch from any rv before now is too old, as are continue
        tokens issued before now."""
        with self.lock:
            self.history_start = self.rv
            self.history.clear()
            self.history_rvs.clear()
            self.continue_floor = self.rv
            self.snapshots.clear()

    def allocate_ip(self):
        last = int(SERVICE_CIDR.broadcast_address)
        for _ in range(SERVICE_CIDR.num_addresses):
            n = self._next_ip
            self._next_ip = n + 1 if n + 1 < last else int(SERVICE_CIDR.network_address) + 2
            ip = str(ipaddress.ip_address(n))
            if ip not in self.used_ips:
                return ip
        raise ApiError(500, "InternalError", "Internal error occurred: failed to allocate a "
                       "serviceIP: range is full")

    def _prepare(self, res, obj, old):
        """Defaults and server-assigned fields, as the real registry strategies set them."""
        md = obj.setdefault("metadata", {})
        for k in ("uid", "creationTimestamp"):
            if old is not None:
                md[k] = old.obj["metadata"][k]
        md.setdefault("uid", str(uuid.uuid4()))
        if not md.get("creationTimestamp"):
            md["creationTimestamp"] = now_rfc3339()
        if res.kind == "Service":
            spec = obj.setdefault("spec", {})
            stype = spec.setdefault("type", "ClusterIP")
            if stype != "ExternalName":
                old_ip = (old.obj.get("spec", {}).get("clusterIP") if old else None)
                ip = spec.get("clusterIP")
                if old_ip and ip and ip != old_ip:
                    raise invalid(res, md["name"], "spec.clusterIP", ip, "field is immutable")
                if not ip:
                    ip = old_ip or self.allocate_ip()
                elif ip != "None":
                    try:
                        addr = ipaddress.ip_address(ip)
                    except ValueError:
                        raise invalid(res, md["name"], "spec.clusterIP", ip,
                                      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
                    if addr.version == 4 and addr not in SERVICE_CIDR:
                        raise invalid(res, md["name"], "spec.clusterIP", ip,
                                      f"provided IP is not in the valid range. The range of valid "
                                      f"IPs is {SERVICE_CIDR}")
                    if ip in self.used_ips and ip != old_ip:
                        raise invalid(res, md["name"], "spec.clusterIP", ip,
                                      "provided IP is already allocated")
                spec["clusterIP"] = ip
                spec.setdefault("clusterIPs", [ip])
                if ip != "None":
                    fam = "IPv6" if ":" in ip else "IPv4"
                    spec.setdefault("ipFamilies", [fam])
                    spec.setdefault("ipFamilyPolicy", "SingleStack")
                    spec.setdefault("internalTrafficPolicy", "Cluster")
                spec.setdefault("sessionAffinity", "None")
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                if "port" in p and stype != "ExternalName":
                    p.setdefault("targetPort", p["port"])
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.kind == "Namespace":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        elif res.kind == "Pod":
            obj.setdefault("spec", {})
            obj.setdefault("status", {"phase": "Pending"})
        elif res.kind == "EndpointSlice":
            obj.setdefault("addressType", "IPv4")
            obj.setdefault("endpoints", [])

    def _ip_of(self, res, obj):
        if res.kind != "Service":
            return None
        ip = (obj.get("spec") or {}).get("clusterIP")
        return ip if ip and ip != "None" else None

    def put(self, res, obj, mode, ns=None, owned=False):
        """mode: 'create' (409 if present), 'update' (404 if absent, 409 on a stale
        resourceVersion), 'upsert'. obj: a dict (kind/apiVersion are dropped), copied unless
        `owned` (the caller hands it over). Returns the Entry."""
        if not owned:
            obj = copy.deepcopy(obj)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName") and mode == "create":
            md["name"] = md["generateName"] + "".join(
                random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        name = md.get("name")
        if not name:
            raise ApiError(422, "Invalid", f'{res.kind} "" is invalid: metadata.name: Required '
                           f'value: name or generateName is required',
                           {"kind": res.kind, "causes": [{"reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name"}]})
        check_name(res, name)
        if res.namespaced:
            if ns is not None and md.get("namespace") not in (None, "", ns):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                               "match the namespace sent on the request")
            ns = ns or md.get("namespace") or "default"
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        with self.lock:
            if res.namespaced and ns not in self.objects["namespaces"] and mode == "create":
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                               {"name": ns, "kind": "namespaces"})
            store = self.objects[res.plural]
            key = object_key(res, ns, name)
            old = store.get(key)
            if old is None and mode == "update":
                raise not_found(res, name)
            if old is not None and mode == "create":
                raise ApiError(409, "AlreadyExists", f'{res.plural} "{name}" already exists',
                               {"name": name, "kind": res.plural})
            if old is not None and mode == "update":
                want = md.get("resourceVersion")
                if want and want != old.obj["metadata"]["resourceVersion"]:
                    raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on '
                                   f'{res.plural} "{name}": the object has been modified; please '
                                   f'apply your changes to the latest version and try again',
                                   {"name": name, "kind": res.plural})
            self._prepare(res, obj, old)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            entry = Entry(obj)
            old_ip = self._ip_of(res, old.obj) if old else None
            new_ip = self._ip_of(res, obj)
            if old_ip and old_ip != new_ip:
                self.used_ips.discard(old_ip)
            if new_ip:
                self.used_ips.add(new_ip)
            store[key] = entry
            self._record(res, "ADDED" if old is None else "MODIFIED", entry, old)
            return entry

    def delete(self, res, ns, name, precondition_uid=None, precondition_rv=None):
        with self.lock:
            store = self.objects[res.plural]
            key = object_key(res, ns, name)
            old = store.get(key)
            if old is None:
                raise not_found(res, name)
            if precondition_uid and precondition_uid != old.obj["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} '
                               f'"{name}": Precondition failed: UID in precondition: '
                               f'{precondition_uid}, UID in object meta: '
                               f'{old.obj["metadata"]["uid"]}', {"name": name, "kind": res.plural})
            if precondition_rv and precondition_rv != old.obj["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} '
                               f'"{name}": the object has been modified; please apply your '
                               f'changes to the latest version and try again',
                               {"name": name, "kind": res.plural})
            deleted = []
            if res.kind == "Namespace":
                # The namespace controller empties a deleted namespace; here it happens at once.
                for other in RESOURCES:
                    if other.namespaced:
                        for k in [k for k in self.objects[other.plural] if k.startswith(name + "/")]:
                            deleted.append(self._delete_key(other, k))
            return self._delete_key(res, key), deleted

    def _delete_key(self, res, key):
        store = self.objects[res.plural]
        old = store.pop(key)
        self.rv += 1
        obj = copy.deepcopy(old.obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)   # DELETED carries the deletion rv
        entry = Entry(obj)
        ip = self._ip_of(res, obj)
        if ip:
            self.used_ips.discard(ip)
        self._record(res, "DELETED", entry, old)
        return entry

    # -- reads --

    def sorted_view(self, res):
        """(keys, entries) sorted by key, as etcd orders /registry/<res>/<ns>/<name>. Cached
        until the resource changes; lists hold on to it for continue tokens."""
        with self.lock:
            cached = self._sorted.get(res.plural)
            if cached and cached[0] == self.changed_rv[res.plural]:
                return cached[1], cached[2]
            store = self.objects[res.plural]
            keys = sorted(store)
            entries = [store[k] for k in keys]
            self._sorted[res.plural] = (self.changed_rv[res.plural], keys, entries)
            return keys, entries

    def remember_snapshot(self, res, rv, view):
        with self.lock:
            self.snapshots[(res.plural, rv)] = view
            self.snapshots.move_to_end((res.plural, rv))
            while len(self.snapshots) > 32:
                self.snapshots.popitem(last=False)

    def events_after(self, rv):
        """Events with rv > `rv`, or None when some of them were dropped from history."""
        if rv < self.history_start:
            return None
        i = bisect.bisect_right(self.history_rvs, rv)
        return self.history[i:]


# ------------------------------------------------------------------------------------------------
# Tables for kubectl get (server-side printing)


def _cells(res, obj, now):
    md = obj.get("metadata", {})
    age = "<unknown>"
    ts = md.get("creationTimestamp")
    if ts:
        try:
            t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            age = human_age(now - t)
        except ValueError:
            pass
    name = md.get("name", "")
    spec = obj.get("spec") or {}
    if res.kind == "Service":
        ports = ",".join(f"{p.get('port')}{'/' + str(p['nodePort']) if p.get('nodePort') else ''}"
                         f"/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
        ext = spec.get("externalName") or ",".join(spec.get("externalIPs") or []) or "<none>"
        sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
        return [name, spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", ext,
                ports, age, sel or "<none>"]
    if res.kind == "Namespace":
        return [name, (obj.get("status") or {}).get("phase", "Active"), age]
    if res.kind == "Pod":
        st = obj.get("status") or {}
        cs = st.get("containerStatuses") or []
        ready = f"{sum(1 for c in cs if c.get('ready'))}/{len(spec.get('containers') or [])}"
        restarts = sum(int(c.get("restartCount", 0)) for c in cs)
        return [name, ready, st.get("phase", "Pending"), restarts, age,
                st.get("podIP") or "<none>", spec.get("nodeName") or "<none>"]
    if res.kind == "EndpointSlice":
        ports = ",".join(str(p.get("port")) for p in obj.get("ports") or []) or "<unset>"
        addrs = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
        shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
        return [name, obj.get("addressType", ""), ports, shown or "<unset>", age]
    if res.kind == "Endpoints":
        eps = [f"{a.get('ip')}:{p.get('port')}" for s in obj.get("subsets") or []
               for a in s.get("addresses") or [] for p in s.get("ports") or [{}]]
        shown = ",".join(eps[:3]) + (f" + {len(eps) - 3} more..." if len(eps) > 3 else "")
        return [name, shown or "<none>", age]
    return [name, age]


def _columns(res):
    def col(name, typ="string", fmt="", prio=0, desc=""):
        return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": prio}
    name = col("Name", fmt="name", desc="Name must be unique within a namespace.")
    age = col("Age", desc="CreationTimestamp is a timestamp representing the server time when "
              "this object was created.")
    if res.kind == "Service":
        return [name, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), age,
                col("Selector", prio=1)]
    if res.kind == "Namespace":
        return [name, col("Status"), age]
    if res.kind == "Pod":
        return [name, col("Ready"), col("Status"), col("Restarts", "integer"), age,
                col("IP", prio=1), col("Node", prio=1)]
    if res.kind == "EndpointSlice":
        return [name, col("AddressType"), col("Ports"), col("Endpoints"), age]
    if res.kind == "Endpoints":
        return [name, col("Endpoints"), age]
    return [name, age]


def table_for(res, entries, list_meta, include_object, with_kind):
    now = time.time()
    rows = []
    for e in entries:
        row = {"cells": _cells(res, e.obj, now)}
        if include_object == "Object":
            row["object"] = dict(kind=res.kind, apiVersion=res.api_version, **e.obj)
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": e.obj.get("metadata", {})}
        rows.append(row)
    return {"kind": "Table", "apiVersion": with_kind, "metadata": list_meta,
            "columnDefinitions": _columns(res), "rows": rows}


# ------------------------------------------------------------------------------------------------
# Watches


class Watch:
    """One open watch stream; commands from faults are queued here and run by its thread."""
    _ids = itertools.count(1)

    def __init__(self, res, ns, path, query, bookmarks, handler):
        self.id = next(self._ids)
        self.res = res
        self.ns = ns
        self.path = path
        self.query = query
        self.bookmarks = bookmarks
        self.handler = handler
        self.commands = []
        self.started = time.time()
        self.sent_events = 0
        self.last_rv = 0

    def describe(self):
        return {"id": self.id, "path": self.path, "query": self.query, "resource": self.res.plural,
                "namespace": self.ns, "allowWatchBookmarks": self.bookmarks,
                "startedAt": self.started, "eventsSent": self.sent_events,
                "resourceVersion": str(self.last_rv)}


# ------------------------------------------------------------------------------------------------
# Faults


class Faults:
    """Pending per-request faults: a list of dicts, each with a remaining count."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []
        self.watch_410 = "http"     # how a too-old watch is refused: 'http' or 'event'

    def add(self, spec):
        with self.lock:
            self.pending.append(dict(spec))

    def clear(self):
        with self.lock:
            self.pending.clear()

    def take(self, method, path, is_watch):
        with self.lock:
            for f in self.pending:
                if f.get("match") and f["match"] not in path:
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f.get("watch") is not None and bool(f["watch"]) != is_watch:
                    continue
                f["count"] = f.get("count", 1) - 1
                if f["count"] <= 0:
                    self.pending.remove(f)
                return dict(f)
        return None


ERROR_FOR_STATUS = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: the fake apiserver was told to refuse this request"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the object has been modified; please apply your changes to the latest "
          "version and try again"),
    410: ("Expired", "the resource version is too old"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected by the fake apiserver"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
}


# ------------------------------------------------------------------------------------------------
# HTTP


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, api, tls):
        self.api = api
        self.tls = tls
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind would look up our FQDN (a DNS query); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request_thread(self, request, client_address):
        # The TLS handshake runs here, on the connection's thread, not in the accept loop.
        api = self.api
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                request.settimeout(10)
                request = api.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            api._log_handshake_failure(client_address, e)
            try:
                request.close()
            except OSError:
                pass
            return
        api._track(request, True)
        try:
            self.finish_request(request, client_address)
        except Exception:  # a handler bug must not kill the server; the client sees a reset
            pass
        finally:
            api._track(request, False)
            self.shutdown_request(request)

    def handle_error(self, request, client_address):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.server.api._dispatch(self, "GET")

    def do_POST(self):
        self.server.api._dispatch(self, "POST")

    def do_PUT(self):
        self.server.api._dispatch(self, "PUT")

    def do_PATCH(self):
        self.server.api._dispatch(self, "PATCH")

    def do_DELETE(self):
        self.server.api._dispatch(self, "DELETE")

    # -- writing --

    def send_body(self, code, body, content_type="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code, obj, headers=None):
        self.send_body(code, dumps(obj) if not isinstance(obj, bytes) else obj, headers=headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(n) if n else b""


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class FakeApiServer:
    """The fake kube-apiserver. start() generates (or reuses) certificates, a token and a
    kubeconfig in state_dir, binds 127.0.0.1:port and the control port, and serves on threads."""

    def __init__(self, state_dir, port=0, control_port=0, token=None, history_size=10000,
                 bookmark_interval=60.0, defaults=True, objects=(), host="127.0.0.1"):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake apiserver listens on loopback only")
        self.state_dir = Path(state_dir).resolve()
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.control_port = control_port
        self._token = token
        self.bookmark_interval = bookmark_interval
        self.rv0_ignores_limit = True     # watch cache: resourceVersion=0 lists are not paged
        self.list_delay = 0.0             # seconds each list answer waits (an etcd read's time)
        self.store = Store(history_size)
        self.faults = Faults()
        self.watches = {}
        self.log = collections.deque(maxlen=200000)
        self._seq = itertools.count(1)
        self._conns = set()
        self._conns_lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self._ctl = None
        self._ctl_thread = None
        self._down_until = 0.0
        self._stopping = threading.Event()
        self._up_lock = threading.Lock()
        self.handshake_failures = collections.deque(maxlen=1000)
        self.ssl_context = None
        if defaults:
            self._seed_defaults()
        for obj in objects:
            self.apply(obj)

    # ---------------------------------------------------------------- lifecycle

    def start(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._make_credentials()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.load_verify_locations(self.ca_path)
        ctx.verify_mode = ssl.CERT_OPTIONAL       # a client certificate authenticates if given
        ctx.set_alpn_protocols(["http/1.1"])      # no h2: Go clients then speak HTTP/1.1
        self.ssl_context = ctx
        self._httpd = _HTTPServer((self.host, self.port), Handler, self, tls=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-apiserver",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._ctl = _HTTPServer((self.host, self.control_port), Handler, self, tls=False)
        self.control_port = self._ctl.server_address[1]
        self._ctl_thread = threading.Thread(target=self._ctl.serve_forever, daemon=True,
                                            name="fake-apiserver-control",
                                            kwargs={"poll_interval": 0.1})
        self._ctl_thread.start()
        self._write_kubeconfig()
        (self.state_dir / "url").write_text(self.url + "\n")
        (self.state_dir / "control-url").write_text(self.control_url + "\n")
        return self

    def stop(self):
        self._stopping.set()
        with self._up_lock:
            if self._httpd:
                self._httpd.shutdown()
                self._httpd.server_close()
                self._httpd = None
        if self._ctl:
            self._ctl.shutdown()
            self._ctl.server_close()
            self._ctl = None
        self._drop_connections()
        with self.store.cond:
            self.store.cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return f"https://{self.host}:{self.port}"

    @property
    def control_url(self):
        return f"http://{self.host}:{self.control_port}"

    @property
    def resource_version(self):
        return str(self.store.rv)

    # ---------------------------------------------------------------- credentials

    def _make_credentials(self):
        d = self.state_dir
        self.ca_path = d / "ca.crt"
        self.ca_key = d / "ca.key"
        self.server_cert = d / "server.crt"
        self.server_key = d / "server.key"
        self.client_cert = d / "client.crt"
        self.client_key = d / "client.key"
        self.token_path = d / "token"
        self.kubeconfig = d / "kubeconfig"
        if not all(p.exists() for p in (self.ca_path, self.ca_key, self.server_cert,
                                         self.server_key, self.client_cert, self.client_key)):
            make_certificates(d)
        if self._token is None:
            if self.token_path.exists() and self.token_path.read_text().strip():
                self._token = self.token_path.read_text().strip()
            else:
                self._token = secrets.token_hex(24)
        self.token_path.write_text(self._token + "\n")
        os.chmod(self.token_path, 0o600)

    @property
    def token(self):
        return self._token

    def _write_kubeconfig(self):
        q = json.dumps
        text = f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {q(self.url)}
    certificate-authority: {q(str(self.ca_path))}
users:
- name: fake-token
  user:
    token: {q(self._token)}
- name: fake-cert
  user:
    client-certificate: {q(str(self.client_cert))}
    client-key: {q(str(self.client_key))}
contexts:
- name: fake-token
  context:
    cluster: fake
    user: fake-token
    namespace: default
- name: fake-cert
  context:
    cluster: fake
    user: fake-cert
    namespace: default
current-context: fake-token
preferences: {{}}
"""
        tmp = self.kubeconfig.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o600)
        tmp.replace(self.kubeconfig)

    # ---------------------------------------------------------------- objects (Python API)

    def _seed_defaults(self):
        for ns in DEFAULT_NAMESPACES:
            self.store.put(find_resource("namespaces"), {"metadata": {"name": ns}}, "upsert")
        self.store.put(find_resource("services"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": KUBERNETES_SERVICE_IP, "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
            "upsert")
        self.store.put(find_resource("endpointslices"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}, "upsert")

    def _ensure_namespace(self, res, obj):
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        if res.namespaced and ns not in self.store.objects["namespaces"]:
            self.store.put(find_resource("namespaces"), {"metadata": {"name": ns}}, "upsert")

    def create(self, obj):
        """Create one object (409 ApiError if it exists). Missing namespaces are created first
        (the HTTP API refuses them, as the real one does). Returns the stored object."""
        res = find_resource(obj.get("kind", ""))
        self._ensure_namespace(res, obj)
        return self._typed(res, self.store.put(res, obj, "create"))

    def update(self, obj):
        """Replace an existing object (404 if absent). Returns the stored object."""
        res = find_resource(obj.get("kind", ""))
        return self._typed(res, self.store.put(res, obj, "update"))

    def apply(self, objs):
        """Create or replace one object, a list of them, or a v1 List. Returns the stored ones."""
        if isinstance(objs, dict):
            objs = objs["items"] if objs.get("kind", "").endswith("List") and "items" in objs \
                else [objs]
        out = []
        for obj in objs:
            res = find_resource(obj.get("kind", ""))
            self._ensure_namespace(res, obj)
            out.append(self._typed(res, self.store.put(res, obj, "upsert")))
        return out

    def delete(self, kind, namespace, name=None):
        """delete('Service', 'ns', 'name') or delete('Namespace', 'name'). Returns the object."""
        res = find_resource(kind)
        if name is None and not res.namespaced:
            namespace, name = None, namespace
        entry, _ = self.store.delete(res, namespace, name)
        return self._typed(res, entry)

    def get(self, kind, namespace, name=None):
        res = find_resource(kind)
        if name is None and not res.namespaced:
            namespace, name = None, namespace
        with self.store.lock:
            e = self.store.objects[res.plural].get(object_key(res, namespace, name))
        return self._typed(res, e) if e else None

    def list(self, kind, namespace=None):
        res = find_resource(kind)
        keys, entries = self.store.sorted_view(res)
        return [self._typed(res, e) for k, e in zip(keys, entries)
                if namespace is None or k.startswith(namespace + "/")]

    def generate_services(self, count, namespaces=10, prefix="svc", ports=1, start=0):
        """Bulk-create `count` ClusterIP Services spread over `namespaces` namespaces
        (gen-0 .. gen-N), fast enough for 100,000. Returns the resourceVersion after."""
        res = find_resource("services")
        for i in range(namespaces):
            self._ensure_namespace(res, {"metadata": {"namespace": f"gen-{i}"}})
        for i in range(start, start + count):
            self.store.put(res, {
                "metadata": {"name": f"{prefix}-{i}", "namespace": f"gen-{i % namespaces}",
                             "labels": {"app": f"{prefix}-{i}", "shard": str(i % 16)}},
                "spec": {"selector": {"app": f"{prefix}-{i}"},
                         "ports": [{"name": f"p{p}", "port": 80 + p, "protocol": "TCP"}
                                   for p in range(ports)]}}, "upsert", owned=True)
        return self.resource_version

    @staticmethod
    def _typed(res, entry):
        return dict(kind=res.kind, apiVersion=res.api_version, **copy.deepcopy(entry.obj))

    # ---------------------------------------------------------------- faults (Python API)

    def fault(self, spec):
        """Apply one fault as the control API's POST /_fake/fault does. Returns a summary."""
        name = spec.get("fault")
        if name in ("error", "fail"):
            st = int(spec.get("status", 500))
            self.faults.add({**spec, "fault": "error", "status": st,
                             "count": int(spec.get("count", 1))})
        elif name == "stall":
            self.faults.add({**spec, "seconds": float(spec.get("seconds", 5)),
                             "count": int(spec.get("count", 1))})
        elif name in ("garbage", "endless"):
            self.faults.add({**spec, "count": int(spec.get("count", 1))})
        elif name == "close_watches":
            mode = spec.get("mode", "clean")
            if mode not in ("clean", "mid_event", "reset"):
                raise ValueError(f"close_watches mode must be clean, mid_event or reset: {mode!r}")
            return {"watches": self._command_watches(("close", mode), spec.get("match"))}
        elif name == "expire_watches":
            return {"watches": self._command_watches(("expire",), spec.get("match"))}
        elif name == "malformed_event":
            text = spec.get("text", '{"type":"MODIFIED","object":{"kind":"Service","metadata":')
            cmd = ("malformed", text, max(1, int(spec.get("repeat", 1))),
                   max(0, int(spec.get("piece_bytes", 0))))
            return {"watches": self._command_watches(cmd, spec.get("match"))}
        elif name == "bookmark":
            return {"watches": self._command_watches(("bookmark", bool(spec.get("force"))),
                                                     spec.get("match"))}
        elif name == "compact":
            self.store.compact()
        elif name == "expire_continue":
            with self.store.lock:
                self.store.continue_floor = self.store.rv + 1
                self.store.snapshots.clear()
        elif name == "watch_410":
            mode = spec.get("mode", "http")
            if mode not in ("http", "event"):
                raise ValueError(f"watch_410 mode must be http or event: {mode!r}")
            self.faults.watch_410 = mode
        elif name == "down":
            self.go_down(float(spec.get("seconds", 1)))
        elif name == "clear":
            self.faults.clear()
        else:
            raise ValueError(f"unknown fault {name!r}")
        return {"fault": name}

    def fail_next(self, status=500, count=1, retry_after=None, match=None, method=None,
                  watch=None, message=None):
        spec = {"fault": "error", "status": status, "count": count, "match": match,
                "method": method, "watch": watch, "message": message}
        if retry_after is not None:
            spec["retry_after"] = retry_after
        return self.fault(spec)

    def garbage(self, text=None, count=1, match=None, method=None, watch=None):
        spec = {"fault": "garbage", "count": count, "match": match, "method": method,
                "watch": watch}
        if text is not None:
            spec["text"] = text
        return self.fault(spec)

    def endless(self, rate=0, count=1, match=None, method=None, watch=None):
        return self.fault({"fault": "endless", "rate": rate, "count": count, "match": match,
                           "method": method, "watch": watch})

    def stall(self, seconds, count=1, match=None, then="serve", method=None, watch=None):
        return self.fault({"fault": "stall", "seconds": seconds, "count": count, "match": match,
                           "then": then, "method": method, "watch": watch})

    def close_watches(self, mode="clean", match=None):
        return self.fault({"fault": "close_watches", "mode": mode, "match": match})

    def expire_watches(self, match=None):
        return self.fault({"fault": "expire_watches", "match": match})

    def malformed_event(self, text=None, match=None, repeat=1, piece_bytes=0):
        spec = {"fault": "malformed_event", "match": match, "repeat": repeat,
                "piece_bytes": piece_bytes}
        if text is not None:
            spec["text"] = text
        return self.fault(spec)

    def bookmark(self, force=False, match=None):
        return self.fault({"fault": "bookmark", "force": force, "match": match})

    def compact(self):
        return self.fault({"fault": "compact"})

    def expire_continue(self):
        return self.fault({"fault": "expire_continue"})

    def set_watch_410(self, mode):
        return self.fault({"fault": "watch_410", "mode": mode})

    def go_down(self, seconds):
        """Close the listening socket and every connection now; listen again on the same port
        after `seconds` (in the background). Connections are refused meanwhile."""
        with self._up_lock:
            if self._httpd is None:
                return {"fault": "down"}
            httpd, self._httpd = self._httpd, None
            self._down_until = time.monotonic() + seconds
        httpd.shutdown()
        httpd.server_close()
        self._drop_connections(tls_only=True)
        with self.store.cond:
            self.store.cond.notify_all()
        threading.Thread(target=self._come_back, args=(seconds,), daemon=True).start()
        return {"fault": "down", "seconds": seconds}

    def _come_back(self, seconds):
        if self._stopping.wait(seconds):
            return
        for _ in range(100):
            try:
                httpd = _HTTPServer((self.host, self.port), Handler, self, tls=True)
                break
            except OSError:
                time.sleep(0.05)
        else:
            return
        with self._up_lock:
            if self._stopping.is_set():
                httpd.server_close()
                return
            self._httpd = httpd
            self._thread = threading.Thread(target=httpd.serve_forever, daemon=True,
                                            kwargs={"poll_interval": 0.1})
            self._thread.start()

    def is_up(self):
        return self._httpd is not None

    def _command_watches(self, cmd, match=None):
        with self.store.cond:
            n = 0
            for w in self.watches.values():
                if match and match not in w.path:
                    continue
                w.commands.append((self.store.rv, cmd))
                n += 1
            self.store.cond.notify_all()
        return n

    def set_config(self, bookmark_interval=None, history_size=None, rv0_ignores_limit=None,
                   list_delay=None):
        if list_delay is not None:
            self.list_delay = max(0.0, float(list_delay))
        if bookmark_interval is not None:
            self.bookmark_interval = float(bookmark_interval)
        if history_size is not None:
            self.store.history_size = max(1, int(history_size))
        if rv0_ignores_limit is not None:
            self.rv0_ignores_limit = bool(rv0_ignores_limit)
        with self.store.cond:
            self.store.cond.notify_all()
        return {"bookmark_interval": self.bookmark_interval,
                "history_size": self.store.history_size,
                "rv0_ignores_limit": self.rv0_ignores_limit,
                "list_delay": self.list_delay,
                "watch_410": self.faults.watch_410}

    # ---------------------------------------------------------------- request log (Python API)

    def requests(self, since=0, path=None, method=None):
        """Logged API requests (not /_fake/ ones): dicts with seq, time, method, path, query
        (dict of lists), raw_query, watch, status, user. `path`: a substring to match."""
        return [r for r in list(self.log) if r["seq"] > since
                and (path is None or path in r["path"]) and (method is None or r["method"] == method)]

    def clear_requests(self):
        self.log.clear()

    def open_watches(self, match=None):
        with self.store.lock:
            return [w.describe() for w in self.watches.values() if not match or match in w.path]

    def wait_for_watches(self, match=None, count=1, timeout=10.0):
        """Wait until at least `count` watches whose path contains `match` are open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.open_watches(match)) >= count:
                return True
            time.sleep(0.02)
        return False

    # ---------------------------------------------------------------- connections

    def _track(self, sock, add):
        with self._conns_lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def _drop_connections(self, tls_only=False):
        with self._conns_lock:
            conns = list(self._conns)
        for s in conns:
            if tls_only and not isinstance(s, ssl.SSLSocket):
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _log_handshake_failure(self, addr, err):
        self.handshake_failures.append({"time": time.time(), "peer": addr[1], "error": str(err)})

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self, h, method):
        parsed = urllib.parse.urlsplit(h.path)
        path = parsed.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        q = {k: v[-1] for k, v in query.items()}
        tls = h.server.tls
        try:
            body = h.read_body()    # always: an unread body would corrupt the next request
        except (OSError, ValueError):
            h.close_connection = True
            return
        if path.startswith("/_fake/") or path == "/_fake":
            if tls and self._authenticate(h) is None:
                return h.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
            return self._control(h, method, path, q, body)
        if not tls:
            return h.send_json(404, status_obj(404, "NotFound", "the control port serves only "
                                               "/_fake/; the API is at " + self.url))
        is_watch = False
        try:
            is_watch = parse_bool(q.get("watch", "")) or "/watch/" in path
        except ValueError:
            pass
        rec = {"seq": next(self._seq), "time": time.time(), "method": method, "path": path,
               "query": query, "raw_query": parsed.query, "watch": is_watch, "status": None,
               "user": None}
        if body:
            rec["body"] = body
        self.log.append(rec)
        fault = self.faults.take(method, path, is_watch)
        if fault and fault["fault"] == "stall":
            self._stopping.wait(fault["seconds"])
            if fault.get("then") == "close":
                rec["status"] = "closed"
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            fault = self.faults.take(method, path, is_watch)
        if fault and fault["fault"] == "garbage":
            rec["status"] = 200
            rec["fault"] = True
            return h.send_body(200, fault.get("text", "<html><body>502 Bad Gateway</body></html>")
                               .encode(), fault.get("content_type", "application/json"))
        if fault and fault["fault"] == "endless":
            rec["status"] = 200
            rec["fault"] = True
            return self._endless(h, float(fault.get("rate", 0)))
        if fault and fault["fault"] == "error":
            code = fault["status"]
            reason, msg = ERROR_FOR_STATUS.get(code, ("InternalError", "injected error"))
            details = None
            headers = {}
            if code == 403 and not fault.get("message"):
                msg, details = self._forbidden(h, method, path, is_watch)
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(int(fault["retry_after"]))
                details = {"retryAfterSeconds": int(fault["retry_after"])}
            rec["status"] = code
            rec["fault"] = True
            return h.send_json(code, status_obj(code, reason, fault.get("message") or msg,
                                                details), headers=headers)
        user = self._authenticate(h)
        rec["user"] = user
        if user is None:
            rec["status"] = 401
            return h.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
        try:
            code = self._api(h, method, path, q, rec, is_watch)
            rec["status"] = code
        except ApiError as e:
            rec["status"] = e.code
            h.send_json(e.code, e.status, headers=e.headers)

    def _forbidden(self, h, method, path, is_watch):
        """The message and details of the real RBAC refusal: `endpointslices.discovery.k8s.io is
        forbidden: User "..." cannot list resource "endpointslices" in API group
        "discovery.k8s.io" at the cluster scope`."""
        route = self._route(path)
        user = self._authenticate(h) or "system:anonymous"
        user = {"token": "system:serviceaccount:kube-system:clusterdns"}.get(
            user, user.removeprefix("client-cert:"))
        if route is None:
            return f'forbidden: User "{user}" cannot {method.lower()} path "{path}"', None
        res, ns, name, _, path_watch = route
        verb = ("watch" if is_watch or path_watch else "get" if name else "list") \
            if method == "GET" else {"POST": "create", "PUT": "update", "PATCH": "patch",
                                     "DELETE": "delete"}.get(method, method.lower())
        resource = f"{res.plural}.{res.group}" if res.group else res.plural
        scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        named = f'{resource} "{name}"' if name else resource
        message = (f'{named} is forbidden: User "{user}" cannot {verb} resource "{res.plural}" '
                   f'in API group "{res.group}" {scope}')
        details = {"kind": res.plural, **({"group": res.group} if res.group else {}),
                   **({"name": name} if name else {})}
        return message, details

    def _endless(self, h, rate):
        """200 with a list that never ends: `{"kind":"List","items":[` and then items, `rate`
        bytes a second (0: as fast as the client reads), until the client hangs up."""
        h.close_connection = True
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            self._send(h, chunk(b'{"kind":"List","apiVersion":"v1","metadata":{},"items":['))
            item = b'{"metadata":{"name":"endless","namespace":"default"}},'
            piece = item * max(1, int(min(rate, 1 << 20) or 1 << 20) // len(item))
            while not self._stopping.is_set() and self._httpd is not None:
                self._send(h, chunk(piece))
                if rate:
                    self._stopping.wait(len(piece) / rate)
        except (OSError, ValueError):
            pass
        return 200

    def _authenticate(self, h):
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            if hmac.compare_digest(auth[7:].strip().encode(), self._token.encode()):
                return "token"
            return None          # a wrong token is refused even with a client certificate
        conn = h.connection
        if isinstance(conn, ssl.SSLSocket):
            cert = conn.getpeercert()
            if cert:
                cn = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
                return "client-cert:" + (cn[0] if cn else "")
        return None

    # ---------------------------------------------------------------- the API

    def _discovery(self, path):
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]}
        groups = sorted({r.group for r in RESOURCES if r.group})

        def group_obj(g):
            versions = sorted({r.version for r in RESOURCES if r.group == g})
            gv = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions]
            return {"name": g, "versions": gv, "preferredVersion": gv[0]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [group_obj(g) for g in groups]}
        for g in groups:
            if path == f"/apis/{g}":
                return dict(kind="APIGroup", apiVersion="v1", **group_obj(g))
        for gv in {(r.group, r.version) for r in RESOURCES}:
            prefix = f"/apis/{gv[0]}/{gv[1]}" if gv[0] else f"/api/{gv[1]}"
            if path == prefix:
                return {"kind": "APIResourceList", "apiVersion": "v1",
                        "groupVersion": f"{gv[0]}/{gv[1]}" if gv[0] else gv[1],
                        "resources": [{"name": r.plural, "singularName": r.kind.lower(),
                                       "namespaced": r.namespaced, "kind": r.kind, "verbs": VERBS,
                                       **({"shortNames": r.short_names} if r.short_names else {}),
                                       **({"categories": r.categories} if r.categories else {}),
                                       "storageVersionHash": base64.b64encode(
                                           r.plural.encode()[:8]).decode()}
                                      for r in RESOURCES if (r.group, r.version) == gv]}
        return None

    def _route(self, path):
        """path -> (Resource, namespace or None, name or None, subresource or None, is_watch) or
        None. Handles /api/v1/..., /apis/G/V/..., and the legacy /watch/ prefix."""
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        watch = False
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        if not rest:
            return None
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = BY_PATH.get((group, version, rest[0]))
        if res is None:
            return None
        if ns is not None and not res.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (name is not None and res.namespaced and ns is None):
            return None
        return res, ns, name, sub, watch

    def _api(self, h, method, path, q, rec, is_watch):
        if path in ("/healthz", "/readyz", "/livez"):
            h.send_body(200, b"ok", "text/plain; charset=utf-8")
            return 200
        if path == "/version":
            h.send_json(200, SERVER_VERSION)
            return 200
        if path == "/openapi/v2":
            # An empty OpenAPI document (an empty protobuf message): kubectl's client-side
            # validation finds no schema for our kinds and skips them, as for a CRD without one.
            h.send_body(200, b"", "application/octet-stream")
            return 200
        disc = self._discovery(path)
        if disc is not None and method == "GET":
            h.send_json(200, disc)
            return 200
        route = self._route(path)
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        res, ns, name, sub, path_watch = route
        if sub is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        accept = h.headers.get("Accept", "") or "application/json"
        if not any(t in accept for t in ("json", "*/*")):
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                           "application/json, application/yaml")
        if method == "GET":
            if is_watch or path_watch:
                self._watch(h, res, ns, name, q, path, rec)
                return 200
            if name is not None:
                return self._get(h, res, ns, name, accept, q)
            return self._list(h, res, ns, q, accept)
        if method == "POST" and name is None:
            obj = self._body_obj(rec)
            if res.namespaced and ns is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                               "the requested resource")
            self._check_body_kind(res, obj)
            if parse_bool(q.get("dryRun", "") and "true"):
                h.send_json(201, obj)
                return 201
            entry = self.store.put(res, obj, "create", ns)
            h.send_json(201, res.type_prefix + entry.raw[1:])
            return 201
        if method == "PUT" and name is not None:
            obj = self._body_obj(rec)
            self._check_body_kind(res, obj)
            if (obj.get("metadata") or {}).get("name") != name:
                raise ApiError(400, "BadRequest", "the name of the object "
                               f"({(obj.get('metadata') or {}).get('name')}) does not match the "
                               f"name on the URL ({name})")
            entry = self.store.put(res, obj, "update", ns)
            h.send_json(200, res.type_prefix + entry.raw[1:])
            return 200
        if method == "PATCH" and name is not None:
            return self._patch(h, res, ns, name, rec)
        if method == "DELETE" and name is not None:
            opts = {}
            body = rec.get("body") or b""
            if body:
                try:
                    opts = json.loads(body)
                except ValueError:
                    opts = {}
            pre = opts.get("preconditions") or {}
            entry, _ = self.store.delete(res, ns, name, pre.get("uid"), pre.get("resourceVersion"))
            h.send_json(200, res.type_prefix + entry.raw[1:])
            return 200
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                       "requested resource")

    @staticmethod
    def _body_obj(rec):
        try:
            obj = json.loads(rec.get("body") or b"")
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"the object provided is unrecognized: {e}")
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the object provided is unrecognized")
        return obj

    @staticmethod
    def _check_body_kind(res, obj):
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != res.kind) or (api_version and api_version != res.api_version):
            raise ApiError(400, "BadRequest", f"the API version in the data ({api_version}) does "
                           f"not match the expected API version ({res.api_version})"
                           if api_version != res.api_version else
                           f"the kind in the data ({kind}) does not match the expected kind "
                           f"({res.kind})")

    def _patch(self, h, res, ns, name, rec):
        ctype = h.headers.get("Content-Type", "")
        if "merge-patch" not in ctype and "strategic-merge-patch" not in ctype:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                           "unknown format - accepted media types include: "
                           "application/merge-patch+json, "
                           "application/strategic-merge-patch+json")
        patch = self._body_obj(rec)
        with self.store.lock:
            cur = self.store.objects[res.plural].get(object_key(res, ns, name))
            if cur is None:
                raise not_found(res, name)
            # Strategic merge patch is served as a JSON merge patch (lists are replaced whole).
            merged = merge_patch(copy.deepcopy(cur.obj), patch)
            entry = self.store.put(res, merged, "update", ns)
        h.send_json(200, res.type_prefix + entry.raw[1:])
        return 200

    def _get(self, h, res, ns, name, accept, q):
        with self.store.lock:
            e = self.store.objects[res.plural].get(object_key(res, ns, name))
            rv = self.store.rv
        if e is None:
            raise not_found(res, name)
        table = _table_version(accept)
        if table:
            h.send_json(200, table_for(res, [e], {"resourceVersion": str(rv)},
                                       q.get("includeObject", "Metadata"), table))
            return 200
        h.send_json(200, res.type_prefix + e.raw[1:])
        return 200

    # -- list --

    def _selectors(self, res, q):
        try:
            return (parse_label_selector(q.get("labelSelector", "")),
                    parse_field_selector(q.get("fieldSelector", ""), res))
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e))

    def _list(self, h, res, ns, q, accept):
        labels, fields = self._selectors(res, q)
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", f"limit: Invalid value: {q.get('limit')!r}")
        want_rv = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        store = self.store
        start_key = None
        if cont:
            if want_rv:
                raise ApiError(400, "BadRequest", "specifying resource version is not allowed "
                               "when using continue")
            list_rv, start_key = decode_continue(cont)
            with store.lock:
                expired = list_rv != -1 and list_rv < store.continue_floor
                view = store.snapshots.get((res.plural, list_rv))
            if expired:
                raise ApiError(410, "Expired", CONTINUE_EXPIRED,
                               continue_token=encode_continue(-1, start_key))
            if view is None:
                view = store.sorted_view(res)
                list_rv = store.rv
        else:
            if match and not want_rv:
                raise ApiError(422, "Invalid", "resourceVersionMatch: Forbidden: "
                               "resourceVersionMatch is forbidden unless resourceVersion is "
                               "provided")
            if match and match not in ("Exact", "NotOlderThan"):
                raise ApiError(422, "Invalid", f"resourceVersionMatch: Unsupported value: "
                               f"{json.dumps(match)}")
            n = 0
            if want_rv:
                try:
                    n = int(want_rv)
                except ValueError:
                    raise ApiError(400, "BadRequest", f'invalid resource version "{want_rv}"')
            if n > store.rv:
                with store.cond:
                    store.cond.wait_for(lambda: store.rv >= n, timeout=3.0)
                if n > store.rv:
                    raise ApiError(504, "Timeout", f"Too large resource version: {n}, current: "
                                   f"{store.rv}", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                   "message": "Too large resource version"}],
                                                   "retryAfterSeconds": 1})
            with store.lock:
                view = store.sorted_view(res)
                list_rv = store.rv
                if match == "Exact" and n:
                    if n < store.changed_rv[res.plural] or n < store.history_start:
                        raise ApiError(410, "Expired", f"too old resource version: {n} "
                                       f"({store.rv})")
                    list_rv = n
            if want_rv == "0" and match != "Exact" and self.rv0_ignores_limit:
                limit = 0
        keys, entries = view
        lo, hi = 0, len(keys)
        if ns is not None:
            lo = bisect.bisect_left(keys, ns + "/")
            hi = bisect.bisect_left(keys, ns + "0")    # '0' follows '/'
        i = lo if start_key is None else max(lo, bisect.bisect_right(keys, start_key))
        out = []
        last = None
        if labels is None and fields is None:
            end = hi if not limit else min(hi, i + limit)
            out = entries[i:end]
            last = end - 1
            i = end
        else:
            while i < hi and (not limit or len(out) < limit):
                e = entries[i]
                if (labels is None or labels(e.obj)) and (fields is None or fields(e.obj)):
                    out.append(e)
                last = i
                i += 1
        meta = {"resourceVersion": str(list_rv)}
        if limit and i < hi and last is not None and last >= 0:
            meta["continue"] = encode_continue(list_rv, keys[last])
            if labels is None and fields is None:
                meta["remainingItemCount"] = hi - i
            store.remember_snapshot(res, list_rv, view)
        if self.list_delay:
            time.sleep(self.list_delay)
        table = _table_version(accept)
        if table:
            h.send_json(200, table_for(res, out, meta, q.get("includeObject", "Metadata"), table))
            return 200
        body = b"".join([res.list_prefix, b'"metadata":', dumps(meta), b',"items":[',
                         b",".join(e.raw for e in out), b"]}"])
        h.send_json(200, body)
        return 200

    # -- watch --

    def _watch(self, h, res, ns, name, q, path, rec):
        labels, fields = self._selectors(res, q)
        if name is not None:   # legacy /watch/.../NAME
            prev = fields
            fields = (lambda o: o["metadata"]["name"] == name and (prev is None or prev(o)))
        try:
            bookmarks = parse_bool(q.get("allowWatchBookmarks", ""))
            initial = q.get("sendInitialEvents")
            initial = parse_bool(initial) if initial is not None else None
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        except ValueError as e:
            raise ApiError(400, "BadRequest", str(e))
        want_rv = q.get("resourceVersion", "")
        store = self.store

        def matches(obj):
            if obj is None:
                return False
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            return (labels is None or labels(obj)) and (fields is None or fields(obj))

        initial_entries = []
        with store.lock:
            if want_rv in ("", "0") or initial:
                keys, entries = store.sorted_view(res)
                initial_entries = [e for e in entries if matches(e.obj)]
                pos = store.rv
            else:
                try:
                    pos = int(want_rv)
                except ValueError:
                    raise ApiError(400, "BadRequest", f'invalid resource version "{want_rv}"')
                if pos < store.history_start:
                    too_old = status_obj(410, "Expired", f"too old resource version: {pos} "
                                         f"({store.history_start + 1})")
                    if self.faults.watch_410 == "http":
                        raise ApiError(410, "Expired", too_old["message"])
                    initial_entries = None
            w = Watch(res, ns, path, q, bookmarks, h)
            w.rec = rec
            w.last_rv = pos
            self.watches[w.id] = w
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.send_header("Cache-Control", "no-cache, private")
            h.end_headers()
            h.wfile.flush()
            w.rec["status"] = 200
            if initial_entries is None:       # too old, told as an ERROR event in a 200 stream
                self._send(h, chunk(dumps({"type": "ERROR", "object": too_old}) + b"\n"))
                self._send(h, b"0\r\n\r\n")
                return
            self._stream(h, w, res, matches, initial_entries, pos, timeout, initial)
        except (OSError, ValueError):
            h.close_connection = True
        finally:
            with store.lock:
                self.watches.pop(w.id, None)

    @staticmethod
    def _send(h, data):
        h.wfile.write(data)
        h.wfile.flush()

    def _bookmark(self, res, rv, initial_end=False):
        md = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return chunk(dumps({"type": "BOOKMARK", "object": {
            "kind": res.kind, "apiVersion": res.api_version, "metadata": md}}) + b"\n")

    def _stream(self, h, w, res, matches, initial_entries, pos, timeout, initial):
        store = self.store
        prefix = res.type_prefix
        out = []
        for e in initial_entries:
            out.append(chunk(b'{"type":"ADDED","object":' + prefix + e.raw[1:] + b"}\n"))
            if len(out) >= 256:
                self._send(h, b"".join(out))
                w.sent_events += len(out)
                out = []
        if initial and w.bookmarks:
            out.append(self._bookmark(res, pos, initial_end=True))
        if out:
            self._send(h, b"".join(out))
            w.sent_events += len(out)
        deadline = time.monotonic() + timeout if timeout is not None else None
        next_bookmark = time.monotonic() + self.bookmark_interval
        while True:
            with store.cond:
                while True:
                    if self._stopping.is_set() or self._httpd is None:
                        raise OSError("server going down")
                    if w.commands or (store.history_rvs and store.history_rvs[-1] > pos) \
                            or pos < store.history_start:
                        break
                    now = time.monotonic()
                    wake = next_bookmark if w.bookmarks else now + 1.0
                    if deadline is not None:
                        wake = min(wake, deadline)
                    if now >= wake:
                        break
                    store.cond.wait(min(wake - now, 1.0))
                events = store.events_after(pos)
                # One command a round, after exactly the events that preceded it.
                current = top = store.rv
                cmds = []
                if w.commands:
                    top, cmd = w.commands.pop(0)
                    cmds.append(cmd)
                    if events:
                        first = len(store.history) - len(events)
                        events = events[:max(0, bisect.bisect_right(store.history_rvs, top)
                                             - first)]
            if events is None:
                # This watcher fell behind the history window: the real server says 410 in-band.
                self._send(h, chunk(dumps({"type": "ERROR", "object": status_obj(
                    410, "Expired", f"too old resource version: {pos} "
                    f"({store.history_start + 1})")}) + b"\n") + b"0\r\n\r\n")
                return
            out = []
            last_line = None
            for ev in events:
                if ev.res is not res:
                    continue
                new_ok = ev.type != "DELETED" and matches(ev.entry.obj)
                old_ok = ev.old is not None and matches(ev.old.obj)
                if ev.type == "DELETED":
                    etype = "DELETED" if old_ok else None
                elif new_ok:
                    etype = "MODIFIED" if old_ok else "ADDED"
                else:
                    etype = "DELETED" if old_ok else None
                if etype is None:
                    continue
                if new_ok or ev.type == "DELETED":
                    raw = ev.entry.raw
                else:
                    # Left the selector: the last state it matched in, at this event's rv, so a
                    # client resuming from it does not see the change again.
                    gone = dict(ev.old.obj)
                    gone["metadata"] = dict(gone["metadata"], resourceVersion=str(ev.rv))
                    raw = dumps(gone)
                last_line = b'{"type":"' + etype.encode() + b'","object":' + prefix + raw[1:] + \
                    b"}\n"
                out.append(chunk(last_line))
            pos = max(events[-1].rv if events else pos, top)
            w.last_rv = pos
            now = time.monotonic()
            if w.bookmarks and now >= next_bookmark:
                out.append(self._bookmark(res, pos))
                next_bookmark = now + self.bookmark_interval
            for cmd in cmds:
                if cmd[0] == "bookmark" and (w.bookmarks or cmd[1]):
                    out.append(self._bookmark(res, pos))
                elif cmd[0] == "malformed":
                    _, text, repeat, piece = cmd
                    line = text.encode() + b"\n"
                    if piece:
                        # The line in HTTP chunks of `piece` bytes, each written on its own.
                        self._send(h, b"".join(out))
                        out = []
                        for _ in range(repeat):
                            for at in range(0, len(line), piece):
                                self._send(h, chunk(line[at:at + piece]))
                    else:
                        out.append(chunk(line * repeat))
            if out:
                self._send(h, b"".join(out))
                w.sent_events += len(out)
            for cmd in cmds:
                if cmd[0] == "close":
                    mode = cmd[1]
                    if mode == "clean":
                        self._send(h, b"0\r\n\r\n")
                        return
                    if mode == "mid_event":
                        line = last_line or (b'{"type":"MODIFIED","object":' + prefix + b'"metadata'
                                             b'":{"name":"half","resourceVersion":"' +
                                             str(pos).encode() + b'"}}\n')
                        self._send(h, chunk(line[:max(1, len(line) // 2)]))
                    h.close_connection = True
                    try:
                        h.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    raise OSError("closed on command")
                if cmd[0] == "expire":
                    self._send(h, chunk(dumps({"type": "ERROR", "object": status_obj(
                        410, "Expired", f"too old resource version: {pos} ({current})")})
                        + b"\n") + b"0\r\n\r\n")
                    return
            if deadline is not None and time.monotonic() >= deadline:
                self._send(h, b"0\r\n\r\n")
                return

    # ---------------------------------------------------------------- control API

    def _control(self, h, method, path, q, body):
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError as e:
            return h.send_json(400, {"error": f"invalid JSON: {e}"})
        try:
            result = self._control_op(method, path, q, data)
        except ApiError as e:
            return h.send_json(e.code, e.status)
        except (KeyError, ValueError, TypeError) as e:
            return h.send_json(400, {"error": str(e)})
        if result is None:
            return h.send_json(404, {"error": f"no control endpoint {method} {path}"})
        h.send_json(200, result)

    def _control_op(self, method, path, q, data):
        rv = lambda: {"resourceVersion": self.resource_version}  # noqa: E731
        if path == "/_fake/health" and method == "GET":
            return {"ok": True, "up": self.is_up(), "url": self.url, **rv()}
        if path == "/_fake/objects" and method == "GET":
            kinds = [find_resource(q["kind"])] if q.get("kind") else RESOURCES
            return {"items": [o for r in kinds for o in self.list(r.plural, q.get("namespace"))],
                    **rv()}
        if path == "/_fake/objects" and method == "POST":
            objs = data if isinstance(data, list) else (data or {}).get("items", [data])
            out = self.apply(objs)
            res = {"count": len(out), **rv()}
            if len(out) <= 1000:
                res["objects"] = [{"kind": o["kind"], "namespace": o["metadata"].get("namespace"),
                                   "name": o["metadata"]["name"],
                                   "uid": o["metadata"]["uid"],
                                   "resourceVersion": o["metadata"]["resourceVersion"]}
                                  for o in out]
            return res
        if (path == "/_fake/objects" and method == "DELETE") or \
                (path == "/_fake/objects/delete" and method == "POST"):
            refs = data if isinstance(data, list) else [data]
            deleted, missing = 0, []
            for ref in refs:
                md = ref.get("metadata") or ref
                try:
                    self.delete(ref["kind"], md.get("namespace"), md["name"]) \
                        if find_resource(ref["kind"]).namespaced else \
                        self.delete(ref["kind"], md["name"])
                    deleted += 1
                except ApiError:
                    missing.append(ref)
            return {"deleted": deleted, "missing": missing, **rv()}
        if path == "/_fake/generate" and method == "POST":
            d = data or {}
            self.generate_services(int(d.get("count", 1000)), int(d.get("namespaces", 10)),
                                   d.get("prefix", "svc"), int(d.get("ports", 1)),
                                   int(d.get("start", 0)))
            return {"count": int(d.get("count", 1000)), **rv()}
        if path == "/_fake/fault" and method == "POST":
            specs = data if isinstance(data, list) else [data]
            return {"results": [self.fault(s) for s in specs], **rv()}
        if path == "/_fake/config" and method in ("GET", "POST"):
            return {**self.set_config(**(data or {})), **rv()}
        if path == "/_fake/requests" and method == "GET":
            since = int(q.get("since", 0))
            reqs = self.requests(since, q.get("path"), q.get("method"))
            out = [{k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                    for k, v in r.items()} for r in reqs]
            return {"requests": out, "next": out[-1]["seq"] if out else since}
        if path == "/_fake/requests" and method == "DELETE":
            self.clear_requests()
            return {"cleared": True}
        if path == "/_fake/watches" and method == "GET":
            return {"watches": self.open_watches(q.get("path")), **rv()}
        return None


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def _table_version(accept):
    """'meta.k8s.io/v1' (or v1beta1) when the Accept header asks for a Table first."""
    first = accept.split(",")[0]
    if "as=Table" in first and "g=meta.k8s.io" in first:
        return "meta.k8s.io/v1beta1" if "v=v1beta1" in first else "meta.k8s.io/v1"
    return None


CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results. "
                    "Continuing with the provided token results in an inconsistent list - objects "
                    "that were created, modified, or deleted between the time the first chunk was "
                    "returned and now may show up in the list.")


def encode_continue(rv, last_key):
    # Like the real token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\0"}.
    tok = {"v": "meta.k8s.io/v1", "rv": rv, "start": last_key + "\x00"}
    return base64.urlsafe_b64encode(dumps(tok)).decode().rstrip("=")


def decode_continue(text):
    try:
        pad = "=" * (-len(text) % 4)
        tok = json.loads(base64.urlsafe_b64decode(text + pad))
        if tok.get("v") != "meta.k8s.io/v1":
            raise ValueError("unknown version")
        start = tok["start"]
        return int(tok["rv"]), start[:-1] if start.endswith("\x00") else start
    except (ValueError, KeyError, TypeError) as e:
        raise ApiError(400, "BadRequest", f"continue key is not valid: {e}")


# ------------------------------------------------------------------------------------------------
# Certificates (the openssl command line)


def make_certificates(d):
    """CA, server certificate (127.0.0.1, localhost and the in-cluster names as SANs) and a client
    certificate (CN fake-admin, O system:masters), ECDSA P-256 keys, all valid for ten years."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {p.stderr.strip()}")

    def key(path):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path)
        os.chmod(path, 0o600)

    key(d / "ca.key")
    run("req", "-x509", "-new", "-key", d / "ca.key", "-out", d / "ca.crt", "-days", "3650",
        "-subj", "/CN=fake-apiserver-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    for name, subj, ext in (
            ("server", "/CN=kube-apiserver",
             "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
             "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1\n"
             "extendedKeyUsage=serverAuth\n"),
            ("client", "/O=system:masters/CN=fake-admin", "extendedKeyUsage=clientAuth\n")):
        key(d / f"{name}.key")
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature,keyEncipherment\n" + ext)
        run("req", "-new", "-key", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", subj)
        run("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.crt", "-CAkey",
            d / "ca.key", "-CAcreateserial", "-out", d / f"{name}.crt", "-days", "3650",
            "-extfile", d / f"{name}.ext")
        (d / f"{name}.csr").unlink()
        (d / f"{name}.ext").unlink()


# ------------------------------------------------------------------------------------------------
# Command line


def load_objects(path):
    """Objects from a JSON file (an object, a list, or a v1 List) or, when PyYAML is installed, a
    YAML file of one or more documents."""
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise SystemExit(f"fake-apiserver: {path}: YAML needs PyYAML (python3-yaml); "
                             f"or give JSON")
        docs = [d for d in yaml.safe_load_all(text) if d]
    else:
        data = json.loads(text)
        docs = data if isinstance(data, list) else [data]
    out = []
    for d in docs:
        if d.get("kind", "").endswith("List") and "items" in d:
            out.extend(d["items"])
        else:
            out.append(d)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", required=True, help="certificates, token, kubeconfig go here")
    ap.add_argument("--port", type=int, default=0, help="HTTPS port on 127.0.0.1 (0: any)")
    ap.add_argument("--control-port", type=int, default=0,
                    help="plain-HTTP control port on 127.0.0.1 (0: any; see DIR/control-url)")
    ap.add_argument("--objects", nargs="*", default=[], help="JSON or YAML files to load")
    ap.add_argument("--token", help="bearer token (default: DIR/token if present, else random)")
    ap.add_argument("--history-size", type=int, default=10000, help="watch events kept")
    ap.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds")
    ap.add_argument("--no-defaults", action="store_true",
                    help="start empty (no default namespaces, kubernetes Service/EndpointSlice)")
    args = ap.parse_args(argv)
    objs = [o for f in args.objects for o in load_objects(f)]
    api = FakeApiServer(args.state_dir, port=args.port, control_port=args.control_port,
                        token=args.token, history_size=args.history_size,
                        bookmark_interval=args.bookmark_interval, defaults=not args.no_defaults)
    api.apply(objs)
    api.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(LISTEN_LINE.format(url=api.url), flush=True)
    while not done.wait(3600):
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
