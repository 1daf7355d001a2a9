import CSystem
import PGUICore
import PGUIPlatform

/// `pgui run`'s side of the appliance contract (docs/image.md): pets the hardware watchdog from the
/// event loop — so a hung loop resets the board — and writes the health marker the init scripts
/// wait for before they mark an updated slot good.
public final class Appliance {
    public let config: ApplianceConfig
    private var watchdog: Watchdog?
    public private(set) var healthy = false
    /// With the BAL link enabled the marker means "reached the BAL" (DESIGN.md §6: an update is marked
    /// good only after PGUI reached the BAL); without it, "loop running and samples taken".
    public var balRequired = false
    /// The health checks the watchdog depends on (meter fresh, journal writable, memory in budget).
    public var health: () -> HealthVerdict = { .healthy }
    private var lastVerdict = HealthVerdict.healthy

    public init(_ config: ApplianceConfig) {
        self.config = config
    }

    /// Arms the watchdog and starts the health check. `samples` reports the meter samples taken so far.
    public func start(loop: EventLoop, samples: @escaping () -> UInt64) throws(SystemError) {
        if !config.healthFile.isEmpty {
            // A marker left by an earlier run must not vouch for this one.
            unlink(config.healthFile)
        }
        if !config.watchdogDevice.isEmpty {
            let w = try Watchdog(device: config.watchdogDevice, timeoutS: Int32(config.watchdogTimeoutS))
            watchdog = w
            // Pet three times per timeout: one late loop iteration must not reset the board.
            let periodMs = Int64(w.timeoutS) * 1000 / 3
            try loop.addTimer(firstMs: 0, intervalMs: periodMs) { [self] _ in
                // Petted only while healthy: a device that cannot do its job is reset by hardware.
                let verdict = health()
                if verdict != lastVerdict {
                    switch verdict {
                    case .healthy: Log.info("watchdog", "health restored; petting \(w.device) again")
                    case .failing(let why): Log.error("watchdog", "unhealthy: \(why); no longer petting \(w.device), the board resets in \(w.timeoutS) s unless this clears")
                    }
                    lastVerdict = verdict
                }
                guard verdict == .healthy else { return }
                if !w.pet() { Log.warn("watchdog", "petting \(w.device) failed; the board resets in \(w.timeoutS) s") }
            }
            Log.info("watchdog", "\(w.device) armed, timeout \(w.timeoutS) s, petted every \(periodMs) ms")
        }
        guard !config.healthFile.isEmpty else { return }
        let needed = UInt64(config.healthSamples)
        let path = config.healthFile
        try loop.addTimer(firstMs: 500, intervalMs: 500) { [self] _ in
            guard !healthy, !balRequired, samples() >= needed else { return }
            markHealthy(path: path, samples: samples(), criterion: "event loop running and meter samples taken (BAL link disabled)")
        }
        self.samples = samples
    }

    private var samples: () -> UInt64 = { 0 }

    /// The BAL link's first CONNACK.
    public func balReached() {
        guard balRequired, !healthy, !config.healthFile.isEmpty else { return }
        markHealthy(path: config.healthFile, samples: samples(), criterion: "reached the BAL (CONNACK)")
    }

    private func markHealthy(path: String, samples: UInt64, criterion: String) {
        var w = JSONWriter()
        w.beginObject()
        w.field("healthy", true)
        w.field("criterion", criterion)
        w.field("samples", samples)
        // The clock state PGUI sees: false until NTP (or an RTC) brought the wall clock past the
        // build's plausible minimum; samples taken before are flagged unsynced.
        w.field("clock_synced", SystemClock().wallMs() >= plausibleWallMsMin)
        w.endObject()
        do throws(SystemError) {
            try Files.writeAtomically(path, Array((w.string + "\n").utf8), mode: 0o644)
            healthy = true
            Log.info("appliance", "healthy after \(samples) samples; marker \(path) written")
        } catch {
            // Tried again on the next tick; until then an updated slot simply stays on trial.
            Log.warn("appliance", "cannot write health marker: \(error.description); retrying")
        }
    }

    /// A clean stop: withdraw the health marker; disarm the watchdog only if configured to.
    public func stop() {
        if !config.healthFile.isEmpty { unlink(config.healthFile) }
        guard let w = watchdog else { return }
        w.close(magic: config.watchdogMagicClose)
        if !config.watchdogMagicClose {
            Log.warn("watchdog", "\(w.device) left armed (watchdog.magic_close = false): the board resets in \(w.timeoutS) s unless PGUI runs again")
        }
        watchdog = nil
    }
}
