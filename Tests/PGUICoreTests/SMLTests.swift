import Testing

@testable import PGUICore

/// Published SML frames of German meters. Source: the test suite of smllib
/// (github.com/spacemanspiff2007/SmlLib, tests/test_frames.py, GPL-3.0 test data): "Frame2"
/// (Holley DTZ541, server id 0a01484c5902000424a0), "Frame Issue #8 (FIXED)" (eBZ DD3) and "Frame1"
/// (DZG DVS74). Expected values below were read with smllib 1.7 (an independent decoder).
enum PublishedSML {
    static let holley = hex("1b1b1b1b0101010176040000016200620072650000010176010107000002dba23c0b0a01484c5902000424a0010163945b0076040000026200620072650000070177010b0a01484c5902000424a00101f10477070100603201010101010104484c590177070100600100ff010101010b0a01484c5902000424a00177070100010800ff65001c81046502dba23d621e52ff6502aea1320177070100020800ff65001c81046502dba23d621e52ff62000177070100100700ff0101621b52005300890177070100200700ff0101622352ff6309280177070100340700ff0101622352ff6309290177070100480700ff0101622352ff63092201770701001f0700ff0101622152fe62290177070100330700ff0101622152fe624e0177070100470700ff0101622152fe622e0177070100510701ff01016208520062f00177070100510702ff01016208520062780177070100510704ff010162085200630110017707010051070fff010162085200630138017707010051071aff01016208520063011101770701000e0700ff0101622c52ff6301f40177070100000200000101010109312e30322e3030370177070100605a02010101010105413031410177070100600500ff0101010165001c810401010163fc1e00760400000362006200726500000201710163e8230000001b1b1b1b1a0222ed")
    static let ebz = hex("1b1b1b1b010101017605011fbc8362006200726500000101760101070000000000000b00000000000000000000010163f8f6007605011fbc846200620072650000070177010b000000000000000000000172620165002ff64f7a77078181c78203ff010101010445425a0177070100000009ff010101010b000000000000000000000177070100010800ff6401018001621e52fb690000000ac07048a70177070100010801ff0101621e52fb6900000000000000000177070100010802ff0101621e52fb6900000000060fd1a00177070100020800ff6401018001621e52fb69000000000d19e1c00177070100100700ff0101621b52fe550001c3970177070100240700ff0101621b52fe5500001ac60177070100380700ff0101621b52fe5500000a1401770701004c0700ff0101621b52fe5500019ebd01010163f08a007605011fbc8562006200726500000201710163e38f000000001b1b1b1b1a03509f")
    static let dzg = hex("1b1b1b1b0101010176051c414c02620062007263010176010102310b0a01445a47000282c0b07262016505471c2a620263f9380076051d414c02620062007263070177010b0a01445a47000282c0b0070100620affff7262016505471c2a7477070100603201010172620162006200520004445a470177070100600100ff017262016200620052000b0a01445a47000282c0b00177070100010800ff641c01047262016200621e520363344f0177070100020800ff017262016200621e520362000101016393770076051e414c026200620072630201710163e6ba00000000001b1b1b1b1a04dad0")

    static func hex(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return stride(from: 0, to: b.count, by: 2).map { ASCII.hexValue(b[$0])! << 4 | ASCII.hexValue(b[$0 + 1])! }
    }
}

func smlFrames(_ bytes: [UInt8], table: OBISTable = .standard) throws -> (ms: [Measurement], framer: SMLFramer) {
    var framer = SMLFramer()
    var acc = OBISAccumulator(table: table)
    var out: [Measurement] = []
    try bytes.withUnsafeBufferPointer { p in
        var off = 0
        while off < p.count {
            let (used, complete) = framer.feed(UnsafeBufferPointer(rebasing: p[off...]))
            off += used
            if complete {
                acc.reset()
                _ = try framer.withPayload { (t: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in try SML.decode(t, into: &acc) }
                out.append(acc.measurement(timestampMs: 0, quality: []))
            }
        }
    }
    return (out, framer)
}

@Suite struct SMLTests {
    @Test func crc16IsX25() {
        #expect(Array("123456789".utf8).withUnsafeBufferPointer { SML.crc16($0) } == 0x906E)
    }

    @Test func holleyDTZ541() throws {
        let (ms, f) = try smlFrames(PublishedSML.holley)
        #expect(ms.count == 1 && f.crcErrors == 0)
        let m = ms[0]
        #expect(m.energyImportWh == 4_499_896)  // 44998962 × 10^-1 Wh
        #expect(m.energyExportWh == 0)
        #expect(m.activePowerW == 137)
        #expect(m.l1.voltageMv == 234_400 && m.l2.voltageMv == 234_500 && m.l3.voltageMv == 233_800)
        #expect(m.l1.currentMa == 410 && m.l2.currentMa == 780 && m.l3.currentMa == 460)
        #expect(m.frequencyMhz == 50_000)
    }

    @Test func ebzDD3() throws {
        let (ms, _) = try smlFrames(PublishedSML.ebz)
        #expect(ms.count == 1)
        #expect(ms[0].energyImportWh == 461_783)  // 46178257063 × 10^-5 Wh, rounded
        #expect(ms[0].energyExportWh == 2_198)
        #expect(ms[0].activePowerW == 1_156)
        #expect(ms[0].l1.activePowerW == 69 && ms[0].l2.activePowerW == 26 && ms[0].l3.activePowerW == 1_062)
    }

    @Test func dzgWithListValTime() throws {
        let (ms, _) = try smlFrames(PublishedSML.dzg)
        #expect(ms.count == 1 && ms[0].energyImportWh == 13_391_000)  // scaler +3 as the meter sends it
    }

    @Test func emptyGarbageAndFramesInNoise() throws {
        #expect(try smlFrames([]).ms.isEmpty)
        let noise: [UInt8] = [0x1B, 0x1B, 0x1B, 0x00, 0x1B, 0x1B, 0x1B, 0x1B, 0x02, 0x02, 0x02, 0x02, 0xFF]
        let (ms, _) = try smlFrames(noise + PublishedSML.holley + noise + PublishedSML.ebz)
        #expect(ms.count == 2)
    }

    @Test func wrongCRCIsDropped() throws {
        var bad = PublishedSML.holley
        bad[100] ^= 0x01
        let (ms, f) = try smlFrames(bad + PublishedSML.ebz)
        #expect(ms.count == 1 && f.crcErrors == 1 && ms[0].activePowerW == 1_156)
    }

    @Test func truncatedFrameResynchronisesOnTheNextStart() throws {
        let h = PublishedSML.holley
        let (ms, f) = try smlFrames(Array(h[..<200]) + h)
        #expect(ms.count == 1 && f.truncated == 1)
    }

    /// Limit: frames are bounded by `frameBytesMax`; a start escape followed by more data than that never completes.
    @Test func overlongFrameIsDropped() throws {
        let start: [UInt8] = [0x1B, 0x1B, 0x1B, 0x1B, 1, 1, 1, 1]
        let (ms, f) = try smlFrames(start + Array(repeating: 0x42, count: SML.frameBytesMax) + PublishedSML.ebz)
        #expect(ms.count == 1 && f.overlong == 1)
    }

    @Test func structureErrorsAreReportedNotCrashes() {
        // Unescaped payloads: a list claiming more elements than present, a TL running past the end,
        // nesting beyond the limit.
        for payload: [UInt8] in [[0x76, 0x01], [0x76, 0x0F], [0x76] + Array(repeating: 0x71, count: 20), [0x8F, 0x8F, 0x8F, 0x8F, 0x8F]] {
            var acc = OBISAccumulator(table: .standard)
            #expect(throws: SML.Problem.self) {
                _ = try payload.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in try SML.decode(p, into: &acc) }
            }
        }
    }

    @Test func serverIdForTheLog() throws {
        var framer = SMLFramer()
        _ = PublishedSML.holley.withUnsafeBufferPointer { framer.feed($0) }
        var acc = OBISAccumulator(table: .standard)
        let id = try framer.withPayload { (p: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in try SML.decode(p, into: &acc, wantServerId: true) }
        #expect(id == "0a01484c5902000424a0")
    }
}
