/// The latest measurement as a SunSpec meter (docs/ems.md): "SunS" at 40000, common model 1,
/// model 203 (wye-connect three-phase meter, integer + scale factor), end model. An EMS that
/// speaks SunSpec reads PGUI like any meter. Not-implemented values follow SunSpec: int16 0x8000,
/// sunssf 0x8000, acc32 0.
public struct SunSpecMeterImage: Equatable {
    public static let base: UInt16 = 40_000
    public static let commonLength: UInt16 = 66
    public static let meterLength: UInt16 = 105
    /// "SunS" (2) + common header and body (2 + 66) + model 203 header and body (2 + 105) + end (2).
    public static let count = 2 + 2 + 66 + 2 + 105 + 2
    static let meterStart = 2 + 2 + 66 + 2  // offset of model 203's first data register
    static let ni: UInt16 = 0x8000

    public private(set) var words: [UInt16]

    public init(deviceId: String, version: String) {
        words = [UInt16](repeating: 0, count: Self.count)
        words[0] = 0x5375  // "Su"
        words[1] = 0x6E53  // "nS"
        words[2] = 1
        words[3] = Self.commonLength
        putString(4, 16, "PGUI")  // Mn
        putString(20, 16, "PGUI gateway")  // Md
        putString(36, 8, "")  // Opt
        putString(44, 8, version)  // Vr
        putString(52, 16, deviceId)  // SN
        words[68] = 1  // DA
        words[69] = Self.ni  // Pad
        words[70] = 203
        words[71] = Self.meterLength
        words[Self.count - 2] = 0xFFFF
        words[Self.count - 1] = 0
        update(nil)
    }

    mutating func putString(_ at: Int, _ regs: Int, _ s: String) {
        var bytes = Array(s.utf8.prefix(regs * 2))
        while bytes.count < regs * 2 { bytes.append(0) }
        for i in 0..<regs { words[at + i] = UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) }
    }

    /// Register offsets inside model 203 (SunSpec model 203 point order).
    enum P {
        static let a = 0, aPh = 1, aSF = 4
        static let phV = 5, phVPh = 6, ppv = 9, vSF = 13
        static let hz = 14, hzSF = 15
        static let w = 16, wPh = 17, wSF = 20
        static let va = 21, vaPh = 22, vaSF = 25
        static let vAr = 26, vArPh = 27, vArSF = 30
        static let pf = 31, pfPh = 32, pfSF = 35
        static let totWhExp = 36, totWhImp = 44, totWhSF = 52
        static let totVAhSF = 69, totVArhSF = 102, evt = 103
    }

    mutating func set(_ p: Int, _ v: UInt16) { words[Self.meterStart + p] = v }
    mutating func setInt16(_ p: Int, _ v: Int64?, divisor: Int64) {
        guard let v else { set(p, Self.ni); return }
        let scaled = v / divisor
        set(p, scaled > -32_768 && scaled <= 32_767 ? UInt16(bitPattern: Int16(scaled)) : Self.ni)
    }
    mutating func setSF(_ p: Int, _ sf: Int16) { set(p, UInt16(bitPattern: sf)) }
    mutating func setAcc32(_ p: Int, _ v: Int64?) {
        let u = UInt32(clamping: max(v ?? 0, 0))
        set(p, UInt16(u >> 16))
        set(p + 1, UInt16(u & 0xFFFF))
    }

    /// The smallest power-of-ten scale factor 0…4 at which every value fits an int16.
    static func powerSF(_ values: [Int64?]) -> Int16 {
        var sf: Int16 = 0
        var div: Int64 = 1
        while sf < 4 && values.contains(where: { v in v.map { abs($0) / div > 32_767 } ?? false }) {
            sf += 1
            div *= 10
        }
        return sf
    }

    /// Fills model 203 from a measurement (nil = no sample yet: everything not implemented).
    public mutating func update(_ m: Measurement?) {
        for p in 0..<Int(Self.meterLength) { set(p, Self.ni) }
        for p in [P.totWhExp, P.totWhImp] { for i in 0..<8 { set(p + i, 0) } }
        for i in 0..<16 { set(53 + i, 0) }  // TotVAh acc32s: not implemented = 0
        for i in 0..<32 { set(70 + i, 0) }  // TotVArh acc32s
        set(P.evt, 0)
        set(P.evt + 1, 0)
        guard let m, !m.quality.contains(.timeout) else { return }
        let phases = [m.l1, m.l2, m.l3]
        // Current: A with SF -2 (value in centiamperes).
        let amps = phases.map { $0.currentMa }
        setSF(P.aSF, -2)
        setInt16(P.a, amps.allSatisfy({ $0 != nil }) ? amps.reduce(Int64(0)) { $0 + $1! } : nil, divisor: 10)
        for i in 0..<3 { setInt16(P.aPh + i, amps[i], divisor: 10) }
        // Voltage L-N: V with SF -1 (decivolts); line-line not measured.
        let volts = phases.map { $0.voltageMv }
        setSF(P.vSF, -1)
        let known = volts.compactMap { $0 }
        setInt16(P.phV, known.isEmpty ? nil : known.reduce(0, +) / Int64(known.count), divisor: 100)
        for i in 0..<3 { setInt16(P.phVPh + i, volts[i], divisor: 100) }
        setSF(P.hzSF, -2)
        setInt16(P.hz, m.frequencyMhz, divisor: 10)
        // Powers: scale factor chosen per update so the largest value fits.
        func power(_ total: Int, _ perPhase: Int, _ sfAt: Int, _ t: Int64?, _ ph: [Int64?]) {
            let sf = Self.powerSF([t] + ph)
            var div: Int64 = 1
            for _ in 0..<sf { div *= 10 }
            setSF(sfAt, sf)
            setInt16(total, t, divisor: div)
            for i in 0..<3 { setInt16(perPhase + i, ph[i], divisor: div) }
        }
        power(P.w, P.wPh, P.wSF, m.activePowerW, phases.map { $0.activePowerW })
        power(P.va, P.vaPh, P.vaSF, m.apparentPowerVa, phases.map { $0.apparentPowerVa })
        power(P.vAr, P.vArPh, P.vArSF, m.reactivePowerVar, phases.map { $0.reactivePowerVar })
        // Power factor in percent with SF -1 (the model keeps thousandths: 1000 = 100.0 %).
        setSF(P.pfSF, -1)
        setInt16(P.pf, m.powerFactorMilli, divisor: 1)
        // Energies: Wh, SF 0; per-phase energies are not measured (acc32 0).
        setSF(P.totWhSF, 0)
        setAcc32(P.totWhExp, m.energyExportWh)
        setAcc32(P.totWhImp, m.energyImportWh)
        setSF(P.totVAhSF, Int16(bitPattern: Self.ni))
        setSF(P.totVArhSF, Int16(bitPattern: Self.ni))
    }

    public static func isReadable(address: Int, count: Int) -> Bool {
        count >= 1 && address >= Int(base) && address + count <= Int(base) + Self.count
    }
}
