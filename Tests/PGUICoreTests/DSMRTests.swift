import Testing

@testable import PGUICore

/// Published example telegrams of real meters. Source: the test suite of dsmr_parser
/// (github.com/ndokter/dsmr_parser, test/example_telegrams.py, MIT licence): TELEGRAM_V2_2
/// (Iskra MT382, DSMR 2.2), TELEGRAM_V3 (Iskra MT382, DSMR 3), TELEGRAM_V4_2 (Kaifa, DSMR 4.2,
/// CRC 6796) and TELEGRAM_V5 (Iskra, DSMR 5, CRC 87B3). The header "/ISk5\2MT382" is written
/// there as a Python literal, where "\2" is the byte 0x02, and the published CRC covers that byte:
/// kept as is (U+0002) so the CRC stays the published one.
enum PublishedTelegrams {
    static let v2_2 = "/ISk5\u{2}MT382-1004\r\n\r\n0-0:96.1.1(00000000000000)\r\n1-0:1.8.1(00001.001*kWh)\r\n1-0:1.8.2(00001.001*kWh)\r\n1-0:2.8.1(00001.001*kWh)\r\n1-0:2.8.2(00001.001*kWh)\r\n0-0:96.14.0(0001)\r\n1-0:1.7.0(0001.01*kW)\r\n1-0:2.7.0(0000.00*kW)\r\n0-0:17.0.0(0999.00*kW)\r\n0-0:96.3.10(1)\r\n0-0:96.13.1()\r\n0-0:96.13.0()\r\n0-1:24.1.0(3)\r\n0-1:96.1.0(000000000000)\r\n0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00001.001)\r\n0-1:24.4.0(1)\r\n!\r\n"

    static let v3 = "/ISk5\u{2}MT382-1000\r\n\r\n0-0:96.1.1(4B384547303034303436333935353037)\r\n1-0:1.8.1(12345.678*kWh)\r\n1-0:1.8.2(12345.678*kWh)\r\n1-0:2.8.1(12345.678*kWh)\r\n1-0:2.8.2(12345.678*kWh)\r\n0-0:96.14.0(0002)\r\n1-0:1.7.0(001.19*kW)\r\n1-0:2.7.0(000.00*kW)\r\n0-0:17.0.0(016*A)\r\n0-0:96.3.10(1)\r\n0-0:96.13.1(303132333435363738)\r\n0-0:96.13.0(303132333435363738393A3B3C3D3E3F303132333435363738393A3B3C3D3E3F303132333435363738393A3B3C3D3E3F303132333435363738393A3B3C3D3E3F303132333435363738393A3B3C3D3E3F)\r\n0-1:96.1.0(3232323241424344313233343536373839)\r\n0-1:24.1.0(03)\r\n0-1:24.3.0(090212160000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00001.001)\r\n0-1:24.4.0(1)\r\n!\r\n"

    static let v4_2 = "/KFM5KAIFA-METER\r\n\r\n1-3:0.2.8(42)\r\n0-0:1.0.0(161113205757W)\r\n0-0:96.1.1(3960221976967177082151037881335713)\r\n1-0:1.8.1(001581.123*kWh)\r\n1-0:1.8.2(001435.706*kWh)\r\n1-0:2.8.1(000000.000*kWh)\r\n1-0:2.8.2(000000.000*kWh)\r\n0-0:96.14.0(0002)\r\n1-0:1.7.0(02.027*kW)\r\n1-0:2.7.0(00.000*kW)\r\n0-0:96.7.21(00015)\r\n0-0:96.7.9(00007)\r\n1-0:99.97.0(3)(0-0:96.7.19)(000104180320W)(0000237126*s)(000101000001W)(2147583646*s)(000102000003W)(2317482647*s)\r\n1-0:32.32.0(00000)\r\n1-0:52.32.0(00000)\r\n1-0:72.32.0(00000)\r\n1-0:32.36.0(00000)\r\n1-0:52.36.0(00000)\r\n1-0:72.36.0(00000)\r\n0-0:96.13.1()\r\n0-0:96.13.0()\r\n1-0:31.7.0(000*A)\r\n1-0:51.7.0(006*A)\r\n1-0:71.7.0(002*A)\r\n1-0:21.7.0(00.170*kW)\r\n1-0:22.7.0(00.000*kW)\r\n1-0:41.7.0(01.247*kW)\r\n1-0:42.7.0(00.000*kW)\r\n1-0:61.7.0(00.209*kW)\r\n1-0:62.7.0(00.000*kW)\r\n0-1:24.1.0(003)\r\n0-1:96.1.0(4819243993373755377509728609491464)\r\n0-1:24.2.1(161129200000W)(00981.443*m3)\r\n!6796\r\n"

    static let v5 = "/ISk5\u{2}MT382-1000\r\n\r\n1-3:0.2.8(50)\r\n0-0:1.0.0(170102192002W)\r\n0-0:96.1.1(4B384547303034303436333935353037)\r\n1-0:1.8.1(000004.426*kWh)\r\n1-0:1.8.2(000002.399*kWh)\r\n1-0:2.8.1(000002.444*kWh)\r\n1-0:2.8.2(000000.000*kWh)\r\n0-0:96.14.0(0002)\r\n1-0:1.7.0(00.244*kW)\r\n1-0:2.7.0(00.000*kW)\r\n0-0:96.7.21(00013)\r\n0-0:96.7.9(00000)\r\n1-0:99.97.0(0)(0-0:96.7.19)\r\n1-0:32.32.0(00000)\r\n1-0:52.32.0(00000)\r\n1-0:72.32.0(00000)\r\n1-0:32.36.0(00000)\r\n1-0:52.36.0(00000)\r\n1-0:72.36.0(00000)\r\n0-0:96.13.0()\r\n1-0:32.7.0(0230.0*V)\r\n1-0:52.7.0(0230.0*V)\r\n1-0:72.7.0(0229.0*V)\r\n1-0:31.7.0(0.48*A)\r\n1-0:51.7.0(0.44*A)\r\n1-0:71.7.0(0.86*A)\r\n1-0:21.7.0(00.070*kW)\r\n1-0:41.7.0(00.032*kW)\r\n1-0:61.7.0(00.142*kW)\r\n1-0:22.7.0(00.000*kW)\r\n1-0:42.7.0(00.000*kW)\r\n1-0:62.7.0(00.000*kW)\r\n0-1:24.1.0(003)\r\n0-1:96.1.0(3232323241424344313233343536373839)\r\n0-1:24.2.1(170102161005W)(00000.107*m3)\r\n0-2:24.1.0(003)\r\n0-2:96.1.0()\r\n!87B3\r\n"
}

/// A link fed from memory: each element of `chunks` is what one read returns; then nothing (timeout).
struct MemoryLink: ByteLink {
    var chunks: [[UInt8]]
    var written: [UInt8] = []
    var speeds: [Int] = []
    var closes = 0
    let clock: ManualClock?
    /// Time a read that finds nothing lets pass (the timeout it was given).
    init(_ chunks: [[UInt8]], clock: ManualClock? = nil) {
        self.chunks = chunks
        self.clock = clock
    }

    mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        guard !chunks.isEmpty else {
            clock?.advance(ms: max(0, timeoutMs))
            return 0
        }
        var c = chunks.removeFirst()
        let n = min(c.count, buffer.count)
        for i in 0..<n { buffer[i] = c[i] }
        if n < c.count {
            c.removeFirst(n)
            chunks.insert(c, at: 0)
        }
        return n
    }

    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) { written += bytes }
    mutating func setSpeed(baud: Int) throws(MeterError) { speeds.append(baud) }
    mutating func close() { closes += 1 }
}

/// `body` ('/' … '!') with its CRC16 and CR LF appended.
func withCRC(_ body: String) -> [UInt8] {
    var t = Array(body.utf8)
    let crc = t.withUnsafeBufferPointer { DSMR.crc16($0) }
    let hex = Array("0123456789ABCDEF".utf8)
    t += [hex[Int(crc >> 12)], hex[Int(crc >> 8 & 15)], hex[Int(crc >> 4 & 15)], hex[Int(crc & 15)], 13, 10]
    return t
}

/// Runs the framer over `bytes` and decodes every telegram found; returns the measurements.
func dsmrFrames(_ bytes: [UInt8], crcRequired: Bool = true, table: OBISTable = .standard) throws -> (ms: [Measurement], framer: DSMRFramer) {
    var framer = DSMRFramer(crcRequired: crcRequired)
    var acc = OBISAccumulator(table: table)
    var out: [Measurement] = []
    try bytes.withUnsafeBufferPointer { p in
        var off = 0
        while off < p.count {
            let (used, complete) = framer.feed(UnsafeBufferPointer(rebasing: p[off...]))
            off += used
            if complete {
                acc.reset()
                try framer.withTelegram { (t: UnsafeBufferPointer<UInt8>) throws(DSMR.Problem) in try DSMR.decode(t, into: &acc) }
                out.append(acc.measurement(timestampMs: 0, quality: []))
            }
        }
    }
    return (out, framer)
}

@Suite struct DSMRTests {
    @Test func crc16IsArc() {
        let v = Array("123456789".utf8).withUnsafeBufferPointer { DSMR.crc16($0) }
        #expect(v == 0xBB3D)
    }

    @Test func publishedV5() throws {
        let (ms, f) = try dsmrFrames(Array(PublishedTelegrams.v5.utf8))
        #expect(ms.count == 1 && f.crcErrors == 0)
        let m = ms[0]
        #expect(m.energyImportWh == 6_825)  // 1.8.1 + 1.8.2: 4.426 + 2.399 kWh
        #expect(m.energyExportWh == 2_444)
        #expect(m.activePowerW == 244)
        #expect(m.l1.voltageMv == 230_000 && m.l3.voltageMv == 229_000)
        #expect(m.l1.currentMa == 480 && m.l3.currentMa == 860)
        #expect(m.l1.activePowerW == 70 && m.l2.activePowerW == 32 && m.l3.activePowerW == 142)
        #expect(m.frequencyMhz == nil)
    }

    @Test func publishedV4_2() throws {
        let (ms, _) = try dsmrFrames(Array(PublishedTelegrams.v4_2.utf8))
        #expect(ms.count == 1)
        #expect(ms[0].energyImportWh == 3_016_829)  // 1581.123 + 1435.706 kWh
        #expect(ms[0].activePowerW == 2_027)
        #expect(ms[0].l2.currentMa == 6_000)
        #expect(ms[0].l2.activePowerW == 1_247)
    }

    @Test func publishedV2_2AndV3HaveNoCRC() throws {
        let (m2, _) = try dsmrFrames(Array(PublishedTelegrams.v2_2.utf8), crcRequired: false)
        #expect(m2.count == 1 && m2[0].energyImportWh == 2_002 && m2[0].activePowerW == 1_010)
        let (m3, _) = try dsmrFrames(Array(PublishedTelegrams.v3.utf8), crcRequired: false)
        #expect(m3.count == 1 && m3[0].energyExportWh == 24_691_356 && m3[0].activePowerW == 1_190)
        // A DSMR 4/5 meter always sends a CRC: without one the telegram is damaged.
        let (none, f) = try dsmrFrames(Array(PublishedTelegrams.v2_2.utf8), crcRequired: true)
        #expect(none.isEmpty && f.crcErrors == 1)
    }

    @Test func emptyAndGarbageYieldNothing() throws {
        #expect(try dsmrFrames([]).ms.isEmpty)
        let (ms, f) = try dsmrFrames(Array("hello\r\n!1234\r\n\u{0}\u{ff}".utf8))
        #expect(ms.isEmpty && f.noiseBytes == 17)  // 14 + NUL + U+00FF (two bytes)
    }

    @Test func wrongCRCIsDroppedAndTheNextTelegramIsRead() throws {
        var bad = Array(PublishedTelegrams.v5.utf8)
        let i = bad.firstIndex(of: UInt8(ascii: "4"))!  // a digit of 1.8.1
        bad[i] = UInt8(ascii: "5")
        let (ms, f) = try dsmrFrames(bad + Array(PublishedTelegrams.v5.utf8))
        #expect(ms.count == 1 && f.crcErrors == 1 && f.telegrams == 1)
    }

    @Test func truncatedTelegramResynchronisesOnTheNextHeader() throws {
        let whole = Array(PublishedTelegrams.v4_2.utf8)
        let (ms, f) = try dsmrFrames(Array(whole[..<300]) + Array("\u{0}\u{0}".utf8) + whole)
        #expect(ms.count == 1 && f.truncated == 1)
        // Cut in the trailer: never completes, and the next one is read.
        let (ms2, _) = try dsmrFrames(Array(whole[..<(whole.count - 3)]) + whole)
        #expect(ms2.count == 1)
    }

    /// Limit: a telegram of exactly `telegramBytesMax` bytes ('/' … CRC LF) is read; one byte more is dropped.
    @Test func sizeLimit() throws {
        func telegram(totalBytes: Int) -> [UInt8] {
            let head = Array("/XYZ5 test\r\n\r\n1-0:1.7.0(01.000*kW)\r\n0-0:96.13.0(".utf8)
            let tail = Array(")\r\n!".utf8)
            var t = head + Array(repeating: UInt8(ascii: "A"), count: totalBytes - head.count - tail.count - 6) + tail
            let crc = t.withUnsafeBufferPointer { DSMR.crc16($0) }
            let hex = Array("0123456789ABCDEF".utf8)
            t += [hex[Int(crc >> 12)], hex[Int(crc >> 8 & 15)], hex[Int(crc >> 4 & 15)], hex[Int(crc & 15)], 13, 10]
            return t
        }
        let limit = telegram(totalBytes: DSMR.telegramBytesMax)
        #expect(limit.count == DSMR.telegramBytesMax)
        let (ok, _) = try dsmrFrames(limit)
        #expect(ok.count == 1 && ok[0].activePowerW == 1_000)
        let (over, f) = try dsmrFrames(telegram(totalBytes: DSMR.telegramBytesMax + 1))
        #expect(over.isEmpty && f.overlong == 1)
    }

    @Test func knownCodeWithBadValueIsAnError() throws {
        #expect(throws: DSMR.Problem.self) { _ = try dsmrFrames(withCRC("/X5\r\n\r\n1-0:1.7.0(01.2.3*kW)\r\n!")) }
        #expect(throws: DSMR.Problem.self) { _ = try dsmrFrames(withCRC("/X5\r\n\r\n1-0:1.7.0(01.2*kWh)\r\n!")) }
    }

    @Test func historicalAndUnknownLinesAreSkipped() throws {
        var acc = OBISAccumulator(table: .standard)
        let t = Array("/X\r\n1-0:1.8.0*12(000999.000*kWh)\r\n1-0:1.8.0(000001.000*kWh)\r\n0-1:24.2.1(101209112500W)(12785.123*m3)\r\n".utf8)
        try t.withUnsafeBufferPointer { p throws(DSMR.Problem) in _ = try DSMR.decode(p, into: &acc) }
        #expect(acc.measurement(timestampMs: 0, quality: []).energyImportWh == 1_000)
        #expect(acc.unknown == 2)
    }

    @Test func lineCodeParserMatchesOBISCodeParse() {
        for text in ["1-0:1.8.0*255", "1-0:1.8.1", "1.8.0", "0-0:96.1.0", "1.8.0*12", "", "1", "256.7.0", "1-0:1.8", "1-0:1.8.0*", "a.b.c"] {
            let bytes = Array(text.utf8)
            let fast = bytes.withUnsafeBufferPointer { OBISTextLine.code($0) }
            if text == "1.8.0*12" {
                #expect(fast == OBISCode(1, 0, 1, 8, 0, 12))
            } else {
                #expect(fast == OBISCode.parse(bytes), "\(text)")
            }
        }
    }
}

@Suite struct PushMeterTests {
    @Test func readsTelegramsAndLearnsThePushPeriod() throws {
        let clock = ManualClock(wallMs: plausibleWallMsMin)
        let t = Array(PublishedTelegrams.v5.utf8)
        // Three chunks per telegram, a second of silence between telegrams.
        var chunks: [[UInt8]] = []
        for _ in 0..<5 { chunks += [Array(t[..<100]), Array(t[100..<700]), Array(t[700...]), []] }
        var meter = PushMeter(link: TimedLink(chunks: chunks, clock: clock), decoder: DSMRDecoder(crcRequired: true),
                              table: .standard, clock: clock, meterId: "m")
        for _ in 0..<4 {
            let m = try meter.read(wallMs: clock.wallMs(), clockSynced: true)
            #expect(m.activePowerW == 244)
        }
        #expect(meter.period.periodMs == 1_000)
        #expect(meter.timeoutMs == 1_500)
        #expect(meter.discoveredLayout?.hasPrefix("DSMR P1 /ISk5\\x02MT382") == true)
        #expect(meter.discoveredLayout?.hasSuffix("push period 1000 ms") == true)
        _ = try meter.read(wallMs: 0, clockSynced: true)
        // Nothing more: a timeout after 1.5 periods, a gap for the acquisition core.
        let before = clock.monotonicMs()
        #expect(throws: MeterError.timeout) { _ = try meter.read(wallMs: 0, clockSynced: true) }
        #expect(clock.monotonicMs() - before >= 1_500)
    }

    @Test func damagedTelegramIsATimeoutNotAValue() throws {
        let clock = ManualClock(wallMs: plausibleWallMsMin)
        var bad = Array(PublishedTelegrams.v5.utf8)
        bad[bad.count - 4] = UInt8(ascii: "0")  // CRC digit
        var meter = PushMeter(link: TimedLink(chunks: [bad], clock: clock), decoder: DSMRDecoder(crcRequired: true),
                              table: .standard, clock: clock, meterId: "m")
        #expect(throws: MeterError.timeout) { _ = try meter.read(wallMs: 0, clockSynced: true) }
    }
}

/// A link where an empty chunk is one second of silence (the clock moves), a non-empty one arrives at once.
struct TimedLink: ByteLink {
    var chunks: [[UInt8]]
    let clock: ManualClock

    mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        guard !chunks.isEmpty else {
            clock.advance(ms: max(0, timeoutMs))
            return 0
        }
        if chunks[0].isEmpty {
            if timeoutMs < 1_000 {
                clock.advance(ms: max(0, timeoutMs))
                return 0
            }
            clock.advance(ms: 1_000)
            chunks.removeFirst()
            return 0
        }
        var c = chunks.removeFirst()
        let n = min(c.count, buffer.count)
        for i in 0..<n { buffer[i] = c[i] }
        if n < c.count {
            c.removeFirst(n)
            chunks.insert(c, at: 0)
        }
        return n
    }

    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {}
    mutating func close() {}
}

/// A stand-in for AES-GCM behind `MeterCipher` (unit tests only): XOR with 0x5A, the tag is 12 × 0x5A.
struct XORCipher: MeterCipher {
    func open(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, ciphertext: UnsafeBufferPointer<UInt8>,
              tag: UnsafeBufferPointer<UInt8>, plaintext: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard tag.allSatisfy({ $0 == 0x5A }), aad.first == 0x30 else { return false }
        for i in 0..<ciphertext.count { plaintext[i] = ciphertext[i] ^ 0x5A }
        return true
    }
    func seal(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, plaintext: UnsafeBufferPointer<UInt8>,
              ciphertext: UnsafeMutableBufferPointer<UInt8>, tag: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        for i in 0..<plaintext.count { ciphertext[i] = plaintext[i] ^ 0x5A }
        for i in 0..<tag.count { tag[i] = 0x5A }
        return true
    }
}

func xorFrame(_ plain: [UInt8], counter: UInt32) -> [UInt8] {
    let length = 1 + 4 + plain.count + 12
    var f: [UInt8] = [0xDB, 8] + Array("SYSTEMID".utf8) + [0x82, UInt8(length >> 8), UInt8(length & 255), 0x30]
    f += [UInt8(counter >> 24), UInt8(counter >> 16 & 255), UInt8(counter >> 8 & 255), UInt8(counter & 255)]
    f += plain.map { $0 ^ 0x5A } + Array(repeating: 0x5A, count: 12)
    return f
}

@Suite struct EncryptedP1FramingTests {
    func run(_ bytes: [UInt8]) -> (ms: [Measurement], errors: Int, framer: DSMREncryptedFramer) {
        var d = DSMREncryptedDecoder(cipher: XORCipher(), authenticationKey: DSMREncrypted.publishedAuthenticationKey)
        var out: [Measurement] = []
        var errors = 0
        bytes.withUnsafeBufferPointer { p in
            var off = 0
            while off < p.count {
                let (used, complete) = d.feed(UnsafeBufferPointer(rebasing: p[off...]))
                off += used
                if complete {
                    var acc = OBISAccumulator(table: .standard)
                    do { try d.decode(into: &acc); out.append(acc.measurement(timestampMs: 0, quality: [])) } catch { errors += 1 }
                    d.framer.reset()
                }
            }
        }
        return (out, errors, d.framer)
    }

    @Test func framesInNoiseWithIncreasingCounters() {
        let t = Array(PublishedTelegrams.v5.utf8)
        let r = run([0x00, 0xDB, 0x07, 0xFF] + xorFrame(t, counter: 1) + [0x13] + xorFrame(t, counter: 2) + xorFrame(t, counter: 2))
        #expect(r.ms.count == 2 && r.errors == 1)  // the repeated counter is refused
        #expect(r.ms[0].activePowerW == 244)
        #expect(r.framer.badHeaders == 1)
    }

    @Test func limitsAndTruncation() {
        let t = Array(PublishedTelegrams.v5.utf8)
        // A length field beyond frameBytesMax: header refused, the next frame is read.
        var huge = xorFrame(t, counter: 1)
        huge[11] = 0xFF
        huge[12] = 0xFF
        let r = run(huge + xorFrame(t, counter: 3))
        #expect(r.ms.count == 1 && r.framer.badHeaders >= 1)
        // Truncated: never completes.
        let whole = xorFrame(t, counter: 1)
        #expect(run(Array(whole[..<(whole.count - 1)])).ms.isEmpty)
        #expect(run([]).ms.isEmpty)
        // Decrypted content without a valid DSMR CRC is refused.
        var damaged = t
        damaged[20] ^= 1
        #expect(run(xorFrame(damaged, counter: 1)).errors == 1)
    }
}
