#pragma once
// The one converter from Kubernetes objects (as parsed documents) to the zone's object types. The
// manifest source feeds it YAML documents, the kubernetes source JSON objects from the API.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "zone/document.h"
#include "zone/objects.h"

namespace clusterdns {

// Adds the object in `doc` (or each item of a kind: *List) to `cluster`. Kinds DNS does not
// publish are skipped. Errors read "SOURCE:LINE: WHERE (KIND NS/NAME): FIELD: problem", e.g.
// "examples/app.yaml:14: document 2 (Service production/api): spec.clusterIP: ...".
// An object replaces the one of the same kind, namespace and name; on error nothing changes.
Status add_objects(const DocNode& doc, std::string_view source, std::string_view where,
                   ObjectSink& cluster);

// What add_objects writes, recorded to be written later, in the same order: a manifest load
// converts each file on whichever thread parsed it, and applies the files in order on one.
// apply() fails where add_objects would have: a Service the sink refuses (ObjectRefused) is
// reported with its file, line and document.
class ConvertedObjects : public ObjectSink {
public:
    void upsert(Namespace ns) override { objects_.emplace_back(std::move(ns)); }
    void upsert(Service service) override;
    void upsert(EndpointSet set) override { objects_.emplace_back(std::move(set)); }
    void upsert(Pod pod) override { objects_.emplace_back(std::move(pod)); }
    void upsert(Workload workload) override { objects_.emplace_back(std::move(workload)); }
    void upsert(Ingress ingress) override { objects_.emplace_back(std::move(ingress)); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override;
    // The converter neither changes addresses nor keeps only some objects: nothing to record.
    bool change_cluster_ips(std::string_view, std::string_view, std::span<const IpAddress>,
                            std::span<const IpAddress>, uint8_t) override {
        return false;
    }
    void keep_only(ObjectKind, const NameSet&) override {}

    // Writes what was recorded to `sink`, and forgets it. `source` names the file in errors.
    Status apply(ObjectSink& sink, std::string_view source);
    // Forgets what was recorded.
    void clear() { objects_.clear(); }

    // Where the objects recorded next are (add_objects says): their line, and "document N"...
    void place(uint32_t line, std::string_view where) {
        line_ = line;
        where_ = where;
    }

private:
    // A Service and where it was, for the error if the sink refuses it.
    struct Placed {
        Service service;
        uint32_t line;
        std::string where;
    };
    struct Erased {
        ObjectKind kind;
        std::string ns;
        std::string name;
    };
    std::vector<std::variant<Namespace, Placed, EndpointSet, Pod, Workload, Ingress, Erased>>
        objects_;
    uint32_t line_ = 0;       // of the object being converted
    std::string_view where_;  // "document N", ", items[I]"...
};

// As add_objects above, into `out`.
Status add_objects(const DocNode& doc, std::string_view source, std::string_view where,
                   ConvertedObjects& out);

// Removes the object `doc` names (a watch's DELETED event): only kind, apiVersion,
// metadata.namespace and metadata.name are read. Errors as add_objects.
Status remove_objects(const DocNode& doc, std::string_view source, std::string_view where,
                      ObjectSink& cluster);

// The labels at `path` (a mapping of strings), read leniently: what is not one gives none.
LabelMap labels_at(const DocNode& node, std::initializer_list<std::string_view> path);

}  // namespace clusterdns
