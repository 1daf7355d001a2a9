import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui-bench footprint` (issue 8): the size of the field binary `pgui` beside this one, and resident memory and heap in use
/// after 100 and after 10,000 iterations of the steady-state loop body, which must not grow.
///
/// One iteration is one meter period of `pgui run` with time from a `ManualClock`: a simulated meter
/// sample → `Grouper` (a 10 s window) → every 10th iteration the real `GroupPipeline` signs the group
/// (JWS ES256, next sequence number) and appends + commits it to a real 48 h journal on disk, and the
/// broker's acknowledgement retires it → set-point look-up in the real `SetpointService` (a new
/// 24 h DSO schedule every 15 minutes, persisted as on a device) → Modbus set-point and SunSpec
/// meter images → every 10th iteration `/status` and `/metrics` are rendered as for an installer.
/// Logging is at warn level (the per-sample info lines would only flood the output).
final class FootprintLoop {
    let clock: ManualClock
    var meter = SimulatedMeter(config: SimulatedMeterConfig())
    var grouper: Grouper
    let groups: GroupPipeline
    let journal: FileJournal
    let setpoints: SetpointService<ManualClock>
    var setpointImage = SetpointRegisters()
    var meterImage: SunSpecMeterImage
    var statusJSON = JSONWriter(capacity: 2_048)
    var page: [UInt8] = []
    var metricsText: [UInt8] = []
    var latest: Measurement? = nil
    private(set) var iterations = 0
    private(set) var failure: String? = nil
    let periodMs: Int64

    init(_ config: Config, clock: ManualClock, identity: IdentityStore, journal: FileJournal) {
        self.clock = clock
        self.journal = journal
        periodMs = config.meter.periodMs
        grouper = Grouper(meterId: meter.meterId, windowMs: config.group.windowMs, periodMs: periodMs)
        groups = GroupPipeline(identity: identity, journal: journal)
        setpoints = SetpointService(config: config.dso, dataDir: config.device.dataDir, clock: clock)
        meterImage = SunSpecMeterImage(deviceId: config.device.deviceId, version: pguiVersion)
        page.reserveCapacity(8_192)
        metricsText.reserveCapacity(4_096)
        // The BAL's PUBACK: the group leaves the journal as soon as it is committed.
        groups.onCommitted = { [j = Unretained(journal)] seq, _ in
            do throws(JournalError) { try j.value.ack(upTo: seq) } catch { Log.error("bench", error.message) }
        }
    }

    func step() {
        clock.advance(ms: periodMs)
        iterations += 1
        let now = clock.wallMs()
        if iterations % 900 == 1 { receiveSchedule(now) }
        do throws(MeterError) {
            let m = try meter.read(wallMs: now, clockSynced: true)
            latest = m
            if let g = grouper.add(m) { groups.handle(g) }
        } catch {
            failure = "meter: \(error.description)"
            return
        }
        setpointImage.update(setpoints.snapshot())
        meterImage.update(latest)
        if iterations % 10 == 0 { renderInstallerPages(now) }
        if groups.dropped > 0 && failure == nil { failure = "\(groups.dropped) groups dropped (see the log)" }
    }

    /// A DSO message covering the next 24 h from the current slot, as a DSO platform sends it.
    func receiveSchedule(_ nowMs: Int64) {
        let start = nowMs / 1_000 / 900 * 900
        var w = JSONWriter(capacity: 8_192)
        w.beginObject()
        w.field("version", Int64(1))
        w.field("id", "bench-\(iterations)")
        w.field("issued", nowMs)
        w.key("slots")
        w.beginArray()
        for i in Int64(0)..<96 {
            w.beginObject()
            w.field("start", start + i * 900)
            w.field("duration", Int64(900))
            w.field("bspP", 1_000 + i)
            w.field("bspQ", -i)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        setpoints.stage(w.bytes, source: "bench")
        let ack = setpoints.commit().first ?? []
        let status = (try? JSONParser.parse(ack))?["status"]?.stringValue
        if status != "accepted" && failure == nil {
            failure = "schedule refused: \(String(decoding: ack, as: UTF8.self))"
        }
    }

    func renderInstallerPages(_ nowMs: Int64) {
        var s = StatusSnapshot()
        s.deviceId = "gw-bench"
        s.nowMs = nowMs
        s.lastSample = latest
        let j = journal.stats
        s.journalFillPermille = j.fillPerMille
        s.backlogGroups = j.records
        if let c = setpoints.current { s.currentP = c.bspP; s.currentQ = c.bspQ }
        if let n = setpoints.next { s.nextP = n.bspP; s.nextQ = n.bspQ }
        s.events = Log.recent
        s.encodeJSON(into: &statusJSON)
        s.renderHTML(into: &page)
        var m = Metrics()
        m.groupsSigned = groups.signed
        m.groupsLost = j.lostCount
        MetricsWiring.fill(&m)
        m.encodePrometheus(into: &metricsText)
    }
}

/// A reference that does not keep its object alive (the journal outlives the closure here).
struct Unretained<T: AnyObject> {
    let ptr: Unmanaged<T>
    init(_ v: T) { ptr = Unmanaged.passUnretained(v) }
    var value: T { ptr.takeUnretainedValue() }
}

extension Bench {
    static let footprintEarly = 100
    static let footprintLate = 10_000

    static func benchFootprint() -> Bool {
        // The field binary next to this one (out/<arch>/pgui-bench → out/<arch>/pgui); its last two
        // path components (<arch>/pgui) say which build was measured.
        var parts = executablePath().split(separator: "/").map(String.init)
        if !parts.isEmpty { parts[parts.count - 1] = "pgui" }
        let pgui = "/" + parts.joined(separator: "/")
        printOut("bench footprint: executable \(parts.suffix(2).joined(separator: "/")): \(fileBytes(pgui)) bytes")
        let level = Log.level
        Log.level = .warn
        defer { Log.level = level }
        let base = getenv("PGUI_BENCH_DIR").map { String(cString: $0) } ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let dir = base + "/pgui-bench-footprint-\(getpid())"
        guard mkdir(dir, 0o700) == 0 else {
            printErr("bench footprint: cannot create \(dir): \(errnoText(pgui_errno()))")
            return false
        }
        defer { removeFootprintDir(dir) }
        let config: Config
        do throws(ConfigError) {
            config = try Config.load(Array("device.id = gw-bench\ndevice.mode = demo\ndata.dir = \(dir)\nmeter.period_ms = 1000\ngroup.window_s = 10\n".utf8), file: "bench")
        } catch {
            printErr("bench footprint: \(error.description)")
            return false
        }
        let clock = ManualClock(wallMs: 1_795_000_000_000, monotonicMs: 0)
        let identity: IdentityStore
        let journal: FileJournal
        do throws(IdentityError) {
            let random: RandomSource
            do throws(CryptoError) { random = try RandomSource(personalization: "pgui-bench-footprint") } catch {
                throw IdentityError(error.description)
            }
            identity = try IdentityStore.create(dataDir: dir, device: "gw-bench", seqBlock: config.identity.seqBlock, nowMs: clock.wallMs(), random: random)
        } catch {
            printErr("bench footprint: \(error.description)")
            return false
        }
        do throws(JournalError) {
            let g = config.journal.geometry
            journal = try FileJournal.open(dir: dir + "/journal", create: g, expected: g, policy: config.journal.policy)
        } catch {
            printErr("bench footprint: \(error.message)")
            return false
        }
        let loop = FootprintLoop(config, clock: clock, identity: identity, journal: journal)
        let startMs = pgui_monotonic_ms()
        while loop.iterations < footprintEarly && loop.failure == nil { loop.step() }
        let early = (heap: Int64(pgui_heap_in_use_bytes()), rss: Int64(pgui_rss_kib()))
        while loop.iterations < footprintLate && loop.failure == nil { loop.step() }
        let late = (heap: Int64(pgui_heap_in_use_bytes()), rss: Int64(pgui_rss_kib()))
        let ms = pgui_monotonic_ms() - startMs
        do throws(JournalError) { try journal.close() } catch { printErr("bench footprint: \(error.message)") }
        if let f = loop.failure {
            printErr("bench footprint: the loop failed at iteration \(loop.iterations): \(f)")
            return false
        }
        printOut("bench footprint: \(footprintLate) iterations (\(loop.groups.signed) groups signed, journalled and acknowledged) in \(ms) ms")
        printOut("bench footprint: heap in use after \(footprintLate) iterations \(late.heap) B vs after \(footprintEarly) \(early.heap) B = ratio \(ratioText(late.heap, early.heap))")
        printOut("bench footprint: resident memory after \(footprintLate) iterations \(late.rss) KiB vs after \(footprintEarly) \(early.rss) KiB = ratio \(ratioText(late.rss, early.rss))")
        // Growth of the heap between the two points is a leak or an unbounded structure: fail loudly.
        let grownBytes = late.heap - early.heap
        if early.heap >= 0 && grownBytes > footprintGrowthBytesMax {
            printErr("bench footprint: heap grew by \(grownBytes) B over \(footprintLate - footprintEarly) iterations (limit \(footprintGrowthBytesMax) B): something grows without bound")
            return false
        }
        return true
    }

    /// Allowed heap difference between the two points: allocator noise (free-list shape, one more
    /// journal hint buffer), far below one byte per iteration.
    static let footprintGrowthBytesMax: Int64 = 4_096

    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 1_024)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "(unknown)" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func fileBytes(_ path: String) -> Int64 {
        let fd = pgui_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        return Int64(pgui_file_size(fd))
    }

    static func removeFootprintDir(_ dir: String) {
        _ = try? JournalFiles.reset(dir + "/journal")
        rmdir(dir + "/journal")
        let identity = IdentityStore.directory(dataDir: dir)
        for name in ["key.pem", "state.json", "key-next.pem", "announcement.json"] { unlink(identity + "/" + name) }
        rmdir(identity)
        unlink(SetpointService<ManualClock>.file(in: dir))
        rmdir(dir)
    }
}
