#include "server/frontend.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <uv.h>

#include "base/threads.h"
#include "plugins/hosts/hosts.h"
#include "server/worker.h"
#include "zone/snapshot.h"

namespace clusterdns {

Frontend::Frontend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
}

Frontend::~Frontend() {
    stop();
}

const std::vector<ListenAddress>& Frontend::bound() const {
    return impl_->bound;
}

Result<std::unique_ptr<Frontend>> Frontend::start(const FrontendOptions& options,
                                                  std::shared_ptr<const Snapshot> zone) {
    auto impl = std::make_unique<Impl>();
    impl->cache = std::make_shared<SharedCache>(options.forwarding.cache);
    const unsigned workers = std::max(1u, options.workers);
    // Each worker has its own pool (the kernel picks the worker), so the cap is split between
    // them; every worker needs one slot, or connections the kernel hands it would wait forever.
    const unsigned per_worker = std::max(1u, options.max_tcp_connections / workers);
    if (Status s = reserve_descriptors(per_worker * workers, workers, options.listen.size()); !s) {
        return s.error();
    }
    std::vector<BoundFds> bound_fds;
    for (const ListenAddress& address : options.listen) {
        uint16_t port = 0;
        auto fds = bind_address(address, workers, port);
        if (!fds) {
            for (BoundFds& earlier : bound_fds) {
                close_all(earlier);
            }
            return fds.error();
        }
        bound_fds.push_back(std::move(*fds));
        impl->bound.push_back({address.host, port});
    }

    // A worker that cannot be set up undoes everything: the loops set up so far run to their end
    // and close, and every socket is closed.
    const auto abandon = [&](const Error& error) -> Error {
        for (auto& w : impl->workers) {
            close_everything(*w);
            uv_run(&w->loop, UV_RUN_DEFAULT);
            uv_loop_close(&w->loop);
        }
        impl->workers.clear();
        for (BoundFds& fds : bound_fds) {
            close_all(fds);
        }
        return error;
    };
    for (unsigned i = 0; i < workers; ++i) {
        auto w = std::make_unique<Worker>(*impl, i);
        w->zone = zone;
        w->stats.zone_slots = options.zone_slots;
        w->hosts = options.hosts;
        w->idle_timeout_ms = uint64_t{options.tcp_idle_timeout_seconds} * 1000;
        w->io_timeout_ms = uint64_t{options.tcp_io_timeout_seconds} * 1000;
        if (const int err = uv_loop_init(&w->loop); err != 0) {
            return abandon(Error{fmt::format("worker loop: {}", uv_strerror(err))});
        }
        Worker& worker = *w;
        impl->workers.push_back(std::move(w));  // from here undone by abandon()
        if (Status s = set_up_worker(worker, options, per_worker, i, bound_fds, impl->bound); !s) {
            return abandon(s.error());
        }
    }
    for (auto& w : impl->workers) {
        Worker* worker = w.get();
        w->thread = start_quiet_thread([worker] {
            uv_run(&worker->loop, UV_RUN_DEFAULT);
            uv_loop_close(&worker->loop);
        });
    }
    return std::unique_ptr<Frontend>(new Frontend(std::move(impl)));
}

void Frontend::publish(std::shared_ptr<const Snapshot> zone) {
    std::vector<std::shared_ptr<const Snapshot>> old;  // freed when this returns, on this thread
    std::unique_lock lock(impl_->mailbox_mutex);
    if (impl_->stopping) {
        return;
    }
    impl_->deliver(lock, [&](Worker& w) { w.incoming = zone; });
    for (auto& w : impl_->workers) {
        old.push_back(std::move(w->retired));
    }
}

void Frontend::publish_hosts(std::shared_ptr<const HostsTable> hosts) {
    std::vector<std::shared_ptr<const HostsTable>> old;  // freed when this returns, on this thread
    std::unique_lock lock(impl_->mailbox_mutex);
    if (impl_->stopping) {
        return;
    }
    impl_->deliver(lock, [&](Worker& w) {
        w.incoming_hosts = hosts;
        w.hosts_incoming = true;
    });
    for (auto& w : impl_->workers) {
        old.push_back(std::move(w->retired_hosts));
    }
}

Status Frontend::reconfigure(const Forwarding& forwarding) {
    std::unique_lock lock(impl_->mailbox_mutex);
    if (impl_->stopping) {
        return {};
    }
    if (!(impl_->cache->options() == forwarding.cache)) {  // else what it holds stays
        impl_->cache = std::make_shared<SharedCache>(forwarding.cache);
    }
    impl_->deliver(lock, [&](Worker& w) { w.incoming_forwarding = &forwarding; });
    for (auto& w : impl_->workers) {
        if (!w->reconfigured) {
            return w->reconfigured;
        }
    }
    return {};
}

void Frontend::stop() {
    {
        std::lock_guard lock(impl_->mailbox_mutex);
        if (impl_->stopping) {
            return;
        }
        impl_->stopping = true;
        for (auto& w : impl_->workers) {
            uv_async_send(&w->wake);
        }
    }
    for (auto& w : impl_->workers) {
        w->thread.join();
    }
}

unsigned Frontend::loop_probe(unsigned wait_ms) {
    std::random_device random;
    LoopProbe& probe = impl_->loop_probe;
    probe.name = *Name::from_text(fmt::format("{}.{}.loop-probe.invalid", random(), random()));
    probe.seen = 0;
    probe.probing.store(true, std::memory_order_release);
    // Asked of ourselves at the first listen address (a wildcard one through loopback).
    const ListenAddress& at = impl_->bound.front();
    const bool v6 = at.host.find(':') != std::string::npos;
    std::string host = at.host;
    if (host == "0.0.0.0" || host == "::") {
        host = v6 ? "::1" : "127.0.0.1";
    }
    sockaddr_storage to{};
    const socklen_t to_size = socket_address(host, at.port, to);
    std::vector<uint8_t> query = {0x4c, 0x50, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    const WireName name = probe.name.wire();
    query.insert(query.end(), name.begin(), name.end());
    query.insert(query.end(), {0, 13, 0, 1});  // HINFO, as CoreDNS's loop plugin asks
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        timeval timeout{static_cast<time_t>(wait_ms / 1000),
                        static_cast<suseconds_t>(wait_ms % 1000 * 1000)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        uint8_t reply[512];
        if (sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   to_size) > 0) {
            (void)recv(fd, reply, sizeof reply, 0);
        }
        close(fd);
    }
    probe.probing = false;
    return probe.seen.load();
}

Frontend::Totals Frontend::totals() const {
    Totals t;
    for (const auto& w : impl_->workers) {
        for (size_t family = 0; family < 2; ++family) {
            for (size_t type = 0; type < kQueryTypes; ++type) {
                t.udp_queries += w->stats.requests[0][family][type].value();
                t.tcp_queries += w->stats.requests[1][family][type].value();
            }
        }
        t.dropped += w->stats.dropped.value();
        t.truncated += w->stats.truncated.value();
    }
    return t;
}

std::vector<const WorkerStats*> Frontend::worker_stats() const {
    std::vector<const WorkerStats*> out;
    for (const auto& w : impl_->workers) {
        out.push_back(&w->stats);
    }
    return out;
}

SharedCache::Sizes Frontend::cache_sizes() const {
    std::shared_ptr<SharedCache> cache;
    {
        std::lock_guard lock(impl_->mailbox_mutex);
        cache = impl_->cache;
    }
    return cache->sizes();
}

std::vector<const UpstreamChannel*> Frontend::upstream_channels() const {
    std::vector<const UpstreamChannel*> out;
    for (const auto& w : impl_->workers) {
        if (w->upstream) {
            out.push_back(w->upstream.get());
        }
        for (const Worker::Stub& stub : w->stubs) {
            out.push_back(stub.channel.get());
        }
    }
    return out;
}

}  // namespace clusterdns
