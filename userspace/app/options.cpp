#include "app/options.h"

#include <algorithm>
#include <iterator>

#include "app/config_file.h"
#include "datapath/net_util.h"
#include "detect/engine.h"

namespace portcullis {

namespace {

// The rules' numbers: name (long option and config key), help, field, range.
template <typename T>
struct NumberOption {
  const char* name;
  const char* help;
  T RuleConfig::*field;
  T min, max;
};

constexpr uint32_t kBig = 1'000'000'000u;

const NumberOption<uint32_t> kRuleNumbers[] = {
    {"score-threshold", "score rule: points in one window", &RuleConfig::scoreThreshold, 1, 65535},
    {"score-window-ms", "score rule: window length", &RuleConfig::scoreWindowMs, 1, 3'600'000},
    {"rate-ports", "rate rule: more than X distinct ports ...", &RuleConfig::rateMaxPorts, 1,
     65535},
    {"rate-window", "... within Y seconds", &RuleConfig::rateWindowS, 1, 86400},
    {"slow-window", "slow rule: window T in seconds", &RuleConfig::slowWindowS, 1, 86400},
    {"slow-keep", "slow rule: windows a suspicious source stays listed",
     &RuleConfig::slowKeepWindows, 1, 10000},
    {"shape-window", "shape: window in seconds", &RuleConfig::shapeWindowS, 1, 86400},
    {"shape-ports", "shape: ports on one host for a vertical scan", &RuleConfig::shapePorts, 1,
     65535},
    {"shape-hosts", "shape: hosts for a horizontal scan", &RuleConfig::shapeHosts, 1, 1u << 24},
    {"group-min-ports", "group: ports each source must probe", &RuleConfig::groupMinPorts, 1,
     65535},
    {"group-window", "group: seconds the sources start apart", &RuleConfig::groupWindowS, 1, 3600},
    {"poll-ms", "how often the tables are read", &RuleConfig::pollMs, 10, 10'000},
    {"quiet-seconds", "an incident with no rule firing this long ends", &RuleConfig::quietS, 1,
     kBig},
    {"forget-seconds", "forget sources idle this long", &RuleConfig::forgetS, 1, kBig},
    {"flow-window", "seconds a silent connection is remembered", &RuleConfig::flowWindowS, 1,
     86400},
    {"event-burst", "anomaly events per source per window", &RuleConfig::eventBurst, 1, 255},
    {"admit-targets", "distinct targets a source shows before it earns a full slot",
     &RuleConfig::admitTargets, 1, 32},
    {"v4-prefix", "IPv4 sources are aggregated per this prefix", &RuleConfig::v4Prefix, 8, 32},
    {"v6-prefix", "IPv6 sources are aggregated per this prefix", &RuleConfig::v6Prefix, 16, 128},
};

const NumberOption<uint16_t> kPortWeights[] = {
    {"weight-hot", "points for ports 11, 12, 13, 2000", &RuleConfig::weightHot, 0, 1000},
    {"weight-low", "points for other ports below 1024", &RuleConfig::weightLow, 0, 1000},
    {"weight-high", "points for ports 1024 and above", &RuleConfig::weightHigh, 0, 1000},
};

const NumberOption<double> kTrwProbabilities[] = {
    {"trw-theta0", "trw: P(success) of a benign source", &RuleConfig::trwTheta0, 0.000001,
     0.999999},
    {"trw-theta1", "trw: P(success) of a scanner", &RuleConfig::trwTheta1, 0.000001, 0.999999},
    {"trw-alpha", "trw: false positive bound", &RuleConfig::trwAlpha, 0.000001, 0.999999},
    {"trw-beta", "trw: detection probability", &RuleConfig::trwBeta, 0.000001, 0.999999},
};

template <typename T, size_t N>
void addNumbers(CLI::App* cmd, RuleConfig& r, const NumberOption<T> (&table)[N]) {
  for (const NumberOption<T>& o : table) {
    cmd->add_option(std::string("--") + o.name, r.*(o.field), o.help)
        ->check(CLI::Range(o.min, o.max))
        ->capture_default_str();
  }
}

std::string powerOfTwo(const std::string& v) {
  unsigned long n = std::stoul(v);
  return (n & (n - 1)) == 0 ? std::string() : std::string("must be a power of two");
}

// --profile: presets of option values, written as the options they set. They come first on the
// command line, so the config file and the command line override them option by option.
struct Profile {
  const char* name;
  std::vector<std::pair<const char*, const char*>> values;
};

const std::vector<Profile>& profileTable() {
  // Snort's port_scan sensitivity levels count negative responses (RST, ICMP unreachable) over a
  // window of 60, 90 or 600 s; medium and high also see slow scans. Zeek's scan policy: 15 ports
  // on one host or 25 hosts on one port within 5 minutes, and its TRW heritage (Jung et al.
  // wrote TRW for Bro).
  static const std::vector<Profile> table = {
      {"default", {}},
      {"snort-low",
       {{"rate-basis", "rejects"},
        {"rate-ports", "5"},
        {"rate-window", "60"},
        {"rules", "rate,anomaly,group"}}},
      {"snort-medium",
       {{"rate-basis", "rejects"},
        {"rate-ports", "5"},
        {"rate-window", "90"},
        {"rules", "rate,anomaly,group,slow,shape"}}},
      {"snort-high",
       {{"rate-basis", "rejects"},
        {"rate-ports", "5"},
        {"rate-window", "600"},
        {"rules", "rate,anomaly,group,slow,shape"}}},
      {"zeek",
       {{"shape-window", "300"},
        {"shape-ports", "15"},
        {"shape-hosts", "25"},
        {"rules", "shape,trw,anomaly"}}},
  };
  return table;
}

std::vector<std::string> profileNames() {
  std::vector<std::string> names;
  for (const Profile& p : profileTable()) names.emplace_back(p.name);
  return names;
}

// The profile's options as command-line words; none for an unknown name (CLI11 refuses it).
std::vector<std::string> profileWords(const std::string& name) {
  std::vector<std::string> words;
  for (const Profile& p : profileTable()) {
    if (name != p.name) continue;
    for (const auto& [option, value] : p.values) {
      words.push_back(std::string("--") + option);
      words.emplace_back(value);
    }
  }
  return words;
}

// The value of the last `--name V` or `--name=V` in `args`, or "".
std::string lastValue(const std::vector<std::string>& args, const std::string& name) {
  std::string value;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) value = args[i + 1];
    if (args[i].rfind(name + "=", 0) == 0) value = args[i].substr(name.size() + 1);
  }
  return value;
}

bool optionOfAnySubcommand(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_option_no_throw(name)) return true;
  }
  return false;
}

}  // namespace

void addCommonOptions(CLI::App* cmd, CommonArgs& a) {
  // Listed for --help; expandConfig() reads the file before parsing.
  cmd->add_option("--config", a.configFile, "TOML config file (keys are the long option names)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_flag("--json", a.json, "one JSON object per line");
  cmd->add_option("--alerts", a.alertsFile, "also append alerts to FILE");
  cmd->add_option("--log-file", a.logFile, "write the per-source report as JSON to FILE on exit");
  cmd->add_option("--eve", a.eveFile,
                  "also append alerts to FILE in Suricata's eve.json alert form");
  cmd->add_flag("--syslog", a.syslog, "also send every event to syslog (journald)");
  cmd->add_option("--syslog-facility", a.syslogFacility, "syslog facility")
      ->check(CLI::IsMember(syslogFacilityNames()))
      ->capture_default_str();
  cmd->add_option("--syslog-tag", a.syslogTag, "syslog tag")->capture_default_str();
  cmd->add_flag("--save-ports", a.savePorts, "record the ports each source probed (summary)");
  cmd->add_option("--max-packets", a.maxPackets, "stop after N packets (0: no limit)");
  cmd->add_option("--dst-ip", a.dstIps,
                  "protected destination: an address or a CIDR prefix (repeatable; 'all' for "
                  "every destination)");
  cmd->add_flag("-v,--verbose", a.verbose, "verbose output, with libbpf's messages");
  cmd->add_flag("--no-anomaly", a.noAnomaly, "turn the anomaly rule off");
  cmd->add_option("--profile", a.profile,
                  "preset: default, snort-low, snort-medium, snort-high, zeek (options given on "
                  "the command line or in the config file win)")
      ->check(CLI::IsMember(profileNames()))
      ->capture_default_str();
  cmd->add_option("--rules", a.ruleList, "rules in force (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember(allRuleNames()));
  cmd->add_option("--rate-basis", a.rules.rateBasis,
                  "rate counts distinct ports, or negative answers")
      ->check(CLI::IsMember({"ports", "rejects"}))
      ->capture_default_str();
  addNumbers(cmd, a.rules, kRuleNumbers);
  addNumbers(cmd, a.rules, kPortWeights);
  addNumbers(cmd, a.rules, kTrwProbabilities);
  cmd->add_option("--slots", a.slots, "source table size (a power of two)")
      ->check(CLI::Range(2u, 1u << 24))
      ->check(powerOfTwo)
      ->capture_default_str();
}

void addWatchOptions(CLI::App* cmd, WatchArgs& w) {
  cmd->add_option("-i,--interface", w.ifaces, "interface to watch (repeatable; default lo)");
  cmd->add_option("--mode", w.mode, "datapath: auto, xdp, xdp-generic or pcap")
      ->check(CLI::IsMember({"auto", "xdp", "xdp-generic", "pcap"}))
      ->capture_default_str();
  cmd->add_option("--pin-root", w.pinRoot, "where maps are pinned (<dir>/<iface>/)")
      ->capture_default_str();
  cmd->add_flag("--block", w.block, "auto-block detected scanners");
  cmd->add_option("--block-backend", w.blockBackend,
                  "where blocks go: the XDP blocklist, an nftables set (table inet portcullis; "
                  "the pcap mode blocks only there), or both")
      ->check(CLI::IsMember({"xdp", "nft", "both"}))
      ->capture_default_str();
  cmd->add_option("--block-ttl", w.policy.ttlS, "seconds a first block lasts")
      ->check(CLI::Range(1ull, 31ull * 86400))
      ->capture_default_str();
  cmd->add_option("--block-max-ttl", w.policy.maxTtlS, "repeat offenders' TTL doubles up to this")
      ->check(CLI::Range(1ull, 365ull * 86400))
      ->capture_default_str();
  cmd->add_option("--block-permanent-after", w.policy.permanentAfter,
                  "blocks before a permanent one (0: never)")
      ->capture_default_str();
  cmd->add_option("--block-rate", w.policy.maxPerSecond, "new blocks per second at most")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  cmd->add_option("--block-rules", w.blockRules, "rules whose alerts may block")
      ->delimiter(',')
      ->check(CLI::IsMember(allRuleNames()));
  cmd->add_option("--allow", w.allow, "CIDR never scored, never blocked (repeatable)")
      ->check([](const std::string& v) {
        return parsePrefix(v) ? std::string() : "not an address or CIDR prefix: " + v;
      });
  cmd->add_flag("--persist", w.persist, "on exit, leave the programs attached and the maps pinned");
  cmd->add_option("--metrics", w.metrics,
                  "serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:9464)");
  cmd->add_option("--fleet", w.fleet,
                  "share blocks with the other nodes through Redis: "
                  "redis://[user:password@]HOST:PORT[/db]");
  cmd->add_option("--node-name", w.nodeName, "this node's name in the fleet (default: host name)");
  cmd->add_option("--state-dir", w.stateDir, "where `status` finds running watches")
      ->capture_default_str();
  addCommonOptions(cmd, w.common);
}

bool finalizeRules(CommonArgs& a, std::string& error) {
  if (!a.ruleList.empty()) a.rules.enabled = {a.ruleList.begin(), a.ruleList.end()};
  if (a.noAnomaly) a.rules.enabled.erase("anomaly");
  if (a.rules.trwTheta1 >= a.rules.trwTheta0) {
    error = "--trw-theta1 must be below --trw-theta0 (a scanner succeeds less often)";
    return false;
  }
  if (a.rules.trwAlpha >= a.rules.trwBeta) {
    error = "--trw-alpha must be below --trw-beta";
    return false;
  }
  return true;
}

namespace {

// The config file's settings as command-line words, each key checked against the subcommand's
// own options (the same table that makes the command line), so a typo is an error, not a
// no-op. Options the user gives on the command line are left out: theirs is the only value.
bool configWords(CLI::App& app, CLI::App& cmd, const std::string& path,
                 const std::vector<std::string>& user, std::vector<std::string>& out,
                 ConfigOrigins& origins, std::string& error) {
  const std::string& sub = cmd.get_name();
  std::vector<ConfigSetting> settings;
  if (!readConfigFile(path, sub, settings, error)) return false;
  for (const ConfigSetting& s : settings) {
    std::string name = "--" + s.key;
    std::string where = "config " + path + ":" + std::to_string(s.line);
    const CLI::Option* opt = cmd.get_option_no_throw(name);
    if (!opt || s.key == "config" || opt->get_positional()) {
      // A top-level key of another subcommand (allow, for watch) is not this one's concern.
      if (!opt && s.key != "config" && optionOfAnySubcommand(app, name)) continue;
      error = where + ": " + s.key + ": no such option of " + sub + " (see " + sub + " --help)";
      return false;
    }
    bool flag = opt->get_expected_max() == 0;
    if (flag != s.isFlag) {
      error = where + ": " + s.key + (flag ? ": takes true or false" : ": needs a value");
      return false;
    }
    auto given = [&](const std::string& u) { return u == name || u.rfind(name + "=", 0) == 0; };
    if (std::any_of(user.begin(), user.end(), given)) continue;
    origins[name] = where;
    if (s.isFlag) {
      if (s.flagOn) out.push_back(name);
      continue;
    }
    for (const std::string& value : s.values) {
      out.push_back(name);
      out.push_back(value);
    }
  }
  return true;
}

}  // namespace

bool expandConfig(CLI::App& app, int argc, char** argv, std::vector<std::string>& out,
                  ConfigOrigins& origins, std::string& error) {
  std::vector<std::string> user;
  std::string path;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      path = arg.substr(9);
    } else {
      user.push_back(arg);
    }
  }
  out.assign(argv, argv + std::min(argc, 2));
  std::string sub = argc > 1 ? argv[1] : "";
  CLI::App* cmd = nullptr;
  for (CLI::App* candidate : app.get_subcommands({})) {
    if (candidate->get_name() == sub) cmd = candidate;
  }
  std::vector<std::string> config;
  if (!path.empty() && cmd && !configWords(app, *cmd, path, user, config, origins, error)) {
    return false;
  }
  if (cmd && cmd->get_option_no_throw("--profile")) {
    std::string profile = lastValue(user, "--profile");
    if (profile.empty()) profile = lastValue(config, "--profile");
    std::vector<std::string> preset = profileWords(profile);
    out.insert(out.end(), preset.begin(), preset.end());
  }
  out.insert(out.end(), config.begin(), config.end());
  out.insert(out.end(), user.begin(), user.end());
  return true;
}

std::string withOrigin(std::string what, const ConfigOrigins& origins) {
  for (const auto& [name, where] : origins) {
    if (what.rfind(name + ":", 0) == 0 || what.find(" " + name + ":") != std::string::npos ||
        what.find(name + " ") != std::string::npos) {
      return where + ": " + what;
    }
  }
  return what;
}

}  // namespace portcullis
