/// What the BAL sends to the device (docs/bal-protocol.md, "Inbound messages"). Everything that
/// arrives is hostile until validated here: size, topic, JSON shape, `v`, and `device` = ours. A
/// message that fails is counted and logged (rate-limited) and never acted on.
public struct InboundError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Which inbound topic a message came on.
public enum BALInboundRoute: Equatable {
    /// `<prefix>/<device>/credentials/cert`: a credential response (identity layer).
    case credentials
    /// `<prefix>/<device>/in/receipt`: a notarization receipt.
    case receipt
    /// Anything else (another device's tree, an unknown `in/…` sub-topic).
    case unknown
}

/// A notarization receipt: the BAL has anchored the group `seq` (and, by its own contract, nothing is
/// implied about other groups). `ref` is the BAL's reference (e.g. a transaction id), kept for logs.
public struct BALReceipt: Equatable {
    public var seq: UInt64
    public var ref: String?
    public init(seq: UInt64, ref: String? = nil) {
        self.seq = seq
        self.ref = ref
    }
}

public enum BALInbound {
    /// Largest inbound message of any kind: the credential response's limit (a certificate chain).
    public static let bytesMax = CredentialResponse.bytesMax
    /// Receipts are small; a larger one is refused before parsing.
    public static let receiptBytesMax = 1_024
    public static let refBytesMax = 128
    static let receiptMembers = ["v", "device", "seq", "ref", "time"]

    public static func route(topic: String, topics: BALTopics) -> BALInboundRoute {
        if topic == topics.credentialsCert { return .credentials }
        if topic == topics.receipt { return .receipt }
        return .unknown
    }

    /// `{"v":1,"device":"gw-0042","seq":N[,"ref":"…"][,"time":ms]}`; no other members.
    public static func parseReceipt(_ bytes: [UInt8], device: String) throws(InboundError) -> BALReceipt {
        guard !bytes.isEmpty else { throw InboundError("receipt: empty message; ignored") }
        guard bytes.count <= receiptBytesMax else {
            throw InboundError("receipt: \(bytes.count) bytes, the limit is \(receiptBytesMax); ignored")
        }
        var limits = JSONLimits()
        limits.bytesMax = receiptBytesMax
        limits.depthMax = 1
        limits.membersMax = 8
        limits.stringBytesMax = refBytesMax
        let v: JSONValue
        do throws(JSONError) { v = try JSONParser.parse(bytes, limits: limits) } catch {
            throw InboundError("receipt: \(error.description); ignored")
        }
        guard let members = v.objectMembers else { throw InboundError("receipt: not a JSON object; ignored") }
        for (name, _) in members where !receiptMembers.contains(name) {
            throw InboundError("receipt: unknown member '\(printable(Array(name.utf8)[...]))'; ignored")
        }
        guard let version = v["v"] else { throw InboundError("receipt: missing version 'v'; ignored") }
        guard version.intValue == 1 else { throw InboundError("receipt: unknown version 'v' (only 1 is known); ignored") }
        guard let d = v["device"]?.stringValue else { throw InboundError("receipt: 'device' missing or not a string; ignored") }
        guard d == device else {
            throw InboundError("receipt is for device '\(printable(Array(d.utf8)[...]))', not '\(device)'; ignored")
        }
        guard let seq = v["seq"]?.intValue, seq >= 1 else {
            throw InboundError("receipt: 'seq' must be an integer ≥ 1; ignored")
        }
        var receipt = BALReceipt(seq: UInt64(seq))
        if let r = v["ref"] {
            guard let s = r.stringValue, !s.isEmpty, s.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw InboundError("receipt: 'ref' must be 1...\(refBytesMax) printable ASCII bytes; ignored")
            }
            receipt.ref = s
        }
        if let t = v["time"], t.intValue == nil { throw InboundError("receipt: 'time' must be an integer (UTC ms); ignored") }
        return receipt
    }
}

/// What inbound validation saw, for the status message and the logs.
public struct BALInboundCounters: Equatable {
    public var accepted: UInt64 = 0
    public var rejected: UInt64 = 0
    public var receipts: UInt64 = 0
    /// Highest sequence number a receipt confirmed (nil before the first receipt).
    public var notarizedSeqMax: UInt64? = nil
    public init() {}

    public mutating func receipt(_ r: BALReceipt) {
        accepted += 1
        receipts += 1
        if notarizedSeqMax == nil || r.seq > notarizedSeqMax! { notarizedSeqMax = r.seq }
    }
}

/// Lets at most `burst` log lines through per interval and counts the rest, so a flood of bad
/// messages cannot flood the log (or the flash behind it).
public struct LogThrottle {
    public let intervalMs: Int64
    public let burst: Int
    var windowStartMs: Int64? = nil
    var used = 0
    var suppressed: UInt64 = 0

    public init(intervalMs: Int64, burst: Int = 5) {
        self.intervalMs = intervalMs
        self.burst = burst
    }

    /// nil = stay quiet; else log now, mentioning the number of lines suppressed before this one.
    public mutating func allow(nowMs: Int64) -> UInt64? {
        if windowStartMs == nil || nowMs - windowStartMs! >= intervalMs {
            windowStartMs = nowMs
            used = 0
        }
        guard used < burst else {
            suppressed += 1
            return nil
        }
        used += 1
        let s = suppressed
        suppressed = 0
        return s
    }
}
