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
    /// How the set-points are laid out in Modbus registers (docs/ems.md).
    public var modbusEncoding: EMSEncoding
    public var modbusWordOrder: EMSWordOrder
    /// The meter sample is stale (HTTP 503, SunSpec block not implemented) once this many periods
    /// have passed without a good read.
    public var staleAfterPeriods: Int64
    /// Connections one client address may hold on each server; 0 = a quarter of the server's slots.
    /// Beyond it the client's own oldest connection is closed, so one host never holds every slot.
    public var clientConnectionsMax: Int

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("ems.bind", .text(bytesMax: 15), default: "0.0.0.0"),
        ConfigKeySpec("ems.modbus_port", .integer(min: 0, max: 65_535), default: "8502"),
        ConfigKeySpec("ems.http_port", .integer(min: 0, max: 65_535), default: "8000"),
        ConfigKeySpec("ems.modbus_connections_max", .integer(min: 1, max: 256), default: "16"),
        ConfigKeySpec("ems.http_connections_max", .integer(min: 1, max: 1_024), default: "128"),
        ConfigKeySpec("ems.idle_timeout_ms", .integer(min: 100, max: 3_600_000), default: "10000"),
        ConfigKeySpec("ems.http_head_bytes_max", .integer(min: 256, max: 16_384), default: "4096"),
        ConfigKeySpec("ems.modbus_encoding", .choice(["int32", "int16", "float32"]), default: "int32"),
        ConfigKeySpec("ems.modbus_word_order", .choice(["big", "little"]), default: "big"),
        ConfigKeySpec("ems.stale_after_periods", .integer(min: 1, max: 1_000), default: "3"),
        ConfigKeySpec("ems.client_connections_max", .integer(min: 0, max: 1_024), default: "0"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        bind = v.string("ems.bind")
        modbusPort = Int(v.int("ems.modbus_port"))
        httpPort = Int(v.int("ems.http_port"))
        modbusConnectionsMax = Int(v.int("ems.modbus_connections_max"))
        httpConnectionsMax = Int(v.int("ems.http_connections_max"))
        idleTimeoutMs = v.int("ems.idle_timeout_ms")
        httpHeadBytesMax = Int(v.int("ems.http_head_bytes_max"))
        modbusEncoding = EMSEncoding(rawValue: v.string("ems.modbus_encoding"))!
        modbusWordOrder = EMSWordOrder(rawValue: v.string("ems.modbus_word_order"))!
        staleAfterPeriods = v.int("ems.stale_after_periods")
        clientConnectionsMax = Int(v.int("ems.client_connections_max"))
        guard Self.isIPv4(bind) else { throw v.error("ems.bind", "'\(printable(Array(bind.utf8)[...]))' is not a dotted IPv4 address") }
        guard modbusPort == 0 || modbusPort != httpPort else { throw v.error("ems.http_port", "is the same as ems.modbus_port") }
    }

    /// Per-client connection budget of a server with `connectionsMax` slots.
    public func clientBudget(connectionsMax: Int) -> Int {
        clientConnectionsMax == 0 ? max(1, connectionsMax / 4) : min(clientConnectionsMax, connectionsMax)
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
