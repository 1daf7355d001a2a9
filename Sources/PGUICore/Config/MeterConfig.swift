public struct SimulatedMeterConfig: Equatable {
    public var baseLoadW: Int64 = 2_000
    public var loadSwingW: Int64 = 1_500
    public var pvPeakW: Int64 = 3_000
    public var profilePeriodS: Int64 = 86_400
    public var seed: Int64 = 1
    public init() {}
}

public struct MeterConfig: ConfigSection, Equatable {
    public var kind: String
    public var periodMs: Int64
    public var simulated = SimulatedMeterConfig()

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("meter.kind", .choice(["simulated"]), default: "simulated"),
        ConfigKeySpec("meter.period_ms", .integer(min: 100, max: 60_000), default: "1000"),
        ConfigKeySpec("meter.sim.base_load_w", .integer(min: 0, max: 1_000_000), default: "2000"),
        ConfigKeySpec("meter.sim.load_swing_w", .integer(min: 0, max: 1_000_000), default: "1500"),
        ConfigKeySpec("meter.sim.pv_peak_w", .integer(min: 0, max: 1_000_000), default: "3000"),
        ConfigKeySpec("meter.sim.profile_period_s", .integer(min: 10, max: 604_800), default: "86400"),
        ConfigKeySpec("meter.sim.seed", .integer(min: 0, max: Int64.max), default: "1"),
    ]

    public init(_ v: ConfigValues) throws(ConfigError) {
        kind = v.string("meter.kind")
        periodMs = v.int("meter.period_ms")
        simulated.baseLoadW = v.int("meter.sim.base_load_w")
        simulated.loadSwingW = v.int("meter.sim.load_swing_w")
        simulated.pvPeakW = v.int("meter.sim.pv_peak_w")
        simulated.profilePeriodS = v.int("meter.sim.profile_period_s")
        simulated.seed = v.int("meter.sim.seed")
    }
}
