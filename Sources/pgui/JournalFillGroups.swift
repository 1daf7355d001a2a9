import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui journal fill-groups DATA_DIR --config FILE --count N`: the journal as `pgui run` would
/// have left it after an outage of N windows that ends now — N groups of the simulated meter
/// (`meter.sim.*`, `meter.period_ms`, `group.window_s`), signed with the device's key and numbered
/// from its sequence blocks, appended and committed in the ring `journal.*` describes, in
/// DATA_DIR/journal (the key in DATA_DIR/identity is created if there is none, as on a first start).
/// For benchmarks and tests of the BAL drain (docs/bal-protocol.md); never used by `pgui run`.
extension JournalCommand {
    static func fillGroups(_ o: Options) throws(JournalError) -> Int32 {
        guard !o.config.isEmpty, var config = Command.loadConfig(o.config) else {
            throw JournalError("fill-groups needs --config FILE (meter.*, group.window_s, journal.*); nothing written")
        }
        guard o.count >= 0 else { throw JournalError("fill-groups needs --count N; nothing written") }
        guard config.meter.kind == .simulated else {
            throw JournalError("fill-groups makes groups of the simulated meter only (meter.kind = \(config.meter.kind.rawValue)); nothing written")
        }
        config.device.dataDir = o.dir
        guard Files.isDirectory(o.dir) else { throw JournalError("\(o.dir) is not a directory; nothing written") }
        let clock = SystemClock()
        let startMs = clock.monotonicMs()
        let g = config.journal.geometry
        let j = try FileJournal.open(dir: JournalRuntime.folder(config), create: g, expected: g, policy: config.journal.policy)
        guard let identity = IdentityRuntime.start(config, nowMs: clock.wallMs(), journalFloor: j.stats.highestSeq) else {
            throw JournalError("no usable device key in \(o.dir) (see the identity error above); nothing written")
        }
        let windowMs = config.group.windowMs
        let periodMs = config.meter.periodMs
        let endMs = clock.wallMs() / windowMs * windowMs
        var meter = SimulatedMeter(config: config.meter.simulated, meterId: config.meter.meterId)
        var signer = GroupSigner()
        var samples: [Measurement] = []
        samples.reserveCapacity(Int(windowMs / periodMs) + 1)
        var bytesMax = 0
        for i in 0..<o.count {
            let windowStart = endMs - (o.count - i) * windowMs
            samples.removeAll(keepingCapacity: true)
            var t = windowStart
            while t < windowStart + windowMs {
                do throws(MeterError) {
                    samples.append(try meter.read(wallMs: t, clockSynced: true))
                } catch {
                    throw JournalError("the simulated meter failed at \(UTC.format(ms: t)); \(i) groups written")
                }
                t += periodMs
            }
            let group = MeasurementGroup(meterId: meter.meterId, windowStartMs: windowStart, windowEndMs: windowStart + windowMs, samples: samples)
            let seq: UInt64
            let jws: [UInt8]
            do throws(IdentityError) {
                (seq, jws) = try identity.signNumbered(group, with: &signer)
            } catch {
                throw JournalError("signing group \(i + 1): \(error.description); \(i) groups written")
            }
            bytesMax = max(bytesMax, jws.count)
            try j.append(seq: seq, payload: jws)
            _ = try j.commit()
        }
        try j.close()
        let ms = clock.monotonicMs() - startMs
        printErr("pgui journal fill-groups: \(o.count) signed groups (up to \(bytesMax) bytes) in \(ms) ms")
        printOut(String(decoding: j.stats.json(), as: UTF8.self))
        return Exit.ok
    }
}
