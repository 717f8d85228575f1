#pragma once
// Threads the library starts take no asynchronous signal: the host's signals belong to its own
// threads, and the SIGPIPE of a write to a reset connection (libuv's writev cannot pass
// MSG_NOSIGNAL) stays pending on our thread instead of killing a host that never ignored it.
// A thread inherits its creator's mask, so: block, create, restore; no window where one is
// unmasked. Faults (SIGSEGV and the like) stay deliverable.

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace clusterdns {

template <class F>
std::thread start_quiet_thread(F&& body) {
    sigset_t blocked;
    sigset_t previous;
    sigfillset(&blocked);
    for (const int synchronous : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) {
        sigdelset(&blocked, synchronous);
    }
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    std::thread thread(std::forward<F>(body));
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return thread;
}

}  // namespace clusterdns
