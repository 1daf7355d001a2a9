/// `dso.*`: the set-point schedule's limits and the DSO link (docs/setpoints.md).
public struct DSOConfig: ConfigSection, Equatable {
    public var limits: ScheduleLimits
    /// A schedule message applied at start-up (tests, demos, manual operation); "" = none.
    public var scheduleFile: String

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("dso.slot_s", .integer(min: 60, max: 3_600), default: "900"),
        ConfigKeySpec("dso.horizon_s", .integer(min: 3_600, max: 2_678_400), default: "604800"),
        ConfigKeySpec("dso.p_min_w", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "-1000000"),
        ConfigKeySpec("dso.p_max_w", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "1000000"),
        ConfigKeySpec("dso.q_min_var", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "-1000000"),
        ConfigKeySpec("dso.q_max_var", .integer(min: -2_147_483_647, max: 2_147_483_647), default: "1000000"),
        ConfigKeySpec("dso.message_bytes_max", .integer(min: 1_024, max: 262_144), default: "65536"),
        ConfigKeySpec("dso.schedule_file", .path, default: ""),
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
        guard 86_400 % limits.slotS == 0 else { throw v.error("dso.slot_s", "\(limits.slotS) does not divide a day (86400 s)") }
        guard limits.pMinW <= limits.pMaxW else { throw v.error("dso.p_max_w", "is below dso.p_min_w") }
        guard limits.qMinVar <= limits.qMaxVar else { throw v.error("dso.q_max_var", "is below dso.q_min_var") }
        guard limits.slotsMax <= 4_096 else {
            throw v.error("dso.horizon_s", "\(limits.slotsMax) slots of \(limits.slotS) s; at most 4096 are kept")
        }
    }
}
