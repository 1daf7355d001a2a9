public struct SimulatedMeterConfig: Equatable {
    public var baseLoadW: Int64 = 2_000
    public var loadSwingW: Int64 = 1_500
    public var pvPeakW: Int64 = 3_000
    public var profilePeriodS: Int64 = 86_400
    public var seed: Int64 = 1
    public init() {}
}

public enum SerialParity: Equatable, Sendable {
    case none, even, odd

    /// libmodbus' parity letter.
    public var letter: UInt8 {
        switch self {
        case .none: 78  // N
        case .even: 69  // E
        case .odd: 79  // O
        }
    }
}

/// Modbus link settings shared by TCP and RTU meters (docs/meters.md).
public struct ModbusMeterConfig: Equatable {
    public var host = ""
    public var port = 502
    public var unitId = 1
    public var timeoutMs: Int64 = 1_000
    public var reconnectMaxMs: Int64 = 30_000
    public var serialDevice = ""
    public var baud = 9_600
    public var parity = SerialParity.even
    public var stopBits = 1
    public var rs485 = false
    /// `sunspec` or `map`.
    public var model = "sunspec"
    /// nil = search the well-known SunSpec bases.
    public var sunspecBase: Int? = nil
    public var map: [RegisterMapEntry] = []
    public init() {}
}

/// Settings shared by the OBIS-speaking meter families (DLMS/COSEM, DSMR P1, SML, IEC 62056-21).
public struct OBISMeterConfig: Equatable {
    /// The serial line as configured; each family applies its own defaults where a key is not set
    /// (see `isSet`), e.g. DSMR 5 is 115200 8N1 while Modbus RTU defaults to 9600 8E1.
    public var serial = SerialSettings(device: "", baud: 9_600, dataBits: 8, parity: .even, stopBits: 1)
    /// Which `meter.serial.*` keys the file sets.
    public var serialKeysSet: Set<String> = []
    /// The OBIS → quantity table with `meter.obis.<quantity>` overrides applied.
    public var table = OBISTable.standard
    /// AES-128 key files (32 hex digits, mode 0600): the encryption key (DLMS "GUEK", the DSMR P1
    /// key) and the authentication key (DLMS "GAK"). Empty = not configured.
    public var encryptionKeyFile = ""
    public var authenticationKeyFile = ""
    public init() {}
}

/// `meter.kind`: the protocol the main meter is read with (docs/config.md). The raw values are the
/// configuration's spelling.
public enum MeterKind: String, CaseIterable, Equatable, Sendable {
    case simulated
    case modbusTCP = "modbus-tcp"
    case modbusRTU = "modbus-rtu"
    case dlmsHDLC = "dlms-hdlc"
    case dlmsTCP = "dlms-tcp"
    case dlmsPush = "dlms-push"
    case dsmrP1 = "dsmr-p1"
    case sml
    case iec62056_21 = "iec62056-21"

    public var isModbus: Bool { self == .modbusTCP || self == .modbusRTU }
    public var isDLMS: Bool { self == .dlmsHDLC || self == .dlmsTCP || self == .dlmsPush }
    /// The serial OBIS families (Config/SerialMeterConfig.swift).
    public var isSerialOBIS: Bool { self == .dsmrP1 || self == .sml || self == .iec62056_21 }
    /// Reads OBIS codes and so uses `meter.obis.*` and `meter.cipher.*` (errors for the others).
    public var readsOBIS: Bool { isDLMS || isSerialOBIS }
}

public struct MeterConfig: ConfigSection, Equatable {
    public var kind: MeterKind
    public var meterId: String
    public var periodMs: Int64
    public var simulated = SimulatedMeterConfig()
    public var modbus = ModbusMeterConfig()
    public var obis = OBISMeterConfig()
    /// DSMR P1, SML and IEC 62056-21 family settings (Config/SerialMeterConfig.swift).
    public var serial = SerialMeterConfig()
    /// DLMS/COSEM settings (Config/DLMSConfig.swift).
    public var dlms = DLMSConfig()

    /// The kinds that read OBIS codes and so use `obis`; `meter.obis.*` and `meter.cipher.*` are errors elsewhere.
    public static let obisKinds: [MeterKind] = MeterKind.allCases.filter { $0.readsOBIS }

    /// Prefix of the per-quantity OBIS overrides (`meter.obis.active_power = 1-0:16.7.0`).
    public static let obisKeyPrefix = "meter.obis."

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("meter.kind", .choice(MeterKind.allCases.map { $0.rawValue }), default: "simulated"),
        ConfigKeySpec("meter.id", .identifier(bytesMax: 64), default: "main"),
        ConfigKeySpec("meter.period_ms", .integer(min: 100, max: 60_000), default: "1000"),
        ConfigKeySpec("meter.sim.base_load_w", .integer(min: 0, max: 1_000_000), default: "2000"),
        ConfigKeySpec("meter.sim.load_swing_w", .integer(min: 0, max: 1_000_000), default: "1500"),
        ConfigKeySpec("meter.sim.pv_peak_w", .integer(min: 0, max: 1_000_000), default: "3000"),
        ConfigKeySpec("meter.sim.profile_period_s", .integer(min: 10, max: 604_800), default: "86400"),
        ConfigKeySpec("meter.sim.seed", .integer(min: 0, max: Int64.max), default: "1"),
        ConfigKeySpec("meter.host", .text(bytesMax: 253), default: ""),
        ConfigKeySpec("meter.port", .integer(min: 1, max: 65_535), default: "502"),
        ConfigKeySpec("meter.unit_id", .integer(min: 1, max: 255), default: "1"),
        ConfigKeySpec("meter.timeout_ms", .integer(min: 50, max: 10_000), default: "1000"),
        ConfigKeySpec("meter.reconnect_max_ms", .integer(min: 100, max: 300_000), default: "30000"),
        ConfigKeySpec("meter.serial.device", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("meter.serial.baud", .choice(["300", "600", "1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200"]), default: "9600"),
        ConfigKeySpec("meter.serial.data_bits", .integer(min: 7, max: 8), default: "8"),
        ConfigKeySpec("meter.serial.parity", .choice(["none", "even", "odd"]), default: "even"),
        ConfigKeySpec("meter.serial.stop_bits", .integer(min: 1, max: 2), default: "1"),
        ConfigKeySpec("meter.serial.rs485", .boolean, default: "false"),
        ConfigKeySpec("meter.model", .choice(["sunspec", "map"]), default: "sunspec"),
        ConfigKeySpec("meter.sunspec.base", .text(bytesMax: 8), default: "auto"),
        ConfigKeySpec("meter.map.*", .text(bytesMax: 128), default: nil),
        ConfigKeySpec("meter.obis.*", .text(bytesMax: 32), default: nil),
        ConfigKeySpec("meter.cipher.encryption_key_file", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("meter.cipher.authentication_key_file", .text(bytesMax: 256), default: ""),
    ] + SerialMeterConfig.schema + DLMSConfig.schema

    public init(_ v: ConfigValues) throws(ConfigError) {
        // The schema admits only MeterKind's raw values (a choice), so this cannot fail after validation.
        kind = MeterKind(rawValue: v.string("meter.kind")) ?? .simulated
        meterId = v.string("meter.id")
        periodMs = v.int("meter.period_ms")
        simulated.baseLoadW = v.int("meter.sim.base_load_w")
        simulated.loadSwingW = v.int("meter.sim.load_swing_w")
        simulated.pvPeakW = v.int("meter.sim.pv_peak_w")
        simulated.profilePeriodS = v.int("meter.sim.profile_period_s")
        simulated.seed = v.int("meter.sim.seed")

        var m = ModbusMeterConfig()
        m.host = v.string("meter.host")
        m.port = Int(v.int("meter.port"))
        m.unitId = Int(v.int("meter.unit_id"))
        m.timeoutMs = v.int("meter.timeout_ms")
        m.reconnectMaxMs = v.int("meter.reconnect_max_ms")
        m.serialDevice = v.string("meter.serial.device")
        m.baud = Int(v.int("meter.serial.baud"))
        switch v.string("meter.serial.parity") {
        case "none": m.parity = .none
        case "odd": m.parity = .odd
        default: m.parity = .even
        }
        m.stopBits = Int(v.int("meter.serial.stop_bits"))
        m.rs485 = v.bool("meter.serial.rs485")
        m.model = v.string("meter.model")
        let base = v.string("meter.sunspec.base")
        if base != "auto" {
            guard let b = RegisterMap.parseAddress(base) else {
                throw v.error("meter.sunspec.base", "'\(printable(Array(base.utf8)[...]))' is not 'auto' or a register address 0...65535")
            }
            m.sunspecBase = b
        }
        m.map = try RegisterMap.parse(v)
        if m.baud < 1_200 && kind == .modbusRTU {
            throw v.error("meter.serial.baud", "Modbus RTU runs at 1200 baud or more; 300 and 600 are for IEC 62056-21 optical ports")
        }

        var o = OBISMeterConfig()
        o.serial = SerialSettings(device: m.serialDevice, baud: m.baud, dataBits: Int(v.int("meter.serial.data_bits")),
                                  parity: m.parity, stopBits: m.stopBits)
        for key in ["device", "baud", "data_bits", "parity", "stop_bits"] where v.isSet("meter.serial.\(key)") {
            o.serialKeysSet.insert(key)
        }
        if kind == .modbusRTU && o.serial.dataBits != 8 {
            throw v.error("meter.serial.data_bits", "Modbus RTU frames have 8 data bits")
        }
        for entry in v.entries(withPrefix: Self.obisKeyPrefix) {
            let name = String(decoding: Array(entry.key.utf8).dropFirst(Self.obisKeyPrefix.utf8.count), as: UTF8.self)
            guard let q = MeterQuantity(name: name) else {
                throw ConfigError(file: v.file, line: entry.line, message: "\(entry.key): unknown quantity '\(name)'")
            }
            guard let code = OBISCode.parse(Array(entry.value.utf8)) else {
                throw ConfigError(file: v.file, line: entry.line, message: "\(entry.key): '\(printable(Array(entry.value.utf8)[...]))' is not an OBIS code (e.g. 1-0:16.7.0 or 1.8.0)")
            }
            o.table = o.table.overriding(q, with: code)
        }
        o.encryptionKeyFile = v.string("meter.cipher.encryption_key_file")
        o.authenticationKeyFile = v.string("meter.cipher.authentication_key_file")
        for key in ["meter.cipher.encryption_key_file", "meter.cipher.authentication_key_file"] where v.isSet(key) {
            guard v.string(key).utf8.first == 47 else { throw v.error(key, "a key file is an absolute path") }
        }
        if !kind.readsOBIS {
            if let first = v.entries(withPrefix: Self.obisKeyPrefix).first {
                throw ConfigError(file: v.file, line: first.line, message: "\(first.key): OBIS overrides need an OBIS-speaking meter.kind (\(Self.obisKinds.isEmpty ? "none in this build" : Self.obisKinds.map { $0.rawValue }.joined(separator: ", ")))")
            }
            for key in ["meter.cipher.encryption_key_file", "meter.cipher.authentication_key_file"] where v.isSet(key) {
                throw v.error(key, "meter keys are used only by encrypted OBIS meters, not meter.kind = \(kind.rawValue)")
            }
        }
        serial = try SerialMeterConfig(v, kind: kind, obis: &o, periodMs: &periodMs)
        obis = o
        dlms = try DLMSConfig(v, kind: kind)

        // Cross-key checks: settings that would be silently ignored are errors too.
        let isModbus = kind.isModbus
        if kind == .modbusTCP && m.host.isEmpty {
            throw v.error("meter.kind", "modbus-tcp needs meter.host")
        }
        if kind == .modbusRTU {
            guard m.serialDevice.utf8.first == 47 else {
                throw v.error(v.isSet("meter.serial.device") ? "meter.serial.device" : "meter.kind", "modbus-rtu needs meter.serial.device, an absolute path")
            }
            guard m.unitId <= 247 else { throw v.error("meter.unit_id", "a Modbus RTU unit id is 1...247") }
        }
        if isModbus && m.model == "map" && m.map.isEmpty {
            throw v.error("meter.model", "meter.model = map needs at least one meter.map.<quantity> line")
        }
        if let first = m.map.first, !(isModbus && m.model == "map") {
            throw ConfigError(file: v.file, line: first.line, message: "meter.map.\(first.quantity.name): register map lines need meter.kind = modbus-tcp or modbus-rtu and meter.model = map")
        }
        if kind == .dlmsTCP && m.host.isEmpty { throw v.error("meter.kind", "dlms-tcp needs meter.host") }
        if kind == .dlmsTCP && !v.isSet("meter.port") { m.port = DLMSConfig.tcpPortDefault }
        if kind == .dlmsHDLC || (kind == .dlmsPush && dlms.pushTransport == "serial") {
            guard m.serialDevice.utf8.first == 47 else {
                throw v.error(v.isSet("meter.serial.device") ? "meter.serial.device" : "meter.kind", "\(kind.rawValue) on a serial line needs meter.serial.device, an absolute path")
            }
            // HDLC on RS-485 and optical heads in direct HDLC mode: 9600 8N1 (IEC 62056-46 annex);
            // customer-port pushes: 2400 8E1 (Nordic HAN M-Bus, NEK 399) unless set.
            let push = kind == .dlmsPush
            if !obis.serialKeysSet.contains("baud") { obis.serial.baud = push ? 2_400 : 9_600 }
            if !obis.serialKeysSet.contains("parity") { obis.serial.parity = push ? .even : .none }
        }
        if kind == .dlmsPush && dlms.pushTransport == "tcp" && v.isSet("meter.serial.device") {
            throw v.error("meter.serial.device", "meter.dlms.push_transport = tcp listens on meter.dlms.listen_port; the serial line is unused")
        }
        modbus = m
    }
}
