/// The watchdog is petted only while every health check holds (DESIGN.md §1): a device that cannot
/// do its job should be reset by hardware rather than keep running silently broken.
public struct HealthInputs {
    /// Monotonic time of the last meter sample (nil: none yet).
    public var lastSampleMs: Int64?
    /// Monotonic time the process started (grace period for the first sample).
    public var startedMs: Int64
    /// false after the journal failed to commit (disk error, read-only partition).
    public var journalWritable: Bool
    /// Resident memory in KiB (from /proc/self/statm).
    public var rssKiB: Int64
    /// Set while measurement groups are being dropped (not signed or not journalled), with why: a
    /// full disk or a sequence the journal refuses must not leave the health "ok" (issue 21).
    public var groupsFailing: String? = nil

    public init(lastSampleMs: Int64?, startedMs: Int64, journalWritable: Bool, rssKiB: Int64) {
        self.lastSampleMs = lastSampleMs
        self.startedMs = startedMs
        self.journalWritable = journalWritable
        self.rssKiB = rssKiB
    }
}

public enum HealthVerdict: Equatable {
    case healthy
    case failing(String)
}

public struct HealthPolicy {
    /// A sample must be newer than this many meter periods.
    public var meterPeriodsMax: Int64 = 5
    public var meterPeriodMs: Int64 = 1_000
    /// Time allowed after start before the first sample is required.
    public var startGraceMs: Int64 = 30_000
    public var rssKiBMax: Int64 = 64 * 1_024

    public init() {}

    /// The loop being alive is implied: this runs on the loop, so a hung loop never gets here and
    /// never pets the watchdog.
    public func evaluate(nowMs: Int64, _ i: HealthInputs) -> HealthVerdict {
        let staleMs = meterPeriodsMax * meterPeriodMs
        if let last = i.lastSampleMs {
            if nowMs - last > staleMs {
                return .failing("no meter sample for \(nowMs - last) ms (limit \(staleMs) ms)")
            }
        } else if nowMs - i.startedMs > startGraceMs + staleMs {
            return .failing("no meter sample since start \(nowMs - i.startedMs) ms ago")
        }
        if let why = i.groupsFailing { return .failing(why) }
        if !i.journalWritable { return .failing("journal is not writable") }
        if i.rssKiB > rssKiBMax { return .failing("resident memory \(i.rssKiB) KiB over the budget of \(rssKiBMax) KiB") }
        return .healthy
    }
}
