#pragma once

#include <cstdarg>

namespace portcullis {

/// The controller's one logger: every diagnostic goes to stderr as "portcullis: MESSAGE"
/// (warnings as "portcullis: warning: MESSAGE"), filtered by level. Alerts are not logged: they
/// are the product's output and go through the AlertSink.
enum class LogLevel { Error, Warning, Info, Debug };

/// Info by default; `-v` raises it to Debug, which also shows libbpf's and libxdp's messages.
void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);

[[gnu::format(printf, 1, 2)]] void logError(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void logWarning(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void logInfo(const char* fmt, ...);
[[gnu::format(printf, 1, 2)]] void logDebug(const char* fmt, ...);

/// A library's own line (it carries its newline and no prefix), at `level`.
[[gnu::format(printf, 2, 0)]] void logLibrary(LogLevel level, const char* fmt, va_list args);

}  // namespace portcullis
