#include "services.h"

#include <algorithm>
#include <array>

namespace portcullis::scan {
namespace {

enum : uint8_t { kT = 1, kU = 2, kB = 3 };

struct ServiceEntry {
  uint16_t port;
  uint8_t protocols;  // kT, kU or both
  std::string_view name;
};

// Names as IANA registers them (service-names-port-numbers registry), for the ports a server
// commonly exposes. Where IANA registers different names per protocol, the entry is split.
constexpr ServiceEntry kServices[] = {
    {1, kB, "tcpmux"},
    {7, kB, "echo"},
    {9, kB, "discard"},
    {11, kB, "systat"},
    {13, kB, "daytime"},
    {17, kB, "qotd"},
    {19, kB, "chargen"},
    {20, kB, "ftp-data"},
    {21, kB, "ftp"},
    {22, kB, "ssh"},
    {23, kB, "telnet"},
    {25, kB, "smtp"},
    {37, kB, "time"},
    {42, kB, "nameserver"},
    {43, kB, "whois"},
    {49, kB, "tacacs"},
    {53, kB, "domain"},
    {67, kB, "bootps"},
    {68, kB, "bootpc"},
    {69, kB, "tftp"},
    {70, kB, "gopher"},
    {79, kB, "finger"},
    {80, kB, "http"},
    {88, kB, "kerberos"},
    {102, kB, "iso-tsap"},
    {104, kB, "dicom"},
    {109, kB, "pop2"},
    {110, kB, "pop3"},
    {111, kB, "sunrpc"},
    {113, kB, "auth"},
    {119, kB, "nntp"},
    {123, kB, "ntp"},
    {135, kB, "epmap"},
    {137, kB, "netbios-ns"},
    {138, kB, "netbios-dgm"},
    {139, kB, "netbios-ssn"},
    {143, kB, "imap"},
    {161, kB, "snmp"},
    {162, kB, "snmptrap"},
    {177, kB, "xdmcp"},
    {179, kB, "bgp"},
    {194, kB, "irc"},
    {199, kB, "smux"},
    {389, kB, "ldap"},
    {427, kB, "svrloc"},
    {443, kB, "https"},
    {444, kB, "snpp"},
    {445, kB, "microsoft-ds"},
    {464, kB, "kpasswd"},
    {465, kT, "submissions"},
    {497, kB, "retrospect"},
    {500, kB, "isakmp"},
    {502, kB, "mbap"},
    {512, kT, "exec"},
    {512, kU, "comsat"},
    {513, kT, "login"},
    {513, kU, "who"},
    {514, kT, "shell"},
    {514, kU, "syslog"},
    {515, kB, "printer"},
    {520, kU, "router"},
    {523, kB, "ibm-db2"},
    {540, kB, "uucp"},
    {543, kB, "klogin"},
    {544, kB, "kshell"},
    {548, kB, "afpovertcp"},
    {554, kB, "rtsp"},
    {587, kB, "submission"},
    {593, kB, "http-rpc-epmap"},
    {623, kU, "asf-rmcp"},
    {631, kB, "ipp"},
    {636, kB, "ldaps"},
    {646, kB, "ldp"},
    {873, kB, "rsync"},
    {902, kB, "ideafarm-door"},
    {989, kB, "ftps-data"},
    {990, kB, "ftps"},
    {992, kB, "telnets"},
    {993, kB, "imaps"},
    {995, kB, "pop3s"},
    {1080, kB, "socks"},
    {1194, kB, "openvpn"},
    {1433, kB, "ms-sql-s"},
    {1434, kB, "ms-sql-m"},
    {1521, kB, "ncube-lm"},
    {1701, kB, "l2f"},
    {1723, kB, "pptp"},
    {1812, kB, "radius"},
    {1813, kB, "radius-acct"},
    {1883, kB, "mqtt"},
    {1900, kB, "ssdp"},
    {2049, kB, "nfs"},
    {2082, kB, "infowave"},
    {2083, kB, "radsec"},
    {2181, kB, "eforward"},
    {2375, kT, "docker"},
    {2376, kT, "docker-s"},
    {2379, kT, "etcd-client"},
    {2380, kT, "etcd-server"},
    {3128, kB, "ndl-aas"},
    {3268, kB, "msft-gc"},
    {3269, kB, "msft-gc-ssl"},
    {3306, kB, "mysql"},
    {3389, kB, "ms-wbt-server"},
    {3478, kB, "stun"},
    {3689, kB, "daap"},
    {4369, kB, "epmd"},
    {4443, kB, "pharos"},
    {4500, kU, "ipsec-nat-t"},
    {5000, kB, "commplex-main"},
    {5001, kB, "commplex-link"},
    {5060, kB, "sip"},
    {5061, kB, "sips"},
    {5222, kB, "xmpp-client"},
    {5269, kB, "xmpp-server"},
    {5353, kU, "mdns"},
    {5355, kB, "llmnr"},
    {5432, kB, "postgresql"},
    {5671, kT, "amqps"},
    {5672, kB, "amqp"},
    {5683, kU, "coap"},
    {5900, kB, "rfb"},
    {5985, kT, "wsman"},
    {5986, kT, "wsmans"},
    {6000, kB, "x11"},
    {6379, kB, "redis"},
    {6443, kT, "sun-sr-https"},
    {6514, kB, "syslog-tls"},
    {6653, kB, "openflow"},
    {6667, kT, "ircu"},
    {6697, kT, "ircs-u"},
    {8000, kB, "irdmi"},
    {8008, kB, "http-alt"},
    {8080, kB, "http-alt"},
    {8443, kB, "pcsync-https"},
    {8883, kB, "secure-mqtt"},
    {9000, kB, "cslistener"},
    {9042, kT, "cassandra-native"},
    {9092, kB, "XmlIpcRegSvc"},
    {9100, kB, "hp-pdl-datastr"},
    {9200, kB, "wap-wsp"},
    {9418, kB, "git"},
    {9443, kB, "tungsten-https"},
    {10000, kB, "ndmp"},
    {11211, kB, "memcache"},
    {27017, kB, "mongodb"},
};

// Our own order of "most likely open" ports: what Internet-facing and internal servers expose
// most often, from the project's judgement (web, remote access, mail, directory, databases,
// management planes), not copied from any frequency file. Ports not listed follow in
// ascending order: first the rest of the service table, then 1-1024, then everything else.
constexpr uint16_t kTcpRanked[] = {
    80,   443,   22,    21,    25,    23,    3389, 110,  445,  139,  143,   53,   135,
    3306, 8080,  993,   995,   587,   5432,  8443, 111,  1723, 5900, 465,   8000, 8008,
    8888, 6379,  27017, 9200,  11211, 2049,  389,  636,  1433, 1521, 5060,  2222, 873,
    514,  515,   631,   179,   1080,  3128,  5000, 5001, 5601, 5672, 5984,  6000, 6443,
    7001, 8009,  8081,  8088,  8181,  8880,  9000, 9090, 9100, 9418, 10000, 2375, 2376,
    4443, 5985,  5986,  6667,  8082,  8090,  8161, 8500, 9001, 9042, 9092,  9300, 9443,
    9999, 10250, 15672, 25565, 50000, 61616, 88,   113,  119,  199,  427,   548,  554,
    990,  992,   1194,  1812,  1883,  2181,  2379, 3268, 3478, 4369, 5222,  5269, 8883,
};
constexpr uint16_t kUdpRanked[] = {
    53,   123, 161, 67,   68,    69,   137,  138,  500, 514,  520,  1900, 5353, 4500,
    1194, 162, 111, 2049, 11211, 5060, 1812, 1813, 623, 3478, 5683, 1434, 177,  427,
    88,   464, 49,  7,    9,     13,   17,   19,   37,  1701, 5355, 6514, 389,  137,
};

}  // namespace

std::string_view serviceName(uint16_t port, Protocol protocol) {
  const uint8_t want = protocol == Protocol::kTcp ? kT : kU;
  for (const auto& e : kServices) {
    if (e.port == port && (e.protocols & want) != 0) {
      return e.name;
    }
  }
  return "unknown";
}

uint16_t portForService(std::string_view name, Protocol protocol) {
  const uint8_t want = protocol == Protocol::kTcp ? kT : kU;
  for (const auto& e : kServices) {
    if (e.name == name && (e.protocols & want) != 0) {
      return e.port;
    }
  }
  return 0;
}

std::vector<uint16_t> topPorts(Protocol protocol, size_t n) {
  n = std::min<size_t>(n, 65535);
  std::vector<uint8_t> taken(65536, 0);
  std::vector<uint16_t> out;
  out.reserve(n);
  auto take = [&](uint16_t p) {
    if (out.size() < n && p != 0 && !taken[p]) {
      taken[p] = 1;
      out.push_back(p);
    }
  };
  if (protocol == Protocol::kTcp) {
    for (uint16_t p : kTcpRanked) take(p);
  } else {
    for (uint16_t p : kUdpRanked) take(p);
  }
  const uint8_t want = protocol == Protocol::kTcp ? kT : kU;
  std::vector<uint16_t> table;
  for (const auto& e : kServices) {
    if ((e.protocols & want) != 0) {
      table.push_back(e.port);
    }
  }
  std::sort(table.begin(), table.end());
  for (uint16_t p : table) take(p);
  for (uint32_t p = 1; p <= 1024; ++p) take(static_cast<uint16_t>(p));
  for (uint32_t p = 1025; p <= 65535 && out.size() < n; ++p) take(static_cast<uint16_t>(p));
  return out;
}

}  // namespace portcullis::scan
