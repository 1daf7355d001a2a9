/// A window of consecutive samples of one meter: the unit that gets signed and forwarded to the BAL.
/// Windows are aligned to multiples of their length in UTC (a 10 s window starts at :00, :10, …), so
/// two devices with the same settings cut the same windows.
public struct MeasurementGroup: Equatable {
    public var meterId: String
    /// Inclusive start and exclusive end of the window, UTC milliseconds.
    public var windowStartMs: Int64
    public var windowEndMs: Int64
    public var samples: [Measurement]

    public init(meterId: String, windowStartMs: Int64, windowEndMs: Int64, samples: [Measurement]) {
        self.meterId = meterId
        self.windowStartMs = windowStartMs
        self.windowEndMs = windowEndMs
        self.samples = samples
    }

    /// Samples that carry no values because the meter did not answer, answered badly or was offline.
    public var gapCount: Int {
        var n = 0
        for s in samples where s.isGap { n += 1 }
        return n
    }
}

/// Cuts the sample stream into `MeasurementGroup`s. A window is closed by the first sample that lies
/// past its end (the acquisition thread delivers one sample or gap marker per period, so that sample
/// is at most one period late) or by `flush()` at shutdown. A sample from before the open window (the
/// wall clock was stepped back) closes the open window too, so a group never holds samples out of order.
public struct Grouper {
    public let meterId: String
    public let windowMs: Int64
    /// Bound on samples per group: a window can never hold more than this many periods.
    public let samplesMax: Int
    private var open: MeasurementGroup? = nil
    /// Samples dropped because a window was already full (only if the clock misbehaves).
    public private(set) var dropped: UInt64 = 0

    public init(meterId: String, windowMs: Int64, periodMs: Int64) {
        precondition(windowMs > 0 && periodMs > 0, "window and period must be positive")
        self.meterId = meterId
        self.windowMs = windowMs
        self.samplesMax = Int((windowMs + periodMs - 1) / periodMs)
    }

    /// Adds a sample; returns the group it closed, if any.
    public mutating func add(_ m: Measurement) -> MeasurementGroup? {
        let start = Self.floorDiv(m.timestampMs, windowMs) * windowMs
        var closed: MeasurementGroup? = nil
        if let g = open, g.windowStartMs != start {
            closed = g
            open = nil
        }
        if open == nil {
            var samples: [Measurement] = []
            samples.reserveCapacity(samplesMax)
            open = MeasurementGroup(meterId: meterId, windowStartMs: start, windowEndMs: start + windowMs, samples: samples)
        }
        if open!.samples.count < samplesMax {
            open!.samples.append(m)
        } else {
            dropped &+= 1
        }
        return closed
    }

    /// Closes the open window early (at shutdown); nil when nothing is open.
    public mutating func flush() -> MeasurementGroup? {
        defer { open = nil }
        return open
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
