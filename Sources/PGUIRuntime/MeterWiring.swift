import PGUICore
import PGUIPlatform

/// `pgui run`'s meter: builds the configured source, runs it on the acquisition thread, and on the
/// loop turns the mailbox into logged samples and measurement groups.
public final class MeterPipeline {
    /// Samples the mailbox can hold while the loop is busy: two minutes at the shortest period is far
    /// more than any loop stall; overruns are counted and logged.
    public static let mailboxCapacity = 128

    public let mailbox: SampleMailbox
    private let stopThread: () -> Void
    private var grouper: Grouper
    private var drained: [Measurement] = []
    /// Where closed groups go next (the signer, once it exists); the group is logged either way.
    public var onGroup: ((MeasurementGroup) -> Void)? = nil
    public private(set) var samples: UInt64 = 0
    /// The latest sample with values, served to the EMS (GET /measurements, SunSpec block).
    public private(set) var latest: Measurement? = nil
    /// Monotonic time of the last sample or gap marker: the acquisition thread is alive. (A meter
    /// that stopped answering yields gap markers, not a stale time: an unplugged meter must not
    /// make the watchdog reboot the gateway in a loop while set-points still need serving.)
    public private(set) var latestMonoMs: Int64? = nil
    /// Monotonic time the latest good sample reached the loop (its age decides staleness, docs/ems.md).
    public private(set) var latestGoodMonoMs: Int64? = nil
    public var meterId: String { grouper.meterId }
    public private(set) var gaps: UInt64 = 0
    /// Gaps flagged `invalid` (a DLMS frame that failed authentication counts here).
    public private(set) var invalidGaps: UInt64 = 0
    public private(set) var groups: UInt64 = 0

    private init(mailbox: SampleMailbox, grouper: Grouper, stop: @escaping () -> Void) {
        self.mailbox = mailbox
        self.grouper = grouper
        self.stopThread = stop
        drained.reserveCapacity(Self.mailboxCapacity)
    }

    /// Starts the thread for the configured meter and watches its mailbox on `loop`.
    public static func start(_ config: Config, loop: EventLoop) throws(SystemError) -> MeterPipeline {
        let m = config.meter
        switch m.kind {
        case .simulated:
            return try start(SimulatedMeter(config: m.simulated, meterId: m.meterId), config, loop)
        case .dsmrP1:
            Log.info("meter", "DSMR \(m.serial.dsmrVersion) P1\(m.serial.dsmrEncrypted ? " (encrypted)" : "") on \(m.obis.serial.description)")
            if m.serial.dsmrEncrypted { return try start(SerialMeters.encryptedDSMR(m), config, loop) }
            return try start(SerialMeters.dsmr(m), config, loop)
        case .sml:
            Log.info("meter", "SML on \(m.obis.serial.description)")
            return try start(SerialMeters.sml(m), config, loop)
        case .iec62056_21:
            Log.info("meter", "IEC 62056-21 mode C readout on \(m.obis.serial.description), every \(m.periodMs) ms")
            return try start(SerialMeters.iec(m), config, loop)
        case .dlmsHDLC, .dlmsTCP, .dlmsPush:
            return try DLMSMeterFactory.start(m, starter: PipelineStarter(config: config, loop: loop))
        case .modbusTCP, .modbusRTU:
            let link: ModbusLink = m.kind == .modbusTCP
                ? .tcp(host: m.modbus.host, port: m.modbus.port)
                : .rtu(device: m.modbus.serialDevice, baud: m.modbus.baud, parity: m.modbus.parity,
                       stopBits: m.modbus.stopBits, rs485: m.modbus.rs485)
            let client = ModbusMeterClient(link: link, unitId: m.modbus.unitId, timeoutMs: m.modbus.timeoutMs)
            Log.info("meter", "\(link.description) unit \(m.modbus.unitId), \(m.modbus.model == "map" ? "register map of \(m.modbus.map.count) quantities" : "SunSpec")")
            if m.modbus.model == "map" {
                return try start(RegisterMapMeter(reader: client, entries: m.modbus.map, meterId: m.meterId), config, loop)
            }
            return try start(SunSpecMeter(reader: client, base: m.modbus.sunspecBase, meterId: m.meterId), config, loop)
        }
    }

    public static func start<M: MeterSource>(_ meter: M, _ config: Config, _ loop: EventLoop) throws(SystemError) -> MeterPipeline {
        let period = config.meter.periodMs
        let core = AcquisitionCore(meter: meter, periodMs: period, backoffMinMs: min(1_000, config.meter.modbus.reconnectMaxMs),
                                   backoffMaxMs: config.meter.modbus.reconnectMaxMs)
        let mailbox = try SampleMailbox(capacity: mailboxCapacity)
        let thread = try AcquisitionThread(core: core, mailbox: mailbox)
        let grouper = Grouper(meterId: meter.meterId, windowMs: config.group.windowMs, periodMs: period)
        let pipeline = MeterPipeline(mailbox: mailbox, grouper: grouper) {
            thread.stop()
            Log.info("meter", "acquisition stopped: \(thread.core.reads) reads, \(thread.core.gaps) gaps")
        }
        try loop.watch(fd: mailbox.eventFd) { pipeline.drain() }
        try thread.start()
        return pipeline
    }

    public func drain() {
        let lost = mailbox.drain(into: &drained)
        if lost > 0 { Log.warn("meter", "event loop fell behind: \(lost) samples overwritten in the mailbox") }
        if !drained.isEmpty { latestMonoMs = SystemClock().monotonicMs() }
        for m in drained {
            samples += 1
            if m.isGap {
                gaps += 1
                if m.quality.contains(.invalid) { invalidGaps += 1 }
                Log.debug("meter", "gap \(UTC.format(ms: m.timestampMs)) \(Self.reason(m.quality))")
            } else {
                latest = m
                latestGoodMonoMs = latestMonoMs
                Log.info("meter", "sample \(UTC.format(ms: m.timestampMs)) P=\(Self.f(m.activePowerW)) W Q=\(Self.f(m.reactivePowerVar)) var E+=\(Self.f(m.energyImportWh)) Wh E-=\(Self.f(m.energyExportWh)) Wh")
                if Log.level >= .debug { Log.debug("meter", Self.detail(m)) }
            }
            if let g = grouper.add(m) { emit(g) }
        }
    }

    /// Stops the thread and closes the open window (a short last group) so nothing read is dropped.
    public func stop() {
        stopThread()
        drain()
        if let g = grouper.flush() { emit(g) }
    }

    private func emit(_ g: MeasurementGroup) {
        groups += 1
        Log.info("meter", "group \(UTC.format(ms: g.windowStartMs))..\(UTC.format(ms: g.windowEndMs)) \(g.samples.count) samples, \(g.gapCount) gaps")
        onGroup?(g)
    }

    public static func f(_ v: Int64?) -> String { v.map { "\($0)" } ?? "-" }

    /// Every field of a sample in its stored unit ("-" = not available), for debugging a meter.
    public static func detail(_ m: Measurement) -> String {
        var s = "detail S=\(f(m.apparentPowerVa)) VA PF=\(f(m.powerFactorMilli))/1000 f=\(f(m.frequencyMhz)) mHz"
        for (i, p) in [m.l1, m.l2, m.l3].enumerated() {
            s += " L\(i + 1)=\(f(p.voltageMv)) mV/\(f(p.currentMa)) mA/\(f(p.activePowerW)) W/\(f(p.reactivePowerVar)) var/\(f(p.apparentPowerVa)) VA"
        }
        s += " Eq+=\(f(m.reactiveEnergyImportVarh)) varh Eq-=\(f(m.reactiveEnergyExportVarh)) varh status=\(m.meterStatus.map { "\($0)" } ?? "-")"
        return s
    }

    public static func reason(_ q: QualityFlags) -> String {
        if q.contains(.disconnected) { return "(disconnected)" }
        if q.contains(.timeout) { return "(timeout)" }
        return "(invalid)"
    }
}

/// Starts the pipeline for a source built by a meter factory (DLMS/COSEM).
struct PipelineStarter: MeterStarter {
    let config: Config
    let loop: EventLoop
    func start<M: MeterSource>(_ meter: M) throws(SystemError) -> MeterPipeline { try MeterPipeline.start(meter, config, loop) }
}
