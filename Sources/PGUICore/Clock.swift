/// Time is injected: production code reads the system clocks, tests drive a `ManualClock`, so a
/// 48-hour outage or a key-rotation period runs in milliseconds.
public protocol Clock {
    /// UTC wall-clock time in milliseconds since the Unix epoch (may jump when NTP steps the clock).
    func wallMs() -> Int64
    /// Monotonic milliseconds for timeouts and periods (never jumps).
    func monotonicMs() -> Int64
}

/// A clock the caller moves by hand. A class so that every holder sees the same time.
public final class ManualClock: Clock {
    public var wall: Int64
    public var monotonic: Int64

    public init(wallMs: Int64, monotonicMs: Int64 = 0) {
        self.wall = wallMs
        self.monotonic = monotonicMs
    }

    public func wallMs() -> Int64 { wall }
    public func monotonicMs() -> Int64 { monotonic }

    public func advance(ms: Int64) {
        precondition(ms >= 0, "time only moves forward")
        wall += ms
        monotonic += ms
    }
}

/// Wall-clock plausibility: before this instant (2024-01-01T00:00:00Z) the RTC has clearly not been set,
/// so samples are flagged as taken with an unsynchronised clock (DESIGN.md §6) rather than dropped.
public let plausibleWallMsMin: Int64 = 1_704_067_200_000
