#pragma once
// Watching the config file and the manifests for changes (the reload plugin's job): inotify on
// the files' directories, so a file written in place, replaced by a rename (editors, kubectl cp)
// or swapped by a ConfigMap's symlink update is seen alike. What changed is decided by comparing
// each file's identity, size and modification time before and after, not by the events.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/codec/result.h"

namespace clusterdns {

class PathWatcher {
public:
    // Calls `changed` on a thread of its own when a file `paths()` names (or one in a directory
    // it names, recursively) is written, replaced, created or removed; changes less than
    // `quiet_ms` apart make one call. `paths` is asked again after every call.
    static Result<std::unique_ptr<PathWatcher>> start(
        std::function<std::vector<std::string>()> paths, std::function<void()> changed,
        unsigned quiet_ms = 300);
    ~PathWatcher();  // stops, waiting for a call in progress
    PathWatcher(const PathWatcher&) = delete;
    PathWatcher& operator=(const PathWatcher&) = delete;

    struct Impl;

private:
    explicit PathWatcher(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace clusterdns
