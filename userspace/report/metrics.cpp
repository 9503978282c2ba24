#include "report/metrics.h"

#include <httplib.h>

namespace portcullis {

MetricsServer::MetricsServer() : server_(std::make_unique<httplib::Server>()) {}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& hostPort,
                                                    std::string& error) {
  auto colon = hostPort.rfind(':');
  if (colon == std::string::npos) {
    error = "--metrics: expected HOST:PORT, got " + hostPort;
    return nullptr;
  }
  std::string host = hostPort.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    port = std::stoi(hostPort.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    error = "--metrics: bad port in " + hostPort;
    return nullptr;
  }
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  MetricsServer* self = m.get();
  m->server_->Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(self->mutex_);
    res.set_content(self->body_, "text/plain; version=0.0.4");
  });
  m->port_ = port == 0 ? m->server_->bind_to_any_port(host) : port;
  if (port != 0 && !m->server_->bind_to_port(host, port)) {
    error = "--metrics: cannot listen on " + hostPort;
    return nullptr;
  }
  if (m->port_ <= 0) {
    error = "--metrics: cannot listen on " + hostPort;
    return nullptr;
  }
  m->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  return m;
}

void MetricsServer::publish(std::string exposition) {
  std::lock_guard<std::mutex> lock(mutex_);
  body_ = std::move(exposition);
}

}  // namespace portcullis
