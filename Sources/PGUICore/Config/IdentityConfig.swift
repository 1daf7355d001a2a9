public struct IdentityConfig: ConfigSection, Equatable {
    /// 0 = rotate only on `pgui identity rotate`.
    public var keyRotationDays: Int64
    /// Sequence numbers reserved per disk write; a crash skips at most this many.
    public var seqBlock: Int64
    /// BAL topic prefix (`<prefix>/<device>/keys`, `…/credentials/{csr,cert}`).
    public var topicPrefix: String

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("identity.key_rotation_days", .integer(min: 0, max: 3_650), default: "365"),
        ConfigKeySpec("identity.seq_block", .integer(min: 1, max: 1_000_000), default: "1000"),
        ConfigKeySpec("identity.topic_prefix", .text(bytesMax: 64), default: "pgui/v1"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        keyRotationDays = v.int("identity.key_rotation_days")
        seqBlock = v.int("identity.seq_block")
        topicPrefix = v.string("identity.topic_prefix")
        let p = Array(topicPrefix.utf8)
        guard !p.isEmpty, p.first != 47, p.last != 47, !p.contains(43), !p.contains(35) else {
            throw v.error("identity.topic_prefix", "must be non-empty, without leading/trailing '/' or MQTT wildcards")
        }
    }
}
