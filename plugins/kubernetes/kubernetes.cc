#include "plugins/kubernetes/kubernetes.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <ctime>
#include <iterator>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <curl/curl.h>
#include <fmt/format.h>

#include "base/rate_limit.h"
#include "base/threads.h"
#include "zone/convert.h"

namespace clusterdns {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// client-go's reflector: pages of 500, reconnect backoff from 0.8 s doubling to 30 s with jitter,
// watches of 5-10 minutes.
constexpr int kPageSize = 500;
constexpr double kBackoffInitialSeconds = 0.8;
constexpr double kBackoffMaxSeconds = 30;
constexpr unsigned kMinWatchTimeoutSeconds = 300;
// A watch that ends sooner without an event is a failure (client-go's "very short watch").
constexpr Seconds kShortWatch{1.0};
// Events that keep arriving (a re-list, a rollout) are published together, at most this long
// after the first of them; an event on a quiet stream is published at once.
constexpr auto kBatchWindow = std::chrono::milliseconds(5);
// A watch the server does not end by itself (a hung connection) is dropped this long after its
// timeoutSeconds.
constexpr long kWatchGraceSeconds = 30;
// The API server's objects are at most 1.5 MiB; a list page of 500 fits easily in this.
constexpr size_t kMaxBodyBytes = 256u << 20;
constexpr size_t kMaxEventBytes = 16u << 20;
// A body buffer keeps room up to this between the pages of a list (a page is a few MiB at most); a
// larger one, a list cut at kMaxBodyBytes or a huge event, is freed once used. Watching, it keeps
// only room for a few events: a page's room would stay for nothing until the next list.
constexpr size_t kKeptBufferBytes = 4u << 20;
constexpr size_t kKeptWatchBufferBytes = 64u << 10;
// libcurl's receive buffer: large for a list's pages, its default for a watch's events.
constexpr long kListReceiveBufferBytes = 256L << 10;
// Bound tokens rotate (client-go re-reads the file every minute).
constexpr auto kTokenRefresh = std::chrono::seconds(60);
// Log lines a second at most: an API server that sends garbage in a loop cannot fill a disk.
constexpr uint32_t kLogLinesPerSecond = 20;

struct ResourceType {
    const char* path;  // the cluster-wide collection
    const char* plural;
    const char* kind;
    const char* api_version;
    ObjectKind object_kind;
};

constexpr ResourceType kNamespaces{"/api/v1/namespaces", "namespaces", "Namespace", "v1",
                                   ObjectKind::Namespace};
constexpr ResourceType kServices{"/api/v1/services", "services", "Service", "v1",
                                 ObjectKind::Service};
constexpr ResourceType kEndpointSlices{"/apis/discovery.k8s.io/v1/endpointslices", "endpointslices",
                                       "EndpointSlice", "discovery.k8s.io/v1",
                                       ObjectKind::EndpointSlice};
constexpr ResourceType kPods{"/api/v1/pods", "pods", "Pod", "v1", ObjectKind::Pod};

// The resource as an RBAC rule names it: "services", "endpointslices.discovery.k8s.io".
std::string rbac_resource(const ResourceType& type) {
    const std::string_view version = type.api_version;
    const size_t slash = version.find('/');
    return slash == std::string_view::npos
               ? std::string(type.plural)
               : fmt::format("{}.{}", type.plural, version.substr(0, slash));
}

// A list item as a whole object: "kind" and "apiVersion" first, then the item's own members.
DocNode typed_item(const DocNode& item, std::string_view kind, std::string_view api_version,
                   DocArena& arena) {
    if (!item.is_mapping() || item.find("kind") != nullptr) {
        return item;
    }
    std::vector<DocMember> members;
    members.reserve(item.members.size() + 2);
    DocNode value{.kind = DocNode::Kind::Scalar, .quoted = true, .text = kind};
    members.push_back({"kind", value});
    value.text = api_version;
    members.push_back({"apiVersion", value});
    members.insert(members.end(), item.members.begin(), item.members.end());
    DocNode typed = item;
    typed.members = arena.copy(std::span<const DocMember>(members));
    return typed;
}

}  // namespace

Result<WatchEvent> decode_watch_event(std::string_view line, JsonParser& parser, DocArena& arena) {
    auto doc = parser.parse(line, arena);
    if (!doc) {
        return doc.error();
    }
    const std::string_view type = scalar_at(*doc, {"type"});
    const DocNode* object = doc->find("object");
    if (object == nullptr || !object->is_mapping()) {
        return Error{"an event without an object"};
    }
    WatchEvent event;
    event.object = *object;
    event.resource_version = scalar_at(*object, {"metadata", "resourceVersion"});
    if (type == "ADDED") {
        event.type = WatchEvent::Type::Added;
    } else if (type == "MODIFIED") {
        event.type = WatchEvent::Type::Modified;
    } else if (type == "DELETED") {
        event.type = WatchEvent::Type::Deleted;
    } else if (type == "BOOKMARK") {
        event.type = WatchEvent::Type::Bookmark;
    } else if (type == "ERROR") {
        event.type = WatchEvent::Type::Error;
        const std::string_view code = scalar_at(*object, {"code"});
        std::from_chars(code.data(), code.data() + code.size(), event.status_code);
        event.status_message = scalar_at(*object, {"message"});
    } else {
        return Error{fmt::format("unknown event type {}", quoted(type))};
    }
    return event;
}

Result<ListPage> decode_list(std::string_view body, std::string_view kind,
                             std::string_view api_version, JsonParser& parser, DocArena& arena,
                             const WantItem& want) {
    size_t left_out = 0;
    auto doc = want ? parser.parse_list(body, arena,
                                        [&](const ItemHeader& item) {
                                            const bool wanted = want(item);
                                            left_out += !wanted;
                                            return wanted;
                                        })
                    : parser.parse(body, arena);
    if (!doc) {
        return doc.error();
    }
    const DocNode* items = doc->find("items");
    if (!doc->is_mapping() || (items != nullptr && !items->is_sequence() && !items->is_null())) {
        return Error{"not a list: expected a mapping with items"};
    }
    ListPage page;
    page.left_out = left_out;
    page.resource_version = scalar_at(*doc, {"metadata", "resourceVersion"});
    page.continue_token = scalar_at(*doc, {"metadata", "continue"});
    if (items != nullptr) {
        for (const DocNode& item : items->items) {
            page.items.push_back(typed_item(item, kind, api_version, arena));
        }
    }
    return page;
}

std::string status_message(std::string_view body, JsonParser& parser) {
    DocArena arena;
    if (auto doc = parser.parse(body, arena)) {
        if (const std::string_view message = scalar_at(*doc, {"message"}); !message.empty()) {
            return escaped(message);
        }
    }
    return body.empty() ? std::string("(no body)") : escaped(body);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
    const auto number = [&](size_t at, size_t digits) -> int {
        int value = 0;
        if (at + digits > text.size()) {
            return -1;
        }
        for (size_t i = at; i < at + digits; ++i) {
            if (text[i] < '0' || text[i] > '9') {
                return -1;
            }
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = number(0, 4) - 1900;
    tm.tm_mon = number(5, 2) - 1;
    tm.tm_mday = number(8, 2);
    tm.tm_hour = number(11, 2);
    tm.tm_min = number(14, 2);
    tm.tm_sec = number(17, 2);
    // Years a nanosecond clock holds (to 2262), months, days and times of day that exist.
    if (tm.tm_year < 70 || tm.tm_year > 300 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
        tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    size_t at = 19;
    std::chrono::nanoseconds fraction{0};
    if (text[at] == '.') {
        int64_t scale = 100'000'000;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, scale /= 10) {
            fraction += std::chrono::nanoseconds((text[at] - '0') * scale);
        }
    }
    std::chrono::seconds offset{0};
    if (at < text.size() && (text[at] == '+' || text[at] == '-') && at + 6 == text.size() &&
        text[at + 3] == ':' && number(at + 1, 2) >= 0 && number(at + 4, 2) >= 0) {
        offset = std::chrono::minutes(number(at + 1, 2) * 60 + number(at + 4, 2));
        if (text[at] == '-') {
            offset = -offset;
        }
    } else if (at + 1 != text.size() || (text[at] != 'Z' && text[at] != 'z')) {
        return std::nullopt;
    }
    const time_t seconds = timegm(&tm);
    return std::chrono::system_clock::from_time_t(seconds) - offset +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

Status apply_object(const DocNode& object, bool remove, const std::vector<std::string>& namespaces,
                    ObjectSink& cluster) {
    if (!namespaces.empty()) {
        // A Namespace is itself the name to check; other objects by their namespace.
        const bool is_namespace = scalar_at(object, {"kind"}) == "Namespace";
        const std::string_view ns =
            scalar_at(object, {"metadata", is_namespace ? "name" : "namespace"});
        if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) {
            return {};
        }
    }
    return remove ? remove_objects(object, "API", "deleted object", cluster)
                  : add_objects(object, "API", "object", cluster);
}

namespace {

// Recent changes are merged into the sorted versions once there are this many: a lookup reads
// them one by one.
constexpr size_t kVersionChanges = 256;

uint32_t version_value(std::string_view version) {
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), value);
    if (ec != std::errc() || end != version.data() + version.size()) {
        value = std::hash<std::string_view>()(version);  // opaque text
    }
    const auto low = static_cast<uint32_t>(value);
    return low != 0 ? low : 1;  // 0 is "erased"
}

}  // namespace

KnownVersions::Entry KnownVersions::entry(std::string_view ns, std::string_view name,
                                          std::string_view version) {
    const std::hash<std::string_view> hash;
    const uint64_t key = hash(ns) * 0x9E3779B97F4A7C15ull ^ hash(name);
    return {static_cast<uint32_t>(key ^ key >> 32), version.empty() ? 0 : version_value(version)};
}

bool KnownVersions::same(std::string_view ns, std::string_view name,
                         std::string_view version) const {
    if (version.empty()) {
        return false;
    }
    const Entry e = entry(ns, name, version);
    // The latest change of the key decides; without one, any entry of the key with the version
    // (the other names of a shared key have versions no object will have again).
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
        if (it->key == e.key) {
            return it->version == e.version;
        }
    }
    if (starts_.empty()) {
        return false;
    }
    const uint32_t run = run_of(e.key);
    for (uint32_t i = starts_[run]; i < starts_[run + 1] && known_[i].key <= e.key; ++i) {
        if (known_[i].key == e.key && known_[i].version == e.version) {
            return true;
        }
    }
    return false;
}

void KnownVersions::index() {
    // About eight entries a run (one or two cache lines), 4 bytes a run: half a byte an object.
    top_bits_ = std::min(static_cast<unsigned>(std::bit_width(known_.size() / 8)), 24u);
    starts_.assign((size_t{1} << top_bits_) + 1, 0);
    for (const Entry& k : known_) {
        ++starts_[run_of(k.key) + 1];
    }
    std::partial_sum(starts_.begin(), starts_.end(), starts_.begin());
}

void KnownVersions::set(std::string_view ns, std::string_view name, std::string_view version) {
    changes_.push_back(entry(ns, name, version));
    if (changes_.size() >= kVersionChanges) {
        merge();
    }
}

void KnownVersions::erase(std::string_view ns, std::string_view name) {
    set(ns, name, {});
}

void KnownVersions::merge() {
    // The last change of each key replaces every entry of that key.
    std::stable_sort(changes_.begin(), changes_.end(),
                     [](const Entry& a, const Entry& b) { return a.key < b.key; });
    std::vector<Entry> merged;
    merged.reserve(known_.size() + changes_.size());
    auto known = known_.begin();
    for (size_t i = 0; i < changes_.size(); ++i) {
        const Entry& change = changes_[i];
        if (i + 1 < changes_.size() && changes_[i + 1].key == change.key) {
            continue;  // a later change of the same key follows
        }
        for (; known != known_.end() && known->key < change.key; ++known) {
            merged.push_back(*known);
        }
        for (; known != known_.end() && known->key == change.key; ++known) {
        }
        if (change.version != 0) {
            merged.push_back(change);
        }
    }
    merged.insert(merged.end(), known, known_.end());
    known_ = std::move(merged);
    changes_.clear();
    index();
}

void KnownVersions::note(std::string_view ns, std::string_view name, std::string_view version) {
    if (!version.empty()) {
        noted_.push_back(entry(ns, name, version));
    }
}

void KnownVersions::commit() {
    std::sort(noted_.begin(), noted_.end(),
              [](const Entry& a, const Entry& b) { return a.key < b.key; });
    known_ = std::move(noted_);
    known_.shrink_to_fit();
    noted_ = {};
    changes_.clear();
    index();
}

void KnownVersions::abandon() {
    noted_ = {};
}

void KnownVersions::clear() {
    known_ = {};
    starts_ = {};
    changes_ = {};
    noted_ = {};
}

// Takes what the converter writes as changes of the items under way.
class StagedList::Collector : public ObjectSink {
public:
    explicit Collector(std::vector<Change>& out) : out_(out) {}
    void upsert(Namespace ns) override { out_.emplace_back(std::move(ns)); }
    void upsert(Service service) override { out_.emplace_back(std::move(service)); }
    void upsert(EndpointSet set) override { out_.emplace_back(std::move(set)); }
    void upsert(Pod pod) override { out_.emplace_back(std::move(pod)); }
    bool erase(ObjectKind kind, std::string_view ns, std::string_view name) override {
        out_.emplace_back(Erased{kind, std::string(ns), std::string(name)});
        return true;
    }
    bool change_cluster_ips(std::string_view, std::string_view, std::span<const IpAddress>,
                            std::span<const IpAddress>, uint8_t) override {
        return false;  // the API's Services have theirs; only manifests are allocated
    }
    void keep_only(ObjectKind, const NameSet&) override {}

private:
    std::vector<Change>& out_;
};

Status StagedList::add(const DocNode& item, const std::vector<std::string>& namespaces) {
    const size_t start = added_.size();
    Collector collector(added_);
    ListingSink listing(collector, {&listed_, &listed_, &listed_, &listed_, &listed_});
    Status s = apply_object(item, false, namespaces, listing);
    if (!s) {
        added_.erase(added_.begin() + static_cast<ptrdiff_t>(start), added_.end());
    }
    item_ends_.push_back(added_.size());
    return s;
}

void StagedList::filter(const ObjectSink& current) {
    const auto held = [&](const Change& change) {
        return std::visit(
            [&](const auto& object) {
                if constexpr (std::is_same_v<std::decay_t<decltype(object)>, Erased>) {
                    return false;
                } else {
                    return current.holds(object);
                }
            },
            change);
    };
    size_t begin = 0;
    for (const size_t end : item_ends_) {
        const auto first = added_.begin() + static_cast<ptrdiff_t>(begin);
        const auto last = added_.begin() + static_cast<ptrdiff_t>(end);
        // An item is one object, but a legacy Endpoints object is an erasure and a set per
        // subset: all of them, or none.
        if (!std::all_of(first, last, held)) {
            std::move(first, last, std::back_inserter(changes_));
            ++changed_objects_;
        }
        begin = end;
    }
    added_.clear();
    item_ends_.clear();
}

void StagedList::complete(ObjectKind kind, ObjectSink& sink) {
    for (Change& change : changes_) {
        std::visit(
            [&](auto& object) {
                if constexpr (std::is_same_v<std::decay_t<decltype(object)>, Erased>) {
                    sink.erase(object.kind, object.ns, object.name);
                } else {
                    sink.upsert(std::move(object));
                }
            },
            change);
    }
    listed_.seal();
    sink.keep_only(kind, listed_);
    clear();
}

void StagedList::clear() {
    std::vector<Change>().swap(added_);
    std::vector<size_t>().swap(item_ends_);
    std::vector<Change>().swap(changes_);
    changed_objects_ = 0;
    listed_.clear();
}

// ------------------------------------------------------------------------------------------------
// The source: one thread drives a libcurl multi handle with one transfer per resource at a time.

namespace {

// One resource's list+watch, as client-go's reflector: list (in pages), then watch from the
// list's resourceVersion, resume after a clean close, re-list after 410 Gone.
struct Reflector {
    const ResourceType* type = nullptr;
    std::string label_selector;

    enum class Phase { List, Watch } phase = Phase::List;
    std::string resource_version;     // the last one seen: where the next watch starts
    std::string continue_token;       // the next page of the list under way
    bool whole_list = false;          // the next list unpaged: a continue token expired
    NameSet listed;                   // the objects of a first list under way, already in the store
    size_t listed_items = 0;
    bool synced = false;  // listed once
    // A complete list of this kind is in the store (since the start, whatever restarts came
    // after): the next list replaces it in one batch, its changes staged meanwhile.
    bool in_store = false;
    StagedList staged;
    KnownVersions versions;          // of the objects of this kind in the store
    Clock::time_point list_started;  // the first page's request

    // The request in flight.
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;         // list or error body; while watching, the incomplete last line
    std::string page;         // a list's page being read while the next one arrives in `body`
    size_t events = 0;        // received by this watch
    bool gone = false;        // an ERROR event with a 410 Status: re-list
    std::string watch_error;  // another ERROR event's message
    Clock::time_point started;

    // When the next request may go out, the backoff that set it, and why (until a request
    // succeeds).
    Clock::time_point next_attempt;
    double backoff_seconds = 0;
    std::string problem;

    std::string what() const {
        return fmt::format("{} {}", type->plural, phase == Phase::List ? "list" : "watch");
    }
};

enum class OpType { Upsert, Remove };

// One change of the next batch.
struct Op {
    OpType type;
    DocNode object;
    Reflector* from;
};

}  // namespace

struct KubernetesSource::Impl {
    KubernetesConfig config;
    KubernetesStore& store;
    std::vector<Reflector> reflectors;
    CURLM* multi = nullptr;
    std::thread thread;
    std::atomic<bool> stopping{false};

    JsonParser parser;
    std::unique_ptr<DocArena> batch_arena = std::make_unique<DocArena>();
    std::vector<Op> batch;
    Clock::time_point batch_deadline;
    bool synced_reported = false;
    Clock::time_point started = Clock::now();

    std::string token;
    Clock::time_point token_read;
    std::mt19937_64 rng{std::random_device{}()};

    // What waiting_for() says, rebuilt by the source's thread (update_status); the reason of the
    // last restart, until everything is listed again.
    mutable std::mutex status_mutex;
    std::string waiting;
    std::string restarted_after;
    Clock::time_point status_updated;

    LineLimiter log_lines{kLogLinesPerSecond};

    Impl(KubernetesConfig c, KubernetesStore& s) : config(std::move(c)), store(s) {}

    ~Impl() {
        for (Reflector& r : reflectors) {
            end_transfer(r);
        }
        if (multi != nullptr) {
            curl_multi_cleanup(multi);
        }
    }

    // Runs the source until it stops; after an exception, tells the store, waits a backoff and
    // starts again from new lists.
    void supervise();
    void run();
    // `[LEVEL] plugin/kubernetes: message` on stderr, within kLogLinesPerSecond.
    template <class... Args>
    void log(const char* level, fmt::format_string<Args...> format, Args&&... args) {
        uint64_t left_out = 0;
        const bool allowed = log_lines.allow(left_out);
        if (left_out != 0) {
            fmt::print(stderr,
                       "[WARNING] plugin/kubernetes: {} lines left out (more than {} a second)\n",
                       left_out, kLogLinesPerSecond);
        }
        if (allowed) {
            fmt::print(stderr, "[{}] plugin/kubernetes: {}\n", level,
                       fmt::format(format, std::forward<Args>(args)...));
        }
    }
    // Back to the state of a new source: no transfer, nothing listed, an empty batch.
    void reset();
    void update_status();
    void start_request(Reflector& r);
    void finish(Reflector& r, CURLcode result);
    void end_transfer(Reflector& r);
    // Empties the body once its answer is used up; frees it if it grew past what the next answer
    // needs (kKeptBufferBytes, kKeptWatchBufferBytes).
    static void release_body(Reflector& r);
    bool on_watch_data(Reflector& r, size_t new_bytes);
    void on_list_page(Reflector& r);
    void relist(Reflector& r, Clock::time_point when);
    // Drops the list under way: a re-list's staged changes go, a first list's pages stay in the
    // store until a complete list replaces them.
    static void forget_list(Reflector& r);
    // A list's item is in the store (or left out by the namespaces) at its version.
    static void note_version(Reflector& r, const DocNode& item);
    void retry_later(Reflector& r, std::string_view why, double at_least_seconds = 0);
    void add(Op op);
    void flush();
    const std::string& bearer_token(bool force_reread);

    static size_t on_data(char* data, size_t size, size_t count, void* user) noexcept;
};

namespace {

struct Transfer {
    KubernetesSource::Impl* impl;
    Reflector* reflector;
};

std::string escape(CURL* easy, std::string_view text) {
    char* out = curl_easy_escape(easy, text.data(), static_cast<int>(text.size()));
    std::string result = out != nullptr ? out : "";
    curl_free(out);
    return result;
}

void set_blob(CURL* easy, CURLoption option, const std::string& data) {
    curl_blob blob{
        .data = const_cast<char*>(data.data()), .len = data.size(), .flags = CURL_BLOB_COPY};
    curl_easy_setopt(easy, option, &blob);
}

}  // namespace

const std::string& KubernetesSource::Impl::bearer_token(bool force_reread) {
    const ApiConfig& api = config.api;
    if (api.token_file.empty()) {
        return api.token;
    }
    const auto now = Clock::now();
    if (force_reread || token.empty() || now - token_read >= kTokenRefresh) {
        if (auto fresh = read_token_file(api.token_file)) {
            token = std::move(*fresh);
            token_read = now;
        } else {
            log("ERROR", "{}", fresh.error().message);  // keep the one we had
        }
    }
    return token;
}

void KubernetesSource::Impl::start_request(Reflector& r) {
    r.easy = curl_easy_init();
    if (r.easy == nullptr) {
        retry_later(r, "cannot create a transfer");
        return;
    }
    CURL* easy = r.easy;
    std::string url = config.api.server + r.type->path;
    if (r.phase == Reflector::Phase::List) {
        // No resourceVersion: a consistent read from etcd, paged (resourceVersion=0 would be
        // served whole from the watch cache, ignoring limit). After an expired continue token,
        // one list in one piece, as client-go's pager falls back to (FullListIfExpired).
        url += r.whole_list ? "?limit=0" : fmt::format("?limit={}", kPageSize);
        if (!r.continue_token.empty()) {
            url += "&continue=" + escape(easy, r.continue_token);
        } else {
            r.list_started = Clock::now();
        }
    } else {
        const unsigned timeout =
            config.watch_timeout_seconds != 0
                ? config.watch_timeout_seconds
                : kMinWatchTimeoutSeconds +
                      static_cast<unsigned>(rng() % (kMinWatchTimeoutSeconds + 1));
        url += fmt::format(
            "?watch=true&allowWatchBookmarks=true&resourceVersion={}"
            "&timeoutSeconds={}",
            escape(easy, r.resource_version), timeout);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(timeout) + kWatchGraceSeconds);
    }
    if (!r.label_selector.empty()) {
        url += "&labelSelector=" + escape(easy, r.label_selector);
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());

    const ApiConfig& api = config.api;
    r.headers = curl_slist_append(nullptr, "Accept: application/json");
    if (const std::string& bearer = bearer_token(false); !bearer.empty()) {
        r.headers = curl_slist_append(r.headers, ("Authorization: Bearer " + bearer).c_str());
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r.headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "clusterdns/0.1.0");
    if (!api.ca_file.empty() || !api.ca_pem.empty()) {
        // The cluster's CA alone, as client-go trusts it: curl would otherwise also trust the
        // system's CA bundle (a blob given) and directory.
        curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
        curl_easy_setopt(easy, CURLOPT_CAINFO, api.ca_file.empty() ? nullptr : api.ca_file.c_str());
    }
    if (!api.ca_pem.empty()) {
        set_blob(easy, CURLOPT_CAINFO_BLOB, api.ca_pem);
    }
    if (!api.cert_file.empty()) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, api.cert_file.c_str());
    }
    if (!api.cert_pem.empty()) {
        set_blob(easy, CURLOPT_SSLCERT_BLOB, api.cert_pem);
    }
    if (!api.key_file.empty()) {
        curl_easy_setopt(easy, CURLOPT_SSLKEY, api.key_file.c_str());
    }
    if (!api.key_pem.empty()) {
        set_blob(easy, CURLOPT_SSLKEY_BLOB, api.key_pem);
    }
    if (api.insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
    if (r.phase == Reflector::Phase::List) {
        // A list that stops moving is dead; a watch may be silent for minutes.
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, kListReceiveBufferBytes);
    }
    auto* transfer = new Transfer{this, &r};
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
    r.body.clear();
    r.events = 0;
    r.gone = false;
    r.watch_error.clear();
    r.started = Clock::now();
    curl_multi_add_handle(multi, easy);
    if (!r.synced) {
        update_status();
    }
}

void KubernetesSource::Impl::end_transfer(Reflector& r) {
    if (r.easy == nullptr) {
        return;
    }
    Transfer* transfer = nullptr;
    curl_easy_getinfo(r.easy, CURLINFO_PRIVATE, &transfer);
    delete transfer;
    curl_multi_remove_handle(multi, r.easy);
    curl_easy_cleanup(r.easy);
    curl_slist_free_all(r.headers);
    r.easy = nullptr;
    r.headers = nullptr;
}

size_t KubernetesSource::Impl::on_data(char* data, size_t size, size_t count, void* user) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    Reflector& r = *transfer->reflector;
    const size_t bytes = size * count;
    long status = 0;
    curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &status);
    const bool events = r.phase == Reflector::Phase::Watch && status == 200;
    if (r.body.size() + bytes > (events ? kMaxEventBytes : kMaxBodyBytes)) {
        transfer->impl->log("ERROR", "{}: answer larger than {} MiB, dropped", r.what(),
                            (events ? kMaxEventBytes : kMaxBodyBytes) >> 20);
        return 0;  // aborts the transfer
    }
    try {
        r.body.append(data, bytes);
        if (events && !transfer->impl->on_watch_data(r, bytes)) {
            return 0;
        }
    } catch (const std::exception& e) {
        transfer->impl->log("ERROR", "{}: {}", r.what(), e.what());
        return 0;
    }
    return bytes;
}

// Decodes the complete lines of a watch stream into the batch, the last `new_bytes` of the body
// having just arrived. False stops the stream.
bool KubernetesSource::Impl::on_watch_data(Reflector& r, size_t new_bytes) {
    // What came before holds no newline (it is the incomplete last line): only the new bytes are
    // searched, so a 15 MB event in 4 KiB pieces costs its length, not its length squared.
    size_t start = 0;
    size_t from = r.body.size() - new_bytes;
    for (size_t end; (end = r.body.find('\n', from)) != std::string::npos; start = from = end + 1) {
        const std::string_view line(r.body.data() + start, end - start);
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        auto event = decode_watch_event(line, parser, *batch_arena);
        if (!event) {
            // Never fatal: the stream goes on, and the resourceVersion stays where it was.
            log("WARNING", "{}: malformed event skipped: {}: {}", r.what(), event.error().message,
                escaped(line));
            continue;
        }
        ++r.events;
        switch (event->type) {
            case WatchEvent::Type::Bookmark:
                break;
            case WatchEvent::Type::Error:
                if (event->status_code == 410) {
                    r.gone = true;
                } else {
                    r.watch_error = fmt::format("ERROR event: {} {}", event->status_code,
                                                escaped(event->status_message));
                }
                r.body.erase(0, end + 1);
                return false;  // the server ends the watch after an error; so do we
            case WatchEvent::Type::Added:
            case WatchEvent::Type::Modified:
            case WatchEvent::Type::Deleted:
                add({event->type == WatchEvent::Type::Deleted ? OpType::Remove : OpType::Upsert,
                     event->object, &r});
                break;
        }
        if (!event->resource_version.empty()) {
            r.resource_version = event->resource_version;
        }
    }
    r.body.erase(0, start);
    if (r.body.capacity() > kKeptWatchBufferBytes && r.body.size() <= kKeptWatchBufferBytes / 2) {
        r.body.shrink_to_fit();  // a huge event has passed; its room need not stay
    }
    return true;
}

void KubernetesSource::Impl::release_body(Reflector& r) {
    r.body.clear();
    if (r.body.capacity() >
        (r.phase == Reflector::Phase::List ? kKeptBufferBytes : kKeptWatchBufferBytes)) {
        std::string().swap(r.body);
        malloc_trim(0);  // the heap's freed pages too, whatever malloc's thresholds
    }
}

namespace {

// The continue token of a list page, read from the text before its items (the API server writes
// the list's metadata first): the next page can be asked for before this one is parsed. Empty
// when not found there; the page's parsed token decides in the end.
std::string_view continue_ahead(std::string_view page) {
    const size_t items = page.find("\"items\":");
    constexpr std::string_view kKey = "\"continue\":\"";
    const size_t key = page.substr(0, items).find(kKey);
    if (items == std::string_view::npos || key == std::string_view::npos) {
        return {};
    }
    const std::string_view token = page.substr(key + kKey.size(), items - key - kKey.size());
    const size_t end = token.find_first_of("\"\\");
    return end != std::string_view::npos && token[end] == '"' ? token.substr(0, end)
                                                              : std::string_view();
}

}  // namespace

void KubernetesSource::Impl::on_list_page(Reflector& r) {
    // The next page is asked for before this one is read: the API server prepares it, and it
    // arrives, while this one is parsed and converted.
    std::swap(r.page, r.body);
    const std::string ahead(r.whole_list ? std::string_view() : continue_ahead(r.page));
    if (!ahead.empty()) {
        r.continue_token = ahead;
        start_request(r);
    }
    DocArena arena;  // this page's tree, freed when it is converted
    // A re-list builds and converts only the objects whose version moved; the others are named,
    // as the store has them.
    const auto unchanged = [&](const ItemHeader& item) {
        if (!r.versions.same(item.ns, item.name, item.resource_version)) {
            return true;
        }
        r.staged.name(item.ns, item.name);
        r.versions.note(item.ns, item.name, item.resource_version);
        return false;
    };
    auto page = decode_list(r.page, r.type->kind, r.type->api_version, parser, arena,
                            r.in_store ? WantItem(unchanged) : WantItem());
    r.page.clear();
    if (!page) {
        end_transfer(r);  // the next page, asked for ahead
        retry_later(r, fmt::format("invalid answer: {}", page.error().message));
        forget_list(r);
        return;
    }
    flush();  // the events received before this page go first
    const bool last = page->continue_token.empty();
    size_t changed = 0;  // by a re-list
    if (r.in_store) {
        // A re-list: the zone answers from the last complete list until this one is complete,
        // then changes in one batch. Only what changed waits here; the rest is named.
        for (const DocNode& item : page->items) {
            if (Status s = r.staged.add(item, config.namespaces); !s) {
                log("WARNING", "{}: object skipped: {}", r.what(), s.error().message);
            } else {
                note_version(r, item);
            }
        }
        store.look([&](const ObjectSink& current) { r.staged.filter(current); });
        if (last) {
            changed = r.staged.changed_objects();
            store.update([&](ObjectSink& sink) { r.staged.complete(r.type->object_kind, sink); });
        }
    } else {
        // The first list: nothing of this kind answers yet, so pages go to the store as they
        // come (and answer, past the startup timeout), their names noted; once the list is
        // complete, what it did not name goes (objects left by a list that failed half-way).
        store.update([&](ObjectSink& sink) {
            ListingSink listing(sink, {&r.listed, &r.listed, &r.listed, &r.listed, &r.listed});
            for (const DocNode& item : page->items) {
                if (Status s = apply_object(item, false, config.namespaces, listing); !s) {
                    log("WARNING", "{}: object skipped: {}", r.what(), s.error().message);
                } else {
                    note_version(r, item);
                }
            }
            if (last) {
                r.listed.seal();
                sink.keep_only(r.type->object_kind, r.listed);
            }
        });
    }
    r.listed_items += page->items.size() + page->left_out;
    r.backoff_seconds = 0;
    r.problem.clear();
    if (last || page->continue_token != ahead) {
        end_transfer(r);  // asked for ahead, but not this list's next page
    }
    if (!last) {
        r.continue_token = std::move(page->continue_token);
        r.next_attempt = Clock::now();
        return;
    }
    log("INFO", "{}: {} objects at resourceVersion {} in {:.3f} s{}", r.what(), r.listed_items,
        page->resource_version, Seconds(Clock::now() - r.list_started).count(),
        r.in_store ? fmt::format(", {} changed", changed) : std::string());
    r.versions.commit();
    forget_list(r);
    r.in_store = true;
    parser.release();  // a page's worth of buffers: watch events are small
    r.resource_version = std::move(page->resource_version);
    r.continue_token.clear();
    r.whole_list = false;
    r.synced = true;
    r.phase = Reflector::Phase::Watch;
    r.next_attempt = Clock::now();
    update_status();
    flush();  // reports the first sync once every resource is listed
}

void KubernetesSource::Impl::forget_list(Reflector& r) {
    std::string().swap(r.page);
    r.continue_token.clear();
    r.listed.clear();
    r.staged.clear();
    r.versions.abandon();
    r.listed_items = 0;
}

void KubernetesSource::Impl::note_version(Reflector& r, const DocNode& item) {
    r.versions.note(scalar_at(item, {"metadata", "namespace"}),
                    scalar_at(item, {"metadata", "name"}),
                    scalar_at(item, {"metadata", "resourceVersion"}));
}

void KubernetesSource::Impl::relist(Reflector& r, Clock::time_point when) {
    r.phase = Reflector::Phase::List;
    forget_list(r);
    r.next_attempt = when;
}

void KubernetesSource::Impl::retry_later(Reflector& r, std::string_view why,
                                         double at_least_seconds) {
    r.backoff_seconds = r.backoff_seconds == 0
                            ? kBackoffInitialSeconds
                            : std::min(r.backoff_seconds * 2, kBackoffMaxSeconds);
    // Jitter spreads the reconnects of many servers after an API server restart.
    const double jitter = std::uniform_real_distribution<double>(1.0, 1.5)(rng);
    double delay = std::min(r.backoff_seconds * jitter, kBackoffMaxSeconds);
    delay = std::max(delay, at_least_seconds);
    log("WARNING", "{}: {}; retrying in {:.1f} s", r.what(), why, delay);
    r.next_attempt = Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(delay));
    r.problem = fmt::format("{}: {}", r.what(), why);
    update_status();
}

void KubernetesSource::Impl::finish(Reflector& r, CURLcode result) {
    long status = 0;
    curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0;
    curl_easy_getinfo(r.easy, CURLINFO_RETRY_AFTER, &retry_after);
    end_transfer(r);
    const bool watch = r.phase == Reflector::Phase::Watch;
    const auto now = Clock::now();
    const Seconds lasted = now - r.started;
    // A stream that delivered events or stayed open a while was healthy, however it ended: the
    // API server is up, and what went wrong before it counts no more (client-go's reflector
    // re-watches such a stream at once).
    const bool healthy_stream = watch && status == 200 && (r.events > 0 || lasted >= kShortWatch);
    if (healthy_stream) {
        r.backoff_seconds = 0;
    }

    if (watch && r.gone) {
        log("INFO", "{}: resourceVersion {} is too old (410 Gone), listing again", r.what(),
            r.resource_version);
        relist(r, now);
        return;
    }
    if (watch && !r.watch_error.empty()) {
        retry_later(r, r.watch_error);
        return;
    }
    if (result != CURLE_OK) {
        if (healthy_stream) {
            // Every moment away from the stream is a moment the zone may be stale.
            log("WARNING", "{}: connection lost after {:.0f} s and {} events: {}; watching again",
                r.what(), lasted.count(), r.events, curl_easy_strerror(result));
            r.next_attempt = now;
        } else if (watch && status == 200) {
            retry_later(r, fmt::format("connection lost after {} events: {}", r.events,
                                       curl_easy_strerror(result)));
        } else {
            if (!watch) {
                forget_list(r);  // start the list again
            }
            retry_later(r, curl_easy_strerror(result));
        }
        return;
    }
    if (status == 200) {
        if (!watch) {
            on_list_page(r);
            return;
        }
        if (!healthy_stream) {
            // client-go's "very short watch": an immediate clean close is a problem, not a loop.
            retry_later(r, "watch closed at once without events");
            return;
        }
        log("INFO", "{}: closed after {:.0f} s and {} events, resuming at resourceVersion {}",
            r.what(), lasted.count(), r.events, r.resource_version);
        r.next_attempt = now;
        return;
    }
    const std::string message = fmt::format("HTTP {}: {}", status, status_message(r.body, parser));
    if (status == 410) {
        // A watch too far behind, or a list's continue token expired (etcd compacted): list anew.
        const bool expired_continue = !watch && !r.continue_token.empty();
        log("INFO", "{}: {}; listing again{}", r.what(), message,
            expired_continue ? " in one piece" : "");
        relist(r, now);
        r.whole_list = expired_continue;
        return;
    }
    if (!watch) {
        forget_list(r);
    }
    if (status == 429) {
        // Retry-After is the server's to set; without it, the usual backoff.
        retry_later(r, message, static_cast<double>(retry_after));
        return;
    }
    if (status == 401) {
        bearer_token(true);  // a rotated token: read the file again before retrying
    }
    if (status == 403) {
        // RBAC: say the rule the account lacks (examples/kube-system/rbac.yaml grants them all).
        retry_later(r, fmt::format("{} (RBAC: the account may not {} {})", message,
                                   watch ? "watch" : "list", rbac_resource(*r.type)));
        return;
    }
    retry_later(r, message);
}

void KubernetesSource::Impl::add(Op op) {
    if (batch.empty()) {
        batch_deadline = Clock::now() + kBatchWindow;
    }
    batch.push_back(std::move(op));
}

void KubernetesSource::Impl::flush() {
    if (!batch.empty()) {
        // The slices whose change says when it was triggered: timed once they are in the zone.
        struct Triggered {
            std::string_view ns;
            std::string_view service;
            std::chrono::system_clock::time_point at;
        };
        std::vector<Triggered> triggered;
        for (const Op& op : batch) {
            if (op.type == OpType::Upsert && scalar_at(op.object, {"kind"}) == "EndpointSlice") {
                const auto at = parse_rfc3339(scalar_at(
                    op.object,
                    {"metadata", "annotations", "endpoints.kubernetes.io/last-change-trigger-time"}));
                if (at) {
                    triggered.push_back(
                        {scalar_at(op.object, {"metadata", "namespace"}),
                         scalar_at(op.object, {"metadata", "labels", "kubernetes.io/service-name"}),
                         *at});
                }
            }
        }
        std::vector<bool> applied(batch.size());
        store.update([&](ObjectSink& cluster) {
            for (size_t i = 0; i < batch.size(); ++i) {
                const Op& op = batch[i];
                if (Status s = apply_object(op.object, op.type == OpType::Remove, config.namespaces,
                                            cluster);
                    !s) {
                    log("WARNING", "event skipped: {}", s.error().message);
                } else {
                    applied[i] = true;
                }
            }
        });
        for (size_t i = 0; i < batch.size(); ++i) {
            const Op& op = batch[i];
            const std::string_view ns = scalar_at(op.object, {"metadata", "namespace"});
            const std::string_view name = scalar_at(op.object, {"metadata", "name"});
            if (op.type == OpType::Remove) {
                op.from->versions.erase(ns, name);
            } else if (applied[i]) {
                op.from->versions.set(ns, name,
                                      scalar_at(op.object, {"metadata", "resourceVersion"}));
            }
        }
        const auto now = std::chrono::system_clock::now();
        for (const Triggered& t : triggered) {
            store.programmed(t.ns, t.service, now - t.at);
        }
        batch.clear();
        batch_arena = std::make_unique<DocArena>();
    }
    if (!synced_reported && std::all_of(reflectors.begin(), reflectors.end(),
                                        [](const Reflector& r) { return r.synced; })) {
        synced_reported = true;
        log("INFO", "synced in {:.3f} s", Seconds(Clock::now() - started).count());
        update_status();
        store.synced();
    }
}

void KubernetesSource::Impl::run() {
    while (!stopping.load()) {
        auto now = Clock::now();
        for (Reflector& r : reflectors) {
            if (r.easy == nullptr && now >= r.next_attempt) {
                start_request(r);
            }
        }
        int running = 0;
        if (const CURLMcode code = curl_multi_perform(multi, &running); code != CURLM_OK) {
            throw std::runtime_error(fmt::format("libcurl: {}", curl_multi_strerror(code)));
        }
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
            if (message->msg != CURLMSG_DONE) {
                continue;
            }
            Transfer* transfer = nullptr;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
            Reflector& r = *transfer->reflector;  // `transfer` goes with the transfer
            finish(r, message->data.result);
            release_body(r);
        }
        now = Clock::now();
        if (!synced_reported && now - status_updated >= std::chrono::seconds(1)) {
            update_status();  // how far the lists under way are
        }
        if (!batch.empty()) {
            int readable = 0;  // more already waiting to be read: let it join the batch
            curl_multi_poll(multi, nullptr, 0, 0, &readable);
            if (readable == 0 || now >= batch_deadline) {
                flush();
            }
        }
        auto wake = now + std::chrono::seconds(1);
        for (const Reflector& r : reflectors) {
            if (r.easy == nullptr) {
                wake = std::min(wake, r.next_attempt);
            }
        }
        if (!batch.empty()) {
            wake = std::min(wake, batch_deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
        if (const CURLMcode code = curl_multi_poll(
                multi, nullptr, 0, static_cast<int>(std::max<int64_t>(wait.count(), 0)), nullptr);
            code != CURLM_OK) {
            throw std::runtime_error(fmt::format("libcurl: {}", curl_multi_strerror(code)));
        }
    }
}

void KubernetesSource::Impl::supervise() {
    double backoff_seconds = 0;
    while (!stopping.load()) {
        std::string why;
        try {
            run();
            return;  // stopping
        } catch (const std::exception& e) {
            why = e.what();
        } catch (...) {
            why = "an unknown exception";
        }
        // A source that synced since its last restart starts from the first step again.
        backoff_seconds = backoff_seconds == 0 || synced_reported
                              ? kBackoffInitialSeconds
                              : std::min(backoff_seconds * 2, kBackoffMaxSeconds);
        const double delay =
            backoff_seconds * std::uniform_real_distribution<double>(1.0, 1.5)(rng);
        log("ERROR", "stopped: {}; starting again with new lists in {:.1f} s", why, delay);
        reset();
        {
            std::lock_guard lock(status_mutex);
            restarted_after = why;
        }
        update_status();
        store.failed(why);
        const auto until =
            Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(delay));
        for (auto now = Clock::now(); now < until && !stopping.load(); now = Clock::now()) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
            curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()) + 1, nullptr);
        }
    }
}

void KubernetesSource::Impl::reset() {
    for (Reflector& r : reflectors) {
        end_transfer(r);
        Reflector fresh;
        fresh.type = r.type;
        fresh.label_selector = std::move(r.label_selector);
        fresh.in_store = r.in_store;  // the zone keeps what it had, compared object by object:
                                      // the versions may not say what an interrupted batch left
        r = std::move(fresh);
    }
    batch.clear();
    batch_arena = std::make_unique<DocArena>();
    parser.release();
    synced_reported = false;
    started = Clock::now();
}

void KubernetesSource::Impl::update_status() {
    std::string text;
    for (const Reflector& r : reflectors) {
        if (r.synced) {
            continue;
        }
        if (!text.empty()) {
            text += "; ";
        }
        if (!r.problem.empty()) {
            text += r.problem;
        } else if (r.easy != nullptr) {
            text += fmt::format("{} under way for {:.0f} s, {} objects so far", r.what(),
                                Seconds(Clock::now() - r.started).count(), r.listed_items);
        } else {
            text += fmt::format("{} not started", r.what());
        }
    }
    status_updated = Clock::now();
    std::lock_guard lock(status_mutex);
    if (text.empty()) {
        restarted_after.clear();
    } else if (!restarted_after.empty()) {
        text = fmt::format("restarted after {}; {}", restarted_after, text);
    }
    waiting = std::move(text);
}

KubernetesSource::KubernetesSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

std::string KubernetesSource::waiting_for() const {
    std::lock_guard lock(impl_->status_mutex);
    return impl_->waiting;
}

KubernetesSource::~KubernetesSource() {
    impl_->stopping = true;
    curl_multi_wakeup(impl_->multi);
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
}

Result<std::unique_ptr<KubernetesSource>> KubernetesSource::start(KubernetesConfig config,
                                                                  KubernetesStore& store) {
    static std::once_flag curl_ready;
    static CURLcode init = CURLE_OK;
    std::call_once(curl_ready, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (init != CURLE_OK) {
        return Error{fmt::format("kubernetes: libcurl: {}", curl_easy_strerror(init))};
    }
    auto impl = std::make_unique<Impl>(std::move(config), store);
    impl->multi = curl_multi_init();
    if (impl->multi == nullptr) {
        return Error{"kubernetes: libcurl: cannot create a multi handle"};
    }
    std::vector<const ResourceType*> types = {&kNamespaces, &kServices};
    if (impl->config.watch_endpoints) {
        types.push_back(&kEndpointSlices);
    }
    if (impl->config.watch_pods) {
        types.push_back(&kPods);
    }
    impl->reflectors.resize(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
        impl->reflectors[i].type = types[i];
        if (types[i] == &kServices) {
            impl->reflectors[i].label_selector = impl->config.label_selector;
        }
    }
    impl->log("INFO", "watching {} ({})", impl->config.api.server, impl->config.api.origin);
    impl->update_status();
    Impl* running = impl.get();
    impl->thread = start_quiet_thread([running] { running->supervise(); });
    return std::unique_ptr<KubernetesSource>(new KubernetesSource(std::move(impl)));
}

}  // namespace clusterdns
