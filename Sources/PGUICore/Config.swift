/// The configuration schema: every key PGUI understands, its type, range and default. Unknown keys
/// are errors (a typo must not silently fall back to a default on a device in the field).
/// docs/config.md is the user-facing copy of this table.

public enum ConfigKind: Equatable, Sendable {
    case text(bytesMax: Int)
    case integer(min: Int64, max: Int64)
    case boolean
    case choice([String])
    /// An absolute path.
    case path
    /// Lowercase letters, digits, '-' and '_' (device ids, topic segments).
    case identifier(bytesMax: Int)
}

public struct ConfigKeySpec: Sendable {
    public let key: String
    public let kind: ConfigKind
    /// nil = required.
    public let defaultValue: String?

    public init(_ key: String, _ kind: ConfigKind, default defaultValue: String?) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
    }
}

public enum LogLevel: Int, Comparable {
    case error = 0, warn, info, debug

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .error: "error"
        case .warn: "warn"
        case .info: "info"
        case .debug: "debug"
        }
    }

    public init?(name: String) {
        switch name {
        case "error": self = .error
        case "warn": self = .warn
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }
}

public struct SimulatedMeterConfig: Equatable {
    public var baseLoadW: Int64 = 2_000
    public var loadSwingW: Int64 = 1_500
    public var pvPeakW: Int64 = 3_000
    public var profilePeriodS: Int64 = 86_400
    public var seed: Int64 = 1
    public init() {}
}

public struct Config: Equatable {
    public var deviceId: String = ""
    public var dataDir: String = ""
    public var logLevel: LogLevel = .info
    public var meterKind: String = "simulated"
    public var meterPeriodMs: Int64 = 1_000
    public var simulated = SimulatedMeterConfig()

    public init() {}

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("device.id", .identifier(bytesMax: 64), default: nil),
        ConfigKeySpec("data.dir", .path, default: nil),
        ConfigKeySpec("log.level", .choice(["error", "warn", "info", "debug"]), default: "info"),
        ConfigKeySpec("meter.kind", .choice(["simulated"]), default: "simulated"),
        ConfigKeySpec("meter.period_ms", .integer(min: 100, max: 60_000), default: "1000"),
        ConfigKeySpec("meter.sim.base_load_w", .integer(min: 0, max: 1_000_000), default: "2000"),
        ConfigKeySpec("meter.sim.load_swing_w", .integer(min: 0, max: 1_000_000), default: "1500"),
        ConfigKeySpec("meter.sim.pv_peak_w", .integer(min: 0, max: 1_000_000), default: "3000"),
        ConfigKeySpec("meter.sim.profile_period_s", .integer(min: 10, max: 604_800), default: "86400"),
        ConfigKeySpec("meter.sim.seed", .integer(min: 0, max: Int64.max), default: "1"),
    ]

    /// Parses and validates a whole file; returns the config or the first error with its line.
    public static func load(_ bytes: [UInt8], file: String) throws(ConfigError) -> Config {
        let entries = try ConfigFile.parse(bytes, file: file)
        return try load(entries, file: file)
    }

    public static func load(_ entries: [ConfigEntry], file: String) throws(ConfigError) -> Config {
        var values: [String: String] = [:]
        for entry in entries {
            guard let spec = schema.first(where: { $0.key == entry.key }) else {
                throw ConfigError(file: file, line: entry.line, message: "unknown key '\(entry.key)'")
            }
            if let problem = check(entry.value, against: spec.kind) {
                throw ConfigError(file: file, line: entry.line, message: "\(entry.key): \(problem)")
            }
            values[entry.key] = entry.value
        }
        for spec in schema where values[spec.key] == nil {
            guard let d = spec.defaultValue else {
                throw ConfigError(file: file, line: 0, message: "required key '\(spec.key)' is missing")
            }
            values[spec.key] = d
        }
        func int(_ key: String) -> Int64 { parseInt64(values[key]!)! }  // checked above
        var c = Config()
        c.deviceId = values["device.id"]!
        c.dataDir = values["data.dir"]!
        c.logLevel = LogLevel(name: values["log.level"]!)!
        c.meterKind = values["meter.kind"]!
        c.meterPeriodMs = int("meter.period_ms")
        c.simulated.baseLoadW = int("meter.sim.base_load_w")
        c.simulated.loadSwingW = int("meter.sim.load_swing_w")
        c.simulated.pvPeakW = int("meter.sim.pv_peak_w")
        c.simulated.profilePeriodS = int("meter.sim.profile_period_s")
        c.simulated.seed = int("meter.sim.seed")
        return c
    }

    /// nil when `value` fits `kind`, else a sentence saying why not.
    public static func check(_ value: String, against kind: ConfigKind) -> String? {
        let bytes = Array(value.utf8)
        switch kind {
        case .text(let max):
            return bytes.count <= max ? nil : "value is \(bytes.count) bytes; the limit is \(max)"
        case .integer(let min, let max):
            guard let v = parseInt64(bytes[...]) else { return "'\(printable(bytes[...]))' is not an integer" }
            return v >= min && v <= max ? nil : "\(v) is out of range \(min)...\(max)"
        case .boolean:
            return value == "true" || value == "false" ? nil : "'\(printable(bytes[...]))' is not 'true' or 'false'"
        case .choice(let options):
            if options.contains(value) { return nil }
            var list = ""
            for o in options { list += list.isEmpty ? o : ", \(o)" }
            return "'\(printable(bytes[...]))' is not one of: \(list)"
        case .path:
            guard bytes.first == 47 else { return "'\(printable(bytes[...]))' is not an absolute path" }
            return bytes.count <= 1024 ? nil : "path is longer than 1024 bytes"
        case .identifier(let max):
            guard !bytes.isEmpty, bytes.count <= max else { return "must be 1...\(max) bytes" }
            for b in bytes where !(ASCII.isLowerAlpha(b) || ASCII.isDigit(b) || b == ASCII.minus || b == 95) {
                return "'\(printable(bytes[...]))' may only hold a-z, 0-9, '-' and '_'"
            }
            return nil
        }
    }
}
