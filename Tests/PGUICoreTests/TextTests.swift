import Testing

@testable import PGUICore

@Suite struct TextTests {
    @Test func parseIntBoundaries() {
        #expect(parseInt64("0") == 0)
        #expect(parseInt64("-0") == 0)
        #expect(parseInt64("+42") == 42)
        #expect(parseInt64("9223372036854775807") == Int64.max)
        #expect(parseInt64("-9223372036854775808") == Int64.min)
        #expect(parseInt64("9223372036854775808") == nil)
        #expect(parseInt64("-9223372036854775809") == nil)
        #expect(parseInt64("") == nil)
        #expect(parseInt64("-") == nil)
        #expect(parseInt64("1 ") == nil)
        #expect(parseInt64("0x10") == nil)
        #expect(parseInt64("١") == nil)  // Arabic-Indic digit: bytes, not Unicode properties
    }

    @Test func trimmedBytes() {
        #expect(string(trimmed(Array(" \t a b \t"[...].utf8)[...])) == "a b")
        #expect(trimmed(Array("   ".utf8)[...]).isEmpty)
    }

    @Test func printableEscapes() {
        #expect(printable([0x41, 0x0A, 0xFF][...]) == "A\\x0a\\xff")
        #expect(printable(Array("abcdef".utf8)[...], max: 3) == "abc…")
    }
}

@Suite struct TimeTests {
    @Test func knownInstants() {
        #expect(UTC.format(ms: 0) == "1970-01-01T00:00:00.000Z")
        #expect(UTC.format(ms: 1_700_000_000_123) == "2023-11-14T22:13:20.123Z")
        #expect(UTC.format(ms: 951_782_400_000) == "2000-02-29T00:00:00.000Z")  // leap day of a /400 year
        #expect(UTC.format(ms: -1) == "1969-12-31T23:59:59.999Z")
        #expect(UTC.format(ms: 4_102_444_799_999) == "2099-12-31T23:59:59.999Z")
    }

    @Test func daysRoundTrip() {
        var d: Int64 = -800_000
        while d < 800_000 {
            let (y, m, day) = UTC.civil(fromDays: d)
            #expect(UTC.days(fromCivil: y, m, day) == d)
            d += 997
        }
    }

    @Test func manualClockMovesBothClocks() {
        let c = ManualClock(wallMs: 1_000, monotonicMs: 5)
        c.advance(ms: 48 * 3_600_000)
        #expect(c.wallMs() == 1_000 + 172_800_000)
        #expect(c.monotonicMs() == 5 + 172_800_000)
    }
}

@Suite struct SimulatedMeterTests {
    @Test func sameSeedSameValues() throws {
        var a = SimulatedMeter(config: SimulatedMeterConfig())
        var b = SimulatedMeter(config: SimulatedMeterConfig())
        for t in stride(from: Int64(1_700_000_000_000), to: 1_700_000_060_000, by: 1_000) {
            #expect(try a.read(wallMs: t, clockSynced: true) == b.read(wallMs: t, clockSynced: true))
        }
    }

    @Test func valuesArePlausibleOverAWholeDay() throws {
        var m = SimulatedMeter(config: SimulatedMeterConfig())
        var sawImport = false
        var sawExport = false
        var lastImport: Int64 = 0
        for t in stride(from: Int64(1_700_000_000_000), to: 1_700_086_400_000, by: 60_000) {
            let s = try m.read(wallMs: t, clockSynced: true)
            let p = try #require(s.activePowerW)
            if p > 0 { sawImport = true } else if p < 0 { sawExport = true }
            let v = try #require(s.l1.voltageMv)
            #expect(v >= 228_000 && v <= 232_000)
            let f = try #require(s.frequencyMhz)
            #expect(f >= 49_980 && f <= 50_020)
            let e = try #require(s.energyImportWh)
            #expect(e >= lastImport)  // counters never go backwards
            lastImport = e
            #expect(s.quality == [.simulated])
        }
        #expect(sawImport && sawExport)
        #expect(lastImport > 0)
    }

    @Test func unsyncedClockIsFlagged() throws {
        var m = SimulatedMeter(config: SimulatedMeterConfig())
        #expect(try m.read(wallMs: 5_000, clockSynced: false).quality.contains(.clockUnsynced))
    }

    @Test func hypotAndWave() {
        #expect(SimulatedMeter.hypot(3, 4) == 5)
        #expect(SimulatedMeter.hypot(0, 0) == 0)
        #expect(SimulatedMeter.wave(0, 1_000) == 0)
        #expect(SimulatedMeter.wave(250, 1_000) == 1_000)
        #expect(SimulatedMeter.wave(750, 1_000) == -1_000)
    }
}
