#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace portcullis {

/// A Prometheus text endpoint (GET /metrics) served by cpp-httplib on its own thread. The main
/// loop publishes a fresh exposition once per poll; scrapes never touch the engine.
class MetricsServer {
 public:
  /// Binds host:port (localhost by default). nullptr and one line in `error` on failure.
  static std::unique_ptr<MetricsServer> start(const std::string& hostPort, std::string& error);
  ~MetricsServer();

  void publish(std::string exposition);
  int port() const { return port_; }

 private:
  MetricsServer();
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::string body_;
  int port_ = 0;
};

}  // namespace portcullis
