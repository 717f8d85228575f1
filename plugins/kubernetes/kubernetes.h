#pragma once
// The kubernetes source: lists and watches Namespaces, Services and EndpointSlices (and Pods with
// `pods verified`) on an API server the way client-go's reflector does, turns every object into a
// DocNode and feeds it through the one converter (zone/convert.h) into the store, one batch at a
// time. plugins/kubernetes/README.md describes the behaviour; setup.h the configuration.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "plugins/kubernetes/json_document.h"
#include "plugins/kubernetes/setup.h"
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
    // Runs `look` on the objects from the API as they are, changing and publishing nothing: a
    // re-list asks which of its objects the store already holds (ObjectSink::holds).
    virtual void look(const std::function<void(const ObjectSink&)>& look) {
        update([&](ObjectSink& objects) { look(objects); });
    }
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
    size_t left_out = 0;  // items `want` refused
    std::string resource_version;
    std::string continue_token;  // empty on the last page
};
// With `want`, only the items it accepts are built (JsonParser::parse_list).
Result<ListPage> decode_list(std::string_view body, std::string_view kind,
                             std::string_view api_version, JsonParser& parser, DocArena& arena,
                             const WantItem& want = nullptr);

// A Status answer's message ("services is forbidden: ..."), or the body cut short if it is none.
std::string status_message(std::string_view body, JsonParser& parser);

// Applies an object of a list or event: added or replaced, or removed with `remove`. Objects
// outside `namespaces` (when not empty) are ignored. An object the converter refuses changes
// nothing; the error names it.
Status apply_object(const DocNode& object, bool remove, const std::vector<std::string>& namespaces,
                    ObjectSink& cluster);

// The resourceVersion of each object of one resource as the store has it from the API. Every write
// to an object gives it a new resourceVersion, never one another object had: a re-list converts
// only the objects whose version moved, and names the rest. 8 bytes an object: a 32-bit hash of
// its namespace and name, and the low 32 bits of the version (the decimal etcd revision API
// servers write; other text is hashed). Two names that share a hash cost a conversion; a change
// goes unseen only if the new version is the old one plus a multiple of 2^32 (billions of writes
// to the cluster apart, and then one chance in 2^32).
class KnownVersions {
public:
    bool same(std::string_view ns, std::string_view name, std::string_view version) const;
    // A watch event is in the store: the object is at `version`, or gone.
    void set(std::string_view ns, std::string_view name, std::string_view version);
    void erase(std::string_view ns, std::string_view name);
    // A list under way notes each object it leaves in the store; complete, they become every
    // version known (commit); failed, they are forgotten (abandon).
    void note(std::string_view ns, std::string_view name, std::string_view version);
    void commit();
    void abandon();
    void clear();
    size_t size() const { return known_.size(); }

private:
    struct Entry {
        uint32_t key;
        uint32_t version;  // 0: erased
    };
    static Entry entry(std::string_view ns, std::string_view name, std::string_view version);
    // Takes the recent changes into known_.
    void merge();
    // Indexes known_ by its keys' top bits (after every change to it).
    void index();
    // The run of starts_ that holds `key`.
    uint32_t run_of(uint32_t key) const noexcept {
        return top_bits_ == 0 ? 0 : key >> (32 - top_bits_);
    }

    std::vector<Entry> known_;    // sorted by key; a key twice for names that share it
    // Where each run of keys with the same top bits starts in known_, and its end: a re-list asks
    // for every object, and a binary search of 100,000 entries misses the cache a dozen times.
    std::vector<uint32_t> starts_;
    unsigned top_bits_ = 0;
    std::vector<Entry> changes_;  // since, in order; version 0: erased
    std::vector<Entry> noted_;    // by the list under way
};

// A list that replaces a complete one, held back until it is complete: meanwhile the zone answers
// from the last list, and the new one is published in one batch. Of the objects it reads, only
// those the store does not hold as they are wait here (with their names, every object's name):
// a re-list of 100,000 unchanged objects costs their names, not a second copy of them, and
// writes nothing to the store.
class StagedList {
public:
    // Converts one item of a page (apply_object); its changes wait for filter(). An object the
    // converter refuses is not named, so complete() removes its earlier version, as a list
    // applied as it comes would.
    Status add(const DocNode& item, const std::vector<std::string>& namespaces);
    // Names an object the list holds as the store has it (its version did not move).
    void name(std::string_view ns, std::string_view name) { listed_.add(ns, name); }
    // Keeps the changes of the items added since the last call that `current` does not hold
    // (ObjectSink::holds); the others are only named.
    void filter(const ObjectSink& current);
    // The list is complete: its changes go to `sink`, then every object of `kind` it did not
    // name; then it is empty again.
    void complete(ObjectKind kind, ObjectSink& sink);
    // Forgets the list (it failed, or starts again), giving its memory back.
    void clear();
    size_t changed_objects() const { return changed_objects_; }

private:
    struct Erased {
        ObjectKind kind;
        std::string ns;
        std::string name;
    };
    using Change = std::variant<Namespace, Service, EndpointSet, Pod, Erased>;
    class Collector;

    std::vector<Change> added_;      // the changes of the items added since filter()
    std::vector<size_t> item_ends_;  // where each of those items' changes end in added_
    std::vector<Change> changes_;    // the changes kept so far, in list order
    size_t changed_objects_ = 0;
    NameSet listed_;
};

}  // namespace clusterdns
