// shape (Zeek's scan policy): a port scan (many ports on one host), an address scan (one port
// over many hosts, or an ICMP sweep), and both at once (a block scan), within shapeWindowS.
#include <algorithm>
#include <string>

#include "detect/evidence.h"
#include "detect/recent.h"
#include "detect/rules/registry.h"

namespace portcullis {
namespace {

struct ShapeState : RuleState {
  Recent ports, dsts;  ///< distinct ports and destinations first probed, over time
};

class ShapeRule final : public Rule {
 public:
  explicit ShapeRule(const RuleConfig& config) : config_(config) {}
  RuleId id() const override { return RuleId::Shape; }

  void evaluate(const SourceView& v, const NewEvidence& fresh, RuleContext& ctx) override {
    ShapeState& s = stateOf<ShapeState>(v.track);
    s.ports.add(v.now, fresh.ports);
    s.dsts.add(v.now, fresh.dsts);
    uint64_t span = uint64_t(config_.shapeWindowS) * v.table.ticksPerSecond();
    uint64_t ports = s.ports.sum(v.now, span);
    uint64_t hosts = s.dsts.sum(v.now, span);
    if (v.allowed()) return;
    uint64_t allPorts = portCount(v.slot), allDsts = dstCount(v.slot);
    Alert a;
    a.rule = ruleName(id());
    uint8_t kind = dominantProbeKind(v.slot);
    if (v.slot.count[PC_KIND_ICMP_ECHO] > probeCount(v.slot) / 2 && hosts >= config_.shapeHosts) {
      kind = PC_KIND_ICMP_ECHO;
      a.shape = "horizontal";
    } else if (hosts >= config_.shapeHosts && allPorts <= 2) {
      a.shape = "horizontal";
    } else if (ports >= config_.shapePorts && allDsts <= 1) {
      a.shape = "vertical";
    } else if (ports >= config_.shapePorts && hosts >= 5) {
      a.shape = "block";
    } else {
      return;
    }
    a.score = std::max(ports, hosts);
    ctx.raise(v, a, kind);
  }

 private:
  const RuleConfig& config_;
};

}  // namespace

std::unique_ptr<Rule> makeShapeRule(const RuleConfig& config) {
  return std::make_unique<ShapeRule>(config);
}

}  // namespace portcullis
