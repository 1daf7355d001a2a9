/// `meter.dlms.*`: the settings only DLMS/COSEM meters have (docs/meters-dlms.md). Shared meter
/// keys (`meter.host`, `meter.port`, `meter.serial.*`, `meter.timeout_ms`, `meter.obis.*`,
/// `meter.cipher.*`) stay in `MeterConfig`.
public struct DLMSConfig: Equatable {
    /// The IANA port of the DLMS/COSEM TCP wrapper (IEC 62056-47), used when `meter.port` is not set.
    public static let tcpPortDefault = 4059

    /// Client SAP / HDLC client address: 16 = public client (lowest security), 1 = management client.
    public var clientAddress = 16
    /// Server logical device (1 = management logical device) and the HDLC physical address
    /// (0 = none: a 1-byte server address, point-to-point optical heads and most RS-485 meters).
    public var serverLogical = 1
    public var serverPhysical = 0
    /// `lowest` (no password) or `low` (LLS password from `passwordFile`).
    public var authentication = "lowest"
    public var passwordFile = ""
    /// Registers polled (class 3), in order.
    public var registers: [OBISCode] = DLMSConfig.defaultRegisters
    /// dlms-push: `serial` (customer port, `meter.serial.*`) or `tcp` (the meter connects to us).
    public var pushTransport = "serial"
    public var listenAddress = "0.0.0.0"
    public var listenPort = 4059

    /// The table's instantaneous and energy registers that main meters have (docs/meters-dlms.md).
    public static let defaultRegisters: [OBISCode] = {
        let o = OBISCode.electricity
        return [o(1, 7, 0), o(2, 7, 0), o(3, 7, 0), o(4, 7, 0), o(1, 8, 0), o(2, 8, 0), o(3, 8, 0), o(4, 8, 0),
                o(32, 7, 0), o(52, 7, 0), o(72, 7, 0), o(31, 7, 0), o(51, 7, 0), o(71, 7, 0),
                o(21, 7, 0), o(41, 7, 0), o(61, 7, 0), o(22, 7, 0), o(42, 7, 0), o(62, 7, 0),
                o(13, 7, 0), o(14, 7, 0)]
    }()

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("meter.dlms.client_address", .integer(min: 1, max: 127), default: "16"),
        ConfigKeySpec("meter.dlms.server_logical", .integer(min: 1, max: 16_383), default: "1"),
        ConfigKeySpec("meter.dlms.server_physical", .integer(min: 0, max: 16_383), default: "0"),
        ConfigKeySpec("meter.dlms.authentication", .choice(["lowest", "low"]), default: "lowest"),
        ConfigKeySpec("meter.dlms.password_file", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("meter.dlms.registers", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("meter.dlms.push_transport", .choice(["serial", "tcp"]), default: "serial"),
        ConfigKeySpec("meter.dlms.listen_address", .text(bytesMax: 64), default: "0.0.0.0"),
        ConfigKeySpec("meter.dlms.listen_port", .integer(min: 1, max: 65_535), default: "4059"),
    ]

    public init() {}

    public init(_ v: ConfigValues, kind: MeterKind) throws(ConfigError) {
        clientAddress = Int(v.int("meter.dlms.client_address"))
        serverLogical = Int(v.int("meter.dlms.server_logical"))
        serverPhysical = Int(v.int("meter.dlms.server_physical"))
        authentication = v.string("meter.dlms.authentication")
        passwordFile = v.string("meter.dlms.password_file")
        pushTransport = v.string("meter.dlms.push_transport")
        listenAddress = v.string("meter.dlms.listen_address")
        listenPort = Int(v.int("meter.dlms.listen_port"))
        let list = v.string("meter.dlms.registers")
        if !list.isEmpty {
            registers = []
            for item in Array(list.utf8).split(separator: 44) {  // ","
                var t = item[...]
                while t.first == 32 { t = t.dropFirst() }
                while t.last == 32 { t = t.dropLast() }
                guard let code = OBISCode.parse(t) else {
                    throw v.error("meter.dlms.registers", "'\(printable(t))' is not an OBIS code (e.g. 1-0:1.8.0)")
                }
                registers.append(code)
            }
            guard !registers.isEmpty, registers.count <= DLMSLimits.registersMax else {
                throw v.error("meter.dlms.registers", "list 1...\(DLMSLimits.registersMax) OBIS codes, separated by commas")
            }
        }
        let isDLMS = kind.isDLMS
        if !isDLMS {
            for spec in Self.schema where v.isSet(spec.key) {
                throw v.error(spec.key, "DLMS settings need meter.kind = dlms-hdlc, dlms-tcp or dlms-push, not \(kind.rawValue)")
            }
            return
        }
        if authentication == "low" {
            guard passwordFile.utf8.first == 47 else {
                throw v.error(v.isSet("meter.dlms.password_file") ? "meter.dlms.password_file" : "meter.dlms.authentication",
                              "low-level security needs meter.dlms.password_file, an absolute path to a 0600 file holding the password")
            }
        } else if v.isSet("meter.dlms.password_file") {
            throw v.error("meter.dlms.password_file", "a password is sent only with meter.dlms.authentication = low")
        }
        if kind == .dlmsPush {
            for key in ["meter.dlms.authentication", "meter.dlms.password_file", "meter.dlms.registers"] where v.isSet(key) {
                throw v.error(key, "a pushing meter is not asked: this key applies to dlms-hdlc and dlms-tcp")
            }
        } else {
            for key in ["meter.dlms.push_transport", "meter.dlms.listen_address", "meter.dlms.listen_port"] where v.isSet(key) {
                throw v.error(key, "applies to meter.kind = dlms-push only")
            }
        }
    }
}
