#pragma once
// The kubernetes source: lists and watches Namespaces, Services and EndpointSlices (and Pods with
// `pods verified`) on an API server the way client-go's reflector does, turns every object into a
// DocNode and feeds it through the one converter (zone/convert.h) into the store, one batch at a
// time. plugins/kubernetes/README.md describes the behaviour; setup.h the configuration.

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/kubernetes/json_document.h"
#include "plugins/kubernetes/setup.h"
#include "base/result.h"
#include "zone/document.h"
#include "zone/objects.h"

namespace clusterdns {

// The store side of the source, implemented by the server: all the source knows of where objects
// go. Both calls come from the source's thread.
class KubernetesStore {
public:
    virtual ~KubernetesStore() = default;
    // Runs `edit` on the objects from the API, then publishes them: whatever `edit` changes
    // becomes visible to queries at once, as one batch.
    virtual void update(const std::function<void(ObjectSink&)>& edit) = 0;
    // Every watched resource has been listed once: the API's objects are all in. Called again
    // each time the source has listed everything anew after failed().
    virtual void synced() = 0;
    // The source failed (an exception or a fatal libcurl error on its thread; `why` says which)
    // and starts again after a backoff, from a new list of every resource. The zone keeps what
    // it had, but does not follow the cluster until synced() comes again.
    virtual void failed(std::string_view /*why*/) {}
    // A watched EndpointSlice change of Service `ns`/`service` is in the zone, `latency` after
    // the change that triggered it (endpoints.kubernetes.io/last-change-trigger-time): the
    // DNS programming latency of CoreDNS's kubernetes plugin.
    virtual void programmed(std::string_view /*ns*/, std::string_view /*service*/,
                            std::chrono::nanoseconds /*latency*/) {}
};

// An RFC 3339 time ("2026-12-02T06:43:33Z", "...33.123456Z", "...33+01:00"); nullopt if not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

class KubernetesSource {
public:
    // Starts listing and watching on a thread of its own. Fails only if libcurl cannot start;
    // an unreachable API server is retried for as long as the source runs.
    static Result<std::unique_ptr<KubernetesSource>> start(KubernetesConfig config,
                                                           KubernetesStore& store);
    // Stops the thread; the store is not called after this returns.
    ~KubernetesSource();

    // What the source waits for, one resource at a time: "endpointslices list: HTTP 403: ...";
    // empty once every resource has been listed (since the start or the last restart). Any
    // thread may ask.
    std::string waiting_for() const;
    KubernetesSource(const KubernetesSource&) = delete;
    KubernetesSource& operator=(const KubernetesSource&) = delete;

    struct Impl;

private:
    explicit KubernetesSource(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The decoding and applying steps, on their own so tests can drive them without a server.

// One line of a watch stream (a metav1.WatchEvent).
struct WatchEvent {
    enum class Type { Added, Modified, Deleted, Bookmark, Error };
    Type type = Type::Added;
    DocNode object;
    std::string_view resource_version;  // the object's metadata.resourceVersion
    int status_code = 0;                // Error: the Status's code (410: too old) ...
    std::string_view status_message;    // ... and message
};

// Decodes one watch event. Fails on invalid JSON, an unknown type, or an event without an object
// mapping; the caller skips it.
Result<WatchEvent> decode_watch_event(std::string_view line, JsonParser& parser, DocArena& arena);

// One page of a list. Items get the kind and apiVersion the API leaves out of list items, so the
// converter reads them like any object.
struct ListPage {
    std::vector<DocNode> items;
    std::string resource_version;
    std::string continue_token;  // empty on the last page
};
Result<ListPage> decode_list(std::string_view body, std::string_view kind,
                             std::string_view api_version, JsonParser& parser, DocArena& arena);

// A Status answer's message ("services is forbidden: ..."), or the body cut short if it is none.
std::string status_message(std::string_view body, JsonParser& parser);

// Applies an object of a list or event: added or replaced, or removed with `remove`. Objects
// outside `namespaces` (when not empty) are ignored. An object the converter refuses changes
// nothing; the error names it.
Status apply_object(const DocNode& object, bool remove, const std::vector<std::string>& namespaces,
                    ObjectSink& cluster);

}  // namespace clusterdns
