import CSystem
import PGUICore

/// The EMS interfaces' errors: what failed, on which address/port, and what the device did.
public struct EMSError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Modbus TCP server for the EMS (docs/ems.md). Framing and answers are PGUI's own, on bytes
/// (`ModbusTCPFrame`, `ModbusEMSAnswer` in PGUICore): a slow or partial sender never blocks the
/// loop, pipelined answers leave in order through the connection's output buffer, and an exception
/// echoes FC | 0x80 (libmodbus' `modbus_reply_exception` adds 0x80 in a byte, so FC 0x83 came back
/// as 0x03, a normal FC 3 answer; issue 14).
public final class ModbusEMSServer {
    var image: SetpointRegisters
    let refresh: (inout SetpointRegisters) -> Void
    /// The SunSpec meter block at 40000 (docs/ems.md).
    var meter: SunSpecMeterImage
    let refreshMeter: (inout SunSpecMeterImage) -> Void
    public private(set) var server: TCPServer! = nil
    var badLog = RateLimitedLog()
    public private(set) var requests: UInt64 = 0
    public private(set) var exceptions: UInt64 = 0
    /// Connections dropped for a malformed frame or a failed send.
    public private(set) var dropped: UInt64 = 0
    /// Requests answered per handler call: bounds one client's share of a loop turn and the output
    /// buffer (16 × 259 bytes); the rest of a pipelined burst is answered right after.
    public static let framesPerCall = 16

    /// Output buffer a connection needs.
    public static let outputBytesMax = framesPerCall * ModbusTCPFrame.answerBytesMax

    /// `refresh` fills the image with one consistent snapshot of the set-points before each batch
    /// of answers; `refreshMeter` puts the latest (non-stale) measurement into the SunSpec block.
    public init(bind: String, port: Int, limits: TCPServer.Limits, image: SetpointRegisters, meter: SunSpecMeterImage,
                refresh: @escaping (inout SetpointRegisters) -> Void,
                refreshMeter: @escaping (inout SunSpecMeterImage) -> Void) throws(EMSError) {
        self.image = image
        self.refresh = refresh
        self.meter = meter
        self.refreshMeter = refreshMeter
        let fd = pgui_tcp_listen(bind, Int32(port), Int32(min(limits.connectionsMax, 64)))
        guard fd >= 0 else {
            throw EMSError("modbus: cannot listen on \(bind):\(port): \(errnoText(pgui_errno())); Modbus interface not started")
        }
        do throws(SystemError) {
            server = try TCPServer(name: "modbus", listenFd: fd, limits: limits) { [unowned_self = Unowned(self)] _, input, output in
                unowned_self.value.handle(&input, &output)
            }
        } catch {
            throw EMSError("modbus: \(error.description); Modbus interface not started")
        }
    }

    func handle(_ input: inout [UInt8], _ output: inout [UInt8]) -> StreamVerdict {
        var consumed = 0
        var verdict = StreamVerdict.waiting
        var setpointsFresh = false
        var meterFresh = false
        defer { if consumed > 0 { input.removeFirst(consumed) } }
        for _ in 0..<Self.framesPerCall {
            switch ModbusTCPFrame.next(input[consumed...]) {
            case .incomplete:
                return verdict
            case .malformed(let why):
                dropped += 1
                badLog.warn("modbus", "dropped a connection: malformed frame (\(why))")
                return .close
            case .frame(let length):
                let frame = input[consumed..<consumed + length]
                requests += 1
                switch ModbusEMSAnswer.region(of: frame) {
                case .setpoints where !setpointsFresh:
                    refresh(&image)
                    setpointsFresh = true
                case .meter where !meterFresh:
                    refreshMeter(&meter)
                    meterFresh = true
                default:
                    break
                }
                if ModbusEMSAnswer.answer(frame, setpoints: image, meter: meter, into: &output) { exceptions += 1 }
                consumed += length
                verdict = .served
            }
        }
        return verdict
    }
}

/// Holds a reference without retaining it (Embedded Swift has no `unowned`); the servers live as
/// long as the process.
struct Unowned<T: AnyObject> {
    let ptr: Unmanaged<T>
    init(_ v: T) { ptr = Unmanaged.passUnretained(v) }
    var value: T { ptr.takeUnretainedValue() }
}

/// HTTP server for the EMS (docs/ems.md): `GET /` and `GET /measurements`, one request per
/// connection (`Connection: close`).
public final class HTTPEMSServer {
    /// Writes the body for a GET of `path`, may change the content type (JSON by default) and add
    /// header lines (each ending in CRLF), returns the status.
    public typealias Route = (_ path: String, _ body: inout [UInt8], _ contentType: inout String, _ headers: inout String) -> Int
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
                var headers = ""
                let status = route(r.path, &body, &contentType, &headers)
                if status >= 400 { errors += 1 }
                HTTPRequestParser.response(status: status, body: body, contentType: contentType, headMethod: head, headers: headers, into: &output)
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
