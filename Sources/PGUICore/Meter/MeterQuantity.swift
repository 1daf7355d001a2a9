/// The quantities of `Measurement` a meter can fill, with the names the register map uses
/// (`meter.map.<name>`) and the fixed unit each is stored in.
public enum MeterQuantity: Equatable, Sendable {
    case activePower, reactivePower, apparentPower, powerFactor, frequency
    case energyImport, energyExport, reactiveEnergyImport, reactiveEnergyExport
    case status
    case voltage(phase: Int)
    case current(phase: Int)
    case phaseActivePower(phase: Int)
    case phaseReactivePower(phase: Int)
    case phaseApparentPower(phase: Int)

    public static let all: [MeterQuantity] = {
        var a: [MeterQuantity] = [
            .activePower, .reactivePower, .apparentPower, .powerFactor, .frequency,
            .energyImport, .energyExport, .reactiveEnergyImport, .reactiveEnergyExport, .status,
        ]
        for p in 1...3 {
            a += [.voltage(phase: p), .current(phase: p), .phaseActivePower(phase: p),
                  .phaseReactivePower(phase: p), .phaseApparentPower(phase: p)]
        }
        return a
    }()

    public var name: String {
        switch self {
        case .activePower: "active_power"
        case .reactivePower: "reactive_power"
        case .apparentPower: "apparent_power"
        case .powerFactor: "power_factor"
        case .frequency: "frequency"
        case .energyImport: "energy_import"
        case .energyExport: "energy_export"
        case .reactiveEnergyImport: "reactive_energy_import"
        case .reactiveEnergyExport: "reactive_energy_export"
        case .status: "status"
        case .voltage(let p): "l\(p)_voltage"
        case .current(let p): "l\(p)_current"
        case .phaseActivePower(let p): "l\(p)_active_power"
        case .phaseReactivePower(let p): "l\(p)_reactive_power"
        case .phaseApparentPower(let p): "l\(p)_apparent_power"
        }
    }

    public init?(name: String) {
        guard let q = Self.all.first(where: { $0.name == name }) else { return nil }
        self = q
    }

    /// The SI unit a register-map line states its unit in, before any prefix (`1` = a ratio).
    public var baseUnit: String {
        switch self {
        case .activePower, .phaseActivePower: "W"
        case .reactivePower, .phaseReactivePower: "var"
        case .apparentPower, .phaseApparentPower: "VA"
        case .powerFactor, .status: "1"
        case .frequency: "Hz"
        case .voltage: "V"
        case .current: "A"
        case .energyImport, .energyExport: "Wh"
        case .reactiveEnergyImport, .reactiveEnergyExport: "varh"
        }
    }

    /// Power of ten of the stored unit relative to `baseUnit`: mV, mA, mHz and PF in thousandths are -3.
    public var storedExponent: Int {
        switch self {
        case .voltage, .current, .frequency, .powerFactor: -3
        default: 0
        }
    }

    /// The unit `Measurement` stores this quantity in (docs/meters.md).
    public var storedUnit: String {
        switch self {
        case .voltage: "mV"
        case .current: "mA"
        case .frequency: "mHz"
        case .powerFactor: "1/1000"
        case .status: "bits"
        default: baseUnit
        }
    }

    /// Power of ten a unit token means for this quantity (`kW` for a power → 3), nil when the unit
    /// does not fit the quantity. Prefixes: m, k, M; ratios accept `1` and `%`.
    public func unitExponent(_ unit: String) -> Int? {
        if baseUnit == "1" {
            if unit == "1" { return 0 }
            if unit == "%" && self != .status { return -2 }
            return nil
        }
        if unit == baseUnit { return 0 }
        // On the UTF-8 views, not copies: decoders call this per reading (no allocation per telegram).
        let u = unit.utf8
        let b = baseUnit.utf8
        guard let first = u.first, u.count == b.count + 1, u.dropFirst().elementsEqual(b) else { return nil }
        switch first {
        case 109: return -3  // m
        case 107: return 3  // k
        case 77: return 6  // M
        default: return nil
        }
    }

    /// Stores a value already converted to the stored unit.
    public func store(_ v: Int64?, in m: inout Measurement) {
        switch self {
        case .activePower: m.activePowerW = v
        case .reactivePower: m.reactivePowerVar = v
        case .apparentPower: m.apparentPowerVa = v
        case .powerFactor: m.powerFactorMilli = v
        case .frequency: m.frequencyMhz = v
        case .energyImport: m.energyImportWh = v
        case .energyExport: m.energyExportWh = v
        case .reactiveEnergyImport: m.reactiveEnergyImportVarh = v
        case .reactiveEnergyExport: m.reactiveEnergyExportVarh = v
        case .status: m.meterStatus = v.map { UInt32(truncatingIfNeeded: $0) }
        case .voltage(let p): Self.withPhase(p, &m) { $0.voltageMv = v }
        case .current(let p): Self.withPhase(p, &m) { $0.currentMa = v }
        case .phaseActivePower(let p): Self.withPhase(p, &m) { $0.activePowerW = v }
        case .phaseReactivePower(let p): Self.withPhase(p, &m) { $0.reactivePowerVar = v }
        case .phaseApparentPower(let p): Self.withPhase(p, &m) { $0.apparentPowerVa = v }
        }
    }

    static func withPhase(_ p: Int, _ m: inout Measurement, _ body: (inout PhaseValues) -> Void) {
        switch p {
        case 1: body(&m.l1)
        case 2: body(&m.l2)
        default: body(&m.l3)
        }
    }
}
