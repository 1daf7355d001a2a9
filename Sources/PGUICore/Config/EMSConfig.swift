/// `ems.*`: the local EMS interfaces, Modbus TCP and HTTP (docs/ems.md).
public struct EMSConfig: ConfigSection, Equatable {
    /// IPv4 address both servers bind to.
    public var bind: String
    /// 0 disables the interface.
    public var modbusPort: Int
    public var httpPort: Int
    public var modbusConnectionsMax: Int
    public var httpConnectionsMax: Int
    /// A connection that completes no request within this time is closed.
    public var idleTimeoutMs: Int64
    public var httpHeadBytesMax: Int

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("ems.bind", .text(bytesMax: 15), default: "0.0.0.0"),
        ConfigKeySpec("ems.modbus_port", .integer(min: 0, max: 65_535), default: "8502"),
        ConfigKeySpec("ems.http_port", .integer(min: 0, max: 65_535), default: "8000"),
        ConfigKeySpec("ems.modbus_connections_max", .integer(min: 1, max: 256), default: "16"),
        ConfigKeySpec("ems.http_connections_max", .integer(min: 1, max: 1_024), default: "128"),
        ConfigKeySpec("ems.idle_timeout_ms", .integer(min: 100, max: 3_600_000), default: "10000"),
        ConfigKeySpec("ems.http_head_bytes_max", .integer(min: 256, max: 16_384), default: "4096"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        bind = v.string("ems.bind")
        modbusPort = Int(v.int("ems.modbus_port"))
        httpPort = Int(v.int("ems.http_port"))
        modbusConnectionsMax = Int(v.int("ems.modbus_connections_max"))
        httpConnectionsMax = Int(v.int("ems.http_connections_max"))
        idleTimeoutMs = v.int("ems.idle_timeout_ms")
        httpHeadBytesMax = Int(v.int("ems.http_head_bytes_max"))
        guard Self.isIPv4(bind) else { throw v.error("ems.bind", "'\(printable(Array(bind.utf8)[...]))' is not a dotted IPv4 address") }
        guard modbusPort == 0 || modbusPort != httpPort else { throw v.error("ems.http_port", "is the same as ems.modbus_port") }
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = Array(s.utf8).split(separator: 46, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(ASCII.isDigit), let v = parseInt64(p), v <= 255 else { return false }
        }
        return true
    }
}
