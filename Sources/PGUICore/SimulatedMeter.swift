/// A deterministic meter for demos and tests: a household load that swings over the profile period,
/// a PV system producing around "noon" of the period, and a little seeded noise. The same seed and
/// timestamps always give the same values on every architecture (integer arithmetic only).
public struct SimulatedMeter: MeterSource {
    public let config: SimulatedMeterConfig
    public let meterId: String
    private var lastMs: Int64? = nil
    /// Energy counters in milli-watt-hours so that 1 s samples of a few watts still accumulate.
    private var importMwh: Int64 = 0
    private var exportMwh: Int64 = 0

    public init(config: SimulatedMeterConfig, meterId: String = "sim-0001") {
        self.config = config
        self.meterId = meterId
    }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        let periodMs = config.profilePeriodS * 1_000
        let phase = Int64(((wallMs % periodMs) + periodMs) % periodMs)  // 0..<periodMs
        let loadW = config.baseLoadW + config.loadSwingW * Self.wave(phase, periodMs) / 1_000
            + Self.noise(seed: config.seed, t: wallMs / 1_000) % 50
        // PV follows the positive half of a wave shifted so production peaks mid-period.
        let pvShape = Self.wave((phase + periodMs / 4) % periodMs, periodMs)
        let pvW = pvShape > 0 ? config.pvPeakW * pvShape / 1_000 : 0
        let netW = loadW - pvW

        if let last = lastMs, wallMs > last {
            let mwh = netW * (wallMs - last) / 3_600  // W·ms → mWh
            if mwh >= 0 { importMwh += mwh } else { exportMwh -= mwh }
        }
        lastMs = wallMs

        var m = Measurement(timestampMs: wallMs, quality: clockSynced ? [.simulated] : [.simulated, .clockUnsynced])
        m.activePowerW = netW
        m.reactivePowerVar = netW / 5
        m.apparentPowerVa = Self.hypot(netW, netW / 5)
        m.powerFactorMilli = m.apparentPowerVa == 0 ? 1_000 : abs(netW) * 1_000 / m.apparentPowerVa!
        m.frequencyMhz = 50_000 + Self.noise(seed: config.seed &+ 1, t: wallMs / 1_000) % 40 - 20
        for i in 0..<3 {
            var p = PhaseValues()
            p.voltageMv = 230_000 + Self.noise(seed: config.seed &+ 2 &+ Int64(i), t: wallMs / 1_000) % 4_000 - 2_000
            p.activePowerW = netW / 3
            p.reactivePowerVar = netW / 15
            p.apparentPowerVa = Self.hypot(netW / 3, netW / 15)
            p.currentMa = p.apparentPowerVa! * 1_000_000 / p.voltageMv!
            if i == 0 { m.l1 = p } else if i == 1 { m.l2 = p } else { m.l3 = p }
        }
        m.energyImportWh = importMwh / 1_000
        m.energyExportWh = exportMwh / 1_000
        return m
    }

    /// A sine-like wave in thousandths (-1000...1000) from a parabola per half period (Bhaskara-free,
    /// integer only; shape error < 6 %, which a simulated load does not mind).
    static func wave(_ t: Int64, _ period: Int64) -> Int64 {
        let half = period / 2
        let x = t % half  // position inside the half period
        let v = 4_000 * x * (half - x) / (half * half)  // 0 at the ends, 1000 in the middle
        return t < half ? v : -v
    }

    /// Deterministic noise in 0..<2^31 from (seed, t) — SplitMix64 finaliser.
    static func noise(seed: Int64, t: Int64) -> Int64 {
        var z = UInt64(bitPattern: seed) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(bitPattern: t)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return Int64(z >> 33)
    }

    /// Integer sqrt(a² + b²) by Newton's method.
    static func hypot(_ a: Int64, _ b: Int64) -> Int64 {
        let n = a * a + b * b
        if n == 0 { return 0 }
        var x = n
        var y = (x + 1) / 2
        while y < x {
            x = y
            y = (x + n / x) / 2
        }
        return x
    }
}
