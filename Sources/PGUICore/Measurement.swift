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
    /// No connection to the meter (connect failed or waiting in reconnect back-off); a gap marker.
    public static let disconnected = QualityFlags(rawValue: 1 << 4)
    /// Flags that mark a sample as a gap (no values).
    public static let gapReasons: QualityFlags = [.timeout, .invalid, .disconnected]
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

    /// True for gap markers (the meter gave no usable values for this instant).
    public var isGap: Bool { !quality.intersection(.gapReasons).isEmpty }

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
    /// The meter answered, but is not what the configuration describes (no SunSpec marker, no
    /// supported meter model): reconnecting will not help until the meter or the config changes.
    case unsupported(String)
    /// A frame arrived but was refused without doubting the link: it failed authentication, replayed
    /// an invocation counter, or carried nothing usable (DLMS pushes). A gap `invalid`, link kept.
    case refused(String)

    public var description: String {
        switch self {
        case .timeout: "meter did not answer in time"
        case .exception(let code): "meter answered with Modbus exception \(code)"
        case .invalidResponse(let why): "meter answered with an unusable value: \(why)"
        case .disconnected(let why): "meter link down: \(why)"
        case .unsupported(let why): "meter not usable as configured: \(why)"
        case .refused(let why): "meter frame refused: \(why)"
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
    /// Drops the connection and anything learned from it (e.g. a discovered SunSpec layout), so the
    /// next read starts afresh. Called after a timeout or garbage, where the link may be out of step.
    mutating func reset()
    /// What the source learned about the meter on (re)connecting, for the log; nil when nothing.
    var discoveredLayout: String? { get }
}

extension MeterSource {
    public mutating func reset() {}
    public var discoveredLayout: String? { nil }
}

extension MeterError {
    /// The quality flag a gap caused by this error carries.
    public var gapReason: QualityFlags {
        switch self {
        case .timeout: .timeout
        case .exception, .invalidResponse, .unsupported, .refused: .invalid
        case .disconnected: .disconnected
        }
    }

    /// Whether the link should be dropped and rebuilt (with back-off) after this error. An exception
    /// response proves the link works, so it is kept.
    public var needsReconnect: Bool {
        switch self {
        case .exception, .refused: false
        default: true
        }
    }
}
