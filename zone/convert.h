#pragma once
// The one converter from Kubernetes objects (as parsed documents) to the zone's object types. The
// manifest source feeds it YAML documents, the kubernetes source JSON objects from the API.

#include <string_view>

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

// Removes the object `doc` names (a watch's DELETED event): only kind, apiVersion,
// metadata.namespace and metadata.name are read. Errors as add_objects.
Status remove_objects(const DocNode& doc, std::string_view source, std::string_view where,
                      ObjectSink& cluster);

// The labels at `path` (a mapping of strings), read leniently: what is not one gives none.
LabelMap labels_at(const DocNode& node, std::initializer_list<std::string_view> path);

}  // namespace clusterdns
