import CSystem
import PGUICore
import PGUIPlatform

/// `pgui run`: wires the adapters around the one event loop and runs it until SIGTERM/SIGINT.
enum Runtime {
    static func run(_ config: Config) -> Int32 {
        Log.level = config.device.logLevel
        guard Files.isDirectory(config.device.dataDir) else {
            Log.error("main", "data directory \(config.device.dataDir) does not exist or is not a directory")
            return Exit.failure
        }
        let loop: EventLoop
        do throws(SystemError) {
            loop = try EventLoop()
        } catch {
            Log.error("main", "cannot start the event loop: \(error.description)")
            return Exit.failure
        }
        let clock = SystemClock()
        let acquisition = Acquisition(meter: SimulatedMeter(config: config.meter.simulated), clock: clock)
        let period = config.meter.periodMs
        // Samples are aligned to period boundaries of the wall clock (e.g. every whole second).
        let first = period - clock.wallMs() % period
        do throws(SystemError) {
            try loop.addTimer(firstMs: first, intervalMs: period) { expirations in
                if expirations > 1 {
                    Log.warn("meter", "loop fell behind: \(expirations - 1) sample periods skipped")
                }
                acquisition.sample()
            }
        } catch {
            Log.error("main", "cannot start the meter timer: \(error.description)")
            return Exit.failure
        }
        let setpoints = SetpointService(config: config.dso, dataDir: config.device.dataDir, clock: clock)
        guard EMSWiring.startDSO(config.dso, deviceId: config.device.deviceId, loop: loop, setpoints: setpoints),
              EMSWiring.start(config.ems, deviceId: config.device.deviceId, loop: loop, setpoints: setpoints, latest: { acquisition.latest.map { ($0, acquisition.meter.meterId) } }) else {
            return Exit.failure
        }
        Log.info("main", "pgui \(pguiVersion) device \(config.device.deviceId) started; meter \(config.meter.kind), period \(period) ms")
        let signo = loop.run()
        Log.info("main", "stopping (\(signalName(signo))) after \(acquisition.samples) samples")
        return signo < 0 ? Exit.failure : Exit.ok
    }
}

/// Reads the meter once per period. (The simulated meter never blocks; real meters move to their
/// own thread with the Modbus sources.)
final class Acquisition<M: MeterSource, C: Clock> {
    var meter: M
    let clock: C
    private(set) var samples: UInt64 = 0
    /// The latest sample, served to the EMS (GET /measurements).
    private(set) var latest: Measurement? = nil

    init(meter: M, clock: C) {
        self.meter = meter
        self.clock = clock
    }

    func sample() {
        let now = clock.wallMs()
        let synced = now >= plausibleWallMsMin
        do throws(MeterError) {
            let m = try meter.read(wallMs: now, clockSynced: synced)
            samples += 1
            latest = m
            Log.info("meter", "sample \(UTC.format(ms: m.timestampMs)) P=\(m.activePowerW ?? 0) W Q=\(m.reactivePowerVar ?? 0) var E+=\(m.energyImportWh ?? 0) Wh E-=\(m.energyExportWh ?? 0) Wh")
        } catch {
            Log.warn("meter", "\(meter.meterId): \(error.description)")
        }
    }
}
