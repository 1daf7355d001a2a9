public struct DeviceConfig: ConfigSection, Equatable {
    public var deviceId: String
    public var dataDir: String
    public var logLevel: LogLevel

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("device.id", .identifier(bytesMax: 64), default: nil),
        ConfigKeySpec("data.dir", .path, default: nil),
        ConfigKeySpec("log.level", .choice(["error", "warn", "info", "debug"]), default: "info"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        deviceId = v.string("device.id")
        dataDir = v.string("data.dir")
        logLevel = LogLevel(name: v.string("log.level"))!
    }
}
