import Testing

@testable import PGUICore

/// An in-memory Modbus device: register tables plus scripted failures.
final class FakeRegisters: RegisterReader {
    var holding: [Int: UInt16] = [:]
    var input: [Int: UInt16] = [:]
    /// Thrown by the next reads, in order.
    var failures: [MeterError] = []
    /// Reads of addresses outside the table answer "illegal data address" (exception 2).
    var strict = true
    var requests: [(RegisterFunction, Int, Int)] = []
    var disconnects = 0

    func read(_ function: RegisterFunction, address: Int, count: Int, into buffer: inout [UInt16]) throws(MeterError) {
        requests.append((function, address, count))
        if !failures.isEmpty { throw failures.removeFirst() }
        let table = function == .holding ? holding : input
        for i in 0..<count {
            guard let v = table[address + i] else {
                if strict { throw .exception(code: 2) }
                buffer[i] = 0
                continue
            }
            buffer[i] = v
        }
    }

    func disconnect() { disconnects += 1 }

    func set(_ address: Int, _ words: [UInt16], _ function: RegisterFunction = .holding) {
        for (i, w) in words.enumerated() {
            if function == .holding { holding[address + i] = w } else { input[address + i] = w }
        }
    }
}

func f32(_ x: Float) -> [UInt16] {
    let b = x.bitPattern
    return [UInt16(b >> 16), UInt16(b & 0xFFFF)]
}

func u32(_ x: UInt32) -> [UInt16] { [UInt16(x >> 16), UInt16(x & 0xFFFF)] }
func i16(_ x: Int16) -> UInt16 { UInt16(bitPattern: x) }

/// A SunSpec device: "SunS", common model 1 (serial "SN-42"), a meter model, end marker.
func sunspecDevice(base: Int = 40_000, model: Int = 203, body: [UInt16]) -> FakeRegisters {
    let dev = FakeRegisters()
    dev.set(base, [0x5375, 0x6E53])
    var common = [UInt16](repeating: 0, count: 66)
    common[48] = 0x534E  // "SN"
    common[49] = 0x2D34  // "-4"
    common[50] = 0x3200  // "2\0"
    dev.set(base + 2, [1, 66] + common)
    let m = base + 2 + 68
    dev.set(m, [UInt16(model), UInt16(body.count)] + body)
    dev.set(m + 2 + body.count, [0xFFFF, 0])
    return dev
}

/// A model 203 body with typical values: 230.1 V, 5.00 A, 50.01 Hz, 1150 W … (SF as a meter uses them).
func model203Body() -> [UInt16] {
    var b = [UInt16](repeating: 0, count: 105)
    b[0] = 1500; b[1] = 500; b[2] = 500; b[3] = 500; b[4] = i16(-2)  // A, SF -2 → 5.00 A
    b[5] = 2301; b[6] = 2301; b[7] = 2302; b[8] = 2303; b[13] = i16(-1)  // V, SF -1
    b[14] = 5001; b[15] = i16(-2)  // Hz
    b[16] = i16(-3450); b[17] = i16(-1150); b[18] = i16(-1150); b[19] = i16(-1150); b[20] = 0  // W
    b[21] = 3500; b[22] = 1200; b[23] = 1200; b[24] = 1100; b[25] = 0  // VA
    b[26] = i16(-600); b[27] = i16(-200); b[28] = i16(-200); b[29] = i16(-200); b[30] = 0  // var
    b[31] = i16(-985); b[35] = i16(-1)  // PF -98.5 %
    let exp = u32(123_456), imp = u32(654_321)
    b[36] = exp[0]; b[37] = exp[1]; b[44] = imp[0]; b[45] = imp[1]; b[52] = 1  // Wh ×10
    b[70] = 0; b[71] = 100; b[78] = 0; b[79] = 20; b[86] = 0; b[87] = 5; b[102] = 0  // varh Q1+Q2, Q3+Q4
    b[103] = 0; b[104] = 0x0004  // event bits
    return b
}

@Suite struct RegisterDecodingTests {
    @Test func typesAtTheirLimits() {
        let buf: [UInt16] = [0x8000, 0x7FFF, 0xFFFF, 0x0000]
        #expect(RegisterDecoding.decode(.int16, .big, buf, at: 0) == .integer(-32_768))
        #expect(RegisterDecoding.decode(.int16, .big, buf, at: 1) == .integer(32_767))
        #expect(RegisterDecoding.decode(.uint16, .big, buf, at: 2) == .integer(65_535))
        #expect(RegisterDecoding.decode(.int32, .big, buf, at: 0) == .integer(Int64(Int32.min) + 0x7FFF))
        #expect(RegisterDecoding.decode(.int32, .big, [0x8000, 0], at: 0) == .integer(Int64(Int32.min)))
        #expect(RegisterDecoding.decode(.int32, .big, [0x7FFF, 0xFFFF], at: 0) == .integer(Int64(Int32.max)))
        #expect(RegisterDecoding.decode(.uint32, .big, [0xFFFF, 0xFFFF], at: 0) == .integer(Int64(UInt32.max)))
        #expect(RegisterDecoding.decode(.uint32, .little, [0x0001, 0x0002], at: 0) == .integer(0x0002_0001))
    }

    @Test func floatsFromBits() {
        #expect(RegisterDecoding.decode(.float32, .big, f32(230.5), at: 0) == .real(230.5))
        let le = f32(-1.25)
        #expect(RegisterDecoding.decode(.float32, .little, [le[1], le[0]], at: 0) == .real(-1.25))
        #expect(RegisterDecoding.decode(.float32, .big, [0x7FC0, 0], at: 0) == .notAvailable)  // NaN
        #expect(RegisterDecoding.decode(.float32, .big, [0x7F80, 0], at: 0) == .notAvailable)  // +inf
        #expect(RegisterDecoding.decode(.float32, .big, f32(Float.greatestFiniteMagnitude), at: 0)
            == .real(Double(Float.greatestFiniteMagnitude)))
    }

    @Test func scalingRoundsAndDetectsOverflow() {
        #expect(RegisterDecoding.scale(Int64(2301), mantissa: 1, exponent: 2) == 230_100)
        #expect(RegisterDecoding.scale(Int64(15), mantissa: 1, exponent: -1) == 2)
        #expect(RegisterDecoding.scale(Int64(-15), mantissa: 1, exponent: -1) == -2)
        #expect(RegisterDecoding.scale(Int64(14), mantissa: 1, exponent: -1) == 1)
        #expect(RegisterDecoding.scale(Int64.max, mantissa: 1, exponent: 1) == nil)
        #expect(RegisterDecoding.scale(Int64.max, mantissa: -1, exponent: 0) == -Int64.max)
        #expect(RegisterDecoding.scale(Double(230.46), mantissa: 1, exponent: 3) == 230_460)
        #expect(RegisterDecoding.scale(Double(-0.5), mantissa: 1, exponent: 0) == -1)
        #expect(RegisterDecoding.scale(Double(Float.greatestFiniteMagnitude), mantissa: 1, exponent: 0) == nil)
        #expect(RegisterDecoding.scale(Double(9.2e18), mantissa: 1, exponent: 0) == 9_200_000_000_000_000_000)
        #expect(RegisterDecoding.scale(Double(9.3e18), mantissa: 1, exponent: 0) == nil)
    }
}

private func values(_ text: String) throws(ConfigError) -> Config {
    try Config.load(Array(("device.id = gw\ndata.dir = /data\n" + text).utf8), file: "m.conf")
}

private func configError(_ text: String) -> ConfigError? {
    do throws(ConfigError) {
        _ = try values(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct MeterKindTests {
    @Test func everyKindIsSpelledOnceInTheSchemaAndParsesToItself() throws {
        let spec = try #require(MeterConfig.schema.first { $0.key == "meter.kind" })
        guard case .choice(let names) = spec.kind else { Issue.record("meter.kind is not a choice"); return }
        #expect(names == MeterKind.allCases.map { $0.rawValue })
        #expect(try values("meter.kind = simulated\n").meter.kind == .simulated)
        #expect(try values("meter.kind = modbus-tcp\nmeter.host = 10.0.0.2\n").meter.kind == .modbusTCP)
        #expect(MeterConfig.obisKinds == [.dlmsHDLC, .dlmsTCP, .dlmsPush, .dsmrP1, .sml, .iec62056_21])
    }

    @Test func anUnknownKindIsAnErrorNamingTheChoices() {
        let e = configError("meter.kind = dlms\n")
        #expect(e?.line == 3 && e?.message.contains("iec62056-21") == true, "\(String(describing: e))")
    }
}

@Suite struct RegisterMapTests {
    let head = "meter.kind = modbus-tcp\nmeter.host = 127.0.0.1\nmeter.model = map\n"

    @Test func parsesEntriesWithUnitsAndScale() throws {
        let c = try values(head + """
            meter.map.active_power = 0x0010 input float32 big 1 kW
            meter.map.l1_voltage = 100 holding uint16 big 0.1 V
            meter.map.energy_import = 200 holding uint32 little 1 kWh
            meter.map.power_factor = 300 holding int16 big 0.001 1

            """)
        let map = c.meter.modbus.map
        #expect(map.count == 4)
        #expect(map[0].quantity == .activePower && map[0].function == .input && map[0].address == 16 && map[0].exponent == 3)
        #expect(map[1].quantity == .voltage(phase: 1) && map[1].mantissa == 1 && map[1].exponent == 2)  // 0.1 V → mV
        #expect(map[2].order == .little && map[2].exponent == 3)
        #expect(map[3].exponent == 0)  // 0.001 ratio → thousandths
        #expect(map[0].line == 6)
    }

    @Test func overlapIsAnErrorWithBothLines() {
        let e = configError(head + "meter.map.active_power = 10 holding int32 big 1 W\nmeter.map.reactive_power = 11 holding int16 big 1 var\n")
        #expect(e?.line == 7)
        #expect(e?.message.contains("overlap meter.map.active_power (line 6)") == true)
        // Same addresses in the other table do not overlap; adjacent ranges do not either.
        #expect(configError(head + "meter.map.active_power = 10 holding int32 big 1 W\nmeter.map.reactive_power = 10 input int32 big 1 var\nmeter.map.frequency = 12 holding uint16 big 0.01 Hz\n") == nil)
    }

    @Test func badLinesNameTheProblem() {
        let cases: [(String, String)] = [
            ("meter.map.active_power = 1 holding int24 big 1 W", "unknown type 'int24'"),
            ("meter.map.active_powr = 1 holding int16 big 1 W", "unknown quantity 'active_powr'"),
            ("meter.map.active_power = 1 coil int16 big 1 W", "function 'coil'"),
            ("meter.map.active_power = 65536 holding int16 big 1 W", "address '65536'"),
            ("meter.map.active_power = 65535 holding int32 big 1 W", "runs past register 65535"),
            ("meter.map.active_power = 1 holding int16 middle 1 W", "word order 'middle'"),
            ("meter.map.active_power = 1 holding int16 big 0 W", "scale '0'"),
            ("meter.map.active_power = 1 holding int16 big 1e3 W", "scale '1e3'"),
            ("meter.map.active_power = 1 holding int16 big 1 V", "unit 'V' does not fit active_power"),
            ("meter.map.active_power = 1 holding int16 big 1", "expected 6 fields"),
            ("meter.map.status = 1 holding float32 big 1 1", "status must be an integer"),
        ]
        for (line, message) in cases {
            let e = configError(head + line + "\n")
            #expect(e?.line == 6, "\(line)")
            #expect(e?.message.contains(message) == true, "\(line): \(e?.message ?? "no error")")
        }
    }

    @Test func addressLimits() {
        #expect(RegisterMap.parseAddress("0") == 0)
        #expect(RegisterMap.parseAddress("65535") == 65_535)
        #expect(RegisterMap.parseAddress("0xFFFF") == 65_535)
        #expect(RegisterMap.parseAddress("65536") == nil)
        #expect(RegisterMap.parseAddress("0x10000") == nil)
        #expect(RegisterMap.parseAddress("") == nil)
        #expect(RegisterMap.parseAddress("-1") == nil)
        #expect(RegisterMap.parseDecimal("-0.001")! == (-1, -3))
        #expect(RegisterMap.parseDecimal("123456789")! == (123_456_789, 0))
        #expect(RegisterMap.parseDecimal("1234567890") == nil)
        #expect(RegisterMap.parseDecimal(".") == nil)
        #expect(RegisterMap.parseDecimal("1.2.3") == nil)
    }

    @Test func crossKeyChecks() {
        #expect(configError("meter.map.active_power = 1 holding int16 big 1 W\n")?.message.contains("need meter.kind") == true)
        #expect(configError("meter.kind = modbus-tcp\nmeter.model = map\nmeter.host = h\n")?.message.contains("at least one") == true)
        #expect(configError("meter.kind = modbus-tcp\n")?.message.contains("needs meter.host") == true)
        #expect(configError("meter.kind = modbus-rtu\n")?.message.contains("meter.serial.device") == true)
        #expect(configError("meter.kind = modbus-rtu\nmeter.serial.device = /dev/ttyS1\nmeter.unit_id = 248\n")?.line == 5)
        #expect(configError("meter.sunspec.base = 4000x\n")?.line == 3)
        #expect(configError("group.window_s = 61\n")?.line == 3)
        #expect(configError("group.window_s = 0\n")?.line == 3)
        #expect(configError("meter.period_ms = 300\ngroup.window_s = 1\n")?.message.contains("whole multiple") == true)
        #expect(try! values("meter.period_ms = 250\ngroup.window_s = 1\n").group.windowMs == 1_000)
        #expect(try! values("meter.period_ms = 60000\n").group.windowMs == 60_000)
        #expect(try! values("meter.period_ms = 300\n").group.windowMs == 10_200)
        #expect(try! values("").group.windowMs == 10_000)
    }

    @Test func mapMeterReadsContiguousBlocksAndScales() throws {
        let c = try values(head + """
            meter.map.active_power = 0 input float32 big 1 kW
            meter.map.reactive_power = 2 input int32 little 1 var
            meter.map.l1_voltage = 10 holding uint16 big 0.1 V
            meter.map.energy_import = 20 holding uint32 big 1 kWh
            meter.map.status = 11 holding uint16 big 1 1

            """)
        let dev = FakeRegisters()
        dev.set(0, f32(-1.5) + [0xFFFF, 0xFFFF], .input)  // int32 little: -65536 + … = 0xFFFFFFFF = -1
        dev.set(10, [2301, 0x00FF])
        dev.set(20, u32(UInt32.max))
        var meter = RegisterMapMeter(reader: dev, entries: c.meter.modbus.map, meterId: "m")
        #expect(meter.requestsPerSample == 3)  // holding 10-11, holding 20-21, input 0-3
        let m = try meter.read(wallMs: 1_000, clockSynced: true)
        #expect(m.activePowerW == -1_500)
        #expect(m.reactivePowerVar == -1)
        #expect(m.l1.voltageMv == 230_100)
        #expect(m.energyImportWh == Int64(UInt32.max) * 1_000)
        #expect(m.meterStatus == 0xFF)
        #expect(m.quality == [])
        #expect(m.frequencyMhz == nil)
    }

    @Test func mapMeterNaNIsNotAvailableAndHugeIsAGap() throws {
        let c = try values(head + "meter.map.active_power = 0 input float32 big 1 MW\n")
        let dev = FakeRegisters()
        dev.set(0, [0x7FC0, 0], .input)
        var meter = RegisterMapMeter(reader: dev, entries: c.meter.modbus.map, meterId: "m")
        #expect(try meter.read(wallMs: 0, clockSynced: false).activePowerW == nil)
        dev.set(0, f32(Float.greatestFiniteMagnitude), .input)
        #expect(throws: MeterError.self) { _ = try meter.read(wallMs: 0, clockSynced: false) }
    }
}

@Suite struct SunSpecTests {
    @Test func discoversModel203AndDecodesScaleFactors() throws {
        let dev = sunspecDevice(body: model203Body())
        var meter = SunSpecMeter(reader: dev, base: nil, meterId: "m")
        let m = try meter.read(wallMs: 5_000, clockSynced: true)
        #expect(meter.layout == SunSpecLayout(base: 40_000, model: 203, bodyAddress: 40_072, length: 105, isFloat: false, serialNumber: "SN-42"))
        #expect(m.l1.currentMa == 5_000)
        #expect(m.l1.voltageMv == 230_100 && m.l3.voltageMv == 230_300)
        #expect(m.frequencyMhz == 50_010)
        #expect(m.activePowerW == -3_450 && m.l2.activePowerW == -1_150)
        #expect(m.apparentPowerVa == 3_500 && m.reactivePowerVar == -600)
        #expect(m.powerFactorMilli == -985)
        #expect(m.energyExportWh == 1_234_560 && m.energyImportWh == 6_543_210)
        #expect(m.reactiveEnergyImportVarh == 120 && m.reactiveEnergyExportVarh == 5)
        #expect(m.meterStatus == 4)
        // The next sample is one request: the layout is kept.
        dev.requests.removeAll()
        _ = try meter.read(wallMs: 6_000, clockSynced: true)
        #expect(dev.requests.count == 1 && dev.requests[0].1 == 40_072 && dev.requests[0].2 == 105)
    }

    @Test func notImplementedValuesAreNotAvailable() throws {
        var body = model203Body()
        body[2] = 0x8000  // AphB not implemented
        body[15] = 0x8000  // Hz_SF not implemented
        body[36] = 0; body[37] = 0  // TotWhExp "not accumulated"
        body[102] = 0x8000  // varh SF
        body[103] = 0xFFFF; body[104] = 0xFFFF
        var meter = SunSpecMeter(reader: sunspecDevice(body: body), base: nil, meterId: "m")
        let m = try meter.read(wallMs: 0, clockSynced: true)
        #expect(m.l2.currentMa == nil && m.l1.currentMa == 5_000)
        #expect(m.frequencyMhz == nil)
        #expect(m.energyExportWh == nil && m.energyImportWh == 6_543_210)
        #expect(m.reactiveEnergyImportVarh == nil)
        #expect(m.meterStatus == nil)
    }

    @Test func scaleFactorOutOfRangeIsGarbage() {
        var body = model203Body()
        body[20] = 11
        var meter = SunSpecMeter(reader: sunspecDevice(body: body), base: nil, meterId: "m")
        #expect(throws: MeterError.self) { _ = try meter.read(wallMs: 0, clockSynced: true) }
    }

    @Test func floatModel213AtBase50000() throws {
        var body = [UInt16](repeating: 0, count: 124)
        func put(_ o: Int, _ x: Float) { let w = f32(x); body[o] = w[0]; body[o + 1] = w[1] }
        for o in stride(from: 0, to: 122, by: 2) { put(o, Float.nan) }
        put(10, 229.95); put(24, 49.98); put(26, 4_200.4); put(50, 99.0); put(66, 1.5e6); put(58, 0)
        body[122] = 0; body[123] = 1
        let dev = sunspecDevice(base: 50_000, model: 213, body: body)
        var meter = SunSpecMeter(reader: dev, base: nil, meterId: "m")
        let m = try meter.read(wallMs: 0, clockSynced: true)
        #expect(meter.layout?.isFloat == true && meter.layout?.base == 50_000)
        #expect(m.l1.voltageMv == 229_950)
        #expect(m.frequencyMhz == 49_980)
        #expect(m.activePowerW == 4_200)
        #expect(m.powerFactorMilli == 990)
        #expect(m.energyImportWh == 1_500_000 && m.energyExportWh == 0)
        #expect(m.l2.voltageMv == nil && m.reactiveEnergyImportVarh == nil)
        #expect(m.meterStatus == 1)
    }

    @Test func missingMarkerIsUnsupported() {
        let dev = FakeRegisters()
        dev.set(40_000, [0x1234, 0x5678])
        var meter = SunSpecMeter(reader: dev, base: nil, meterId: "m")
        do throws(MeterError) {
            _ = try meter.read(wallMs: 0, clockSynced: true)
            Issue.record("no error")
        } catch {
            #expect(error == .unsupported("no SunSpec 'SunS' marker at holding register 40000, 50000, 0"))
            #expect(error.gapReason == .invalid && error.needsReconnect)
        }
    }

    @Test func configuredBaseAndNoMeterModel() {
        let dev = FakeRegisters()
        dev.set(0, [0x5375, 0x6E53, 1, 2, 0, 0, 0xFFFF, 0])
        var meter = SunSpecMeter(reader: dev, base: 0, meterId: "m")
        #expect(throws: MeterError.unsupported("SunSpec marker at 0 but no meter model 201-204 or 211-214 in the model list")) {
            _ = try meter.read(wallMs: 0, clockSynced: true)
        }
        #expect(dev.requests.first!.1 == 0)
    }

    @Test func endlessModelChainIsBounded() {
        let dev = FakeRegisters()
        dev.strict = false
        dev.set(40_000, [0x5375, 0x6E53])
        for i in 0..<200 { dev.set(40_002 + i * 2, [7, 0]) }  // models of length 0 forever
        var meter = SunSpecMeter(reader: dev, base: nil, meterId: "m")
        #expect(throws: MeterError.self) { _ = try meter.read(wallMs: 0, clockSynced: true) }
        #expect(dev.requests.count <= 1 + SunSpecMeter<FakeRegisters>.modelsMax + 1)
    }

    @Test func timeoutDuringDiscoveryIsNotMistakenForMissingMarker() {
        let dev = sunspecDevice(body: model203Body())
        dev.failures = [.timeout]
        var meter = SunSpecMeter(reader: dev, base: nil, meterId: "m")
        #expect(throws: MeterError.timeout) { _ = try meter.read(wallMs: 0, clockSynced: true) }
    }
}

/// A meter whose answers are scripted per read.
struct ScriptedMeter: MeterSource {
    let meterId = "s"
    var script: [MeterError?]
    var resets = 0
    mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        let next = script.isEmpty ? nil : script.removeFirst()
        if let e = next { throw e }
        var m = Measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
        m.activePowerW = 1
        return m
    }
    mutating func reset() { resets += 1 }
}

@Suite struct AcquisitionTests {
    @Test func boundaries() {
        #expect(AcquisitionCore<ScriptedMeter>.nextBoundary(after: 0, periodMs: 1_000) == 1_000)
        #expect(AcquisitionCore<ScriptedMeter>.nextBoundary(after: 999, periodMs: 1_000) == 1_000)
        #expect(AcquisitionCore<ScriptedMeter>.nextBoundary(after: 1_000, periodMs: 1_000) == 2_000)
        #expect(AcquisitionCore<ScriptedMeter>.nextBoundary(after: -1, periodMs: 1_000) == 0)
    }

    @Test func backoffDoublesAndIsCapped() {
        let b = (1...8).map { AcquisitionCore<ScriptedMeter>.backoffMs(failures: $0, minMs: 1_000, maxMs: 30_000) }
        #expect(b == [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
        #expect(AcquisitionCore<ScriptedMeter>.backoffMs(failures: 1_000_000, minMs: 100, maxMs: 100) == 100)
    }

    @Test func failuresBecomeFlaggedGapsWithBackoff() {
        let clock = ManualClock(wallMs: 1_700_000_000_000)
        var core = AcquisitionCore(meter: ScriptedMeter(script: [nil, .timeout, .disconnected("x"), .disconnected("x"), nil]),
                                   periodMs: 1_000, backoffMinMs: 1_000, backoffMaxMs: 4_000)
        func step() -> (Measurement, AcquisitionEvent?) {
            defer { clock.advance(ms: 1_000) }
            return core.sample(dueMs: clock.wallMs(), monotonicMs: clock.monotonicMs(), clockSynced: true)
        }
        let s0 = step()
        #expect(!s0.0.isGap && s0.1?.problem == false)  // "connected"
        let s1 = step()
        #expect(s1.0.quality == .timeout && s1.1?.problem == true)
        #expect(core.meter.resets == 1)
        let s2 = step()  // first retry right away, fails → back-off 2 s
        #expect(s2.0.quality == .disconnected && core.failures == 2)
        let s3 = step()  // inside back-off: no read, no log line
        #expect(s3.0.quality == .disconnected && s3.1 == nil)
        let s4 = step()  // back-off over: read fails again → 4 s
        #expect(s4.0.quality == .disconnected && core.failures == 3)
        for _ in 0..<3 { #expect(step().0.quality == .disconnected) }
        let ok = step()
        #expect(!ok.0.isGap && ok.1?.text.contains("answers again after 3 failed attempts") == true)
        #expect(core.failures == 0 && core.gaps == 7 && core.reads == 2)
    }

    @Test func exceptionsKeepTheLinkAndLogOnce() {
        var core = AcquisitionCore(meter: ScriptedMeter(script: [.exception(code: 2), .exception(code: 2), nil]),
                                   periodMs: 1_000, backoffMinMs: 1_000, backoffMaxMs: 4_000)
        let a = core.sample(dueMs: 0, monotonicMs: 0, clockSynced: false)
        #expect(a.0.quality == [.invalid, .clockUnsynced] && a.1?.problem == true)
        let b = core.sample(dueMs: 1_000, monotonicMs: 1_000, clockSynced: false)
        #expect(b.0.isGap && b.1 == nil)
        #expect(core.meter.resets == 0)
        let c = core.sample(dueMs: 2_000, monotonicMs: 2_000, clockSynced: false)
        #expect(!c.0.isGap && c.1 != nil)
    }
}

@Suite struct GrouperTests {
    func sample(_ t: Int64, gap: Bool = false) -> Measurement {
        gap ? Measurement.gap(at: t, reason: .timeout) : Measurement(timestampMs: t, quality: [])
    }

    @Test func windowsAreAlignedAndClosedByTheNextSample() {
        var g = Grouper(meterId: "m", windowMs: 10_000, periodMs: 1_000)
        var closed: [MeasurementGroup] = []
        for t in stride(from: Int64(5_000), through: 25_000, by: 1_000) {
            if let c = g.add(sample(t, gap: t == 12_000)) { closed.append(c) }
        }
        #expect(closed.count == 2)
        #expect(closed[0].windowStartMs == 0 && closed[0].windowEndMs == 10_000 && closed[0].samples.count == 5)
        #expect(closed[1].windowStartMs == 10_000 && closed[1].samples.count == 10 && closed[1].gapCount == 1)
        #expect(closed[1].meterId == "m")
        let last = g.flush()
        #expect(last?.samples.count == 6 && last?.windowStartMs == 20_000)
        #expect(g.flush() == nil)
    }

    @Test func clockStepBackClosesTheWindowAndOverfullIsCounted() {
        var g = Grouper(meterId: "m", windowMs: 2_000, periodMs: 1_000)
        #expect(g.add(sample(10_000)) == nil)
        #expect(g.add(sample(10_500)) == nil)
        #expect(g.add(sample(11_000)) == nil)  // third in a 2-sample window: dropped, counted
        #expect(g.dropped == 1)
        let c = g.add(sample(4_000))
        #expect(c?.samples.count == 2 && c?.windowStartMs == 10_000)
        #expect(g.flush()?.windowStartMs == 4_000)
    }

    @Test func negativeTimestampsFloor() {
        var g = Grouper(meterId: "m", windowMs: 1_000, periodMs: 1_000)
        _ = g.add(sample(-1))
        #expect(g.flush()?.windowStartMs == -1_000)
    }
}
