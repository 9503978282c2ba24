#pragma once

#include <string>
#include <vector>

namespace portcullis {

/// Drops every capability except `keep` (names like "cap_net_admin") from the permitted,
/// effective and inheritable sets, and sets no_new_privs. Returns false with one line in
/// `error` on failure.
bool keepOnlyCapabilities(const std::vector<std::string>& keep, std::string& error);

/// Whether the process holds capability `name` ("cap_dac_read_search") in its permitted set.
bool hasPermittedCapability(const std::string& name);

/// The process's effective capabilities, as text ("cap_net_admin=ep").
std::string currentCapabilities();

}  // namespace portcullis
