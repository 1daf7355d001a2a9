/// OBIS codes (IEC 62056-61) and the one table that maps them to `Measurement` quantities, shared
/// by every OBIS-speaking meter family: DLMS/COSEM, DSMR P1, SML and IEC 62056-21 (docs/meters.md,
/// "OBIS → quantity").
///
/// Only value groups A (medium: 1 = electricity), C (quantity), D (processing: 7 = instantaneous,
/// 8 = time integral/energy) and E (tariff) select a quantity. B (channel) and F (billing period)
/// are ignored: meters fill them inconsistently (DSMR writes `1-0:`, SML `1-0:…*255`, many DLMS
/// meters B = 0 or 1), and a main meter has one channel.
public struct OBISCode: Equatable, Hashable, Sendable {
    public var a: UInt8, b: UInt8, c: UInt8, d: UInt8, e: UInt8, f: UInt8

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8 = 255) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.e = e; self.f = f
    }

    /// An electricity code `1-0:C.D.E*255`, the form the table is written in.
    public static func electricity(_ c: UInt8, _ d: UInt8, _ e: UInt8) -> OBISCode { OBISCode(1, 0, c, d, e) }

    /// The 6-byte binary form used by DLMS/COSEM logical names and SML object names.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 6 else { return nil }
        var i = bytes.startIndex
        var v: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
        v.0 = bytes[i]; i = bytes.index(after: i)
        v.1 = bytes[i]; i = bytes.index(after: i)
        v.2 = bytes[i]; i = bytes.index(after: i)
        v.3 = bytes[i]; i = bytes.index(after: i)
        v.4 = bytes[i]; i = bytes.index(after: i)
        v.5 = bytes[i]
        self.init(v.0, v.1, v.2, v.3, v.4, v.5)
    }

    /// Parses the text forms meters and configurations use: `1-0:1.8.0*255`, `1-0:1.8.0`,
    /// `1.8.0` (A = 1, B = 0 implied; IEC 62056-21 and DSMR short form), `0-0:96.1.0`, and the
    /// all-dots form `1.0.1.8.0.255`. Every group is a decimal 0...255; nothing else is accepted.
    public static func parse<C: Collection>(_ text: C) -> OBISCode? where C.Element == UInt8 {
        var groups: [Int] = []
        var separators: [UInt8] = []
        var current = -1
        for ch in text {
            if ch >= 48 && ch <= 57 {
                current = (current < 0 ? 0 : current) * 10 + Int(ch - 48)
                if current > 255 { return nil }
            } else if ch == 45 || ch == 58 || ch == 46 || ch == 42 {  // - : . *
                guard current >= 0, groups.count < 6 else { return nil }
                groups.append(current)
                separators.append(ch)
                current = -1
            } else {
                return nil
            }
        }
        guard current >= 0 else { return nil }
        groups.append(current)
        func g(_ i: Int) -> UInt8 { UInt8(groups[i]) }
        switch groups.count {
        case 3 where separators == [46, 46]:
            return .electricity(g(0), g(1), g(2))
        case 5 where separators == [45, 58, 46, 46]:
            return OBISCode(g(0), g(1), g(2), g(3), g(4))
        case 6 where separators == [45, 58, 46, 46, 42]:
            return OBISCode(g(0), g(1), g(2), g(3), g(4), g(5))
        case 6 where separators == [46, 46, 46, 46, 46]:
            return OBISCode(g(0), g(1), g(2), g(3), g(4), g(5))
        default:
            return nil
        }
    }

    /// `A-B:C.D.E*F`, for logs and documentation.
    public var text: String { "\(a)-\(b):\(c).\(d).\(e)*\(f)" }

    /// Whether two codes name the same quantity for this table (B and F ignored, see above).
    public func selects(_ other: OBISCode) -> Bool { a == other.a && c == other.c && d == other.d && e == other.e }
}

/// How a code contributes to its quantity. Meters split a signed quantity into an import and an
/// export register (IEC 62056-61: C = 1 is +P, C = 2 is −P), and energies into tariff registers
/// (DSMR 1.8.1 + 1.8.2); `Measurement` holds the signed net value (load convention: import positive)
/// and the total counter.
public enum OBISRole: Equatable, Sendable {
    /// The quantity itself (a signed register, or a total counter).
    case value
    /// The import part of a signed quantity: net = import − export.
    case importPart
    /// The export part of a signed quantity.
    case exportPart
    /// One tariff register of a counter: summed when the meter gives no total (E = 0) register.
    case tariff
    /// S+ or S− of an apparent power: a meter fills one of them, so the magnitude is their sum.
    case magnitudePart
}

public struct OBISEntry: Equatable, Sendable {
    public var code: OBISCode
    public var quantity: MeterQuantity
    public var role: OBISRole
    public init(_ code: OBISCode, _ quantity: MeterQuantity, _ role: OBISRole = .value) {
        self.code = code; self.quantity = quantity; self.role = role
    }
}

/// One reading as a decoder found it: a decimal `mantissa × 10^exponent` in `unit` (an SI unit
/// token with an optional m/k/M prefix, e.g. `kWh`, `V`, or `1` for a ratio). Integer arithmetic
/// end to end: no float rounding of energy counters.
public struct OBISReading: Equatable, Sendable {
    public var code: OBISCode
    public var mantissa: Int64
    public var exponent: Int
    public var unit: String
    public init(code: OBISCode, mantissa: Int64, exponent: Int, unit: String) {
        self.code = code; self.mantissa = mantissa; self.exponent = exponent; self.unit = unit
    }
}

public struct OBISTable: Equatable, Sendable {
    public private(set) var entries: [OBISEntry]

    public init(entries: [OBISEntry]) { self.entries = entries }

    /// The documented default (docs/meters.md). Instantaneous values are D = 7, energies D = 8.
    public static let standard: OBISTable = {
        typealias E = OBISEntry
        let o = OBISCode.electricity
        var e: [OBISEntry] = [
            // Sum active power: 16 is the signed sum (SML meters); 1/2 the import/export split.
            E(o(16, 7, 0), .activePower), E(o(1, 7, 0), .activePower, .importPart), E(o(2, 7, 0), .activePower, .exportPart),
            // Reactive: 3 = Q+ (QI+QII), 4 = Q− (QIII+QIV).
            E(o(3, 7, 0), .reactivePower, .importPart), E(o(4, 7, 0), .reactivePower, .exportPart),
            E(o(9, 7, 0), .apparentPower, .magnitudePart), E(o(10, 7, 0), .apparentPower, .magnitudePart),
            E(o(13, 7, 0), .powerFactor), E(o(14, 7, 0), .frequency),
            E(o(1, 8, 0), .energyImport), E(o(2, 8, 0), .energyExport),
            E(o(3, 8, 0), .reactiveEnergyImport), E(o(4, 8, 0), .reactiveEnergyExport),
        ]
        // Tariff registers 1…4 sum into the counter when the meter sends no total (DSMR: 1.8.1 + 1.8.2).
        for t: UInt8 in 1...4 {
            e += [E(o(1, 8, t), .energyImport, .tariff), E(o(2, 8, t), .energyExport, .tariff),
                  E(o(3, 8, t), .reactiveEnergyImport, .tariff), E(o(4, 8, t), .reactiveEnergyExport, .tariff)]
        }
        // Per phase: L1 C = 21…, L2 C = 41…, L3 C = 61… (C + 20 per phase); voltage 32/52/72, current 31/51/71,
        // signed active power 36/56/76 (SML), import/export 21/22, Q+/Q− 23/24, S+ 29.
        for p in 1...3 {
            let base = UInt8(20 * p)
            e += [
                E(o(base + 12, 7, 0), .voltage(phase: p)), E(o(base + 11, 7, 0), .current(phase: p)),
                E(o(base + 16, 7, 0), .phaseActivePower(phase: p)),
                E(o(base + 1, 7, 0), .phaseActivePower(phase: p), .importPart),
                E(o(base + 2, 7, 0), .phaseActivePower(phase: p), .exportPart),
                E(o(base + 3, 7, 0), .phaseReactivePower(phase: p), .importPart),
                E(o(base + 4, 7, 0), .phaseReactivePower(phase: p), .exportPart),
                E(o(base + 9, 7, 0), .phaseApparentPower(phase: p), .magnitudePart),
                E(o(base + 10, 7, 0), .phaseApparentPower(phase: p), .magnitudePart),
            ]
        }
        return OBISTable(entries: e)
    }()

    /// A meter that differs: `quantity` is read from `code` alone (as a `.value`), replacing every
    /// default entry of that quantity (`meter.obis.<quantity> = <code>`).
    public func overriding(_ quantity: MeterQuantity, with code: OBISCode) -> OBISTable {
        var e = entries.filter { $0.quantity != quantity && !$0.code.selects(code) }
        e.append(OBISEntry(code, quantity))
        return OBISTable(entries: e)
    }

    public func entryIndex(for code: OBISCode) -> Int? { entries.firstIndex { $0.code.selects(code) } }
}

/// Collects the readings of one telegram/frame and turns them into a `Measurement`. Its storage is
/// sized once from the table, so a steady stream of telegrams allocates nothing (the acquisition
/// thread's budget, docs/meters.md).
public struct OBISAccumulator {
    public let table: OBISTable
    private var values: [Int64]
    private var present: [Bool]
    /// Per quantity in `MeterQuantity.all` order: the entry indexes that feed it.
    private let feeds: [[Int]]
    /// Readings whose code the table does not know (ignored) and readings refused, this telegram.
    public private(set) var unknown = 0

    public init(table: OBISTable) {
        self.table = table
        values = Array(repeating: 0, count: table.entries.count)
        present = Array(repeating: false, count: table.entries.count)
        feeds = MeterQuantity.all.map { q in table.entries.indices.filter { table.entries[$0].quantity == q } }
    }

    public mutating func reset() {
        for i in present.indices { present[i] = false }
        unknown = 0
    }

    public enum Problem: Error, Equatable {
        /// The unit does not fit the quantity the code names (e.g. `kWh` on 1.7.0).
        case unit(code: OBISCode, unit: String)
        /// The value does not fit a 64-bit integer in the stored unit.
        case overflow(code: OBISCode)

        public var description: String {
            switch self {
            case .unit(let code, let unit): "OBIS \(code.text): unit '\(unit)' does not fit the quantity"
            case .overflow(let code): "OBIS \(code.text): value does not fit a 64-bit integer in the stored unit"
            }
        }
    }

    /// Counts a reading the decoder skipped without parsing (its code is not in the table).
    public mutating func countUnknown() { unknown += 1 }

    /// Adds one reading; a code outside the table is counted and ignored (meters send much more
    /// than a `Measurement` holds: tariff indicators, messages, gas readings).
    public mutating func add(_ r: OBISReading) throws(Problem) {
        guard let i = table.entryIndex(for: r.code) else { unknown += 1; return }
        let q = table.entries[i].quantity
        guard let unitExp = q.unitExponent(r.unit) else { throw .unit(code: r.code, unit: r.unit) }
        guard let v = RegisterDecoding.scale(r.mantissa, mantissa: 1, exponent: r.exponent + unitExp - q.storedExponent) else {
            throw .overflow(code: r.code)
        }
        values[i] = v
        present[i] = true
    }

    /// The measurement from what was added since `reset()`: a `.value` entry wins; else import −
    /// export; else the sum of S+/S− or of the tariffs. Quantities nobody sent stay nil ("not available").
    public func measurement(timestampMs: Int64, quality: QualityFlags) -> Measurement {
        var m = Measurement(timestampMs: timestampMs, quality: quality)
        for (qi, q) in MeterQuantity.all.enumerated() {
            var direct: Int64? = nil
            var imp: Int64? = nil, exp: Int64? = nil, tariffs: Int64? = nil, magnitude: Int64? = nil
            var overflow = false
            for i in feeds[qi] where present[i] {
                let v = values[i]
                switch table.entries[i].role {
                case .value: direct = v
                case .importPart: imp = v
                case .exportPart: exp = v
                case .tariff:
                    let (s, o) = (tariffs ?? 0).addingReportingOverflow(v)
                    overflow = overflow || o
                    tariffs = s
                case .magnitudePart:
                    let (s, o) = (magnitude ?? 0).addingReportingOverflow(v)
                    overflow = overflow || o
                    magnitude = s
                }
            }
            var out: Int64? = direct
            if out == nil, imp != nil || exp != nil {
                let (d, o) = (imp ?? 0).subtractingReportingOverflow(exp ?? 0)
                out = o ? nil : d
            }
            if out == nil, !overflow { out = magnitude ?? tariffs }
            if let out { q.store(out, in: &m) }
        }
        return m
    }
}
