import CModbus
import CSystem
import PGUICore

/// Where a Modbus meter is: TCP (host may be a name or an address) or RTU on a serial device.
public enum ModbusLink: Equatable {
    case tcp(host: String, port: Int)
    case rtu(device: String, baud: Int, parity: SerialParity, stopBits: Int, rs485: Bool)

    public var description: String {
        switch self {
        case .tcp(let host, let port): "modbus-tcp \(host):\(port)"
        case .rtu(let device, let baud, let parity, let stopBits, let rs485):
            "modbus-rtu \(device) \(baud) 8\(String(decoding: [parity.letter], as: UTF8.self))\(stopBits)\(rs485 ? " rs485" : "")"
        }
    }
}

/// libmodbus client for meter reads (FC 3/4), used only on the acquisition thread. Connects on
/// demand; every libmodbus failure is mapped here to a `MeterError` that names the link, the unit,
/// the registers and what the device does next.
public final class ModbusMeterClient: RegisterReader {
    public let link: ModbusLink
    public let unitId: Int
    public let timeoutMs: Int64
    private var ctx: OpaquePointer? = nil

    public init(link: ModbusLink, unitId: Int, timeoutMs: Int64) {
        precondition(timeoutMs > 0 && unitId >= 0 && unitId <= 255, "Modbus client bounds")
        self.link = link
        self.unitId = unitId
        self.timeoutMs = timeoutMs
    }

    deinit { disconnect() }

    public var isConnected: Bool { ctx != nil }

    public func disconnect() {
        if let c = ctx {
            modbus_close(c)
            modbus_free(c)
            ctx = nil
        }
    }

    func connect() throws(MeterError) {
        let c: OpaquePointer?
        switch link {
        case .tcp(let host, let port):
            // libmodbus reports a name that does not resolve as "connection refused"; say what it is.
            let rc = pgui_resolve_check(host, "\(port)")
            guard rc == 0 else {
                throw .disconnected("cannot resolve meter host '\(host)' for \(link.description): \(String(cString: gai_strerror(rc)))")
            }
            c = modbus_new_tcp_pi(host, "\(port)")
        case .rtu(let device, let baud, let parity, let stopBits, _):
            c = modbus_new_rtu(device, Int32(baud), CChar(bitPattern: parity.letter), 8, Int32(stopBits))
        }
        guard let c else {
            throw .disconnected("cannot set up \(link.description): \(errnoText(pgui_modbus_errno()))")
        }
        let ms = UInt32(timeoutMs)
        _ = modbus_set_response_timeout(c, ms / 1_000, (ms % 1_000) * 1_000)
        guard modbus_set_slave(c, Int32(unitId)) == 0 else {
            modbus_free(c)
            throw .disconnected("unit id \(unitId) refused by libmodbus for \(link.description)")
        }
        guard modbus_connect(c) == 0 else {
            let e = pgui_modbus_errno()
            modbus_free(c)
            throw .disconnected("connect to \(link.description) failed: \(errnoText(e))")
        }
        if case .rtu(_, _, _, _, true) = link {
            guard modbus_rtu_set_serial_mode(c, pgui_modbus_rtu_rs485()) == 0 else {
                let e = pgui_modbus_errno()
                modbus_close(c)
                modbus_free(c)
                throw .disconnected("cannot switch \(link.description) to RS-485 mode (TIOCSRS485): \(errnoText(e)); set meter.serial.rs485 = false if the transceiver switches by itself")
            }
        }
        ctx = c
    }

    public func read(_ function: RegisterFunction, address: Int, count: Int, into buffer: inout [UInt16]) throws(MeterError) {
        precondition(count >= 1 && count <= registersPerReadMax && count <= buffer.count && address >= 0 && address + count <= 65_536, "Modbus read bounds")
        if ctx == nil { try connect() }
        let c = ctx!
        let n = buffer.withUnsafeMutableBufferPointer { b in
            function == .holding
                ? modbus_read_registers(c, Int32(address), Int32(count), b.baseAddress)
                : modbus_read_input_registers(c, Int32(address), Int32(count), b.baseAddress)
        }
        let what = "\(function.name) registers \(address)...\(address + count - 1) of unit \(unitId) on \(link.description)"
        if n == Int32(count) { return }
        if n >= 0 {
            throw .invalidResponse("\(what): \(n) registers in the answer")
        }
        let e = pgui_modbus_errno()
        if e == ETIMEDOUT { throw .timeout }
        let code = pgui_modbus_exception_code(e)
        if code != 0 { throw .exception(code: Int(code)) }
        if pgui_modbus_is_garbage(e) != 0 {
            throw .invalidResponse("\(what): \(String(cString: modbus_strerror(e)))")
        }
        throw .disconnected("\(what): \(errnoText(e))")
    }
}
