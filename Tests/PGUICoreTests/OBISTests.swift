import Testing

@testable import PGUICore

@Suite struct OBISCodeTests {
    @Test func textForms() {
        #expect(OBISCode.parse(Array("1-0:1.8.0*255".utf8)) == OBISCode(1, 0, 1, 8, 0, 255))
        #expect(OBISCode.parse(Array("1-0:1.8.1".utf8)) == OBISCode(1, 0, 1, 8, 1))
        #expect(OBISCode.parse(Array("1.7.0".utf8)) == OBISCode(1, 0, 1, 7, 0))
        #expect(OBISCode.parse(Array("0-0:96.1.0".utf8)) == OBISCode(0, 0, 96, 1, 0))
        #expect(OBISCode.parse(Array("1.0.32.7.0.255".utf8)) == OBISCode(1, 0, 32, 7, 0))
        #expect(OBISCode(bytes: [1, 0, 16, 7, 0, 255]) == OBISCode(1, 0, 16, 7, 0))
    }

    @Test func garbageIsRefused() {
        for bad in ["", "1", "1.8", "1-0:1.8", "256.7.0", "1.7.0.", ".1.7.0", "1-0:1.8.0*", "1-0:1.8.0*2555",
                    "1:0-1.8.0", "1 .8.0", "1.8.0x", "1-0:1.8.0*255*1", "1..8.0"] {
            #expect(OBISCode.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(OBISCode(bytes: [1, 0, 1, 8, 0]) == nil)  // 5 bytes: truncated
        #expect(OBISCode(bytes: [1, 0, 1, 8, 0, 255, 0]) == nil)  // 7 bytes: overlong
    }

    @Test func channelAndBillingPeriodDoNotSelect() {
        #expect(OBISCode(1, 1, 1, 8, 0, 101).selects(.electricity(1, 8, 0)))
        #expect(!OBISCode(0, 0, 1, 8, 0).selects(.electricity(1, 8, 0)))  // medium A must match
    }
}

@Suite struct OBISAccumulatorTests {
    func reading(_ code: String, _ mantissa: Int64, _ exponent: Int, _ unit: String) -> OBISReading {
        OBISReading(code: OBISCode.parse(Array(code.utf8))!, mantissa: mantissa, exponent: exponent, unit: unit)
    }

    /// DSMR 5 style: powers in kW with 3 decimals, energies per tariff in kWh, voltages in V.
    @Test func dsmrStyleTelegram() throws {
        var acc = OBISAccumulator(table: .standard)
        for r in [reading("1-0:1.8.1", 1_234_567, -3, "kWh"), reading("1-0:1.8.2", 2_000_001, -3, "kWh"),
                  reading("1-0:2.8.1", 5, -3, "kWh"), reading("1-0:2.8.2", 0, -3, "kWh"),
                  reading("1-0:1.7.0", 1_193, -3, "kW"), reading("1-0:2.7.0", 0, -3, "kW"),
                  reading("1-0:32.7.0", 2_301, -1, "V"), reading("1-0:31.7.0", 3, 0, "A"),
                  reading("1-0:21.7.0", 1_193, -3, "kW"), reading("1-0:22.7.0", 0, -3, "kW"),
                  reading("0-0:96.14.0", 2, 0, "1")] {
            try acc.add(r)
        }
        let m = acc.measurement(timestampMs: 7, quality: [])
        #expect(m.energyImportWh == 3_234_568)  // 1234.567 + 2000.001 kWh, exactly
        #expect(m.energyExportWh == 5)
        #expect(m.activePowerW == 1_193)
        #expect(m.l1.voltageMv == 230_100)
        #expect(m.l1.currentMa == 3_000)
        #expect(m.l1.activePowerW == 1_193)
        #expect(m.l2.voltageMv == nil)  // not sent: not available, not zero
        #expect(acc.unknown == 1)  // the tariff indicator is not a Measurement quantity
    }

    @Test func exportIsNegativeAndTotalWinsOverTariffs() throws {
        var acc = OBISAccumulator(table: .standard)
        try acc.add(reading("1.7.0", 0, 0, "W"))
        try acc.add(reading("2.7.0", 2_500, 0, "W"))
        try acc.add(reading("1.8.0", 10, 0, "kWh"))
        try acc.add(reading("1.8.1", 3, 0, "kWh"))
        let m = acc.measurement(timestampMs: 0, quality: [])
        #expect(m.activePowerW == -2_500)
        #expect(m.energyImportWh == 10_000)
    }

    @Test func signedSumRegisterWins() throws {
        var acc = OBISAccumulator(table: .standard)
        try acc.add(reading("1-0:16.7.0*255", -421, 0, "W"))  // SML: signed sum
        try acc.add(reading("1-0:1.7.0", 9, 0, "W"))
        #expect(acc.measurement(timestampMs: 0, quality: []).activePowerW == -421)
    }

    @Test func apparentPowerIsAMagnitude() throws {
        var acc = OBISAccumulator(table: .standard)
        try acc.add(reading("9.7.0", 0, 0, "VA"))
        try acc.add(reading("10.7.0", 1_500, 0, "VA"))
        #expect(acc.measurement(timestampMs: 0, quality: []).apparentPowerVa == 1_500)
    }

    @Test func wrongUnitAndOverflowAreErrors() {
        var acc = OBISAccumulator(table: .standard)
        #expect(throws: OBISAccumulator.Problem.unit(code: .electricity(1, 7, 0), unit: "kWh")) {
            try acc.add(reading("1.7.0", 1, 0, "kWh"))
        }
        #expect(throws: OBISAccumulator.Problem.overflow(code: .electricity(1, 8, 0))) {
            try acc.add(reading("1.8.0", Int64.max / 10, 1, "kWh"))
        }
    }

    @Test func resetForgetsTheLastTelegram() throws {
        var acc = OBISAccumulator(table: .standard)
        try acc.add(reading("1.7.0", 5, 0, "W"))
        acc.reset()
        #expect(acc.measurement(timestampMs: 0, quality: []).activePowerW == nil)
    }

    @Test func overrideReplacesTheDefaultEntries() throws {
        let table = OBISTable.standard.overriding(.activePower, with: .electricity(1, 7, 255))
        var acc = OBISAccumulator(table: table)
        try acc.add(reading("1.7.0", 5, 0, "W"))  // no longer the active power
        try acc.add(reading("1.7.255", 42, 0, "W"))
        let m = acc.measurement(timestampMs: 0, quality: [])
        #expect(m.activePowerW == 42)
    }
}

@Suite struct MeterKeyTests {
    @Test func hexKeys() {
        let k = MeterKey.parseHex(Array("000102030405060708090A0B0C0D0e0f\n".utf8))
        #expect(k == Array(0...15))
        #expect(MeterKey.parseHex(Array("  000102030405060708090a0b0c0d0e0f  ".utf8)) != nil)
    }

    @Test func limitAndGarbage() {
        #expect(MeterKey.parseHex(Array("000102030405060708090a0b0c0d0e".utf8)) == nil)  // 15 bytes
        #expect(MeterKey.parseHex(Array("000102030405060708090a0b0c0d0e0f10".utf8)) == nil)  // 17 bytes
        #expect(MeterKey.parseHex(Array("000102030405060708090a0b0c0d0e0".utf8)) == nil)  // odd digits
        #expect(MeterKey.parseHex(Array("0001 02030405060708090a0b0c0d0e0f".utf8)) == nil)  // space inside
        #expect(MeterKey.parseHex(Array("zz0102030405060708090a0b0c0d0e0f".utf8)) == nil)
        #expect(MeterKey.parseHex([UInt8]()) == nil)
    }
}
