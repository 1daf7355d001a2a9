public struct IdentityConfig: ConfigSection, Equatable {
    /// 0 = rotate only on `pgui identity rotate`.
    public var keyRotationDays: Int64
    /// Sequence numbers reserved per disk write; a crash skips at most this many.
    public var seqBlock: Int64
    /// BAL topic prefix (`<prefix>/<device>/keys`, `…/credentials/{csr,cert}`).
    public var topicPrefix: String
    /// Rotate the BAL client credentials after this many days (0 = only `pgui identity rotate-credentials`).
    public var credentialRotationDays: Int64
    /// An unanswered credential request is sent again after this many seconds …
    public var credentialRetryS: Int64
    /// … at most this many times in all; then it gives up until the next period.
    public var credentialSendsMax: Int64
    /// Length of a rotation "day" in seconds: 86400 in service; tests and labs shorten it so the
    /// periodic key and credential rotations can be watched in seconds.
    public var rotationDayS: Int64

    public var rotationDayMs: Int64 { rotationDayS * 1_000 }

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("identity.key_rotation_days", .integer(min: 0, max: 3_650), default: "365"),
        ConfigKeySpec("identity.seq_block", .integer(min: 1, max: 1_000_000), default: "1000"),
        ConfigKeySpec("identity.topic_prefix", .text(bytesMax: 64), default: "pgui/v1"),
        ConfigKeySpec("identity.credential_rotation_days", .integer(min: 0, max: 3_650), default: "365"),
        ConfigKeySpec("identity.credential_retry_s", .integer(min: 1, max: 86_400), default: "60"),
        ConfigKeySpec("identity.credential_requests_max", .integer(min: 1, max: 100), default: "5"),
        ConfigKeySpec("identity.rotation_day_s", .integer(min: 1, max: 86_400), default: "86400"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        keyRotationDays = v.int("identity.key_rotation_days")
        seqBlock = v.int("identity.seq_block")
        topicPrefix = v.string("identity.topic_prefix")
        credentialRotationDays = v.int("identity.credential_rotation_days")
        credentialRetryS = v.int("identity.credential_retry_s")
        credentialSendsMax = v.int("identity.credential_requests_max")
        rotationDayS = v.int("identity.rotation_day_s")
        let p = Array(topicPrefix.utf8)
        guard !p.isEmpty, p.first != 47, p.last != 47, !p.contains(43), !p.contains(35) else {
            throw v.error("identity.topic_prefix", "must be non-empty, without leading/trailing '/' or MQTT wildcards")
        }
    }
}
