// `portcullis replay`: the rules over a capture file, polled on capture time.
#include "app/args.h"

#include "datapath/memory_table.h"
#include "datapath/pcap_source.h"
#include "datapath/replayer.h"
#include "detect/engine.h"
#include "report/alert.h"
#include "report/log.h"

namespace portcullis {

int runReplay(ReplayArgs& args) {
  CommonArgs& a = args.common;
  std::string error;
  auto fixedDsts = explicitDestinations(a, error);
  if (!error.empty()) {
    logError("%s", error.c_str());
    return 2;
  }
  auto src = PcapSource::openFile(args.file, error);
  if (!src) {
    logError("%s", error.c_str());
    return 2;
  }
  if (!MemoryTable::supportsLinkType(src->linkType())) {
    logError("%s: unsupported link type %d", args.file.c_str(), src->linkType());
    return 2;
  }
  OutputFiles files;
  if (!openOutputs(a, files)) return 2;
  std::unique_ptr<AlertSink> sink = makeSink(a, files);
  Engine engine(a.rules, *sink, a.savePorts);
  MemoryTable table("replay", a.slots, a.rules, a.savePorts);
  if (fixedDsts) table.setWatchedDestinations(*fixedDsts);
  engine.addTable(&table);

  CaptureReplayer replayer(table, engine, 0, uint64_t(a.rules.pollMs) * 1000);
  CapturedFrame f;
  ReadResult rc;
  uint64_t packets = 0;
  while ((rc = src->next(f)) == ReadResult::Frame) {
    replayer.frame(f.data, f.caplen, src->linkType(), f.tsMicros);
    if (a.maxPackets && ++packets >= a.maxPackets) break;
  }
  if (rc == ReadResult::Error) {
    logError("%s: %s", args.file.c_str(), src->lastError().c_str());
    return 2;
  }
  replayer.finish();
  finishRun(engine, files);
  return 0;
}

}  // namespace portcullis
