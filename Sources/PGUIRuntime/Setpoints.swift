import CSystem
import PGUICore
import PGUIPlatform

/// The set-point schedule of the running device: restored at boot, changed by DSO messages in
/// batches (`SetpointBook`: one atomic write per loop turn), read by the EMS servers on every
/// request (so a slot change or a new schedule is visible at once, without a refresh step).
public final class SetpointService<C: Clock> {
    public let clock: C
    public let path: String
    public private(set) var book: SetpointBook
    public var rejectLog = RateLimitedLog()
    /// The DSO link's state (EMS snapshot block, GET / header, status); nil = link disabled.
    public var dsoConnected: (() -> Bool)? = nil
    /// Atomic writes of the schedule file (metrics: one per batch, not per message).
    public private(set) var writes: UInt64 = 0

    public static func file(in dataDir: String) -> String { dataDir + "/setpoints.json" }

    public init(config: DSOConfig, dataDir: String, clock: C) {
        self.clock = clock
        path = Self.file(in: dataDir)
        book = SetpointBook(limits: config.limits)
        restore()
        if !config.scheduleFile.isEmpty {
            do throws(SystemError) {
                let bytes = try Files.read(config.scheduleFile, bytesMax: config.limits.messageBytesMax + 1)
                stage(bytes, source: config.scheduleFile)
                for ack in commit() { Log.info("setpoints", "dso.schedule_file: \(String(decoding: ack, as: UTF8.self))") }
            } catch {
                Log.error("setpoints", "dso.schedule_file: \(error.description); the stored schedule is kept")
            }
        }
    }

    public var schedule: Schedule { book.schedule }

    private func restore() {
        guard Files.exists(path) else {
            Log.info("setpoints", "no stored schedule (\(path)); the EMS reads 'no set-point' until the DSO sends one")
            return
        }
        do throws(SystemError) {
            let bytes = try Files.read(path, bytesMax: book.limits.messageBytesMax * 2)
            do throws(ScheduleError) {
                book = SetpointBook(restored: try Schedule.restore(bytes, limits: book.limits, nowMs: clock.wallMs()))
                Log.info("setpoints", "restored \(book.schedule.slots.count) slots from \(path)")
            } catch {
                Log.error("setpoints", "stored schedule \(path) is unusable (\(error.description)); starting with no set-points")
            }
        } catch {
            Log.error("setpoints", "cannot read the stored schedule: \(error.description); starting with no set-points")
        }
    }

    /// Validates one message and stages it; `commit` ends the batch.
    public func stage(_ bytes: [UInt8], source: String) {
        if let e = book.stage(bytes, nowMs: clock.wallMs()) {
            rejectLog.warn("setpoints", "rejected a message from \(source): \(e.description); previous schedule kept", nowMs: clock.monotonicMs())
        }
    }

    /// Writes the staged schedule once (temp file, fsync, rename, directory fsync), puts it in force
    /// and returns the acks of the batch in arrival order. A failed write changes nothing.
    public func commit() -> [[UInt8]] {
        var stored = true
        var why = ""
        if let bytes = book.stagedBytes {
            do throws(SystemError) {
                writes += 1
                try Files.writeAtomically(path, bytes)
            } catch {
                stored = false
                why = error.description
                Log.error("setpoints", "cannot persist the schedule (\(why)); the batch's messages are not applied")
            }
        }
        let acks = book.commit(stored: stored, storageError: why, nowMs: clock.wallMs())
        if book.lastCommitMessages > 0 {
            Log.info("setpoints", "accepted \(book.lastCommitSlots) slots in \(book.lastCommitMessages) message(s), one write; schedule issued \(book.schedule.issuedMs) in force, \(book.schedule.slots.count) slots stored")
        }
        return acks
    }

    /// Drops ended slots at every slot change even when nobody reads (a once-a-second check; the
    /// work is a comparison unless a boundary passed). The service lives as long as the process.
    public func attach(to loop: EventLoop) throws(SystemError) {
        try loop.addTimer(firstMs: 1_000, intervalMs: 1_000) { _ in self.tick() }
    }

    func tick() { book.tick(nowMs: clock.wallMs()) }

    public func snapshot() -> SetpointSnapshot {
        let now = clock.wallMs()
        return book.snapshot(nowMs: now, clockSynced: now >= plausibleWallMsMin, dsoConnected: dsoConnected?() ?? false)
    }

    public var current: SetpointSlot? { snapshot().current }
    public var next: SetpointSlot? { snapshot().next }
}

/// The DSO link and the EMS Modbus and HTTP servers of one process: started on the loop, owned by
/// the runtime for the process lifetime, and read by `/status` and `/metrics` through typed
/// properties (no global keep-alive list, no downcasts).
public final class EMSServices<C: Clock> {
    public private(set) var modbus: ModbusEMSServer? = nil
    public private(set) var http: HTTPEMSServer? = nil
    public private(set) var dso: DSOLink<C>? = nil

    public init() {}

    /// The DSO link's state for the EMS view (false when the link is disabled).
    public var dsoConnected: Bool { dso?.mqtt.isConnected ?? false }
    /// The DSO link's part of /status (unchanged when disabled).
    public func fillDSO(_ s: inout LinkState) { dso?.mqtt.fill(&s) }
    /// The DSO link's TLS refusals for /metrics (zero when disabled).
    public var dsoTLSRefusals: [UInt64] { dso?.mqtt.tlsRefusals ?? [UInt64](repeating: 0, count: TLSFailureKind.count) }

    /// The EMS servers' request, error and refusal counters for /metrics.
    public func fill(_ m: inout Metrics) {
        if let s = modbus {
            m.modbusRequests = s.requests
            m.modbusErrors = s.exceptions + s.dropped
            m.modbusRefused = s.server.refused
            m.modbusEvicted = s.server.evicted
        }
        if let s = http {
            m.httpRequests = s.requests
            m.httpErrors = s.errors
            m.httpRefused = s.server.refused
            m.httpEvicted = s.server.evicted
        }
    }

    public func startDSO(_ config: DSOConfig, deviceId: String, loop: EventLoop, setpoints: SetpointService<C>) -> Bool {
        do throws(SystemError) {
            try setpoints.attach(to: loop)
        } catch {
            Log.error("setpoints", "cannot start the slot-change timer: \(error.description)")
            return false
        }
        guard config.enabled else {
            Log.info("dso", "DSO link disabled (dso.enabled = false)")
            return true
        }
        do throws(MQTTError) {
            let link = try DSOLink(config: config, deviceId: deviceId, setpoints: setpoints)
            try link.start(on: loop)
            dso = link
            setpoints.dsoConnected = { link.mqtt.isConnected }
            Log.info("dso", "DSO link: \(config.uris.count) broker(s), topic \(link.topic)")
            return true
        } catch {
            Log.error("dso", error.description)
            return false
        }
    }

    public func start(_ config: EMSConfig, deviceId: String, loop: EventLoop, setpoints: SetpointService<C>,
                                view: @escaping () -> EMSView,
                                installer: InstallerPages? = nil) -> Bool {
        if config.modbusPort != 0 {
            let limits = TCPServer.Limits(connectionsMax: config.modbusConnectionsMax, inputBytesMax: 2 * ModbusTCPFrame.adusBytesMax,
                                          outputBytesMax: ModbusEMSServer.outputBytesMax, idleTimeoutMs: config.idleTimeoutMs,
                                          perClientMax: config.clientBudget(connectionsMax: config.modbusConnectionsMax))
            do throws(EMSError) {
                let s = try ModbusEMSServer(bind: config.bind, port: config.modbusPort, limits: limits,
                                            image: SetpointRegisters(encoding: config.modbusEncoding, wordOrder: config.modbusWordOrder),
                                            meter: SunSpecMeterImage(deviceId: deviceId, version: pguiVersion),
                                            refresh: { image in image.update(setpoints.snapshot()) },
                                            refreshMeter: { image in image.update(view().servedSample) })
                do throws(SystemError) {
                    try s.server.attach(to: loop)
                } catch {
                    Log.error("ems", "modbus: \(error.description)")
                    return false
                }
                modbus = s
                Log.info("ems", "Modbus TCP server on \(config.bind):\(config.modbusPort) (FC 3/4, set-points 1000/1100/2000/2100 \(config.modbusEncoding.rawValue) \(config.modbusWordOrder.rawValue)-word-first, snapshot at 3000, SunSpec meter at 40000)")
            } catch {
                Log.error("ems", error.description)
                return false
            }
        }
        if config.httpPort != 0 {
            let limits = TCPServer.Limits(connectionsMax: config.httpConnectionsMax, inputBytesMax: config.httpHeadBytesMax,
                                          outputBytesMax: 16_384, idleTimeoutMs: config.idleTimeoutMs,
                                          perClientMax: config.clientBudget(connectionsMax: config.httpConnectionsMax))
            var w = JSONWriter(capacity: 1_024)
            do throws(EMSError) {
                let s = try HTTPEMSServer(bind: config.bind, port: config.httpPort, limits: limits) { path, body, contentType, headers in
                    if let installer, let status = installer.serve(path, &body, &contentType) { return status }
                    if let status = EMSHTTPRoutes.answer(path, view(), into: &w, headers: &headers) {
                        body.append(contentsOf: w.bytes)
                        return status
                    }
                    w.reset()
                    w.beginObject()
                    w.field("error", "no such resource; try GET /, /measurements, /status, /status.html or /metrics")
                    w.endObject()
                    body.append(contentsOf: w.bytes)
                    return 404
                }
                do throws(SystemError) {
                    try s.server.attach(to: loop)
                } catch {
                    Log.error("ems", "http: \(error.description)")
                    return false
                }
                http = s
                Log.info("ems", "HTTP server on \(config.bind):\(config.httpPort) (GET /, /measurements\(installer == nil ? "" : ", /status, /status.html, /metrics"))")
            } catch {
                Log.error("ems", error.description)
                return false
            }
        }
        return true
    }
}
