import PGUICore
import PGUIRuntime

extension Bench {
    /// Inbound validation (every message the BAL sends is checked before anything acts on it):
    /// validated receipts against a bare JSON parse of the same bytes, i.e. what the checks of
    /// topic, version, device and types cost on top of parsing.
    static func benchInbound() -> Bool {
        let topics = BALTopics(prefix: "pgui/v1", deviceId: "gw-bench")
        let receipt = Array("{\"v\":1,\"device\":\"gw-bench\",\"seq\":123456789,\"ref\":\"0x5f1c9a77e0\",\"time\":1795805172000}".utf8)
        var failed = false
        var counters = BALInboundCounters()
        let subject = rate {
            guard BALInbound.route(topic: topics.receipt, topics: topics) == .receipt else { failed = true; return }
            do throws(InboundError) { counters.receipt(try BALInbound.parseReceipt(receipt, device: "gw-bench")) } catch { failed = true }
        }
        let baseline = rate {
            do throws(JSONError) { _ = try JSONParser.parse(receipt) } catch { failed = true }
        }
        report("inbound", subject: "validated \(receipt.count)-byte receipts", subject, baseline: "JSON parse of the same bytes", baseline)
        return !failed && counters.notarizedSeqMax == 123_456_789
    }
}
