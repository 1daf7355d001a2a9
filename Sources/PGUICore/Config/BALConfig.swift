/// `bal.*`: the MQTTS link to the Blockchain Access Layer (docs/bal-protocol.md). The topic prefix is
/// the identity layer's `identity.topic_prefix`, so keys, credentials and measurements share one tree.
public struct BALConfig: ConfigSection, Equatable {
    public var enabled: Bool
    public var uris: [String]
    public var caFile: String
    public var certFile: String
    public var keyFile: String
    public var username: String
    /// Never logged.
    public var password: String
    public var keepAliveS: Int64
    public var reconnectMinMs: Int64
    public var reconnectMaxMs: Int64
    public var inFlightMax: Int64
    public var drainPerSecondMax: Int64
    /// Adaptive drain (docs/fleet.md): PUBACK time above which the backlog rate halves; 0 = fixed rate.
    public var drainLatencyTargetMs: Int64
    /// Random delay 0…this before a reconnected link starts its backlog (live groups do not wait).
    public var drainStartJitterMs: Int64
    public var statusIntervalS: Int64

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("bal.enabled", .boolean, default: "false"),
        ConfigKeySpec("bal.uris", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("bal.ca_file", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("bal.cert_file", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("bal.key_file", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("bal.username", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("bal.password", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("bal.keepalive_s", .integer(min: 5, max: 3_600), default: "30"),
        ConfigKeySpec("bal.reconnect_min_ms", .integer(min: 100, max: 600_000), default: "1000"),
        ConfigKeySpec("bal.reconnect_max_ms", .integer(min: 100, max: 3_600_000), default: "60000"),
        ConfigKeySpec("bal.inflight_max", .integer(min: 1, max: 256), default: "16"),
        ConfigKeySpec("bal.drain_per_s", .integer(min: 1, max: 10_000), default: "50"),
        ConfigKeySpec("bal.drain_latency_target_ms", .integer(min: 0, max: 60_000), default: "1000"),
        ConfigKeySpec("bal.drain_start_jitter_ms", .integer(min: 0, max: 600_000), default: "0"),
        ConfigKeySpec("bal.status_interval_s", .integer(min: 10, max: 86_400), default: "60"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        enabled = v.bool("bal.enabled")
        uris = v.list("bal.uris")
        caFile = v.string("bal.ca_file")
        certFile = v.string("bal.cert_file")
        keyFile = v.string("bal.key_file")
        username = v.string("bal.username")
        password = v.string("bal.password")
        keepAliveS = v.int("bal.keepalive_s")
        reconnectMinMs = v.int("bal.reconnect_min_ms")
        reconnectMaxMs = v.int("bal.reconnect_max_ms")
        inFlightMax = v.int("bal.inflight_max")
        drainPerSecondMax = v.int("bal.drain_per_s")
        drainLatencyTargetMs = v.int("bal.drain_latency_target_ms")
        drainStartJitterMs = v.int("bal.drain_start_jitter_ms")
        statusIntervalS = v.int("bal.status_interval_s")
        try v.checkMQTTLink(prefix: "bal", enabled: enabled, uris: uris)
    }
}
