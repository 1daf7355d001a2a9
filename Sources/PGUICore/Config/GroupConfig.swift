/// Grouping of samples into signed measurement groups (docs/meters.md).
public struct GroupConfig: ConfigSection, Equatable {
    /// Window length; always a whole multiple of `meter.period_ms`, so every window holds the same
    /// number of samples.
    public var windowMs: Int64

    public static let defaultWindowS: Int64 = 10

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("group.window_s", .integer(min: 1, max: 60), default: "\(defaultWindowS)"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        let periodMs = v.int("meter.period_ms")
        let windowS = v.int("group.window_s")
        if v.isSet("group.window_s") {
            guard (windowS * 1_000) % periodMs == 0 else {
                throw v.error("group.window_s", "\(windowS) s is not a whole multiple of meter.period_ms = \(periodMs)")
            }
            windowMs = windowS * 1_000
        } else {
            // Default: 10 s, stretched to the next whole number of periods when the period does not divide it.
            windowMs = (windowS * 1_000 + periodMs - 1) / periodMs * periodMs
        }
    }
}
