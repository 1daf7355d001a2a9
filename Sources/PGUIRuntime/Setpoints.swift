import CSystem
import PGUICore
import PGUIPlatform

/// The set-point schedule of the running device: restored at boot, replaced by DSO messages,
/// persisted atomically after each accepted message, read by the EMS servers on every request (so a
/// slot change or a new schedule is visible at once, without a refresh step).
public final class SetpointService<C: Clock> {
    public let clock: C
    public let path: String
    public private(set) var schedule: Schedule
    public var rejectLog = RateLimitedLog()

    public static func file(in dataDir: String) -> String { dataDir + "/setpoints.json" }

    public init(config: DSOConfig, dataDir: String, clock: C) {
        self.clock = clock
        path = Self.file(in: dataDir)
        schedule = Schedule(limits: config.limits)
        restore()
        if !config.scheduleFile.isEmpty {
            do throws(SystemError) {
                let bytes = try Files.read(config.scheduleFile, bytesMax: config.limits.messageBytesMax + 1)
                let ack = receive(bytes, source: config.scheduleFile)
                Log.info("setpoints", "dso.schedule_file: \(String(decoding: ack, as: UTF8.self))")
            } catch {
                Log.error("setpoints", "dso.schedule_file: \(error.description); the stored schedule is kept")
            }
        }
    }

    private func restore() {
        guard Files.exists(path) else {
            Log.info("setpoints", "no stored schedule (\(path)); the EMS reads 'no set-point' until the DSO sends one")
            return
        }
        do throws(SystemError) {
            let bytes = try Files.read(path, bytesMax: schedule.limits.messageBytesMax * 2)
            do throws(ScheduleError) {
                schedule = try Schedule.restore(bytes, limits: schedule.limits, nowMs: clock.wallMs())
                Log.info("setpoints", "restored \(schedule.slots.count) slots from \(path)")
            } catch {
                Log.error("setpoints", "stored schedule \(path) is unusable (\(error.description)); starting with no set-points")
            }
        } catch {
            Log.error("setpoints", "cannot read the stored schedule: \(error.description); starting with no set-points")
        }
    }

    /// Validates and applies one DSO message; returns the ack to publish. A rejected message
    /// changes nothing.
    public func receive(_ bytes: [UInt8], source: String) -> [UInt8] {
        let now = clock.wallMs()
        let limits = schedule.limits
        do throws(ScheduleError) {
            let m = try SetpointMessage.parse(bytes, limits: limits, nowMs: now)
            var next = schedule
            next.apply(m, nowMs: now)
            do throws(SystemError) {
                try Files.writeAtomically(path, next.encode())
            } catch {
                let e = ScheduleError("storage", "cannot persist the schedule (\(error.description)); message not applied")
                Log.error("setpoints", e.message)
                return SetpointMessage.ack(id: m.id, result: .failure(e), nowMs: now)
            }
            schedule = next
            Log.info("setpoints", "accepted \(m.slots.count) slots from \(source) (id \(m.id ?? "-")); \(schedule.slots.count) stored")
            return SetpointMessage.ack(id: m.id, result: .success(m.slots.count), nowMs: now)
        } catch {
            rejectLog.warn("setpoints", "rejected a message from \(source): \(error.description); previous schedule kept")
            return SetpointMessage.ack(id: SetpointMessage.peekId(bytes, limits: limits), result: .failure(error), nowMs: now)
        }
    }

    public var current: SetpointSlot? { schedule.current(atMs: clock.wallMs()) }
    public var next: SetpointSlot? { schedule.next(atMs: clock.wallMs()) }

    /// Drops ended slots from memory (the stored file is pruned on the next write or restore).
    public func prune() { schedule.prune(nowMs: clock.wallMs()) }
}

/// Starts the DSO link and the EMS Modbus and HTTP servers on the loop; keeps them alive for the
/// process lifetime.
public enum EMSWiring {
    public nonisolated(unsafe) static var keep: [AnyObject] = []
    /// The DSO link's state for the installer page (false when the link is disabled).
    public nonisolated(unsafe) static var dsoConnected: () -> Bool = { false }

    public static func startDSO<C: Clock>(_ config: DSOConfig, deviceId: String, loop: EventLoop, setpoints: SetpointService<C>) -> Bool {
        guard config.enabled else {
            Log.info("dso", "DSO link disabled (dso.enabled = false)")
            return true
        }
        do throws(MQTTError) {
            let link = try DSOLink(config: config, deviceId: deviceId, setpoints: setpoints)
            try link.start(on: loop)
            keep.append(link)
            dsoConnected = { link.mqtt.isConnected }
            Log.info("dso", "DSO link: \(config.uris.count) broker(s), topic \(link.topic)")
            return true
        } catch {
            Log.error("dso", error.description)
            return false
        }
    }

    public static func start<C: Clock>(_ config: EMSConfig, deviceId: String, loop: EventLoop, setpoints: SetpointService<C>,
                                latest: @escaping () -> (Measurement, String)?,
                                installer: InstallerPages? = nil) -> Bool {
        if config.modbusPort != 0 {
            let limits = TCPServer.Limits(connectionsMax: config.modbusConnectionsMax, inputBytesMax: 2 * ModbusTCPFrame.adusBytesMax,
                                          outputBytesMax: 0, idleTimeoutMs: config.idleTimeoutMs)
            do throws(EMSError) {
                let s = try ModbusEMSServer(bind: config.bind, port: config.modbusPort, limits: limits,
                                            meter: SunSpecMeterImage(deviceId: deviceId, version: pguiVersion),
                                            refresh: { image in image.update(current: setpoints.current, next: setpoints.next) },
                                            refreshMeter: { image in image.update(latest()?.0) })
                do throws(SystemError) {
                    try s.server.attach(to: loop)
                } catch {
                    Log.error("ems", "modbus: \(error.description)")
                    return false
                }
                keep.append(s)
                Log.info("ems", "Modbus TCP server on \(config.bind):\(config.modbusPort) (FC 3/4, set-points 1000/1100/2000/2100, SunSpec meter at 40000)")
            } catch {
                Log.error("ems", error.description)
                return false
            }
        }
        if config.httpPort != 0 {
            let limits = TCPServer.Limits(connectionsMax: config.httpConnectionsMax, inputBytesMax: config.httpHeadBytesMax,
                                          outputBytesMax: 16_384, idleTimeoutMs: config.idleTimeoutMs)
            var w = JSONWriter(capacity: 1_024)
            do throws(EMSError) {
                let s = try HTTPEMSServer(bind: config.bind, port: config.httpPort, limits: limits) { path, body, contentType in
                    if let installer, let status = installer.serve(path, &body, &contentType) { return status }
                    w.reset()
                    w.beginObject()
                    var status = 404
                    if path == "/" {
                        if let c = setpoints.current {
                            w.field("bspP", c.bspP)
                            w.field("bspQ", c.bspQ)
                            status = 200
                        } else {
                            w.field("error", "no set-point for the current slot")
                        }
                        w.endObject()
                    } else if path == "/measurements" {
                        if let (m, id) = latest() {
                            MeasurementJSON.encode(m, meterId: id, into: &w)
                            status = 200
                        } else {
                            w.field("error", "no measurement yet")
                            w.endObject()
                        }
                    } else {
                        w.field("error", "no such resource; try GET /, /measurements, /status, /status.html or /metrics")
                        w.endObject()
                    }
                    body.append(contentsOf: w.bytes)
                    return status
                }
                do throws(SystemError) {
                    try s.server.attach(to: loop)
                } catch {
                    Log.error("ems", "http: \(error.description)")
                    return false
                }
                keep.append(s)
                Log.info("ems", "HTTP server on \(config.bind):\(config.httpPort) (GET /, /measurements\(installer == nil ? "" : ", /status, /status.html, /metrics"))")
            } catch {
                Log.error("ems", error.description)
                return false
            }
        }
        return true
    }
}
