import CModbus
import CSystem
import PGUICore

/// The EMS interfaces' errors: what failed, on which address/port, and what the device did.
public struct EMSError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Modbus TCP server for the EMS (docs/ems.md). Framing is done here on bytes (the MBAP header
/// gives the length), so a slow or partial sender never blocks the loop inside libmodbus'
/// `modbus_receive`; libmodbus answers complete requests (`modbus_reply` from the register mapping,
/// `modbus_reply_exception` for writes and unknown addresses).
public final class ModbusEMSServer {
    let ctx: OpaquePointer
    let mapping: UnsafeMutablePointer<modbus_mapping_t>
    var image = SetpointRegisters()
    let refresh: (inout SetpointRegisters) -> Void
    /// The SunSpec meter block at 40000 (docs/ems.md), its own libmodbus mapping.
    let meterMapping: UnsafeMutablePointer<modbus_mapping_t>
    var meter: SunSpecMeterImage
    let refreshMeter: (inout SunSpecMeterImage) -> Void
    public private(set) var server: TCPServer! = nil
    var badLog = RateLimitedLog()
    public private(set) var requests: UInt64 = 0
    public private(set) var exceptions: UInt64 = 0
    /// Connections dropped for a malformed frame or a failed send.
    public private(set) var dropped: UInt64 = 0

    /// `refresh` fills the image with the current and next set-points before each answer;
    /// `refreshMeter` puts the latest measurement into the SunSpec block.
    public init(bind: String, port: Int, limits: TCPServer.Limits, meter: SunSpecMeterImage,
                refresh: @escaping (inout SetpointRegisters) -> Void,
                refreshMeter: @escaping (inout SunSpecMeterImage) -> Void) throws(EMSError) {
        self.refresh = refresh
        self.meter = meter
        self.refreshMeter = refreshMeter
        guard let c = modbus_new_tcp(bind, Int32(port)) else {
            throw EMSError("modbus: cannot create a TCP context for \(bind):\(port): \(errnoText(pgui_modbus_errno())); Modbus interface not started")
        }
        ctx = c
        guard let m = modbus_mapping_new_start_address(0, 0, 0, 0, SetpointRegisters.firstAddress.asUInt32, UInt32(SetpointRegisters.count),
                                                        SetpointRegisters.firstAddress.asUInt32, UInt32(SetpointRegisters.count)) else {
            modbus_free(c)
            throw EMSError("modbus: cannot allocate the register mapping; Modbus interface not started")
        }
        mapping = m
        guard let mm = modbus_mapping_new_start_address(0, 0, 0, 0, UInt32(SunSpecMeterImage.base), UInt32(SunSpecMeterImage.count),
                                                         UInt32(SunSpecMeterImage.base), UInt32(SunSpecMeterImage.count)) else {
            modbus_mapping_free(m)
            modbus_free(c)
            throw EMSError("modbus: cannot allocate the SunSpec mapping; Modbus interface not started")
        }
        meterMapping = mm
        let fd = modbus_tcp_listen(c, Int32(min(limits.connectionsMax, 64)))
        guard fd >= 0 else {
            // Every stored property is set by now, so throwing runs deinit, which frees the context
            // and both mappings (freeing them here too was a double free when the port was taken).
            let e = pgui_modbus_errno()
            throw EMSError("modbus: cannot listen on \(bind):\(port): \(errnoText(e)); Modbus interface not started")
        }
        do throws(SystemError) {
            server = try TCPServer(name: "modbus", listenFd: fd, limits: limits) { [unowned_self = Unowned(self)] fd, input, _ in
                unowned_self.value.handle(fd: fd, &input)
            }
        } catch {
            throw EMSError("modbus: \(error.description); Modbus interface not started")
        }
    }

    deinit {
        modbus_mapping_free(mapping)
        modbus_mapping_free(meterMapping)
        modbus_free(ctx)
    }

    func handle(fd: Int32, _ input: inout [UInt8]) -> StreamVerdict {
        var consumed = 0
        var verdict = StreamVerdict.waiting
        while true {
            switch ModbusTCPFrame.next(input[consumed...]) {
            case .incomplete:
                if consumed > 0 { input.removeFirst(consumed) }
                return verdict
            case .malformed(let why):
                dropped += 1
                badLog.warn("modbus", "dropped a connection: malformed frame (\(why))")
                return .close
            case .frame(let length):
                let frame = input[consumed..<consumed + length]
                requests += 1
                let rc: Int32
                modbus_set_socket(ctx, fd)
                switch ModbusTCPFrame.decide(frame, readable: { SetpointRegisters.isReadable(address: $0, count: $1) || SunSpecMeterImage.isReadable(address: $0, count: $1) }) {
                case .read:
                    let address = Int(frame[frame.startIndex + 8]) << 8 | Int(frame[frame.startIndex + 9])
                    let target: UnsafeMutablePointer<modbus_mapping_t>
                    if address >= Int(SunSpecMeterImage.base) {
                        refreshMeter(&meter)
                        copyMeter()
                        target = meterMapping
                    } else {
                        refresh(&image)
                        copyImage()
                        target = mapping
                    }
                    rc = input.withUnsafeBufferPointer { modbus_reply(ctx, $0.baseAddress! + consumed, Int32(length), target) }
                case .exception(let code):
                    exceptions += 1
                    rc = input.withUnsafeBufferPointer { modbus_reply_exception(ctx, $0.baseAddress! + consumed, UInt32(code)) }
                }
                if rc < 0 {
                    dropped += 1
                    badLog.warn("modbus", "dropped a connection: cannot send the answer (\(errnoText(pgui_modbus_errno())))")
                    return .close
                }
                consumed += length
                verdict = .served
            }
        }
    }

    func copyMeter() {
        for i in 0..<SunSpecMeterImage.count {
            meterMapping.pointee.tab_registers[i] = meter.words[i]
            meterMapping.pointee.tab_input_registers[i] = meter.words[i]
        }
    }

    /// Only the field registers change; FC 3 and FC 4 read the same values.
    func copyImage() {
        for f in SetpointRegisters.fields {
            let i = Int(f - SetpointRegisters.firstAddress)
            mapping.pointee.tab_registers[i] = image.words[i]
            mapping.pointee.tab_registers[i + 1] = image.words[i + 1]
            mapping.pointee.tab_input_registers[i] = image.words[i]
            mapping.pointee.tab_input_registers[i + 1] = image.words[i + 1]
        }
    }
}

/// Holds a reference without retaining it (Embedded Swift has no `unowned`); the servers live as
/// long as the process.
struct Unowned<T: AnyObject> {
    let ptr: Unmanaged<T>
    init(_ v: T) { ptr = Unmanaged.passUnretained(v) }
    var value: T { ptr.takeUnretainedValue() }
}

extension UInt16 {
    var asUInt32: UInt32 { UInt32(self) }
}

/// HTTP server for the EMS (docs/ems.md): `GET /` and `GET /measurements`, one request per
/// connection (`Connection: close`).
public final class HTTPEMSServer {
    /// Writes the body for a GET of `path`, may change the content type (JSON by default), returns the status.
    public typealias Route = (_ path: String, _ body: inout [UInt8], _ contentType: inout String) -> Int
    let route: Route
    let headBytesMax: Int
    public private(set) var server: TCPServer! = nil
    var badLog = RateLimitedLog()
    var body: [UInt8] = []
    public private(set) var requests: UInt64 = 0
    /// Answers with a status of 400 or more (malformed requests, wrong methods, unknown paths).
    public private(set) var errors: UInt64 = 0

    /// `route` writes the JSON body for a GET of `path` and returns the status (200/404).
    public init(bind: String, port: Int, limits: TCPServer.Limits, route: @escaping Route) throws(EMSError) {
        self.route = route
        headBytesMax = limits.inputBytesMax
        body.reserveCapacity(limits.outputBytesMax)
        let fd = pgui_tcp_listen(bind, Int32(port), Int32(min(limits.connectionsMax, 128)))
        guard fd >= 0 else {
            throw EMSError("http: cannot listen on \(bind):\(port): \(errnoText(pgui_errno())); HTTP interface not started")
        }
        do throws(SystemError) {
            server = try TCPServer(name: "http", listenFd: fd, limits: limits) { [u = Unowned(self)] _, input, output in
                u.value.handle(&input, &output)
            }
        } catch {
            throw EMSError("http: \(error.description); HTTP interface not started")
        }
    }

    func handle(_ input: inout [UInt8], _ output: inout [UInt8]) -> StreamVerdict {
        switch HTTPRequestParser.parse(input[...], headBytesMax: headBytesMax) {
        case .incomplete:
            return .waiting
        case .error(let status, let reason):
            requests += 1
            errors += 1
            badLog.warn("http", "answered \(status): \(reason)")
            errorBody(reason)
            HTTPRequestParser.response(status: status, body: body, into: &output)
        case .request(let r):
            requests += 1
            let head = r.method == "HEAD"
            if r.method != "GET" && !head {
                errors += 1
                errorBody("method \(printable(Array(r.method.utf8)[...], max: 16)) is not allowed; use GET")
                HTTPRequestParser.response(status: 405, body: body, into: &output)
            } else {
                body.removeAll(keepingCapacity: true)
                var contentType = "application/json"
                let status = route(r.path, &body, &contentType)
                if status >= 400 { errors += 1 }
                HTTPRequestParser.response(status: status, body: body, contentType: contentType, headMethod: head, into: &output)
            }
        }
        input.removeAll(keepingCapacity: true)
        return .closeAfterWrite
    }

    func errorBody(_ reason: String) {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.field("error", reason)
        w.endObject()
        body = w.bytes
    }
}
