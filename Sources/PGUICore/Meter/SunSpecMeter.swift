/// SunSpec meters (SunSpec Information Model, models 201–204 "integer + scale factor" and 211–214
/// "float"): the "SunS" marker is searched at the configured base or at 40000, 50000 and 0, the model
/// chain is walked to the first meter model, and each sample reads that model's block in one request.
public struct SunSpecMeter<R: RegisterReader>: MeterSource {
    public let meterId: String
    public var reader: R
    /// nil = try the well-known bases.
    public let configuredBase: Int?
    public private(set) var layout: SunSpecLayout? = nil
    private var buffer: [UInt16]

    public static var wellKnownBases: [Int] { [40_000, 50_000, 0] }
    /// "SunS" as two big-endian registers.
    public static var marker: (UInt16, UInt16) { (0x5375, 0x6E53) }
    /// Bound on the model chain walk: a real device has a handful of models.
    public static var modelsMax: Int { 64 }
    public static var intModelLength: Int { 105 }
    public static var floatModelLength: Int { 124 }

    public init(reader: R, base: Int?, meterId: String) {
        self.reader = reader
        self.configuredBase = base
        self.meterId = meterId
        self.buffer = [UInt16](repeating: 0, count: registersPerReadMax)
    }

    public var discoveredLayout: String? { layout?.description }

    public mutating func reset() {
        reader.disconnect()
        layout = nil
    }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        if layout == nil { layout = try discover() }
        let l = layout!
        try reader.read(.holding, address: l.bodyAddress, count: l.length, into: &buffer)
        var m = Measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
        if l.isFloat { decodeFloat(&m) } else { try decodeInt(&m) }
        return m
    }

    /// Finds the marker and the first meter model. Timeouts and lost links pass through (the
    /// acquisition retries); an exception at a candidate base just means "not here".
    public mutating func discover() throws(MeterError) -> SunSpecLayout {
        let bases = configuredBase.map { [$0] } ?? Self.wellKnownBases
        var tried = ""
        for base in bases {
            tried += tried.isEmpty ? "\(base)" : ", \(base)"
            do throws(MeterError) {
                try reader.read(.holding, address: base, count: 2, into: &buffer)
            } catch {
                if case .exception = error { continue }
                throw error
            }
            guard buffer[0] == Self.marker.0 && buffer[1] == Self.marker.1 else { continue }
            return try walk(base: base)
        }
        throw .unsupported("no SunSpec 'SunS' marker at holding register \(tried)")
    }

    mutating func walk(base: Int) throws(MeterError) -> SunSpecLayout {
        var address = base + 2
        var serial = ""
        for _ in 0..<Self.modelsMax {
            guard address + 2 <= 65_536 else { break }
            try reader.read(.holding, address: address, count: 2, into: &buffer)
            let id = Int(buffer[0])
            let length = Int(buffer[1])
            if id == 0xFFFF { break }
            let body = address + 2
            if id == 1 && length >= 64 {
                try reader.read(.holding, address: body + 48, count: 16, into: &buffer)
                serial = Self.text(buffer, count: 16)
            }
            if (201...204).contains(id) || (211...214).contains(id) {
                let isFloat = id >= 211
                let expected = isFloat ? Self.floatModelLength : Self.intModelLength
                guard length >= expected, body + expected <= 65_536 else {
                    throw .invalidResponse("SunSpec model \(id) at \(address) has length \(length), expected \(expected)")
                }
                return SunSpecLayout(base: base, model: id, bodyAddress: body, length: expected, isFloat: isFloat, serialNumber: serial)
            }
            address = body + length
        }
        throw .unsupported("SunSpec marker at \(base) but no meter model 201-204 or 211-214 in the model list")
    }

    /// A SunSpec string: two ASCII bytes per register, NUL-padded; non-printable bytes dropped.
    static func text(_ b: [UInt16], count: Int) -> String {
        var bytes: [UInt8] = []
        for i in 0..<count {
            for c in [UInt8(b[i] >> 8), UInt8(b[i] & 0xFF)] {
                if c == 0 { return string(bytes[...]) }
                if c > 32 && c < 127 { bytes.append(c) }
            }
        }
        return string(bytes[...])
    }

    // Offsets inside models 201–204 (after ID and L).
    func decodeInt(_ m: inout Measurement) throws(MeterError) {
        let b = buffer
        func sf(_ o: Int) throws(MeterError) -> Int? {
            let v = Int16(bitPattern: b[o])
            if v == Int16.min { return nil }  // not implemented
            guard v >= -10 && v <= 10 else { throw .invalidResponse("SunSpec scale factor \(v) at offset \(o) is outside -10...10") }
            return Int(v)
        }
        func int16(_ o: Int, _ sfo: Int, _ q: MeterQuantity, unitExp: Int = 0) throws(MeterError) -> Int64? {
            let v = Int16(bitPattern: b[o])
            guard v != Int16.min, let s = try sf(sfo) else { return nil }
            return RegisterDecoding.scale(Int64(v), mantissa: 1, exponent: s + unitExp - q.storedExponent)
        }
        func acc32(_ o: Int, _ s: Int?) -> Int64? {
            let v = UInt32(b[o]) << 16 | UInt32(b[o + 1])
            guard v != 0, let s else { return nil }  // 0 = "not accumulated" in SunSpec
            return RegisterDecoding.scale(Int64(v), mantissa: 1, exponent: s)
        }
        let pctExp = -2  // SunSpec PF is in percent
        m.l1.currentMa = try int16(1, 4, .current(phase: 1))
        m.l2.currentMa = try int16(2, 4, .current(phase: 2))
        m.l3.currentMa = try int16(3, 4, .current(phase: 3))
        m.l1.voltageMv = try int16(6, 13, .voltage(phase: 1))
        m.l2.voltageMv = try int16(7, 13, .voltage(phase: 2))
        m.l3.voltageMv = try int16(8, 13, .voltage(phase: 3))
        m.frequencyMhz = try int16(14, 15, .frequency)
        m.activePowerW = try int16(16, 20, .activePower)
        m.l1.activePowerW = try int16(17, 20, .activePower)
        m.l2.activePowerW = try int16(18, 20, .activePower)
        m.l3.activePowerW = try int16(19, 20, .activePower)
        m.apparentPowerVa = try int16(21, 25, .apparentPower)
        m.l1.apparentPowerVa = try int16(22, 25, .apparentPower)
        m.l2.apparentPowerVa = try int16(23, 25, .apparentPower)
        m.l3.apparentPowerVa = try int16(24, 25, .apparentPower)
        m.reactivePowerVar = try int16(26, 30, .reactivePower)
        m.l1.reactivePowerVar = try int16(27, 30, .reactivePower)
        m.l2.reactivePowerVar = try int16(28, 30, .reactivePower)
        m.l3.reactivePowerVar = try int16(29, 30, .reactivePower)
        m.powerFactorMilli = try int16(31, 35, .powerFactor, unitExp: pctExp)
        let wh = try sf(52)
        m.energyExportWh = acc32(36, wh)
        m.energyImportWh = acc32(44, wh)
        let varh = try sf(102)
        m.reactiveEnergyImportVarh = Self.sum(acc32(70, varh), acc32(78, varh))
        m.reactiveEnergyExportVarh = Self.sum(acc32(86, varh), acc32(94, varh))
        let evt = UInt32(b[103]) << 16 | UInt32(b[104])
        m.meterStatus = evt == 0xFFFF_FFFF ? nil : evt
    }

    // Offsets inside models 211–214: every point a big-endian float32, NaN = not implemented.
    func decodeFloat(_ m: inout Measurement) {
        let b = buffer
        func f(_ o: Int, _ q: MeterQuantity, unitExp: Int = 0) -> Int64? {
            guard case .real(let d) = RegisterDecoding.decode(.float32, .big, b, at: o) else { return nil }
            return RegisterDecoding.scale(d, mantissa: 1, exponent: unitExp - q.storedExponent)
        }
        m.l1.currentMa = f(2, .current(phase: 1))
        m.l2.currentMa = f(4, .current(phase: 2))
        m.l3.currentMa = f(6, .current(phase: 3))
        m.l1.voltageMv = f(10, .voltage(phase: 1))
        m.l2.voltageMv = f(12, .voltage(phase: 2))
        m.l3.voltageMv = f(14, .voltage(phase: 3))
        m.frequencyMhz = f(24, .frequency)
        m.activePowerW = f(26, .activePower)
        m.l1.activePowerW = f(28, .activePower)
        m.l2.activePowerW = f(30, .activePower)
        m.l3.activePowerW = f(32, .activePower)
        m.apparentPowerVa = f(34, .apparentPower)
        m.l1.apparentPowerVa = f(36, .apparentPower)
        m.l2.apparentPowerVa = f(38, .apparentPower)
        m.l3.apparentPowerVa = f(40, .apparentPower)
        m.reactivePowerVar = f(42, .reactivePower)
        m.l1.reactivePowerVar = f(44, .reactivePower)
        m.l2.reactivePowerVar = f(46, .reactivePower)
        m.l3.reactivePowerVar = f(48, .reactivePower)
        m.powerFactorMilli = f(50, .powerFactor, unitExp: -2)
        m.energyExportWh = f(58, .energyExport)
        m.energyImportWh = f(66, .energyImport)
        m.reactiveEnergyImportVarh = Self.sum(f(90, .reactiveEnergyImport), f(98, .reactiveEnergyImport))
        m.reactiveEnergyExportVarh = Self.sum(f(106, .reactiveEnergyExport), f(114, .reactiveEnergyExport))
        let evt = UInt32(b[122]) << 16 | UInt32(b[123])
        m.meterStatus = evt == 0xFFFF_FFFF ? nil : evt
    }

    static func sum(_ a: Int64?, _ b: Int64?) -> Int64? {
        guard a != nil || b != nil else { return nil }
        return (a ?? 0) &+ (b ?? 0)
    }
}

/// Where the meter model of a SunSpec device lives, learned by `discover()`.
public struct SunSpecLayout: Equatable, Sendable {
    public var base: Int
    public var model: Int
    /// First register after the model's ID and length.
    public var bodyAddress: Int
    /// Registers read per sample.
    public var length: Int
    public var isFloat: Bool
    /// From the common model (1), empty when the device has none.
    public var serialNumber: String

    public var description: String {
        "SunSpec model \(model) at \(bodyAddress - 2) (base \(base))" + (serialNumber.isEmpty ? "" : ", serial \(serialNumber)")
    }
}
