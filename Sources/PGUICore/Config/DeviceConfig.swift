/// `device.mode`: a field device refuses configurations that cannot do the job in the field
/// (simulated or missing meter, BAL or DSO link disabled); `demo` allows them (make demo, tests).
public enum DeviceMode: String, Equatable, Sendable {
    case field
    case demo
}

public struct DeviceConfig: ConfigSection, Equatable {
    public var deviceId: String
    public var dataDir: String
    public var logLevel: LogLevel
    public var mode: DeviceMode

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("device.id", .identifier(bytesMax: 64), default: nil),
        ConfigKeySpec("data.dir", .path, default: nil),
        ConfigKeySpec("log.level", .choice(["error", "warn", "info", "debug"]), default: "info"),
        // The default is the safe one: only a file that says `demo` explicitly may run a demo set-up.
        ConfigKeySpec("device.mode", .choice(["field", "demo"]), default: "field"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        deviceId = v.string("device.id")
        dataDir = v.string("data.dir")
        logLevel = LogLevel(name: v.string("log.level"))!
        mode = DeviceMode(rawValue: v.string("device.mode"))!
    }
}
