/// Moves signed groups from the journal to the BAL broker: QoS 1, a bounded in-flight window, retired
/// only on PUBACK, and two lanes so that live data keeps flowing while an outage backlog drains.
///
/// - Nothing is published before the link reports CONNACK success and the birth message is sent.
/// - Backlog lane: oldest un-acknowledged record first, in sequence order, rate-limited
///   (`drainPerSecondMax`) so a 48-hour backlog does not starve the broker or the live lane.
/// - Live lane: a group committed while connected is published at once, even during a drain.
/// - The journal is acknowledged only up to the highest sequence below which *every* record has been
///   PUBACKed (the watermark); records acked above it are remembered in a bounded set and skipped by
///   the backlog lane. After a reconnect or a crash the publisher restarts from the watermark, so
///   duplicates are possible (the BAL deduplicates by sequence), losses are not.

/// The journal as the publisher sees it (the platform adapter wraps the on-disk ring).
public protocol GroupStore {
    /// The first record with a sequence number greater than `seq` (nil = from the oldest).
    mutating func next(after seq: UInt64?) -> (seq: UInt64, payload: [UInt8])?
    /// Everything up to and including `seq` has been delivered and may be retired.
    mutating func acknowledge(upTo seq: UInt64)
}

/// What the publisher asks of the MQTT link.
public protocol BALTransport {
    /// Starts a QoS 1 publish; returns a token reported back through `published(token:)`, or nil when
    /// the client refused it at once (not connected, buffer full).
    mutating func publish(topic: String, payload: [UInt8], retained: Bool) -> Int32?
}

public struct BALPublisherLimits {
    public var inFlightMax = 16
    public var drainPerSecondMax = 50
    /// Bound on sequence numbers acknowledged above the watermark (live lane during a drain).
    public var ackedAboveMax = 4_096
    public init() {}
}

public struct BALPublisher {
    public let measurementsTopic: String
    public let limits: BALPublisherLimits

    public private(set) var connected = false
    /// Highest sequence such that it and all records before it are acknowledged by the broker.
    public private(set) var watermark: UInt64?
    /// Last sequence sent on the backlog lane since (re)connecting.
    private var cursor: UInt64?
    private var inFlight: [(token: Int32, seq: UInt64)] = []
    private var ackedAbove: Set<UInt64> = []
    private var liveSent: Set<UInt64> = []
    private var drainTokens: Int = 0
    private var lastRefillMs: Int64 = 0

    public private(set) var publishedCount: UInt64 = 0
    public private(set) var ackedCount: UInt64 = 0

    public init(measurementsTopic: String, limits: BALPublisherLimits = BALPublisherLimits(), watermark: UInt64? = nil) {
        self.measurementsTopic = measurementsTopic
        self.limits = limits
        self.watermark = watermark
        inFlight.reserveCapacity(limits.inFlightMax)
        ackedAbove.reserveCapacity(limits.ackedAboveMax)
    }

    public var inFlightCount: Int { inFlight.count }

    /// CONNACK success (and the birth message has been queued by the caller).
    public mutating func linkUp(nowMs: Int64) {
        connected = true
        cursor = watermark
        inFlight.removeAll(keepingCapacity: true)
        liveSent.removeAll(keepingCapacity: true)
        drainTokens = limits.drainPerSecondMax
        lastRefillMs = nowMs
    }

    /// Connection lost: everything in flight will be sent again from the watermark.
    public mutating func linkDown() {
        connected = false
        inFlight.removeAll(keepingCapacity: true)
        liveSent.removeAll(keepingCapacity: true)
    }

    /// A group was committed to the journal while the device runs: publish it at once if possible.
    public mutating func committed<S: GroupStore, T: BALTransport>(seq: UInt64, payload: [UInt8], store: inout S, transport: inout T) {
        guard connected, inFlight.count < limits.inFlightMax else { return }
        if let c = cursor, seq <= c { return }  // the backlog lane already sent it
        guard let token = transport.publish(topic: measurementsTopic, payload: payload, retained: false) else { return }
        inFlight.append((token, seq))
        liveSent.insert(seq)
        publishedCount += 1
    }

    /// Sends backlog records while the window and the drain budget allow. Call on every loop tick.
    public mutating func pump<S: GroupStore, T: BALTransport>(nowMs: Int64, store: inout S, transport: inout T) {
        guard connected else { return }
        refill(nowMs)
        while inFlight.count < limits.inFlightMax, drainTokens > 0, let record = store.next(after: cursor) {
            if ackedAbove.contains(record.seq) || liveSent.contains(record.seq) {
                cursor = record.seq
                continue
            }
            guard let token = transport.publish(topic: measurementsTopic, payload: record.payload, retained: false) else { return }
            inFlight.append((token, record.seq))
            cursor = record.seq
            drainTokens -= 1
            publishedCount += 1
        }
    }

    /// PUBACK for `token`. Returns the sequence it carried (nil for an unknown token: e.g. the
    /// birth message, or a publish from before a reconnect).
    @discardableResult
    public mutating func published<S: GroupStore>(token: Int32, store: inout S) -> UInt64? {
        guard let i = inFlight.firstIndex(where: { $0.token == token }) else { return nil }
        let seq = inFlight[i].seq
        inFlight.remove(at: i)
        ackedCount += 1
        if ackedAbove.count < limits.ackedAboveMax { ackedAbove.insert(seq) }
        advanceWatermark(&store)
        return seq
    }

    /// A publish failed (e.g. connection lost before PUBACK): the record will be resent from the
    /// watermark after reconnecting.
    public mutating func failed(token: Int32) {
        if let i = inFlight.firstIndex(where: { $0.token == token }) {
            let seq = inFlight[i].seq
            inFlight.remove(at: i)
            liveSent.remove(seq)
            // Rewind the backlog lane so the record goes out again in order.
            if let c = cursor, seq <= c {
                cursor = previous(before: seq)
            }
        }
    }

    private mutating func advanceWatermark<S: GroupStore>(_ store: inout S) {
        var moved = false
        while let next = store.next(after: watermark), ackedAbove.contains(next.seq) {
            ackedAbove.remove(next.seq)
            watermark = next.seq
            moved = true
        }
        if moved, let w = watermark { store.acknowledge(upTo: w) }
    }

    private func previous(before seq: UInt64) -> UInt64? {
        guard let w = watermark else { return seq == 0 ? nil : seq - 1 }
        return seq > 0 && seq - 1 > w ? seq - 1 : w
    }

    private mutating func refill(_ nowMs: Int64) {
        let elapsed = nowMs - lastRefillMs
        guard elapsed > 0 else { return }
        let add = Int(elapsed * Int64(limits.drainPerSecondMax) / 1_000)
        if add > 0 {
            drainTokens = min(limits.drainPerSecondMax, drainTokens + add)
            lastRefillMs = nowMs
        }
    }
}
