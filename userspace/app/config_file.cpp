#include "app/config_file.h"

#include <toml++/toml.h>

#include <charconv>
#include <set>

namespace portcullis {

namespace {

const std::set<std::string> kSubcommandTables = {"watch", "replay"};

std::string oneLine(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// A scalar as the command line spells it; false when the node is not a scalar we take.
bool scalarText(const toml::node& node, std::string& out) {
  if (auto s = node.value_exact<std::string>()) {
    out = *s;
  } else if (auto i = node.value_exact<int64_t>()) {
    out = std::to_string(*i);
  } else if (auto d = node.value_exact<double>()) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);  // shortest exact text
    out.assign(buf, ec == std::errc() ? end : buf);
  } else {
    return false;
  }
  return true;
}

class Reader {
 public:
  Reader(std::string path, std::vector<ConfigSetting>& out) : path_(std::move(path)), out_(out) {}

  bool table(const toml::table& t, const std::string& subcommand, bool topLevel) {
    for (const auto& [k, node] : t) {
      std::string key(k.str());
      int line = int(node.source().begin.line);
      if (const toml::table* sub = node.as_table()) {
        if (!topLevel || !kSubcommandTables.count(key)) {
          return fail(line, key, "a table here (only [watch] and [replay] are tables)");
        }
        if (key == subcommand && !table(*sub, subcommand, false)) return false;
        continue;
      }
      if (!setting(key, node, line)) return false;
    }
    return true;
  }

  bool fail(int line, const std::string& key, const std::string& what) {
    error_ = "config " + path_ + ":" + std::to_string(line) + ": " + key + ": " + what;
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  bool setting(const std::string& key, const toml::node& node, int line) {
    ConfigSetting s;
    s.key = key;
    s.line = line;
    std::string text;
    if (auto b = node.value_exact<bool>()) {
      s.isFlag = true;
      s.flagOn = *b;
    } else if (const toml::array* array = node.as_array()) {
      for (const toml::node& element : *array) {
        if (!scalarText(element, text)) return fail(line, key, "arrays hold strings or numbers");
        s.values.push_back(text);
      }
    } else if (scalarText(node, text)) {
      s.values.push_back(text);
    } else {
      return fail(line, key, "not a string, number, boolean or array");
    }
    out_.push_back(std::move(s));
    return true;
  }

  std::string path_;
  std::vector<ConfigSetting>& out_;
  std::string error_;
};

}  // namespace

bool readConfigFile(const std::string& path, const std::string& subcommand,
                    std::vector<ConfigSetting>& out, std::string& error) {
  toml::table parsed;
  try {  // Debian's toml++ is built with exceptions: a parse error is one
    parsed = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    error = "config " + path;
    if (e.source().begin.line > 0) error += ":" + std::to_string(e.source().begin.line);
    error += ": " + oneLine(e.description());
    return false;
  }
  Reader reader(path, out);
  if (!reader.table(parsed, subcommand, true)) {
    error = reader.error();
    return false;
  }
  return true;
}

}  // namespace portcullis
