/// The appliance's hooks into its image: the hardware watchdog PGUI pets, and the health marker the
/// init scripts wait for before they mark a freshly updated slot good (docs/image.md).
public struct ApplianceConfig: ConfigSection, Equatable {
    /// Watchdog device; empty = no watchdog (host runs, tests).
    public var watchdogDevice: String
    public var watchdogTimeoutS: Int64
    /// Write the magic 'V' on a clean stop, disarming the watchdog. Off by default: on a device, a
    /// PGUI that stops for any reason should end in a reset, not in a box that silently does nothing.
    public var watchdogMagicClose: Bool
    /// Marker file written once PGUI is healthy; empty = none.
    public var healthFile: String
    /// Interim health criterion (until the BAL link exists, issue 6): this many meter samples taken
    /// by a running event loop.
    public var healthSamples: Int64

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("watchdog.device", .text(bytesMax: 256), default: ""),
        ConfigKeySpec("watchdog.timeout_s", .integer(min: 2, max: 600), default: "15"),
        ConfigKeySpec("watchdog.magic_close", .boolean, default: "false"),
        ConfigKeySpec("appliance.health_file", .text(bytesMax: 1024), default: ""),
        ConfigKeySpec("appliance.health_samples", .integer(min: 1, max: 10_000), default: "3"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        watchdogDevice = v.string("watchdog.device")
        watchdogTimeoutS = v.int("watchdog.timeout_s")
        watchdogMagicClose = v.bool("watchdog.magic_close")
        healthFile = v.string("appliance.health_file")
        healthSamples = v.int("appliance.health_samples")
        for (key, value) in [("watchdog.device", watchdogDevice), ("appliance.health_file", healthFile)]
        where !value.isEmpty {
            if let problem = Config.check(value, against: .path) { throw v.error(key, problem) }
        }
    }
}
