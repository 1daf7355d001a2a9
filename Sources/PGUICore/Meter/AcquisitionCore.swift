/// The decisions of the acquisition thread, kept free of threads and sockets so they are tested with
/// a `ManualClock`: when the next sample is due, what a failed read turns into, and the bounded
/// reconnect back-off. The thread (PGUIPlatform/AcquisitionThread.swift) only sleeps and hands over.
public struct AcquisitionCore<M: MeterSource> {
    public var meter: M
    public let periodMs: Int64
    public let backoffMinMs: Int64
    public let backoffMaxMs: Int64
    /// Consecutive failures that needed a reconnect (0 = link healthy).
    public private(set) var failures = 0
    /// Monotonic instant before which no read is attempted (back-off).
    public private(set) var retryAtMs: Int64 = Int64.min
    private var connected = false
    /// Set while reads keep ending in exception responses, so they are logged once, not per period.
    private var inExceptions = false
    public private(set) var reads: UInt64 = 0
    public private(set) var gaps: UInt64 = 0

    public init(meter: M, periodMs: Int64, backoffMinMs: Int64, backoffMaxMs: Int64) {
        precondition(periodMs > 0 && backoffMinMs > 0 && backoffMaxMs >= backoffMinMs, "acquisition bounds")
        self.meter = meter
        self.periodMs = periodMs
        self.backoffMinMs = backoffMinMs
        self.backoffMaxMs = backoffMaxMs
    }

    /// The first period boundary of the wall clock strictly after `wallMs`.
    public static func nextBoundary(after wallMs: Int64, periodMs: Int64) -> Int64 {
        let r = ((wallMs % periodMs) + periodMs) % periodMs
        return wallMs - r + periodMs
    }

    /// Back-off before reconnect attempt number `failures` (1-based): min, 2·min, 4·min, … capped.
    public static func backoffMs(failures: Int, minMs: Int64, maxMs: Int64) -> Int64 {
        var d = minMs
        var i = 1
        while i < failures && d < maxMs {
            d *= 2
            i += 1
        }
        return d < maxMs ? d : maxMs
    }

    /// One sample for the boundary `dueMs`: a reading, or a flagged gap. `monotonicMs` drives the
    /// back-off. `event` is a line for the log when the link changes state (nil otherwise), so a
    /// meter that stays away costs one log line per attempt, not one per period.
    public mutating func sample(dueMs: Int64, monotonicMs: Int64, clockSynced: Bool) -> (Measurement, event: AcquisitionEvent?) {
        let unsynced: QualityFlags = clockSynced ? [] : [.clockUnsynced]
        if monotonicMs < retryAtMs {
            gaps += 1
            return (Measurement.gap(at: dueMs, reason: unsynced.union(.disconnected)), nil)
        }
        do throws(MeterError) {
            let m = try meter.read(wallMs: dueMs, clockSynced: clockSynced)
            reads += 1
            var event: AcquisitionEvent? = nil
            if !connected {
                connected = true
                let what = meter.discoveredLayout.map { ": \($0)" } ?? ""
                event = AcquisitionEvent(problem: false, text: failures > 0 ? "meter \(meter.meterId) answers again after \(failures) failed attempts\(what)" : "meter \(meter.meterId) connected\(what)")
            }
            if inExceptions && event == nil { event = AcquisitionEvent(problem: false, text: "meter \(meter.meterId) answers normally again") }
            failures = 0
            inExceptions = false
            retryAtMs = Int64.min
            return (m, event)
        } catch {
            gaps += 1
            var event: AcquisitionEvent? = nil
            if error.needsReconnect {
                inExceptions = false
                meter.reset()
                connected = false
                failures += 1
                let wait = Self.backoffMs(failures: failures, minMs: backoffMinMs, maxMs: backoffMaxMs)
                // The first failure retries at the next boundary; later ones back off.
                retryAtMs = failures == 1 ? Int64.min : monotonicMs + wait
                event = AcquisitionEvent(problem: true, text: "meter \(meter.meterId): \(error.description); " + (failures == 1 ? "gap recorded, reconnecting at the next period" : "gap recorded, reconnect attempt \(failures) failed, next in \(wait) ms"))
            } else if !inExceptions {
                inExceptions = true
                event = AcquisitionEvent(problem: true, text: "meter \(meter.meterId): \(error.description); gaps recorded until it answers normally, link kept")
            }
            return (Measurement.gap(at: dueMs, reason: unsynced.union(error.gapReason)), event)
        }
    }
}

/// A change of the meter link worth one log line.
public struct AcquisitionEvent: Equatable {
    public var problem: Bool
    public var text: String
}
