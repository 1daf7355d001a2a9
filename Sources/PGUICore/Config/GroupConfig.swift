/// Grouping of samples into signed measurement groups (docs/meters.md).
public struct GroupConfig: ConfigSection, Equatable {
    public var windowS: Int64

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("group.window_s", .integer(min: 1, max: 60), default: "10"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        windowS = v.int("group.window_s")
        // Every window must hold the same whole number of periods, so groups are comparable.
        let periodMs = v.int("meter.period_ms")
        if (windowS * 1_000) % periodMs != 0 {
            throw v.error("group.window_s", "\(windowS) s is not a whole multiple of meter.period_ms = \(periodMs)")
        }
    }
}
