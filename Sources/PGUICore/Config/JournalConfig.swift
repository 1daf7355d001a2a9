/// `journal.*`: the 48-hour store-and-forward ring (docs/journal.md).
public struct JournalConfig: ConfigSection, Equatable {
    public var retentionHours: Int64
    public var recordBytesMax: Int64
    /// One record per group: the nominal `group.window_s` (the effective window is never shorter, so
    /// the ring never holds fewer than `retention_hours` of groups).
    public var groupWindowS: Int64
    public var policy: JournalPolicy
    /// Upper estimate of one signed group at the configured window and period.
    public var estimatedGroupBytes: Int64

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("journal.retention_hours", .integer(min: 48, max: 720), default: "48"),
        ConfigKeySpec("journal.record_bytes_max", .integer(min: 64, max: 65_504), default: "4064"),
        ConfigKeySpec("journal.sync", .choice(["every-group", "every-n"]), default: "every-group"),
        ConfigKeySpec("journal.sync_every_n", .integer(min: 1, max: Int64(JournalGeometry.uncommittedMax)), default: "8"),
        ConfigKeySpec("journal.hint_interval_s", .integer(min: 1, max: 3_600), default: "60"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        retentionHours = v.int("journal.retention_hours")
        // A group's JWS grows with its samples (≈ 470 bytes per fully populated 3-phase sample after
        // base64url, plus header and signature). The default follows the configured window and period;
        // an explicit smaller value is honoured (small meters, tests) and `pgui run` warns about it.
        let samples = (v.int("group.window_s") * 1_000 + v.int("meter.period_ms") - 1) / v.int("meter.period_ms") + 1
        estimatedGroupBytes = 512 + samples * 480
        if v.isSet("journal.record_bytes_max") {
            recordBytesMax = v.int("journal.record_bytes_max")
        } else {
            recordBytesMax = min(65_504, max(4_064, (estimatedGroupBytes + 511) / 512 * 512 - 32))
        }
        groupWindowS = v.int("group.window_s")
        policy = JournalPolicy()
        if v.string("journal.sync") == "every-n" {
            policy.sync = .everyN(Int(v.int("journal.sync_every_n")))
        } else if v.isSet("journal.sync_every_n") {
            throw v.error("journal.sync_every_n", "only applies with journal.sync = every-n")
        }
        policy.hintIntervalMs = v.int("journal.hint_interval_s") * 1_000
        if let p = geometry.problem { throw v.error("journal.retention_hours", "the ring would be unusable: \(p)") }
    }

    public var geometry: JournalGeometry {
        JournalGeometry.forRetention(hours: retentionHours, groupWindowS: groupWindowS, recordBytesMax: recordBytesMax)
    }
}
