#pragma once
// The command line and the --config YAML file: both fill Options; flags override the file.

#include <string>

#include "clusterdns/clusterdns.h"
#include "base/result.h"

namespace clusterdns {

struct CommandLine {
    Options options;
    bool help = false;
    bool version = false;
    bool check_only = false;  // --check-config: the config and its manifests are checked, no more
    std::string config_path;  // --config or --check-config: watched for changes
};

// What no single setting can check: the settings together. Start-up, reload and --check-config
// all go through it (after parse_command_line or load_config_file).
Status validate(const Options& options);

// Parses argv (and the --config file it names). Errors name the flag or the file and key.
Result<CommandLine> parse_command_line(int argc, const char* const* argv);

// Reads a --config file into `options`.
Status load_config_file(const std::string& path, Options& options);

extern const char* const kUsage;

// The most TCP connections the server will hold open (each is a file descriptor and a slot).
constexpr unsigned kMaxTcpConnections = 65536;

}  // namespace clusterdns
