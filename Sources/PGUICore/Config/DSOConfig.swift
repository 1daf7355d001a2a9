/// `dso.*`: the set-point schedule's limits and the DSO link (docs/setpoints.md).
public struct DSOConfig: ConfigSection, Equatable {
    public var limits: ScheduleLimits
    /// A schedule message applied at start-up (tests, demos, manual operation); "" = none.
    public var scheduleFile: String
    /// The MQTTS link to the DSO platform.
    public var enabled: Bool
    public var uris: [String]
    public var caFile: String
    public var certFile: String
    public var keyFile: String
    public var username: String
    /// Never logged.
    public var password: String
    /// "" = the device id.
    public var clientId: String
    public var topicPrefix: String
    public var keepAliveS: Int64
    public var cleanSession: Bool
    public var reconnectMinMs: Int64
    public var reconnectMaxMs: Int64

    /// `<prefix>/<deviceId>/setpoints` and `…/setpoints/ack`.
    public func setpointsTopic(deviceId: String) -> String { "\(topicPrefix)/\(deviceId)/setpoints" }
    public func ackTopic(deviceId: String) -> String { "\(topicPrefix)/\(deviceId)/setpoints/ack" }

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("dso.slot_s", .integer(min: 60, max: 3_600), default: "900"),
        ConfigKeySpec("dso.horizon_s", .integer(min: 3_600, max: 2_678_400), default: "604800"),
        ConfigKeySpec("dso.p_min_w", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "-1000000"),
        ConfigKeySpec("dso.p_max_w", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "1000000"),
        ConfigKeySpec("dso.q_min_var", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "-1000000"),
        ConfigKeySpec("dso.q_max_var", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "1000000"),
        ConfigKeySpec("dso.message_bytes_max", .integer(min: 1_024, max: 262_144), default: "65536"),
        ConfigKeySpec("dso.schedule_file", .text(bytesMax: 1_024), default: ""),  // "" = unset, else a path
        ConfigKeySpec("dso.enabled", .boolean, default: "false"),
        ConfigKeySpec("dso.uris", .text(bytesMax: 1_024), default: ""),
        ConfigKeySpec("dso.ca_file", .text(bytesMax: 1_024), default: ""),  // "" = unset, else a path
        ConfigKeySpec("dso.cert_file", .text(bytesMax: 1_024), default: ""),  // "" = unset, else a path
        ConfigKeySpec("dso.key_file", .text(bytesMax: 1_024), default: ""),  // "" = unset, else a path
        ConfigKeySpec("dso.username", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("dso.password", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("dso.client_id", .text(bytesMax: 64), default: ""),  // "" = the device id
        ConfigKeySpec("dso.topic_prefix", .text(bytesMax: 128), default: "dso/v1"),
        ConfigKeySpec("dso.keepalive_s", .integer(min: 5, max: 3_600), default: "30"),
        ConfigKeySpec("dso.clean_session", .boolean, default: "false"),
        ConfigKeySpec("dso.reconnect_min_ms", .integer(min: 100, max: 600_000), default: "1000"),
        ConfigKeySpec("dso.reconnect_max_ms", .integer(min: 100, max: 3_600_000), default: "60000"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        limits = ScheduleLimits()
        limits.slotS = v.int("dso.slot_s")
        limits.horizonS = v.int("dso.horizon_s")
        limits.pMinW = v.int("dso.p_min_w")
        limits.pMaxW = v.int("dso.p_max_w")
        limits.qMinVar = v.int("dso.q_min_var")
        limits.qMaxVar = v.int("dso.q_max_var")
        limits.messageBytesMax = Int(v.int("dso.message_bytes_max"))
        scheduleFile = v.string("dso.schedule_file")
        enabled = v.bool("dso.enabled")
        uris = v.list("dso.uris")
        caFile = v.string("dso.ca_file")
        certFile = v.string("dso.cert_file")
        keyFile = v.string("dso.key_file")
        username = v.string("dso.username")
        password = v.string("dso.password")
        clientId = v.string("dso.client_id")
        topicPrefix = v.string("dso.topic_prefix")
        keepAliveS = v.int("dso.keepalive_s")
        cleanSession = v.bool("dso.clean_session")
        reconnectMinMs = v.int("dso.reconnect_min_ms")
        reconnectMaxMs = v.int("dso.reconnect_max_ms")
        // Optional keys default to "" (unset); when set they must fit their real kind.
        for (key, kind) in [("dso.schedule_file", ConfigKind.path), ("dso.client_id", .identifier(bytesMax: 64))] {
            let value = v.string(key)
            if !value.isEmpty, let problem = Config.check(value, against: kind) { throw v.error(key, problem) }
        }
        let prefix = Array(topicPrefix.utf8)
        guard !prefix.isEmpty, prefix.first != 47, prefix.last != 47,
              prefix.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 43 && $0 != 35 }) else {
            throw v.error("dso.topic_prefix", "must be printable ASCII without '+', '#', spaces or a leading/trailing '/'")
        }
        try v.checkMQTTLink(prefix: "dso", enabled: enabled, uris: uris)
        guard 86_400 % limits.slotS == 0 else { throw v.error("dso.slot_s", "\(limits.slotS) does not divide a day (86400 s)") }
        guard limits.pMinW <= limits.pMaxW else { throw v.error("dso.p_max_w", "is below dso.p_min_w") }
        guard limits.qMinVar <= limits.qMaxVar else { throw v.error("dso.q_max_var", "is below dso.q_min_var") }
        guard limits.slotsMax <= 4_096 else {
            throw v.error("dso.horizon_s", "\(limits.slotsMax) slots of \(limits.slotS) s; at most 4096 are kept")
        }
    }
}
