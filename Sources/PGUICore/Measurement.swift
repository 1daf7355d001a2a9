/// The one measurement structure every meter source fills (docs/measurements.md). Integers in fixed
/// units so that nothing depends on float formatting across architectures; nil = the meter does not
/// provide the quantity ("not available"), which is different from zero.
/// Sign convention: positive active/reactive power = import from the grid (load convention).

public struct PhaseValues: Equatable {
    public var voltageMv: Int64? = nil
    public var currentMa: Int64? = nil
    public var activePowerW: Int64? = nil
    public var reactivePowerVar: Int64? = nil
    public var apparentPowerVa: Int64? = nil
    public init() {}
}

public struct QualityFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The wall clock was not plausible/synchronised when the sample was taken.
    public static let clockUnsynced = QualityFlags(rawValue: 1 << 0)
    /// The meter did not answer in time; the sample is a gap marker with no values.
    public static let timeout = QualityFlags(rawValue: 1 << 1)
    /// The meter answered with an exception or an unusable value.
    public static let invalid = QualityFlags(rawValue: 1 << 2)
    /// Values come from the simulated meter, not a real one.
    public static let simulated = QualityFlags(rawValue: 1 << 3)
}

public struct Measurement: Equatable {
    public var timestampMs: Int64
    public var quality: QualityFlags
    public var activePowerW: Int64? = nil
    public var reactivePowerVar: Int64? = nil
    public var apparentPowerVa: Int64? = nil
    public var powerFactorMilli: Int64? = nil
    public var frequencyMhz: Int64? = nil
    public var l1 = PhaseValues()
    public var l2 = PhaseValues()
    public var l3 = PhaseValues()
    public var energyImportWh: Int64? = nil
    public var energyExportWh: Int64? = nil
    public var reactiveEnergyImportVarh: Int64? = nil
    public var reactiveEnergyExportVarh: Int64? = nil
    /// Meter-specific status word (e.g. SunSpec event bits), passed through.
    public var meterStatus: UInt32? = nil

    public init(timestampMs: Int64, quality: QualityFlags) {
        self.timestampMs = timestampMs
        self.quality = quality
    }

    /// A gap marker: the time a read was due, the reason, and no values.
    public static func gap(at timestampMs: Int64, reason: QualityFlags) -> Measurement {
        Measurement(timestampMs: timestampMs, quality: reason)
    }
}

public enum MeterError: Error, Equatable {
    case timeout
    case exception(code: Int)
    case invalidResponse(String)
    case disconnected(String)

    public var description: String {
        switch self {
        case .timeout: "meter did not answer in time"
        case .exception(let code): "meter answered with Modbus exception \(code)"
        case .invalidResponse(let why): "meter answered with an unusable value: \(why)"
        case .disconnected(let why): "meter connection lost: \(why)"
        }
    }
}

/// A main meter behind some transport. Used through generics (Embedded Swift has no existentials
/// of non-class protocols), one implementation per transport.
public protocol MeterSource {
    /// A stable identifier of the meter (serial number when the meter reports one).
    var meterId: String { get }
    /// Reads one sample for the instant `wallMs`. Blocking is allowed: sources run on the
    /// acquisition thread, never on the event loop.
    mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement
}
