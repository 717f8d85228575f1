#include "plugins/forward/stage.h"

#include <algorithm>
#include <cstring>

#include "zone/objects.h"

namespace clusterdns {

// A query with the upstreams, from take() until the upstreams call back. The client is answered
// once: by the upstream's answer, from the cache, or with SERVFAIL at the deadline.
struct ForwardStage::Pending {
    ForwardStage* stage = nullptr;
    Client client;
    std::vector<uint8_t> query;     // the client's
    Query parsed;                   // the client's, parsed once
    std::vector<uint8_t> upstream;  // a chase: the query for the outside name
    Query upstream_parsed;          // and it parsed
    IpAddress address;              // the client's, for the search path a chase repeats
    bool has_address = false;
    bool answered = false;   // the client has its response
    bool in_flight = true;   // the upstreams (or a fetch it waits for) still hold it
    bool queued = true;      // in pending_
    bool fetching = false;    // the one fetch of `key` in flight, for every worker's clients
    bool parked = false;      // waiting for another query's fetch of `key`
    bool holds_place = true;  // counts toward max_in_flight (parked clients do not)
    uint64_t key = 0;         // the hash of the question's AnswerCache::Key, when either
    uint64_t deadline = 0;    // clock time, ms
    size_t step = 0;          // a search path walk: which outside name `upstream` asks

    const IpAddress* client_address() const noexcept { return has_address ? &address : nullptr; }
    bool chase() const noexcept { return !upstream.empty(); }
    bool tcp() const noexcept { return client.transport == Transport::Tcp; }
    // What went to the upstreams: the client's query, or a chase's own.
    const std::vector<uint8_t>& sent() const noexcept { return chase() ? upstream : query; }
    const Query& sent_parsed() const noexcept { return chase() ? upstream_parsed : parsed; }
};

namespace {

// Whether a response is a denial (NXDOMAIN, or NOERROR without answers), as the cache counts.
bool is_denial(std::span<const uint8_t> response) noexcept {
    return (response[3] & 0x0F) == 3 || (response[6] == 0 && response[7] == 0);
}

bool is_nxdomain(std::span<const uint8_t> response) noexcept {
    return response.size() > 3 && (response[3] & 0x0F) == static_cast<uint8_t>(Rcode::NxDomain);
}

std::string_view failure_text(Upstreams::Failure failure) noexcept {
    switch (failure) {
        case Upstreams::Failure::Timeout:
            return "upstreams timed out";
        case Upstreams::Failure::Refused:
            return "upstreams refused";
        default:
            return "no upstream answered";
    }
}

}  // namespace

ForwardStage::ForwardStage(const Parts& parts) : parts_(parts) {
}

ForwardStage::~ForwardStage() {
    for (Pending* p : pending_) {
        delete p;
    }
}

void ForwardStage::configure(Route route) {
    route_ = std::move(route);
}

Upstreams* ForwardStage::upstreams_for(WireName name) const noexcept {
    for (const Route::Stub& stub : route_.stubs) {
        if (name_in_zone(name, stub.domain.wire())) {
            return stub.upstreams;
        }
    }
    return excepted(name) ? nullptr : route_.upstreams;
}

// Not forwarded to `upstreams` (a stub domain's names still go to theirs).
bool ForwardStage::excepted(WireName name) const noexcept {
    for (const Name& zone : route_.except) {
        if (name_in_zone(name, zone.wire())) {
            return true;
        }
    }
    return false;
}

// The client of `p` is answered now: its place of max_in_flight is free, though an upstream's
// late answer may still come for the cache.
void ForwardStage::answered(Pending& p) noexcept {
    p.answered = true;
    waiting_ -= p.holds_place ? 1 : 0;
}

// Takes completed queries off the front of the deadline queue, and answers SERVFAIL to those
// whose deadline has passed; then sets the clock for the next deadline.
void ForwardStage::settle() noexcept {
    const uint64_t now = parts_.clock->now_ms();
    while (!pending_.empty()) {
        Pending* p = pending_.front();
        if (p->in_flight && p->deadline > now) {
            break;
        }
        pending_.pop_front();
        p->queued = false;
        if (p->parked) {  // the fetch it waits for is still out: it waits no longer
            std::erase(parked_, p);
            p->parked = false;
            p->in_flight = false;
        }
        if (!p->answered) {
            answered(*p);
            reply(*p, {}, Responder::Server, "no upstream answered in time");
        }
        if (!p->in_flight) {
            delete p;
        }
    }
    parts_.clock->wake_at(pending_.empty() ? 0 : std::max(pending_.front()->deadline, now + 1));
}

void ForwardStage::on_deadline() noexcept {
    if (!stopping_) {
        settle();
    }
}

// Answers the client of `p` with `response` (`by`: who gave it), or, when it is empty, with an
// expired answer kept for serve-stale, else SERVFAIL (`why`, for the error log).
void ForwardStage::reply(Pending& p, std::span<const uint8_t> response, Responder by,
                         std::string_view why) noexcept {
    if (stopping_ || p.client.background) {
        return;
    }
    const std::span<uint8_t> out = parts_.replies->buffer(p.client);
    if (out.empty()) {
        return;  // the client is gone
    }
    if (response.empty()) {
        by = Responder::Server;
        if (const size_t size = route_.cache->lookup_stale(
                p.sent_parsed(), parts_.clock->now_ms(), cached_, sizeof cached_)) {
            response = {cached_, size};
            by = Responder::Cache;
            parts_.stats->cache_served_stale.add();
        } else {
            parts_.replies->failed(p.sent(), why);
        }
    }
    const Transport transport = p.client.transport;
    const size_t size =
        p.chase() ? parts_.chase->respond(p.parsed, p.client_address(), response, out, transport,
                                          p.step)
                  : forwarded_response(p.query, response, out, transport);
    if (by == Responder::Forward && !p.chase() && caching()) {
        cap_ttls(out.first(size), route_.cache->options());  // as the cache will serve it
    }
    parts_.replies->send(p.client, p.query, size, by, static_cast<uint16_t>(p.parsed.qtype));
}

// A client parked on another query's fetch, which has ended: answered from the cache, or with
// SERVFAIL (a stale answer if one is kept) when the fetch failed; an answer the cache did not
// keep (truncated, say) is asked for again, for this client alone.
void ForwardStage::resume(Pending& p, bool failed) noexcept {
    if (!failed) {
        if (const size_t size = route_.cache->lookup(p.parsed, parts_.clock->now_ms(), cached_,
                                                     sizeof cached_)) {
            p.in_flight = false;
            answered(p);
            parts_.stats->cache_hits[is_denial({cached_, size})].add();
            reply(p, {cached_, size}, Responder::Cache);
            return;
        }
        if (Upstreams* upstreams = upstreams_for(p.parsed.qname_lower.wire())) {
            upstreams->forward(p.sent(), on_answer, &p, p.tcp());  // in flight, as it was
            return;
        }
    }
    p.in_flight = false;
    answered(p);
    reply(p, {}, Responder::Server, "no upstream answered");
}

// The fetch of `key` ended: this worker's clients parked on it go on (the caller settles the
// deadline queue afterwards: the fetching query itself may still be in use).
void ForwardStage::wake_parked(uint64_t key, bool failed) noexcept {
    for (size_t i = 0; i < parked_.size();) {
        Pending* p = parked_[i];
        if (p->key != key) {
            ++i;
            continue;
        }
        parked_[i] = parked_.back();
        parked_.pop_back();
        p->parked = false;
        resume(*p, failed);
    }
}

void ForwardStage::fetched(uint64_t key, bool failed) noexcept {
    if (stopping_) {
        return;
    }
    wake_parked(key, failed);
    settle();  // the clients answered above leave the deadline queue
}

// The one fetch of `p`'s question in flight has ended: every worker with clients parked on it
// is told, each on its own thread.
void ForwardStage::finish_fetch(Pending& p, bool failed) noexcept {
    p.fetching = false;
    const uint64_t others = parts_.fetches->end(p.key) & ~(uint64_t{1} << parts_.worker);
    if (others != 0) {
        parts_.replies->fetch_ended(others, p.key, failed);
    }
    wake_parked(p.key, failed);
}

void ForwardStage::on_answer(void* context, std::span<const uint8_t> response,
                             Upstreams::Failure failure) noexcept {
    Pending& p = *static_cast<Pending*>(context);
    ForwardStage& stage = *p.stage;
    p.in_flight = false;
    if (!response.empty() && !stage.stopping_) {
        stage.parts_.stats->cache_evictions.add(
            stage.route_.cache->store(p.sent_parsed(), response, stage.parts_.clock->now_ms()));
    }
    if (p.fetching) {
        stage.finish_fetch(p, response.empty());
    }
    // A search path walk goes on past an NXDOMAIN to its next outside name, if there is one.
    if (!p.answered && !stage.stopping_ && p.chase() && is_nxdomain(response)) {
        uint8_t next[kMaxNameWire + 32];
        const size_t size =
            stage.parts_.chase->query(p.parsed, p.client_address(), next, p.step + 1);
        Query asked;
        if (size != 0 && parse_query({next, size}, asked) == ParseStatus::Ok) {
            if (Upstreams* upstreams = stage.upstreams_for(asked.qname_lower.wire())) {
                ++p.step;
                p.upstream.assign(next, next + size);
                p.upstream_parsed = asked;
                p.in_flight = true;
                upstreams->forward(p.sent(), on_answer, &p, p.tcp());
                return;
            }
        } else if (stage.parts_.chase->ends_in_zone(p.parsed, p.client_address(), p.step + 1)) {
            ++p.step;  // the zone answers the next step: the reply below is its answer
        }
    }
    if (!p.answered) {
        stage.answered(p);
        stage.reply(p, response, Responder::Forward, failure_text(failure));
    }
    if (!p.queued) {
        delete &p;
    } else if (!stage.stopping_) {
        stage.settle();
    }
}

ForwardStage::Handled ForwardStage::take(const Client& client, const IpAddress* address,
                                         std::span<const uint8_t> packet, const Query& parsed,
                                         std::span<uint8_t> out,
                                         const Name* outside) noexcept {
    const uint64_t now = parts_.clock->now_ms();
    const bool background = client.background;
    // A chase asks for the ExternalName's target (or a search path's outside name), and answers
    // the client with the zone's CNAME chain followed by what came back.
    uint8_t chase_packet[kMaxNameWire + 32];
    std::span<const uint8_t> upstream_query = packet;
    size_t step = 0;
    Query chased;
    const bool chase = outside != nullptr;
    if (chase) {
        size_t size = query_for(parsed, outside->wire(), chase_packet);
        if (size == 0) {
            return {.size = parts_.chase->respond(parsed, address, {}, out, client.transport, 0),
                    .by = Responder::Kubernetes};
        }
        // The outside names the cache knows to be NXDOMAIN are passed over, as the upstreams'
        // answers would have them passed over.
        while (true) {
            upstream_query = {chase_packet, size};
            if (parse_query(upstream_query, chased) != ParseStatus::Ok) {
                break;
            }
            const size_t cached = route_.cache->lookup(chased, now, cached_, sizeof cached_);
            if (cached == 0) {
                parts_.stats->cache_misses.add(caching() ? 1 : 0);
                break;
            }
            const std::span<const uint8_t> hit(cached_, cached);
            parts_.stats->cache_hits[is_denial(hit)].add();
            if (is_nxdomain(hit)) {
                if (const size_t next =
                        parts_.chase->query(parsed, address, chase_packet, step + 1)) {
                    ++step;
                    size = next;
                    continue;
                }
                if (parts_.chase->ends_in_zone(parsed, address, step + 1)) {
                    ++step;  // answered by the zone below
                }
            }
            return {.size = parts_.chase->respond(parsed, address, hit, out, client.transport,
                                                  step),
                    .by = Responder::Cache};
        }
    }
    const Query& q = chase ? chased : parsed;
    Upstreams* upstreams = upstreams_for(q.qname_lower.wire());
    if (upstreams == nullptr && route_.upstreams != nullptr && excepted(q.qname_lower.wire())) {
        if (background) {
            return {};
        }
        parts_.replies->failed(packet, "not forwarded: the name is excepted (no next plugin)");
        return {.size = error_response(packet, Rcode::ServFail, out, client.transport)};
    }
    // A cache hit is answered here, without allocating (a chase's was looked up above).
    const AnswerCache::Key key(q);  // made once: for the cache and for the one fetch in flight
    if (!chase && !background && caching()) {
        bool refresh = false;
        if (const size_t size = route_.cache->lookup(q, key, now, out,
                                                     response_limit(q, client.transport),
                                                     &refresh)) {
            parts_.stats->cache_hits[is_denial(out)].add();
            if (refresh) {  // popular and about to expire: fetched again behind the answer
                parts_.stats->cache_prefetches.add();
                take(Client{.background = true}, nullptr, packet, parsed, {});
            }
            return {.size = size, .by = Responder::Cache};
        }
        parts_.stats->cache_misses.add();
    }
    if (parts_.loop_probe != nullptr &&
        parts_.loop_probe->probing.load(std::memory_order_acquire) &&
        name_equal(q.qname_lower.wire(), parts_.loop_probe->name.wire())) {
        parts_.loop_probe->seen.fetch_add(1, std::memory_order_relaxed);
    }
    // One fetch per question in flight, whichever worker it came to (not for chases, prefetches,
    // or RD=0 queries, whose answers are not kept for the others; nor without a cache, where
    // every query goes upstream). A client parked on another's fetch takes no place of
    // max_in_flight: it sends nothing.
    const bool shared =
        !chase && !background && q.rd() && caching() && parts_.worker < Fetches::kMaxWorkers;
    const uint64_t fetch = shared ? key.hash : 0;
    bool parked =
        shared && upstreams != nullptr && parts_.fetches->join(fetch, parts_.worker, false);
    if (!parked && (waiting_ >= route_.max_in_flight || upstreams == nullptr)) {
        if (background) {
            return {};
        }
        parts_.stats->forward_rejects.add();
        return {.size = error_response(packet, Rcode::Refused, out, client.transport)};
    }
    auto p = std::make_unique<Pending>();
    p->stage = this;
    p->client = client;
    if (address != nullptr) {
        p->address = *address;
        p->has_address = true;
    }
    p->query.assign(packet.begin(), packet.end());
    p->parsed = parsed;
    if (chase) {
        p->upstream.assign(upstream_query.begin(), upstream_query.end());
        p->upstream_parsed = chased;
    }
    p->step = step;
    p->deadline = now + route_.deadline_ms;
    p->key = fetch;
    if (shared && !parked) {  // another worker may have begun the same fetch meanwhile
        parked = parts_.fetches->join(fetch, parts_.worker, true);
        p->fetching = !parked;
    }
    p->holds_place = !parked;
    Pending* raw = p.release();
    pending_.push_back(raw);
    waiting_ += raw->holds_place ? 1 : 0;
    if (pending_.size() == 1) {
        parts_.clock->wake_at(raw->deadline);
    }
    if (parked) {
        raw->parked = true;  // in flight as far as the deadline queue knows
        parked_.push_back(raw);
        return {};
    }
    upstreams->forward(raw->sent(), on_answer, raw, raw->tcp());
    return {};
}

void ForwardStage::shut_down() noexcept {
    // Clients still waiting for an upstream hear SERVFAIL now (a stale answer if one is kept),
    // not silence: their resolvers move on at once.
    for (Pending* p : pending_) {
        if (!p->answered) {
            answered(*p);
            reply(*p, {}, Responder::Server, "shutting down");
        }
    }
    stopping_ = true;
    parts_.clock->wake_at(0);
}

}  // namespace clusterdns
