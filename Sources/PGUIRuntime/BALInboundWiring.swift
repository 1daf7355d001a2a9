import PGUICore
import PGUIPlatform

/// Every message the BAL link receives goes through here (issue 6: "validates every inbound message
/// before acting on it"). Credential responses go to the rotation, receipts are counted; anything
/// that fails validation is counted, logged at most once per 10 s (with the number suppressed) and
/// never acted on.
extension BALLink {
    public func handleInbound(topic: String, payload: [UInt8]) {
        guard payload.count <= BALInbound.bytesMax else {
            rejectInbound(topic: topic, "\(payload.count) bytes, the limit is \(BALInbound.bytesMax); ignored")
            return
        }
        switch BALInbound.route(topic: topic, topics: topics) {
        case .credentials:
            guard let rotation else {
                rejectInbound(topic: topic, "credential response but no rotation is configured; ignored")
                return
            }
            if let problem = rotation.received(payload) {
                rejectInbound(topic: topic, problem)
            } else {
                inbound.accepted += 1
            }
        case .receipt:
            do throws(InboundError) {
                let r = try BALInbound.parseReceipt(payload, device: deviceId)
                inbound.receipt(r)
                Log.debug("bal", "receipt: group \(r.seq) notarized\(r.ref.map { " (\($0))" } ?? "")")
            } catch {
                rejectInbound(topic: topic, error.description)
            }
        case .unknown:
            rejectInbound(topic: topic, "no message is defined for this topic; ignored")
        }
    }

    public func rejectInbound(topic: String, _ reason: String) {
        inbound.rejected += 1
        if let suppressed = inboundLog.allow(nowMs: SystemClock().monotonicMs()) {
            let more = suppressed > 0 ? " (\(suppressed) more refused since the last report)" : ""
            Log.warn("bal", "inbound message on \(printable(Array(topic.utf8)[...], max: 128)) refused: \(reason)\(more); \(inbound.rejected) refused in all")
        }
    }
}
