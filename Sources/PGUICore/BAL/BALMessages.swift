/// Topic names and the status (birth/death) messages of the BAL link (docs/bal-protocol.md).
public struct BALTopics: Equatable {
    public let base: String

    /// `<prefix>/<deviceId>`, e.g. `pgui/v1/gw-0042`.
    public init(prefix: String, deviceId: String) {
        base = prefix + "/" + deviceId
    }

    public var measurements: String { base + "/measurements" }
    public var status: String { base + "/status" }
    public var keys: String { base + "/keys" }
    public var credentialsCSR: String { base + "/credentials/csr" }
    public var credentialsCert: String { base + "/credentials/cert" }
    /// What the BAL sends back to the device (receipts, rotation acknowledgements).
    public var inbound: String { base + "/in/#" }
    /// Notarization receipts (BALInbound.parseReceipt).
    public var receipt: String { base + "/in/receipt" }
}

/// The retained status message. Published as the birth message right after CONNACK, refreshed on
/// change; the Last Will is the same topic with `state: offline`.
public struct BALStatus {
    public var deviceId: String
    public var online: Bool
    public var firmware: String = ""
    public var kid: String = ""
    /// The current public key as a JWK object, pre-encoded (identity layer).
    public var jwkJSON: [UInt8] = []
    public var timeMs: Int64 = 0
    public var clockSynced = false
    public var journalFillPermille: Int64 = 0
    public var lostGroups: UInt64 = 0
    public var lostFirstSeq: UInt64? = nil
    public var lostLastSeq: UInt64? = nil
    public var lastMeterReadMs: Int64? = nil
    public var backlogGroups: UInt64 = 0
    /// Inbound messages refused by validation since start (BALInbound).
    public var inboundRejected: UInt64 = 0
    /// Highest sequence number a notarization receipt confirmed.
    public var notarizedSeq: UInt64? = nil
    /// The link itself (`link` object): when this connection came up (wall clock, ms), how many
    /// times the link reconnected since start, groups published and not yet acknowledged, and the
    /// configured in-flight and drain limits, so the BAL can tell a draining device from a stuck one.
    public var link = BALLinkState()

    public init(deviceId: String, online: Bool) {
        self.deviceId = deviceId
        self.online = online
    }

    public func encode(into w: inout JSONWriter) {
        w.reset()
        w.beginObject()
        w.field("v", 1)
        w.field("device", deviceId)
        w.field("state", online ? "online" : "offline")
        if online {
            w.field("fw", firmware)
            w.field("kid", kid)
            if !jwkJSON.isEmpty {
                w.key("jwk")
                w.raw(jwkJSON)
            }
            w.field("time", timeMs)
            w.field("clock_synced", clockSynced)
            w.field("journal_fill_permille", journalFillPermille)
            w.field("backlog_groups", backlogGroups)
            w.field("lost_groups", lostGroups)
            if let a = lostFirstSeq, let b = lostLastSeq {
                w.key("lost_range")
                w.beginArray()
                w.value(a)
                w.value(b)
                w.endArray()
            }
            w.field("last_meter_read", lastMeterReadMs)
            if inboundRejected > 0 { w.field("inbound_rejected", inboundRejected) }
            if let n = notarizedSeq { w.field("notarized_seq", n) }
            w.key("link")
            link.encode(into: &w)
        }
        w.endObject()
    }
}

/// The `link` object of the status message (docs/bal-protocol.md).
public struct BALLinkState: Equatable {
    public var connectedSinceMs: Int64 = 0
    public var reconnects: UInt64 = 0
    public var inFlight: Int64 = 0
    public var inFlightMax: Int64 = 0
    public var drainPerSecondMax: Int64 = 0
    /// The adaptive backlog rate in use now (≤ drainPerSecondMax; docs/fleet.md).
    public var drainRate: Int64 = 0

    public init() {}

    func encode(into w: inout JSONWriter) {
        w.beginObject()
        w.field("state", "connected")
        w.field("since", connectedSinceMs)
        w.field("reconnects", reconnects)
        w.field("inflight", inFlight)
        w.field("inflight_max", inFlightMax)
        w.field("drain_per_s", drainPerSecondMax)
        w.field("drain_rate_per_s", drainRate)
        w.endObject()
    }
}
