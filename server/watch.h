#pragma once
// Watching the config file and the manifests for changes (the reload plugin's job): inotify on
// the files' directories, so a file written in place, replaced by a rename (editors, kubectl cp)
// or swapped by a ConfigMap's symlink update is seen alike. Only a finished change counts: a
// file closed after writing, renamed into place, removed, or a link on its way swapped; a file
// still open for writing holds the reload back (it would be read half written). Events about
// other files in the same directories (a log, an editor's swap file) are ignored. What changed
// is decided by comparing each file's identity, size and modification time before and after.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace clusterdns {

class PathWatcher {
public:
    // Calls `changed` on a thread of its own when a file `paths()` names (or a manifest file,
    // *.yaml, *.yml or *.json, in a directory it names, recursively) has been written, replaced,
    // created or removed, and no such file is still being written (one whose writer has been
    // silent for 10 s no longer counts as being written). Changes less than `quiet_ms` apart
    // make one call, or a burst at most 2 s long. `paths` is asked again after every call.
    // Watching starts before this returns: what changes after it is seen.
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
