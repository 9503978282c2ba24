#include "report/log.h"

#include <cstdio>

namespace portcullis {

namespace {

LogLevel gLevel = LogLevel::Info;

[[gnu::format(printf, 3, 0)]] void emit(LogLevel level, const char* tag, const char* fmt,
                                        va_list args) {
  if (!logEnabled(level)) return;
  // One write per line, so lines from two threads never interleave mid-line.
  char line[2048];
  int n = std::snprintf(line, sizeof(line), "portcullis: %s", tag);
  if (n < 0) return;
  std::vsnprintf(line + n, sizeof(line) - size_t(n), fmt, args);
  std::fprintf(stderr, "%s\n", line);
}

}  // namespace

void setLogLevel(LogLevel level) { gLevel = level; }

bool logEnabled(LogLevel level) { return level <= gLevel; }

#define PC_LOG_BODY(level, tag) \
  va_list args;                 \
  va_start(args, fmt);          \
  emit(level, tag, fmt, args);  \
  va_end(args)

void logError(const char* fmt, ...) { PC_LOG_BODY(LogLevel::Error, ""); }
void logWarning(const char* fmt, ...) { PC_LOG_BODY(LogLevel::Warning, "warning: "); }
void logInfo(const char* fmt, ...) { PC_LOG_BODY(LogLevel::Info, ""); }
void logDebug(const char* fmt, ...) { PC_LOG_BODY(LogLevel::Debug, ""); }

#undef PC_LOG_BODY

void logLibrary(LogLevel level, const char* fmt, va_list args) {
  if (logEnabled(level)) std::vfprintf(stderr, fmt, args);
}

}  // namespace portcullis
