/// What the EMS servers answer, decided here from plain values so it is unit-tested on a manual
/// clock (docs/ems.md): stale meter data is never served as fresh, set-point answers carry the
/// schedule's age and the DSO link state.

/// When a meter sample is too old to be served as the building's present state.
public struct SampleFreshness: Equatable, Sendable {
    public var periodMs: Int64
    /// `ems.stale_after_periods`: missed periods before the sample is stale.
    public var staleAfterPeriods: Int64

    public init(periodMs: Int64, staleAfterPeriods: Int64) {
        self.periodMs = periodMs
        self.staleAfterPeriods = staleAfterPeriods
    }

    public var staleAfterMs: Int64 { periodMs * staleAfterPeriods }

    /// Age of the last good sample (monotonic ms since it reached the loop); nil = none yet.
    public func ageMs(lastGoodMonoMs: Int64?, nowMonoMs: Int64) -> Int64? {
        lastGoodMonoMs.map { max(0, nowMonoMs - $0) }
    }

    /// Stale once more than `staleAfterPeriods` periods passed without a good sample.
    public func isStale(ageMs: Int64?) -> Bool { ageMs.map { $0 > staleAfterMs } ?? false }
}

/// The DSO link as the EMS sees it.
public enum DSOLinkState: String, Equatable, Sendable {
    case up, down, off
}

/// Everything one EMS answer is computed from, taken at one instant.
public struct EMSView {
    public var setpoints: SetpointSnapshot
    public var dsoLink: DSOLinkState
    /// The latest good sample and its meter id; nil before the first.
    public var sample: Measurement?
    public var meterId: String
    public var sampleAgeMs: Int64?
    public var sampleStale: Bool

    public init(setpoints: SetpointSnapshot = SetpointSnapshot(), dsoLink: DSOLinkState = .off, sample: Measurement? = nil,
                meterId: String = "", sampleAgeMs: Int64? = nil, sampleStale: Bool = false) {
        self.setpoints = setpoints
        self.dsoLink = dsoLink
        self.sample = sample
        self.meterId = meterId
        self.sampleAgeMs = sampleAgeMs
        self.sampleStale = sampleStale
    }

    /// The sample the SunSpec block shows: none when stale (every point "not implemented").
    public var servedSample: Measurement? { sampleStale ? nil : sample }
}

public enum EMSHTTPRoutes {
    /// Writes the JSON body for a GET of `path` (`/` or `/measurements`), sets extra response header
    /// lines, returns the status; nil = not an EMS route.
    public static func answer(_ path: String, _ v: EMSView, into w: inout JSONWriter, headers: inout String) -> Int? {
        w.reset()
        switch path {
        case "/":
            // The spec's body stays exactly {"bspP":…,"bspQ":…}; age and link go in headers, which a
            // client that knows only the spec ignores (docs/spec-interpretations.md).
            headers = "PGUI-DSO-Link: \(v.dsoLink.rawValue)\r\n"
            if let age = v.setpoints.scheduleAgeS { headers += "PGUI-Schedule-Age: \(age)\r\n" }
            w.beginObject()
            if let c = v.setpoints.current {
                w.field("bspP", c.bspP)
                w.field("bspQ", c.bspQ)
                w.endObject()
                return 200
            }
            w.field("error", "no set-point for the current slot")
            w.endObject()
            return 404
        case "/measurements":
            guard let m = v.sample else {
                w.beginObject()
                w.field("error", "no measurement yet")
                w.endObject()
                return 404
            }
            if v.sampleStale {
                // 503, not 200 with a flag: a client that only looks at the status never takes a
                // silent meter's last value for the present (issue 14, item 2).
                let age = v.sampleAgeMs ?? 0
                w.beginObject()
                w.field("error", "the meter has not answered for \(age) ms; the last good sample is stale")
                w.field("stale", true)
                w.field("ageMs", age)
                w.field("timestampMs", m.timestampMs)
                w.endObject()
                headers = "Retry-After: 1\r\n"
                return 503
            }
            MeasurementJSON.encode(m, meterId: v.meterId, ageMs: v.sampleAgeMs ?? 0, into: &w)
            return 200
        default:
            return nil
        }
    }
}
