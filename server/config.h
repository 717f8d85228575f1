#pragma once
// The command line (parse_command_line, in clusterdns.h) and the --config YAML file: both fill
// Options; flags override the file.

#include <string>
#include <string_view>

#include "clusterdns/clusterdns.h"
#include "base/result.h"

namespace clusterdns {

// What no single setting can check: the settings together. Start-up, reload and --check-config
// all go through it (after parse_command_line, in clusterdns.h, or load_config_file).
Status validate(const Options& options);

// Applies one setting as the --config file's `key` would (a list's value is added to it): the
// Corefile's translation goes through it, so a value is checked as its flag's is.
Status apply_setting(Options& options, std::string_view key, std::string_view value);
bool is_setting(std::string_view key);

// Reads a --config file into `options`.
Status load_config_file(const std::string& path, Options& options);

// The most TCP connections the server will hold open (each is a file descriptor and a slot).
constexpr unsigned kMaxTcpConnections = 65536;

}  // namespace clusterdns
