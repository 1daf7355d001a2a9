import Testing

@testable import PGUICore

/// A stand-in for AES-GCM in core tests: a keyed XOR stream and a keyed checksum as tag. It has the
/// properties the decoder relies on (tag depends on key, IV, AAD and plaintext; sealing the
/// ciphertext again yields the plaintext); the real cipher is tested in PGUIPlatformTests.
struct FakeCipher: MeterCipher {
    var key: UInt8
    func stream(_ iv: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt8 { iv[i % iv.count] ^ key ^ UInt8(truncatingIfNeeded: i) }
    func mac(_ iv: UnsafeBufferPointer<UInt8>, _ aad: UnsafeBufferPointer<UInt8>, _ pt: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt8 {
        var h: UInt32 = 2_166_136_261 ^ UInt32(key) ^ UInt32(i)
        for b in iv { h = (h ^ UInt32(b)) &* 16_777_619 }
        for b in aad { h = (h ^ UInt32(b)) &* 16_777_619 }
        for b in pt { h = (h ^ UInt32(b)) &* 16_777_619 }
        return UInt8(truncatingIfNeeded: h >> 8)
    }
    func open(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, ciphertext: UnsafeBufferPointer<UInt8>,
              tag: UnsafeBufferPointer<UInt8>, plaintext: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        for i in 0..<ciphertext.count { plaintext[i] = ciphertext[i] ^ stream(iv, i) }
        let pt = UnsafeBufferPointer(rebasing: plaintext[0..<ciphertext.count])
        for i in 0..<tag.count where tag[i] != mac(iv, aad, pt, i) {
            for j in 0..<ciphertext.count { plaintext[j] = 0 }
            return false
        }
        return true
    }
    func seal(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, plaintext: UnsafeBufferPointer<UInt8>,
              ciphertext: UnsafeMutableBufferPointer<UInt8>, tag: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        for i in 0..<plaintext.count { ciphertext[i] = plaintext[i] ^ stream(iv, i) }
        for i in 0..<tag.count { tag[i] = mac(iv, aad, plaintext, i) }
        return true
    }
}

/// Bytes the "meter" sends, and a responder that answers each write (a scripted meter).
final class MemoryWire {
    var incoming: [UInt8] = []
    var written: [[UInt8]] = []
    var respond: ((MemoryWire, [UInt8]) -> Void)? = nil
    var closed = 0
    /// Bytes handed out per read (exercises reassembly across reads).
    var chunk = 7
}

struct WireLink: ByteLink {
    let wire: MemoryWire
    let clock: ManualClock
    mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        if wire.incoming.isEmpty {
            clock.advance(ms: timeoutMs)
            return 0
        }
        let n = min(buffer.count, wire.chunk, wire.incoming.count)
        for i in 0..<n { buffer[i] = wire.incoming[i] }
        wire.incoming.removeFirst(n)
        return n
    }
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {
        let b = Array(bytes)
        wire.written.append(b)
        wire.respond?(wire, b)
    }
    mutating func close() { wire.closed += 1 }
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8? = nil
    for c in s.utf8 {
        guard let v = ASCII.hexValue(c) else { continue }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return out
}

@Suite struct HDLCTests {
    @Test func fcsIsX25() {
        // CRC-16/X-25 check value (the catalogue's "123456789" → 0x906E).
        #expect(HDLC.fcs(Array("123456789".utf8), 0..<9) == 0x906E)
    }

    /// The SNRM of client 16 to server 1 as published in the Gurux DLMS/COSEM HDLC documentation
    /// ("7E A0 07 03 21 93 0F 01 7E").
    @Test func publishedSNRM() {
        var out: [UInt8] = []
        HDLC.encode(destination: .server(logical: 1, physical: nil), source: .client(16), control: HDLC.snrm, info: [], into: &out)
        #expect(out == hexBytes("7E A0 07 03 21 93 0F 01 7E"))
    }

    @Test func roundTripWithNoiseAndResync() {
        var a: [UInt8] = [], b: [UInt8] = []
        HDLC.encode(destination: .client(16), source: .server(logical: 1, physical: 17), control: HDLC.iControl(receive: 1, send: 0),
                    info: [0xE6, 0xE7, 0x00, 0xC4, 0x01], into: &a)
        HDLC.encode(destination: .client(16), source: .server(logical: 300, physical: 5000), control: HDLC.ua, info: [], into: &b)
        var broken = a
        broken[broken.count - 3] ^= 0x40  // FCS wrong
        var d = HDLCDeframer()
        d.append([0x00, 0x55, 0x7E, 0x7E] + broken + [0x12] + a + b)
        let f1 = d.next()
        #expect(f1?.source == .server(logical: 1, physical: 17))
        #expect(f1.map { Array(d.buffer[$0.info]) } == [0xE6, 0xE7, 0x00, 0xC4, 0x01])
        let f2 = d.next()
        #expect(f2?.control == HDLC.ua)
        #expect(f2?.source == HDLC.Address(upper: 300, lower: 5000, bytes: 4))
        #expect(d.next() == nil)
        #expect(d.checksumErrors == 1)
        #expect(d.discardedBytes > 0)
    }

    @Test func emptyTruncatedAndWrongHCS() {
        var d = HDLCDeframer()
        #expect(d.next() == nil)
        var a: [UInt8] = []
        HDLC.encode(destination: .client(16), source: .server(logical: 1, physical: nil), control: 0x10, info: [1, 2, 3], into: &a)
        d.append(a.dropLast(2))
        #expect(d.next() == nil)  // truncated: waits
        d.reset()
        var bad = a
        bad[6] ^= 1  // HCS
        // Recompute the FCS so only the HCS is wrong.
        let f = HDLC.fcs(bad, 1..<(bad.count - 3))
        bad[bad.count - 3] = UInt8(f & 0xFF); bad[bad.count - 2] = UInt8(f >> 8)
        d.append(bad)
        #expect(d.next() == nil)
        #expect(d.checksumErrors == 1)
    }

    @Test func boundaryLengths() {
        // The largest information field one frame can carry (format length 2047) round-trips.
        let info = [UInt8](repeating: 0xAB, count: DLMSLimits.hdlcFrameBytesMax - 9)
        var a: [UInt8] = []
        HDLC.encode(destination: .client(16), source: .server(logical: 1, physical: nil), control: 0x10, info: info, into: &a)
        #expect(a.count == DLMSLimits.hdlcFrameBytesMax + 2)
        var d = HDLCDeframer()
        d.append(a)
        #expect(d.next()?.info.count == info.count)
        // A length field under the minimum frame is noise.
        d.reset()
        d.append([0x7E, 0xA0, 0x04, 0x03, 0x21, 0x93, 0x7E])
        #expect(d.next() == nil)
    }
}

@Suite struct AXDRTests {
    func walk(_ b: [UInt8]) throws(DLMSDecodeError) -> [DLMSDataEvent] {
        var ev: [DLMSDataEvent] = []
        try b.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) in
            var r = AXDRReader(p)
            try DLMSData.walk(&r) { ev.append($0) }
        }
        return ev
    }

    @Test func scalarsAndNesting() throws {
        let ev = try walk([0x02, 0x03, 0x09, 0x06, 1, 0, 1, 8, 0, 255, 0x06, 0, 0, 0x30, 0x39, 0x02, 0x02, 0x0F, 0xFD, 0x16, 0x1E])
        #expect(ev == [.open(tag: 2, count: 3), .octets(4..<10), .integer(12_345, tag: 6), .open(tag: 2, count: 2),
                       .integer(-3, tag: 15), .integer(30, tag: 22), .close, .close])
    }

    @Test func refusals() {
        #expect(throws: DLMSDecodeError.self) { try walk([]) }
        #expect(throws: DLMSDecodeError.self) { try walk([0x06, 0, 0]) }  // truncated uint32
        #expect(throws: DLMSDecodeError.self) { try walk([0x09, 0x05, 1, 2]) }  // length past the end
        #expect(throws: DLMSDecodeError.self) { try walk([0x07]) }  // unknown tag
        #expect(throws: DLMSDecodeError.self) { try walk([0x15, 0xFF, 0, 0, 0, 0, 0, 0, 0]) }  // uint64 over Int64
        #expect(throws: DLMSDecodeError.self) { try walk([0x09, 0x84, 0, 0, 0, 1]) }  // 4-byte length form
        // Depth: the limit nests, limit + 1 is refused.
        let ok = [UInt8](repeating: 0, count: 0) + Array([[UInt8]](repeating: [0x02, 0x01], count: DLMSLimits.dataDepthMax).joined()) + [0x00]
        #expect((try? walk(ok)) != nil)
        let deep = Array([[UInt8]](repeating: [0x02, 0x01], count: DLMSLimits.dataDepthMax + 1).joined()) + [0x00]
        #expect(throws: DLMSDecodeError.self) { try walk(deep) }
    }
}

@Suite struct DLMSAPDUTests {
    @Test func aarqWithPassword() {
        var out: [UInt8] = []
        DLMSAPDU.aarq(.low(password: Array("12345678".utf8)), into: &out)
        #expect(out[0] == 0x60 && Int(out[1]) == out.count - 2)
        #expect(out.starts(with: [0x60, UInt8(out.count - 2), 0xA1, 0x09, 0x06, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01, 0x8A, 0x02, 0x07, 0x80]))
        #expect(Array(out[(out.count - 30)..<(out.count - 18)]) == [0xAC, 0x0A, 0x80, 0x08] + Array("12345678".utf8))
    }

    static let aareAccepted = hexBytes("6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000101D04000007")
    static let aareRefused = hexBytes("6129A109060760857405080101A203020101A305A10302010DBE10040E0800065F1F040000101D04000007")

    func aare(_ b: [UInt8]) throws(DLMSDecodeError) -> DLMSAPDU.AAREResult {
        try b.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> DLMSAPDU.AAREResult in
            var r = AXDRReader(p)
            return try DLMSAPDU.parseAARE(&r)
        }
    }

    @Test func aareResults() throws {
        let a = try aare(Self.aareAccepted)
        #expect(a.accepted && a.serverMaxPDU == 0x400 && a.conformance == 0x00101D)
        let r = try aare(Self.aareRefused)
        #expect(!r.accepted && r.diagnostic == 13)
        #expect(throws: DLMSDecodeError.self) { try aare(Array(Self.aareAccepted.dropLast(5))) }  // truncated
        #expect(throws: DLMSDecodeError.self) { try aare([0x62] + Self.aareAccepted.dropFirst()) }  // wrong tag
        #expect(throws: DLMSDecodeError.self) { try aare([]) }
    }

    func get(_ b: [UInt8]) throws(DLMSDecodeError) -> DLMSAPDU.GetResponse {
        try b.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> DLMSAPDU.GetResponse in
            var r = AXDRReader(p)
            return try DLMSAPDU.parseGetResponse(&r)
        }
    }

    @Test func getResponses() throws {
        #expect(try get([0xC4, 0x01, 0xC1, 0x00, 0x06, 0, 0, 0, 1]) == .data(start: 4))
        #expect(try get([0xC4, 0x01, 0xC1, 0x01, 0x04]) == .accessError(4))
        #expect(try get([0xC4, 0x02, 0xC1, 0x00, 0, 0, 0, 1, 0x00, 0x03, 1, 2, 3]) == .block(number: 1, last: false, range: 10..<13))
        #expect(throws: DLMSDecodeError.self) { try get([0xC4, 0x02, 0xC1, 0x00, 0, 0, 0, 1, 0x00, 0x04, 1, 2, 3]) }  // raw-data overlong
        #expect(throws: DLMSDecodeError.self) { try get([0xC5, 0x01, 0xC1, 0x00, 0x00]) }  // wrong tag
        #expect(throws: DLMSDecodeError.self) { try get([0xC4, 0x01, 0xC2, 0x00, 0x00]) }  // other invoke id
        #expect(throws: DLMSDecodeError.self) { try get([0xD8, 0x01, 0x02]) }  // exception-response
    }
}

/// A ciphered data-notification as an Austrian/Nordic meter sends it: date-time, then a structure
/// of logical name, value and scaler_unit per register.
func pushBody(energyWh: UInt32 = 12_345_678, powerW: UInt32 = 1_234, voltageDeciV: UInt16 = 2_301) -> [UInt8] {
    var b: [UInt8] = [0x0F, 0x00, 0x00, 0x00, 0x01, 0x0C, 0x07, 0xE9, 0x0C, 0x02, 0x03, 0x0F, 0x00, 0x00, 0xFF, 0x80, 0x00, 0x00]
    b += [0x02, 0x09]
    func reg(_ c: UInt8, _ d: UInt8, _ v: [UInt8], _ scaler: UInt8, _ unit: UInt8) {
        b += [0x09, 0x06, 1, 0, c, d, 0, 255] + v + [0x02, 0x02, 0x0F, scaler, 0x16, unit]
    }
    reg(1, 8, [0x06] + be32(energyWh), 0, 30)
    reg(1, 7, [0x06] + be32(powerW), 0, 27)
    reg(32, 7, [0x12, UInt8(voltageDeciV >> 8), UInt8(voltageDeciV & 0xFF)], 0xFF, 35)
    return b
}

func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

@Suite struct DLMSCipheringTests {
    let ak: [UInt8] = Array(0xD0...0xDF)
    let title: UInt64 = 0x4D4D_4D00_00BC_614E  // the Green Book's example server system title

    func open(_ d: DLMSDecryptor<FakeCipher>, _ frame: [UInt8]) throws(DLMSCipherError) -> [UInt8] {
        let r = try frame.withUnsafeBufferPointer { (p) throws(DLMSCipherError) -> Range<Int> in try d.open(p, 0..<frame.count, knownTitle: nil) }
        return Array(d.plaintext[r])
    }

    @Test func openTamperReplay() throws {
        let c = FakeCipher(key: 0x5A)
        let d = DLMSDecryptor(cipher: c, authenticationKey: ak)
        let apdu = pushBody()
        let f1 = DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 7, apdu: apdu)
        #expect(try open(d, f1) == apdu)
        #expect(d.lastCounter(title) == 7)
        // The same frame again: replayed counter.
        #expect(throws: DLMSCipherError.replay(systemTitle: title, counter: 7, last: 7)) { try open(d, f1) }
        // An older counter: stale.
        let old = DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 6, apdu: apdu)
        #expect(throws: DLMSCipherError.replay(systemTitle: title, counter: 6, last: 7)) { try open(d, old) }
        // A flipped ciphertext bit fails authentication and does not advance the counter.
        var f2 = DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 8, apdu: apdu)
        f2[30] ^= 1
        #expect(throws: DLMSCipherError.authentication(systemTitle: title, counter: 8)) { try open(d, f2) }
        #expect(d.lastCounter(title) == 7)
        // Wrong key: authentication failure.
        let wrong = DLMSCipherWriter.generalGlo(FakeCipher(key: 0x11), authenticationKey: ak, systemTitle: title, counter: 9, apdu: apdu)
        #expect(throws: DLMSCipherError.authentication(systemTitle: title, counter: 9)) { try open(d, wrong) }
    }

    @Test func securityControlPolicy() throws {
        let c = FakeCipher(key: 0x5A)
        let apdu = pushBody()
        // Authenticated only (0x10): the APDU travels in clear with a tag.
        let auth = DLMSDecryptor(cipher: c, authenticationKey: ak)
        #expect(try open(auth, DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 1, sc: 0x10, apdu: apdu)) == apdu)
        // Encrypted only (0x20) is refused while an authentication key is configured…
        let encOnly = DLMSCipherWriter.generalGlo(c, authenticationKey: [], systemTitle: title, counter: 2, sc: 0x20, apdu: apdu)
        #expect(throws: DLMSCipherError.self) { try open(auth, encOnly) }
        // …and accepted without one (meters that do not authenticate, e.g. some customer ports).
        let noAK = DLMSDecryptor(cipher: c, authenticationKey: nil)
        #expect(try open(noAK, encOnly) == apdu)
        // Compression, another suite, no protection at all: refused.
        for sc: UInt8 in [0xB0, 0x31, 0x00] {
            let f = DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 10, sc: sc, apdu: apdu)
            #expect(throws: DLMSCipherError.self) { try open(auth, f) }
        }
    }

    @Test func malformed() {
        let c = FakeCipher(key: 0x5A)
        let d = DLMSDecryptor(cipher: c, authenticationKey: ak)
        let f = DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: title, counter: 1, apdu: pushBody())
        for bad in [[], Array(f.prefix(5)), Array(f.dropLast()), f + [0], [0xDB, 0x07] + Array(f.dropFirst(2))] {
            #expect(throws: DLMSCipherError.self) { try open(d, bad) }
        }
    }
}

@Suite struct DLMSPushMeterTests {
    let ak: [UInt8] = Array(0xD0...0xDF)

    func meter(_ wire: MemoryWire, _ clock: ManualClock, framing: DLMSFraming, keys: Bool) -> DLMSPushMeter<WireLink, ManualClock, FakeCipher> {
        let t = DLMSTransport(link: WireLink(wire: wire, clock: clock), framing: framing, clock: clock)
        return DLMSPushMeter(transport: t, decryptor: keys ? DLMSDecryptor(cipher: FakeCipher(key: 0x5A), authenticationKey: ak) : nil,
                             table: .standard, periodMs: 1_000, meterId: "m")
    }

    func wrapped(_ apdu: [UInt8]) -> [UInt8] { [0, 1, 0, 1, 0, 16, UInt8(apdu.count >> 8), UInt8(apdu.count & 0xFF)] + apdu }

    @Test func cipheredPushOverTCPAndFailures() throws {
        let clock = ManualClock(wallMs: 1_800_000_000_000)
        let wire = MemoryWire()
        var m = meter(wire, clock, framing: .wrapper(client: 16, server: 1), keys: true)
        let c = FakeCipher(key: 0x5A)
        wire.incoming = wrapped(DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: 1, counter: 1, apdu: pushBody()))
        let s = try m.read(wallMs: 1, clockSynced: true)
        #expect(s.energyImportWh == 12_345_678 && s.activePowerW == 1_234 && s.l1.voltageMv == 230_100)
        // No push within the period: a timeout gap.
        #expect(throws: MeterError.timeout) { try m.read(wallMs: 2, clockSynced: true) }
        // Replayed frame: refused (an invalid gap), counted.
        wire.incoming = wrapped(DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: 1, counter: 1, apdu: pushBody()))
        #expect(throws: MeterError.self) { try m.read(wallMs: 3, clockSynced: true) }
        // Wrong key: refused, counted.
        wire.incoming = wrapped(DLMSCipherWriter.generalGlo(FakeCipher(key: 1), authenticationKey: ak, systemTitle: 1, counter: 2, apdu: pushBody()))
        do { _ = try m.read(wallMs: 4, clockSynced: true); Issue.record("wrong key accepted") } catch {
            #expect(error.gapReason == .invalid && !error.needsReconnect)
        }
        #expect(m.authenticationFailures == 2)
        // A clear push while keys are configured is refused too.
        wire.incoming = wrapped(pushBody())
        #expect(throws: MeterError.self) { try m.read(wallMs: 5, clockSynced: true) }
        // Two pushes queued: the newest wins.
        wire.incoming = wrapped(DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: 1, counter: 3, apdu: pushBody(powerW: 1)))
            + wrapped(DLMSCipherWriter.generalGlo(c, authenticationKey: ak, systemTitle: 1, counter: 4, apdu: pushBody(powerW: 2)))
        #expect(try m.read(wallMs: 6, clockSynced: true).activePowerW == 2)
    }

    @Test func clearSegmentedHDLCPush() throws {
        let clock = ManualClock(wallMs: 1_800_000_000_000)
        let wire = MemoryWire()
        var m = meter(wire, clock, framing: .hdlc(client: .client(16), server: .server(logical: 1, physical: nil)), keys: false)
        // One APDU in two UI segments, LLC header in the first, noise in between.
        let info = [0xE6, 0xE7, 0x00] + pushBody()
        var bytes: [UInt8] = []
        let cut = 20
        HDLC.encode(destination: .client(0x10), source: .server(logical: 1, physical: nil), control: HDLC.ui, info: Array(info[..<cut]), segmented: true, into: &bytes)
        bytes += [0x00, 0xFF]
        HDLC.encode(destination: .client(0x10), source: .server(logical: 1, physical: nil), control: HDLC.ui, info: Array(info[cut...]), into: &bytes)
        wire.incoming = bytes
        let s = try m.read(wallMs: 1, clockSynced: true)
        #expect(s.energyImportWh == 12_345_678 && s.l1.voltageMv == 230_100)
    }
}

/// A scripted DLMS server behind the TCP wrapper or HDLC: enough of a meter to drive the client
/// (the real peer is gurux-dlms in Tests/integration/test_04b_dlms.py).
final class ScriptedServer {
    var hdlc: Bool
    var password: [UInt8]? = nil
    var values: [OBISCode: (value: [UInt8], scaler: Int8, unit: UInt8)] = [:]
    /// Serve GET answers in blocks of this many bytes (0 = no block transfer).
    var blockBytes = 0
    var pendingBlocks: [[UInt8]] = []
    var seq = 0
    init(hdlc: Bool) { self.hdlc = hdlc }

    func answer(_ wire: MemoryWire, _ req: [UInt8]) {
        if hdlc {
            var d = HDLCDeframer()
            d.append(req)
            guard let f = d.next() else { return }
            if f.control == HDLC.snrm || f.control == HDLC.disc {
                var out: [UInt8] = []
                HDLC.encode(destination: .client(16), source: .server(logical: 1, physical: nil), control: HDLC.ua, info: [], into: &out)
                wire.incoming += out
                seq = 0
                return
            }
            if f.control & 0x0F == 0x01 { return }  // RR for the next segment: all were sent at once
            let apdu = Array(d.buffer[(f.info.lowerBound + 3)..<f.info.upperBound])
            let reply = [0xE6, 0xE7, 0x00] + respond(apdu)
            seq += 1
            var out: [UInt8] = []
            // Segment long replies in 40-byte pieces (exercises RR handling).
            var i = 0
            while i < reply.count {
                let end = min(i + 40, reply.count)
                HDLC.encode(destination: .client(16), source: .server(logical: 1, physical: nil), control: HDLC.iControl(receive: seq, send: (seq - 1) & 7),
                            info: Array(reply[i..<end]), segmented: end < reply.count, into: &out)
                i = end
                if i < reply.count { seq += 1 }
            }
            wire.incoming += out
        } else {
            let apdu = Array(req[8...])
            let r = respond(apdu)
            wire.incoming += [0, 1, 0, 1, 0, 16, UInt8(r.count >> 8), UInt8(r.count & 0xFF)] + r
        }
    }

    func respond(_ apdu: [UInt8]) -> [UInt8] {
        switch apdu[0] {
        case 0x60:
            if let pw = password {
                let ok = apdu.count > pw.count && Array(apdu.suffix(18 + pw.count).prefix(pw.count)) == pw
                return ok ? DLMSAPDUTests.aareAccepted : DLMSAPDUTests.aareRefused
            }
            return DLMSAPDUTests.aareAccepted
        case 0x62: return [0x63, 0x03, 0x80, 0x01, 0x00]
        case 0xC0 where apdu[1] == 2:
            let n = UInt32(apdu[3]) << 24 | UInt32(apdu[4]) << 16 | UInt32(apdu[5]) << 8 | UInt32(apdu[6])
            let block = pendingBlocks.removeFirst()
            return [0xC4, 0x02, 0xC1, pendingBlocks.isEmpty ? 1 : 0] + be32(n + 1) + [0x00, UInt8(block.count)] + block
        default:
            let code = OBISCode(bytes: apdu[5..<11])!
            guard let v = values[code] else { return [0xC4, 0x01, 0xC1, 0x01, 0x04] }
            let data: [UInt8] = apdu[11] == 3 ? [0x02, 0x02, 0x0F, UInt8(bitPattern: v.scaler), 0x16, v.unit] : v.value
            if blockBytes > 0 && data.count > blockBytes {
                var rest = Array(data)
                pendingBlocks = []
                while !rest.isEmpty { pendingBlocks.append(Array(rest.prefix(blockBytes))); rest.removeFirst(min(blockBytes, rest.count)) }
                let first = pendingBlocks.removeFirst()
                return [0xC4, 0x02, 0xC1, 0x00] + be32(1) + [0x00, UInt8(first.count)] + first
            }
            return [0xC4, 0x01, 0xC1, 0x00] + data
        }
    }
}

@Suite struct DLMSPolledMeterTests {
    func meter(_ server: ScriptedServer, auth: DLMSAuthentication = .lowest) -> (DLMSPolledMeter<WireLink, ManualClock>, MemoryWire) {
        let clock = ManualClock(wallMs: 1_800_000_000_000)
        let wire = MemoryWire()
        wire.respond = { w, b in server.answer(w, b) }
        let framing: DLMSFraming = server.hdlc ? .hdlc(client: .client(16), server: .server(logical: 1, physical: nil)) : .wrapper(client: 16, server: 1)
        let session = DLMSSession(transport: DLMSTransport(link: WireLink(wire: wire, clock: clock), framing: framing, clock: clock),
                                  authentication: auth, timeoutMs: 500)
        let o = OBISCode.electricity
        return (DLMSPolledMeter(session: session, registers: [o(1, 8, 0), o(1, 7, 0), o(2, 7, 0), o(32, 7, 0), o(99, 9, 9)], table: .standard, meterId: "m"), wire)
    }

    func server(hdlc: Bool) -> ScriptedServer {
        let s = ScriptedServer(hdlc: hdlc)
        let o = OBISCode.electricity
        s.values[o(1, 8, 0)] = ([0x06] + be32(1_234_567), 1, 30)  // 12345670 Wh
        s.values[o(1, 7, 0)] = ([0x06] + be32(0), 0, 27)
        s.values[o(2, 7, 0)] = ([0x06] + be32(2_500), 0, 27)
        s.values[o(32, 7, 0)] = ([0x12, 0x08, 0xFD], -1, 35)  // 230.1 V
        return s
    }

    @Test(arguments: [false, true]) func readsRegistersWithScalers(hdlc: Bool) throws {
        let (m0, _) = meter(server(hdlc: hdlc))
        var m = m0
        let s = try m.read(wallMs: 5, clockSynced: true)
        #expect(s.energyImportWh == 12_345_670)
        #expect(s.activePowerW == -2_500)  // export
        #expect(s.l1.voltageMv == 230_100)
        #expect(m.discoveredLayout?.contains("4 registers (1 configured registers absent)") == true)
        // The second read does not rediscover: 4 GETs.
        _ = try m.read(wallMs: 6, clockSynced: true)
    }

    @Test func blockTransfer() throws {
        let s = server(hdlc: false)
        s.blockBytes = 2
        let (m0, _) = meter(s)
        var m = m0
        #expect(try m.read(wallMs: 5, clockSynced: true).energyImportWh == 12_345_670)
    }

    @Test func lowLevelSecurity() throws {
        let s = server(hdlc: true)
        s.password = Array("12345678".utf8)
        var (m, _) = meter(s, auth: .low(password: Array("12345678".utf8)))
        #expect(try m.read(wallMs: 5, clockSynced: true).energyImportWh == 12_345_670)
        var (bad, _) = meter(s, auth: .low(password: Array("wrong!!!".utf8)))
        do { _ = try bad.read(wallMs: 5, clockSynced: true); Issue.record("wrong password accepted") } catch {
            guard case .unsupported(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("authentication failure"))
        }
    }

    @Test func silentMeterTimesOut() {
        let clock = ManualClock(wallMs: 0)
        let wire = MemoryWire()
        let session = DLMSSession(transport: DLMSTransport(link: WireLink(wire: wire, clock: clock), framing: .wrapper(client: 16, server: 1), clock: clock),
                                  authentication: .lowest, timeoutMs: 500)
        var m = DLMSPolledMeter(session: session, registers: [.electricity(1, 8, 0)], table: .standard, meterId: "m")
        #expect(throws: MeterError.timeout) { try m.read(wallMs: 1, clockSynced: true) }
    }
}
