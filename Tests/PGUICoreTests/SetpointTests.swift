import Testing

@testable import PGUICore

private let t0: Int64 = 1_795_804_200  // a 900 s boundary (2026-11-27T18:30:00Z)

private func msg(_ slots: [(Int64, Int64, Int64)], id: String = "m1", duration: Int64 = 900, version: Int = 1,
                 issued: Int64 = t0 * 1_000 - 60_000) -> [UInt8] {
    var s = "{\"version\":\(version),\"id\":\"\(id)\",\"issued\":\(issued),\"slots\":["
    for (i, x) in slots.enumerated() {
        s += (i > 0 ? "," : "") + "{\"start\":\(x.0),\"duration\":\(duration),\"bspP\":\(x.1),\"bspQ\":\(x.2)}"
    }
    return Array((s + "]}").utf8)
}

private func reject(_ bytes: [UInt8], _ code: String, now: Int64 = t0 * 1_000, limits: ScheduleLimits = ScheduleLimits()) {
    do throws(ScheduleError) {
        _ = try SetpointMessage.parse(bytes, limits: limits, nowMs: now)
        Issue.record("accepted, expected \(code)")
    } catch {
        #expect(error.code == code, "\(error.description)")
    }
}

@Suite struct SetpointMessageTests {
    let limits = ScheduleLimits()

    @Test func acceptsAndSorts() throws {
        let m = try SetpointMessage.parse(msg([(t0 + 900, 5, 6), (t0, -1, -2)]), limits: limits, nowMs: t0 * 1_000)
        #expect(m.id == "m1")
        #expect(m.slots.map(\.startS) == [t0, t0 + 900])
        #expect(m.slots[1].bspP == 5)
    }

    @Test func emptyTruncatedAndGarbage() {
        reject([], "invalid_json")
        reject(Array("{\"version\":1,\"slots\":[".utf8), "invalid_json")
        reject(Array("\u{0}\u{1}".utf8), "invalid_json")
        reject(Array("[1]".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"issued\":1,\"slots\":[]}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"issued\":1}".utf8), "invalid_field")
    }

    @Test func versionAndUnknownMembers() {
        reject(msg([(t0, 1, 1)], version: 2), "unknown_version")
        reject(Array("{\"slots\":[]}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"slots\":[],\"extra\":1}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"slots\":[{\"start\":\(t0),\"duration\":900,\"bspP\":1,\"bspQ\":1,\"x\":0}]}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"slots\":[{\"start\":\(t0),\"duration\":900,\"bspP\":1.5,\"bspQ\":1}]}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"slots\":[{\"start\":\(t0),\"duration\":900,\"bspP\":1}]}".utf8), "invalid_field")
        reject(Array("{\"version\":1,\"slots\":[{\"start\":\"\(t0)\",\"duration\":900,\"bspP\":1,\"bspQ\":1}]}".utf8), "invalid_field")
    }

    @Test func alignmentAndOverlap() {
        reject(msg([(t0 + 1, 1, 1)]), "misaligned")
        reject(msg([(t0, 1, 1)], duration: 1_800), "misaligned")
        reject(msg([(t0, 1, 1)], duration: 0), "misaligned")
        reject(msg([(t0, 1, 1), (t0, 2, 2)]), "overlap")
    }

    @Test func limitsAtAndBeyond() throws {
        _ = try SetpointMessage.parse(msg([(t0, 1_000_000, -1_000_000)]), limits: limits, nowMs: t0 * 1_000)
        reject(msg([(t0, 1_000_001, 0)]), "out_of_limits")
        reject(msg([(t0, -1_000_001, 0)]), "out_of_limits")
        reject(msg([(t0, 0, 1_000_001)]), "out_of_limits")
        reject(msg([(t0, 0, -1_000_001)]), "out_of_limits")
    }

    @Test func staleAndFarFuture() throws {
        // A slot that ends exactly now is stale; one that ends a second later is current.
        reject(msg([(t0 - 900, 1, 1)]), "stale")
        _ = try SetpointMessage.parse(msg([(t0 - 900, 1, 1)]), limits: limits, nowMs: t0 * 1_000 - 1_000)
        _ = try SetpointMessage.parse(msg([(t0 + limits.horizonS, 1, 1)]), limits: limits, nowMs: t0 * 1_000)
        reject(msg([(t0 + limits.horizonS + 900, 1, 1)]), "too_far")
    }

    @Test func sizeAndSlotCount() throws {
        var small = ScheduleLimits()
        small.messageBytesMax = 1_024
        let big = msg((0..<30).map { (t0 + Int64($0) * 900, 1, 1) })
        #expect(big.count > 1_024)
        reject(big, "too_large", limits: small)
        let atMax = msg((0..<limits.slotsMax).map { (t0 + Int64($0) * 900, 1, 1) })
        #expect(try SetpointMessage.parse(atMax, limits: limits, nowMs: t0 * 1_000).slots.count == limits.slotsMax)
        let over = msg((0...limits.slotsMax).map { (t0 + Int64($0) * 900, 1, 1) })
        reject(over, "too_many_slots")
    }

    @Test func acks() {
        let ok = String(decoding: SetpointMessage.ack(id: "a", result: .success(3), nowMs: 5), as: UTF8.self)
        #expect(ok == "{\"version\":1,\"id\":\"a\",\"status\":\"accepted\",\"slots\":3,\"time\":5}")
        let bad = String(decoding: SetpointMessage.ack(id: nil, result: .failure(ScheduleError("stale", "x")), nowMs: 5), as: UTF8.self)
        #expect(bad == "{\"version\":1,\"id\":null,\"status\":\"rejected\",\"code\":\"stale\",\"reason\":\"x\",\"time\":5}")
        #expect(SetpointMessage.peekId(msg([(1, 1, 1)], id: "zz", version: 9), limits: limits) == "zz")
        #expect(SetpointMessage.peekId(Array("nope".utf8), limits: limits) == nil)
    }
}

@Suite struct ScheduleTests {
    func schedule(_ slots: [(Int64, Int64, Int64)], now: Int64 = t0 * 1_000) throws -> Schedule {
        var s = Schedule(limits: ScheduleLimits())
        s.apply(try SetpointMessage.parse(msg(slots), limits: s.limits, nowMs: now), nowMs: now)
        return s
    }

    @Test func emptySchedule() {
        let s = Schedule(limits: ScheduleLimits())
        #expect(s.current(atMs: t0 * 1_000) == nil)
        #expect(s.next(atMs: t0 * 1_000) == nil)
    }

    @Test func exactlyOnBoundaries() throws {
        let s = try schedule([(t0, 1, 1), (t0 + 900, 2, 2), (t0 + 1_800, 3, 3)])
        #expect(s.current(atMs: t0 * 1_000)?.bspP == 1)
        #expect(s.next(atMs: t0 * 1_000)?.bspP == 2)
        #expect(s.current(atMs: (t0 + 900) * 1_000 - 1)?.bspP == 1)
        #expect(s.current(atMs: (t0 + 900) * 1_000)?.bspP == 2)
        #expect(s.next(atMs: (t0 + 900) * 1_000)?.bspP == 3)
        #expect(s.next(atMs: (t0 + 1_800) * 1_000) == nil)
        #expect(s.current(atMs: (t0 + 2_700) * 1_000) == nil)
        #expect(s.current(atMs: t0 * 1_000 - 1) == nil)
        #expect(s.next(atMs: t0 * 1_000 - 1)?.bspP == 1)  // no current slot, the next one still shows
    }

    @Test func gapMeansNoNext() throws {
        let s = try schedule([(t0, 1, 1), (t0 + 1_800, 3, 3)])
        #expect(s.next(atMs: t0 * 1_000) == nil)
        #expect(s.current(atMs: (t0 + 900) * 1_000) == nil)
        #expect(s.next(atMs: (t0 + 900) * 1_000)?.bspP == 3)
    }

    @Test func partialReplacementKeepsTheRest() throws {
        var s = try schedule([(t0, 1, 1), (t0 + 900, 2, 2), (t0 + 1_800, 3, 3)])
        let g = s.generation
        s.apply(try SetpointMessage.parse(msg([(t0 + 900, 20, 20), (t0 + 2_700, 40, 40)]), limits: s.limits, nowMs: t0 * 1_000), nowMs: t0 * 1_000)
        #expect(s.slots.map(\.bspP) == [1, 20, 3, 40])
        #expect(s.generation != g)
    }

    @Test func pastSlotsArePruned() throws {
        var s = try schedule([(t0, 1, 1), (t0 + 900, 2, 2)])
        #expect(s.prune(nowMs: (t0 + 900) * 1_000) == 1)
        #expect(s.slots.count == 1)
        #expect(s.prune(nowMs: (t0 + 900) * 1_000) == 0)
    }

    @Test func persistRoundTrip() throws {
        let s = try schedule([(t0, 1, -1), (t0 + 900, 999_999, -2)])
        let r = try Schedule.restore(s.encode(), limits: s.limits, nowMs: t0 * 1_000)
        #expect(r.slots == s.slots)
        // Restored later: ended slots are dropped, not rejected.
        let later = try Schedule.restore(s.encode(), limits: s.limits, nowMs: (t0 + 900) * 1_000)
        #expect(later.slots.count == 1)
        let empty = try Schedule.restore(Schedule(limits: s.limits).encode(), limits: s.limits, nowMs: 0)
        #expect(empty.slots.isEmpty)
        // A stored file that no longer fits today's limits is refused as a whole.
        var tight = s.limits
        tight.pMaxW = 1
        #expect(throws: ScheduleError.self) { try Schedule.restore(s.encode(), limits: tight, nowMs: t0 * 1_000) }
    }
}

@Suite struct SetpointRegisterTests {
    @Test func imageHighWordFirstAndAbsent() {
        var img = SetpointRegisters()
        for f in SetpointRegisters.fields { #expect(img.value(at: f) == 0x8000_0000) }
        img.update(SetpointSnapshot(current: SetpointSlot(startS: 0, durationS: 900, bspP: -2, bspQ: 70_000)))
        #expect(img.words[0] == 0xFFFF && img.words[1] == 0xFFFE)
        #expect(img.value(at: SetpointRegisters.qCurrent) == 70_000)
        #expect(img.value(at: SetpointRegisters.pNext) == 0x8000_0000)
        // Int32.min itself would read as "absent", so it is reported as absent.
        img.update(SetpointSnapshot(current: SetpointSlot(startS: 0, durationS: 900, bspP: Int64(Int32.min), bspQ: 0)))
        #expect(img.value(at: SetpointRegisters.pCurrent) == 0x8000_0000)
    }

    @Test func readableRanges() {
        let r = SetpointRegisters()
        #expect(r.isReadable(address: 1000, count: 2))
        // Half a 32-bit value is never served (issue 14): not the high word, not the low word.
        #expect(!r.isReadable(address: 1000, count: 1))
        #expect(!r.isReadable(address: 1001, count: 1))
        #expect(!r.isReadable(address: 1000, count: 3))
        #expect(!r.isReadable(address: 999, count: 2))
        #expect(!r.isReadable(address: 1002, count: 1))
        #expect(r.isReadable(address: 2100, count: 2))
        #expect(!r.isReadable(address: 2100, count: 0))
    }
}

@Suite struct ModbusFrameTests {
    func read(_ fc: UInt8, _ addr: UInt16, _ count: UInt16) -> [UInt8] {
        [0, 1, 0, 0, 0, 6, 1, fc, UInt8(addr >> 8), UInt8(addr & 255), UInt8(count >> 8), UInt8(count & 255)]
    }

    @Test func framing() {
        let f = read(3, 1000, 2)
        #expect(ModbusTCPFrame.next([][...]) == .incomplete)
        #expect(ModbusTCPFrame.next(f[0..<5]) == .incomplete)
        #expect(ModbusTCPFrame.next(f[0..<11]) == .incomplete)
        #expect(ModbusTCPFrame.next(f[...]) == .frame(length: 12))
        #expect(ModbusTCPFrame.next((f + f)[...]) == .frame(length: 12))
        if case .malformed = ModbusTCPFrame.next([0, 1, 0, 1, 0, 6][...]) {} else { Issue.record("protocol id") }
        if case .malformed = ModbusTCPFrame.next([0, 1, 0, 0, 0, 1][...]) {} else { Issue.record("length 1") }
        if case .malformed = ModbusTCPFrame.next([0, 1, 0, 0, 0, 255][...]) {} else { Issue.record("length 255") }
        #expect(ModbusTCPFrame.next([0, 1, 0, 0, 0, 254][...]) == .incomplete)  // 254 = the limit
    }

    @Test func decisions() {
        let image = SetpointRegisters()
        let r = image.isReadable
        #expect(ModbusTCPFrame.decide(read(3, 1000, 2)[...], readable: r) == .read(address: 1000, count: 2))
        #expect(ModbusTCPFrame.decide(read(4, 2100, 2)[...], readable: r) == .read(address: 2100, count: 2))
        #expect(ModbusTCPFrame.decide(read(3, 1000, 4)[...], readable: r) == .exception(2))
        #expect(ModbusTCPFrame.decide(read(3, 1000, 0)[...], readable: r) == .exception(3))
        #expect(ModbusTCPFrame.decide(read(3, 1000, 126)[...], readable: r) == .exception(3))
        #expect(ModbusTCPFrame.decide(read(6, 1000, 1)[...], readable: r) == .exception(1))
        #expect(ModbusTCPFrame.decide(read(16, 1000, 1)[...], readable: r) == .exception(1))
        #expect(ModbusTCPFrame.decide([0, 1, 0, 0, 0, 2, 1, 3][...], readable: r) == .exception(3))
    }
}

@Suite struct HTTPRequestTests {
    func parse(_ s: String, max: Int = 4_096) -> HTTPParse { HTTPRequestParser.parse(Array(s.utf8)[...], headBytesMax: max) }
    func status(_ p: HTTPParse) -> Int? { if case .error(let s, _) = p { return s } else { return nil } }

    @Test func simpleGet() {
        let p = parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(p == .request(HTTPRequest(method: "GET", path: "/", headBytes: 27)))
        // No Host is fine for HTTP/1.0 only (RFC 9112 §3.2).
        #expect(parse("GET /measurements?x=1 HTTP/1.0\r\n\r\n") == .request(HTTPRequest(method: "GET", path: "/measurements", headBytes: 34)))
    }

    @Test func incompleteAndLimit() {
        #expect(parse("") == .incomplete)
        #expect(parse("GET / HTTP/1.1\r\nHost: x\r\n") == .incomplete)
        let head = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n"
        if case .request = parse(head, max: head.utf8.count) {} else { Issue.record("at the limit") }
        #expect(status(parse(head, max: head.utf8.count - 1)) == 431)
    }

    @Test func malformed() {
        #expect(status(parse("GET /\r\n\r\n")) == 400)
        #expect(status(parse("GET / HTTP/2.0\r\n\r\n")) == 400)
        #expect(status(parse("GET x HTTP/1.1\r\n\r\n")) == 400)
        #expect(status(parse("GET  / HTTP/1.1\r\n\r\n")) == 400)
        #expect(status(parse("G(T / HTTP/1.1\r\n\r\n")) == 400)
        #expect(status(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n")) == 400)
        #expect(status(parse("GET / HTTP/1.1\n\n")) == 400)
        #expect(status(parse("\u{0}\u{1}\u{2}")) == 400)
        #expect(status(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")) == 413)
        #expect(status(parse("GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n")) == 413)
        if case .request = parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") {} else { Issue.record("length 0") }
    }

    @Test func otherMethodsParse() {
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\n\r\n") == .request(HTTPRequest(method: "POST", path: "/", headBytes: 28)))
    }
}

@Suite struct SetpointConfigTests {
    func load(_ extra: String) throws(ConfigError) -> Config {
        try Config.load(Array(("device.id = a\ndata.dir = /d\n" + extra).utf8), file: "c")
    }

    @Test func defaults() throws {
        let c = try load("")
        #expect(c.dso.limits.slotS == 900)
        #expect(c.ems.modbusPort == 8502 && c.ems.httpPort == 8000 && c.ems.bind == "0.0.0.0")
    }

    @Test func crossKeyErrors() {
        #expect(throws: ConfigError.self) { try load("dso.slot_s = 700\n") }
        #expect(throws: ConfigError.self) { try load("dso.p_min_w = 5\ndso.p_max_w = 4\n") }
        #expect(throws: ConfigError.self) { try load("ems.bind = 1.2.3\n") }
        #expect(throws: ConfigError.self) { try load("ems.bind = 256.0.0.1\n") }
        #expect(throws: ConfigError.self) { try load("ems.http_port = 8502\n") }
        #expect(throws: ConfigError.self) { try load("dso.p_min_w = -2147483648\n") }
        #expect(throws: ConfigError.self) { try load("dso.ca_file = relative.pem\n") }
        #expect(throws: ConfigError.self) { try load("dso.client_id = Bad Id\n") }
        #expect(throws: ConfigError.self) { try load("dso.enabled = true\ndso.uris = tcp://b:1883\ndso.ca_file = /ca\n") }
        #expect(throws: ConfigError.self) { try load("dso.enabled = true\ndso.uris = ssl://b:8883\n") }
        #expect(throws: ConfigError.self) { try load("dso.topic_prefix = dso/+\n") }
        #expect((try? load("dso.enabled = true\ndso.uris = ssl://a:8883, mqtts://b:8883\ndso.ca_file = /ca\n"))?.dso.uris.count == 2)
    }
}

@Suite struct SunSpecMeterImageTests {
    @Test func headerModelsAndEnd() {
        let img = SunSpecMeterImage(deviceId: "gw-0042", version: "0.1.0")
        #expect(img.words.count == 179)
        #expect(img.words[0] == 0x5375 && img.words[1] == 0x6E53)
        #expect(img.words[2] == 1 && img.words[3] == 66)
        #expect(img.words[4] == 0x5047)  // "PG"
        #expect(img.words[52] == 0x6777)  // SN "gw"
        #expect(img.words[70] == 203 && img.words[71] == 105)
        #expect(img.words[177] == 0xFFFF && img.words[178] == 0)
        #expect(img.words[72 + 16] == 0x8000)  // W not implemented before the first sample
    }

    @Test func valuesAndScaleFactors() {
        var img = SunSpecMeterImage(deviceId: "gw", version: "1")
        var m = Measurement(timestampMs: 0, quality: [])
        m.activePowerW = -1_234
        m.frequencyMhz = 50_016
        m.energyImportWh = 70_000
        m.l1.activePowerW = 40_000  // forces W_SF 1
        m.l1.currentMa = 12_345
        m.l1.voltageMv = 231_119
        img.update(m)
        let base = 72
        #expect(img.words[base + 20] == 1)  // W_SF
        #expect(Int16(bitPattern: img.words[base + 16]) == -123)  // W
        #expect(img.words[base + 17] == 4_000)
        #expect(img.words[base + 14] == 5_001 && Int16(bitPattern: img.words[base + 15]) == -2)  // Hz
        #expect(img.words[base + 1] == 1_234 && Int16(bitPattern: img.words[base + 4]) == -2)  // AphA
        #expect(img.words[base + 0] == 0x8000)  // total A: phases 2 and 3 unknown
        #expect(img.words[base + 6] == 2_311)  // PhVphA in 0.1 V
        #expect(img.words[base + 44] == 1 && img.words[base + 45] == 4_464)  // TotWhImp = 70000
        #expect(img.words[base + 36] == 0 && img.words[base + 37] == 0)
        img.update(Measurement.gap(at: 1, reason: .timeout))
        #expect(img.words[base + 16] == 0x8000)
    }

    @Test func readableRange() {
        #expect(SunSpecMeterImage.isReadable(address: 40_000, count: 125))
        #expect(SunSpecMeterImage.isReadable(address: 40_070, count: 109))
        #expect(!SunSpecMeterImage.isReadable(address: 40_070, count: 110))
        #expect(!SunSpecMeterImage.isReadable(address: 39_999, count: 2))
    }
}
