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

/// Validated values of one file, with the line each came from, for the sections to read.
public struct ConfigValues {
    public let file: String
    var values: [String: (value: String, line: Int)]

    /// The value of a key in the schema (its default when the file did not set it).
    public func string(_ key: String) -> String {
        guard let v = values[key] else { preconditionFailure("config key '\(key)' is not in the schema") }
        return v.value
    }

    /// An integer key; the schema already checked that it parses and is in range.
    public func int(_ key: String) -> Int64 { parseInt64(string(key))! }
    public func bool(_ key: String) -> Bool { string(key) == "true" }
    public func isSet(_ key: String) -> Bool { (values[key]?.line ?? 0) > 0 }

    /// Keys matched by a `prefix.*` schema entry, in file order, with their values and lines.
    public func entries(withPrefix prefix: String) -> [ConfigEntry] {
        var out: [ConfigEntry] = []
        for (k, v) in values where k.utf8.count > prefix.utf8.count && k.utf8.starts(with: prefix.utf8) {
            out.append(ConfigEntry(key: k, value: v.value, line: v.line))
        }
        out.sort { $0.line < $1.line }
        return out
    }

    /// An error located at the line that set `key` (0 when it came from the defaults).
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: values[key]?.line ?? 0, message: "\(key): \(message)")
    }
}

/// One area's keys and its typed view of them. Each area keeps its own file, so parts of the
/// firmware grow their configuration without touching each other.
public protocol ConfigSection {
    static var schema: [ConfigKeySpec] { get }
    /// Builds the typed section; throws for cross-key problems the per-key checks cannot see.
    init(_ values: ConfigValues) throws(ConfigError)
}

public struct Config {
    public var device: DeviceConfig
    public var meter: MeterConfig
    public var identity: IdentityConfig
    public var group: GroupConfig
    public var appliance: ApplianceConfig
    public var journal: JournalConfig
    public var dso: DSOConfig
    public var ems: EMSConfig
    public var bal: BALConfig
    /// The validated values with their lines, for checks that run after loading (environment).
    public var source: ConfigValues? = nil

    /// Every key PGUI understands. A `prefix.*` entry accepts any key under the prefix.
    public static var schema: [ConfigKeySpec] {
        DeviceConfig.schema + MeterConfig.schema + GroupConfig.schema + IdentityConfig.schema
            + ApplianceConfig.schema + JournalConfig.schema + DSOConfig.schema + EMSConfig.schema + BALConfig.schema
    }

    /// Parses and validates a whole file; returns the config or the first error with its line.
    public static func load(_ bytes: [UInt8], file: String) throws(ConfigError) -> Config {
        let entries = try ConfigFile.parse(bytes, file: file)
        return try load(entries, file: file)
    }

    public static func load(_ entries: [ConfigEntry], file: String) throws(ConfigError) -> Config {
        let schema = Self.schema
        var values: [String: (value: String, line: Int)] = [:]
        for entry in entries {
            guard let spec = schema.first(where: { matches($0.key, entry.key) }) else {
                throw ConfigError(file: file, line: entry.line, message: "unknown key '\(entry.key)'")
            }
            if let problem = check(entry.value, against: spec.kind) {
                throw ConfigError(file: file, line: entry.line, message: "\(entry.key): \(problem)")
            }
            values[entry.key] = (entry.value, entry.line)
        }
        for spec in schema where values[spec.key] == nil && !isPattern(spec.key) {
            guard let d = spec.defaultValue else {
                throw ConfigError(file: file, line: 0, message: "required key '\(spec.key)' is missing")
            }
            values[spec.key] = (d, 0)
        }
        let v = ConfigValues(file: file, values: values)
        let c = Config(
            device: try DeviceConfig(v), meter: try MeterConfig(v), identity: try IdentityConfig(v),
            group: try GroupConfig(v), appliance: try ApplianceConfig(v), journal: try JournalConfig(v),
            dso: try DSOConfig(v), ems: try EMSConfig(v), bal: try BALConfig(v), source: v)
        try c.checkGroupFitsJournal(v)
        return c
    }

    static func isPattern(_ key: String) -> Bool { key.utf8.last == 42 }  // "*"

    static func matches(_ specKey: String, _ key: String) -> Bool {
        guard isPattern(specKey) else { return specKey == key }
        let prefix = specKey.utf8.dropLast()
        return key.utf8.count > prefix.count && key.utf8.starts(with: prefix)
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
