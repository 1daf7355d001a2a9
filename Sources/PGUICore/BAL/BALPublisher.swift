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
    /// The backlog lane's ceiling (`bal.drain_per_s`). The rate actually used adapts below it.
    public var drainPerSecondMax = 50
    /// Adaptive drain (docs/fleet.md): a PUBACK slower than this means the broker (or the path to
    /// it) is queueing, so the backlog rate is halved; faster acknowledgements raise it again by a
    /// tenth of the ceiling per second (AIMD, as TCP does for the same reason). 0 = fixed rate.
    public var drainLatencyTargetMs: Int64 = 1_000
    /// After a (re)connect the backlog lane waits a random 0…this long before its first publish
    /// (the live lane does not wait), so a fleet that reconnects together does not start draining
    /// in the same second. Off by default (a lone gateway keeps its backlog strictly ahead of live
    /// groups); docs/fleet.md gives the value for fleets.
    public var drainStartJitterMs: Int64 = 0
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
    private var inFlight: [(token: Int32, seq: UInt64, sentMs: Int64, backlog: Bool)] = []
    private var ackedAbove: Set<UInt64> = []
    private var liveSent: Set<UInt64> = []
    private var drainTokens: Int = 0
    private var lastRefillMs: Int64 = 0
    /// The adaptive backlog rate (groups/s), between 1 and `limits.drainPerSecondMax`.
    public private(set) var drainRate: Int = 0
    /// No backlog publish before this monotonic time (the start jitter after a reconnect).
    private var drainNotBeforeMs: Int64 = 0
    /// A decrease at most once per latency target, so one burst of slow acknowledgements (all sent
    /// before the first decrease took effect) halves the rate once, not once per acknowledgement.
    private var lastDecreaseMs: Int64? = nil
    private var lastIncreaseMs: Int64 = 0
    /// The slowest PUBACK of the backlog lane since the last rate step, and how often the rate was cut.
    public private(set) var slowestAckMs: Int64 = 0
    public private(set) var drainDecreases: UInt64 = 0

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

    /// The rate a (re)connected link starts its backlog at: a fifth of the ceiling (at least 1), so
    /// a fleet coming back together probes the broker before it reaches full speed.
    public var drainStartRate: Int { max(1, limits.drainPerSecondMax / 5) }

    /// CONNACK success (and the birth message has been queued by the caller). `drainDelayMs` is the
    /// caller's random draw from 0…`limits.drainStartJitterMs` (randomness stays outside the core).
    public mutating func linkUp(nowMs: Int64, drainDelayMs: Int64 = 0) {
        connected = true
        cursor = watermark
        inFlight.removeAll(keepingCapacity: true)
        liveSent.removeAll(keepingCapacity: true)
        let adaptive = limits.drainLatencyTargetMs > 0
        drainRate = adaptive ? drainStartRate : limits.drainPerSecondMax
        drainNotBeforeMs = nowMs + max(0, min(drainDelayMs, limits.drainStartJitterMs))
        // Without a start delay the first second's budget is there at once, so the backlog goes out
        // in the same loop turn as the birth message, before any live group can overtake it.
        drainTokens = drainNotBeforeMs == nowMs ? drainRate : 0
        lastRefillMs = drainNotBeforeMs
        lastIncreaseMs = drainNotBeforeMs
        lastDecreaseMs = nil
        slowestAckMs = 0
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
        inFlight.append((token, seq, 0, false))
        liveSent.insert(seq)
        publishedCount += 1
    }

    /// Sends backlog records while the window and the drain budget allow. Call on every loop tick.
    public mutating func pump<S: GroupStore, T: BALTransport>(nowMs: Int64, store: inout S, transport: inout T) {
        guard connected, nowMs >= drainNotBeforeMs else { return }
        refill(nowMs)
        while inFlight.count < limits.inFlightMax, drainTokens > 0, let record = store.next(after: cursor) {
            if ackedAbove.contains(record.seq) || liveSent.contains(record.seq) {
                cursor = record.seq
                continue
            }
            guard let token = transport.publish(topic: measurementsTopic, payload: record.payload, retained: false) else { return }
            inFlight.append((token, record.seq, nowMs, true))
            cursor = record.seq
            drainTokens -= 1
            publishedCount += 1
        }
    }

    /// PUBACK for `token`. Returns the sequence it carried (nil for an unknown token: e.g. the
    /// birth message, or a publish from before a reconnect). With `nowMs`, a backlog publish's
    /// acknowledgement time steers the adaptive drain rate.
    @discardableResult
    public mutating func published<S: GroupStore>(token: Int32, store: inout S, nowMs: Int64? = nil) -> UInt64? {
        guard let i = inFlight.firstIndex(where: { $0.token == token }) else { return nil }
        let seq = inFlight[i].seq
        if let nowMs, inFlight[i].backlog { adapt(latencyMs: nowMs - inFlight[i].sentMs, nowMs: nowMs) }
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

    /// AIMD on the acknowledgement time of backlog publishes (`drainLatencyTargetMs`).
    private mutating func adapt(latencyMs: Int64, nowMs: Int64) {
        let target = limits.drainLatencyTargetMs
        guard target > 0 else { return }
        slowestAckMs = max(slowestAckMs, latencyMs)
        if latencyMs > target {
            if let last = lastDecreaseMs, nowMs - last < target { return }
            drainRate = max(1, drainRate / 2)
            drainTokens = min(drainTokens, drainRate)
            lastDecreaseMs = nowMs
            lastIncreaseMs = nowMs
            drainDecreases += 1
        } else if nowMs - lastIncreaseMs >= 1_000 {
            drainRate = min(limits.drainPerSecondMax, drainRate + max(1, limits.drainPerSecondMax / 10))
            lastIncreaseMs = nowMs
        }
    }

    private mutating func refill(_ nowMs: Int64) {
        let elapsed = nowMs - lastRefillMs
        guard elapsed > 0 else { return }
        let rate = Int64(max(1, drainRate))
        let add = Int(elapsed * rate / 1_000)
        guard add > 0 else { return }
        if drainTokens + add >= Int(rate) {
            drainTokens = Int(rate)
            lastRefillMs = nowMs
        } else {
            drainTokens += add
            // Keep the remainder: at 3 groups/s a 100 ms tick adds 0.3 each time, which must not be lost.
            lastRefillMs += Int64(add) * 1_000 / rate
        }
    }
}
