#include "app/privileges.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>

namespace portcullis {

bool keepOnlyCapabilities(const std::vector<std::string>& keep, std::string& error) {
  cap_t caps = cap_init();  // all clear
  if (!caps) {
    error = std::string("cap_init: ") + std::strerror(errno);
    return false;
  }
  std::vector<cap_value_t> values;
  for (const std::string& name : keep) {
    cap_value_t v;
    if (cap_from_name(name.c_str(), &v) != 0) {
      cap_free(caps);
      error = "unknown capability " + name;
      return false;
    }
    values.push_back(v);
  }
  if (!values.empty()) {
    cap_set_flag(caps, CAP_PERMITTED, int(values.size()), values.data(), CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, int(values.size()), values.data(), CAP_SET);
  }
  int rc = cap_set_proc(caps);
  int err = errno;
  cap_free(caps);
  if (rc != 0) {
    error = std::string("cannot drop capabilities: ") + std::strerror(err);
    return false;
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return true;
}

bool hasPermittedCapability(const std::string& name) {
  cap_value_t v;
  if (cap_from_name(name.c_str(), &v) != 0) return false;
  cap_t caps = cap_get_proc();
  if (!caps) return false;
  cap_flag_value_t set = CAP_CLEAR;
  cap_get_flag(caps, v, CAP_PERMITTED, &set);
  cap_free(caps);
  return set == CAP_SET;
}

std::string currentCapabilities() {
  cap_t caps = cap_get_proc();
  if (!caps) return "?";
  char* text = cap_to_text(caps, nullptr);
  std::string out = text ? text : "?";
  cap_free(text);
  cap_free(caps);
  return out;
}

}  // namespace portcullis
