import CSystem
import PGUICore

/// Reads the meter on its own thread at every period boundary of the wall clock and hands each
/// sample (or flagged gap) to the event loop through a `SampleMailbox`. libmodbus calls block up to
/// the response timeout; that blocking stays here. Stop is prompt while waiting (a stop eventfd is
/// polled instead of sleeping) and bounded by one read's timeout otherwise.
public final class AcquisitionThread<M: MeterSource> {
    public let mailbox: SampleMailbox
    /// Owned by the thread between `start()` and `stop()`; read the counters only after `stop()`.
    public private(set) var core: AcquisitionCore<M>
    /// Gap markers a single slow read may add for the boundaries it overran; beyond this (the wall
    /// clock jumped ahead) the missed boundaries are only logged.
    public static var missedGapsMax: Int { 60 }
    private let stopFd: Int32
    private var thread: PosixThread? = nil

    public init(core: AcquisitionCore<M>, mailbox: SampleMailbox) throws(SystemError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError("eventfd", "acquisition stop") }
        self.core = core
        self.mailbox = mailbox
        self.stopFd = fd
    }

    deinit {
        stop()
        close(stopFd)
    }

    public func start() throws(SystemError) {
        let t = PosixThread { self.main() }
        try t.start(name: "meter acquisition")
        thread = t
    }

    public func stop() {
        guard let t = thread else { return }
        var one: UInt64 = 1
        _ = write(stopFd, &one, 8)
        t.join()
        thread = nil
    }

    /// Waits up to `ms`; true when a stop was requested.
    private func waitForStop(ms: Int64) -> Bool {
        var p = pollfd(fd: stopFd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(max(0, min(ms, 60_000))))
        return r > 0
    }

    private func main() {
        let clock = SystemClock()
        let period = core.periodMs
        var due = AcquisitionCore<M>.nextBoundary(after: clock.wallMs(), periodMs: period)
        while true {
            let now = clock.wallMs()
            if due - now > period {
                // The wall clock was stepped back: re-align instead of waiting out the step.
                due = AcquisitionCore<M>.nextBoundary(after: now, periodMs: period)
            }
            if due > now {
                if waitForStop(ms: due - now) { return }
                continue
            }
            let (m, event) = core.sample(dueMs: due, monotonicMs: clock.monotonicMs(), clockSynced: due >= plausibleWallMsMin)
            if let e = event { if e.problem { Log.warn("meter", e.text) } else { Log.info("meter", e.text) } }
            mailbox.push(m)
            if waitForStop(ms: 0) { return }
            // A read that overran later boundaries: one timeout gap per boundary it swallowed.
            let after = clock.wallMs()
            var next = due + period
            var missed = 0
            while next <= after && missed < Self.missedGapsMax {
                mailbox.push(Measurement.gap(at: next, reason: next >= plausibleWallMsMin ? .timeout : [.timeout, .clockUnsynced]))
                next += period
                missed += 1
            }
            if next <= after {
                Log.warn("meter", "wall clock jumped ahead by \((after - next) / period + 1) periods beyond the gaps recorded; re-aligning")
            }
            due = AcquisitionCore<M>.nextBoundary(after: max(after, due), periodMs: period)
        }
    }
}
