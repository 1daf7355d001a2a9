import Testing

@testable import PGUICore

// Issue 14: EMS and measurement honesty. Register values, HTTP edge cases, staleness, eviction,
// schedule order and pruning, field-mode configuration.

private let t0: Int64 = 1_795_804_200  // a 900 s boundary (2026-11-27T18:30:00Z)
private let slot = SetpointSlot(startS: t0, durationS: 900, bspP: 100, bspQ: -100)
private let nextSlot = SetpointSlot(startS: t0 + 900, durationS: 900, bspP: -2_500, bspQ: 300)

private func readFrame(_ fc: UInt8, _ addr: UInt16, _ count: UInt16, tid: UInt16 = 0x0102) -> [UInt8] {
    [UInt8(tid >> 8), UInt8(tid & 255), 0, 0, 0, 6, 1, fc, UInt8(addr >> 8), UInt8(addr & 255), UInt8(count >> 8), UInt8(count & 255)]
}

@Suite struct EMSEncodingTests {
    func image(_ e: EMSEncoding, _ o: EMSWordOrder = .big) -> SetpointRegisters {
        var r = SetpointRegisters(encoding: e, wordOrder: o)
        r.update(SetpointSnapshot(current: slot, next: nextSlot, clockSynced: true, dsoConnected: true, scheduleAgeS: 42))
        return r
    }

    /// The spec's example {"bspP":100,"bspQ":100} and docs/ems.md's table (P=100, Q=-100 here).
    @Test func int32BothWordOrders() {
        #expect(Array(image(.int32).read(address: 1000, count: 2)!) == [0x0000, 0x0064])
        #expect(Array(image(.int32).read(address: 2000, count: 2)!) == [0xFFFF, 0xFF9C])
        #expect(Array(image(.int32, .little).read(address: 1000, count: 2)!) == [0x0064, 0x0000])
        #expect(Array(image(.int32, .little).read(address: 2000, count: 2)!) == [0xFF9C, 0xFFFF])
        #expect(image(.int32, .little).value(at: 1100) == UInt32(bitPattern: -2_500))
    }

    @Test func int16SaturatesAndMarks() {
        let r = image(.int16)
        #expect(Array(r.read(address: 1000, count: 1)!) == [100])
        #expect(Array(r.read(address: 2000, count: 1)!) == [UInt16(bitPattern: -100)])
        #expect(r.read(address: 1000, count: 2) == nil)  // 1001 is no register in int16
        var big = SetpointRegisters(encoding: .int16)
        big.update(SetpointSnapshot(current: SetpointSlot(startS: t0, durationS: 900, bspP: 40_000, bspQ: -40_000)))
        #expect(Array(big.read(address: 1000, count: 1)!) == [32_767])
        #expect(Array(big.read(address: 2000, count: 1)!) == [UInt16(bitPattern: -32_767)])
        #expect(big.validity.contains(.saturated))
        #expect(Array(big.read(address: 1100, count: 1)!) == [0x8000])  // no next slot
        // Exactly ±32767 is not saturated.
        big.update(SetpointSnapshot(current: SetpointSlot(startS: t0, durationS: 900, bspP: 32_767, bspQ: -32_767)))
        #expect(!big.validity.contains(.saturated))
    }

    @Test func float32AndNaN() {
        let r = image(.float32)
        #expect(r.value(at: 1000) == Float(100).bitPattern)  // 0x42C8_0000
        #expect(Array(r.read(address: 1000, count: 2)!) == [0x42C8, 0x0000])
        var empty = SetpointRegisters(encoding: .float32)
        empty.update(SetpointSnapshot())
        #expect(empty.value(at: 2100) == SetpointRegisters.float32Absent)
    }

    @Test func snapshotBlockIsContiguousAndConsistent() {
        let r = image(.int32)
        #expect(r.snapshotCount == 15)
        let block = Array(r.read(address: 3000, count: 15)!)
        #expect(block[0...7] == [0, 100, 0xFFFF, 0xF63C, 0xFFFF, 0xFF9C, 0, 300])
        #expect(UInt32(block[8]) << 16 | UInt32(block[9]) == UInt32(t0))
        #expect(UInt32(block[10]) << 16 | UInt32(block[11]) == UInt32(t0 + 900))
        let v = SnapshotValidity(rawValue: block[12])
        #expect(v == [.current, .next, .clockSynced, .dsoConnected, .haveSchedule])
        #expect(UInt32(block[13]) << 16 | UInt32(block[14]) == 42)
        // Sub-ranges on value boundaries read; inside a value they do not.
        #expect(r.read(address: 3002, count: 4) != nil)
        #expect(r.read(address: 3001, count: 2) == nil)
        #expect(r.read(address: 3000, count: 16) == nil)
        #expect(r.read(address: 3012, count: 1) != nil)
        let s16 = image(.int16)
        #expect(s16.snapshotCount == 11)
        #expect(Array(s16.read(address: 3000, count: 4)!) == [100, UInt16(bitPattern: -2_500), UInt16(bitPattern: -100), 300])
        #expect(s16.read(address: 3000, count: 11) != nil)
    }

    @Test func noScheduleMarkers() {
        var r = SetpointRegisters()
        r.update(SetpointSnapshot(clockSynced: false))
        let block = Array(r.read(address: 3000, count: 15)!)
        #expect(block[12] == 0)
        #expect(block[13] == 0xFFFF && block[14] == 0xFFFF)
        for f in SetpointRegisters.fields { #expect(r.value(at: f) == SetpointRegisters.int32Absent) }
    }
}

@Suite struct ModbusAnswerTests {
    let meter = SunSpecMeterImage(deviceId: "gw", version: "1")

    func answer(_ frame: [UInt8], _ image: SetpointRegisters = SetpointRegisters()) -> [UInt8] {
        var out: [UInt8] = []
        ModbusEMSAnswer.answer(frame[...], setpoints: image, meter: meter, into: &out)
        return out
    }

    @Test func readAnswerEchoesHeader() {
        var image = SetpointRegisters()
        image.update(SetpointSnapshot(current: slot))
        #expect(answer(readFrame(3, 1000, 2), image) == [1, 2, 0, 0, 0, 7, 1, 3, 4, 0, 0, 0, 100])
        #expect(answer(readFrame(4, 40_000, 2)) == [1, 2, 0, 0, 0, 7, 1, 4, 4, 0x53, 0x75, 0x6E, 0x53])
    }

    @Test func halfValuesAreIllegalAddresses() {
        #expect(answer(readFrame(3, 1000, 1)) == [1, 2, 0, 0, 0, 3, 1, 0x83, 2])
        #expect(answer(readFrame(3, 1001, 1)) == [1, 2, 0, 0, 0, 3, 1, 0x83, 2])
        #expect(answer(readFrame(4, 1001, 2)) == [1, 2, 0, 0, 0, 3, 1, 0x84, 2])
    }

    /// FC ≥ 0x80: the exception code is FC | 0x80 (== FC), never a wrapped FC 3 (issue 14).
    @Test func highFunctionCodesDoNotWrap() {
        for fc: UInt8 in [0x80, 0x83, 0x84, 0xFF] {
            let a = answer(readFrame(fc, 1000, 2))
            #expect(a == [1, 2, 0, 0, 0, 3, 1, fc | 0x80, 1], "fc \(fc)")
        }
        #expect(answer(readFrame(6, 1000, 1)) == [1, 2, 0, 0, 0, 3, 1, 0x86, 1])
        #expect(answer(readFrame(3, 1000, 0)) == [1, 2, 0, 0, 0, 3, 1, 0x83, 3])
        #expect(answer(readFrame(3, 40_000, 126)) == [1, 2, 0, 0, 0, 3, 1, 0x83, 3])
    }
}

@Suite struct HTTPEdgeTests {
    func parse(_ s: String, max: Int = 4_096) -> HTTPParse { HTTPRequestParser.parse(Array(s.utf8)[...], headBytesMax: max) }
    func path(_ p: HTTPParse) -> String? { if case .request(let r) = p { return r.path } else { return nil } }
    func status(_ p: HTTPParse) -> Int? { if case .error(let s, _) = p { return s } else { return nil } }

    @Test func absoluteFormAnswersLikeOriginForm() {
        #expect(path(parse("GET http://192.168.1.10:8000/ HTTP/1.1\r\nHost: 192.168.1.10:8000\r\n\r\n")) == "/")
        #expect(path(parse("GET http://gw.local:8000 HTTP/1.1\r\nHost: gw.local\r\n\r\n")) == "/")
        #expect(path(parse("GET HTTP://GW:8000/measurements?x=1 HTTP/1.1\r\nHost: gw\r\n\r\n")) == "/measurements")
        #expect(path(parse("GET http://[::1]:8000/ HTTP/1.0\r\n\r\n")) == "/")
        #expect(status(parse("GET https://gw/ HTTP/1.1\r\nHost: gw\r\n\r\n")) == 400)
        #expect(status(parse("GET http://user@gw/ HTTP/1.1\r\nHost: gw\r\n\r\n")) == 400)
        #expect(status(parse("GET http:/// HTTP/1.1\r\nHost: gw\r\n\r\n")) == 400)
        #expect(status(parse("GET http://gw:99999/ HTTP/1.1\r\nHost: gw\r\n\r\n")) == 400)
    }

    @Test func hostRules() {
        #expect(status(parse("GET / HTTP/1.1\r\n\r\n")) == 400)
        #expect(path(parse("GET / HTTP/1.0\r\n\r\n")) == "/")
        #expect(path(parse("GET / HTTP/1.1\r\nhOsT: gw\r\n\r\n")) == "/")
        #expect(path(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n")) == "/")  // empty Host is allowed (RFC 9112 §3.2)
        #expect(status(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")) == 400)
        #expect(status(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")) == 400)
        #expect(path(parse("HEAD / HTTP/1.1\r\nHOST: gw\r\nCONTENT-LENGTH: 0\r\n\r\n")) == "/")
    }

    @Test func bareLineEndsAreRefusedAtOnce() {
        // Before: "\n\r\n" waited for CRLF CRLF until the idle timeout (issue 14).
        #expect(status(parse("GET / HTTP/1.1\r\nHost: gw\n\r\n")) == 400)
        #expect(status(parse("GET / HTTP/1.1\r\nHost: gw\n")) == 400)
        #expect(status(parse("GET / HTTP/1.1\rX")) == 400)
        #expect(parse("GET / HTTP/1.1\r") == .incomplete)
    }

    /// A buffer of exactly the limit without CRLF CRLF is 431 at once: the server reads at most the
    /// limit, so waiting for more would leave a full buffer nobody consumes (found by test_07).
    @Test func fullBufferWithoutEndIs431() {
        let head = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100)
        #expect(status(parse(head, max: head.utf8.count)) == 431)
        #expect(parse(head, max: head.utf8.count + 1) == .incomplete)
    }

    /// The verdict does not depend on how the bytes arrive (issue 14: a UTF-8 header value got 200
    /// in one packet and 400 when the final CRLF CRLF came separately).
    @Test func splitInvariance() {
        let cases = [
            "GET / HTTP/1.1\r\nHost: gw\r\nX-Name: Zürich\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: gw\n\r\n",
            "GET /\u{00e9} HTTP/1.1\r\nHost: gw\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: gw\r\nX: \u{0}\r\n\r\n",
            "GET http://gw/ HTTP/1.1\r\nHost: gw\r\n\r\n",
            "BREW / HTTP/1.1\r\nHost: gw\r\n\r\n",
        ]
        for c in cases {
            let bytes = Array(c.utf8)
            let whole = HTTPRequestParser.parse(bytes[...], headBytesMax: 64)
            var first: HTTPParse? = nil
            for n in 1...bytes.count {
                let p = HTTPRequestParser.parse(bytes[0..<n], headBytesMax: 64)
                if p != .incomplete {
                    first = p
                    break
                }
            }
            #expect(first.map { status($0) } == status(whole), "\(c)")
            #expect(first.map { path($0) } == path(whole), "\(c)")
        }
    }
}

@Suite struct FreshnessAndRoutesTests {
    let f = SampleFreshness(periodMs: 1_000, staleAfterPeriods: 3)

    @Test func staleAfterThreePeriods() {
        #expect(f.ageMs(lastGoodMonoMs: nil, nowMonoMs: 5) == nil)
        #expect(!f.isStale(ageMs: nil))
        #expect(!f.isStale(ageMs: 3_000))
        #expect(f.isStale(ageMs: 3_001))
        #expect(f.ageMs(lastGoodMonoMs: 10_000, nowMonoMs: 13_001) == 3_001)
    }

    func route(_ path: String, _ v: EMSView) -> (Int?, String, String) {
        var w = JSONWriter(capacity: 512)
        var h = ""
        let s = EMSHTTPRoutes.answer(path, v, into: &w, headers: &h)
        return (s, String(decoding: w.bytes, as: UTF8.self), h)
    }

    @Test func measurementsFreshStaleAndNone() {
        var m = Measurement(timestampMs: t0 * 1_000, quality: [])
        m.activePowerW = 5
        var v = EMSView(sample: m, meterId: "main", sampleAgeMs: 400, sampleStale: false)
        let (s1, b1, _) = route("/measurements", v)
        #expect(s1 == 200 && b1.contains("\"stale\":false,\"ageMs\":400"))
        v.sampleAgeMs = 3_500
        v.sampleStale = true
        let (s2, b2, h2) = route("/measurements", v)
        #expect(s2 == 503 && b2.contains("\"stale\":true,\"ageMs\":3500") && h2.contains("Retry-After"))
        #expect(v.servedSample == nil)
        #expect(route("/measurements", EMSView()).0 == 404)
        #expect(route("/nope", EMSView()).0 == nil)
    }

    @Test func rootKeepsTheSpecBodyAndAddsHeaders() {
        let v = EMSView(setpoints: SetpointSnapshot(current: slot, scheduleAgeS: 12), dsoLink: .down)
        let (s, b, h) = route("/", v)
        #expect(s == 200 && b == "{\"bspP\":100,\"bspQ\":-100}")
        #expect(h == "PGUI-DSO-Link: down\r\nPGUI-Schedule-Age: 12\r\n")
        #expect(route("/", EMSView()).0 == 404)
    }
}

@Suite struct EvictionTests {
    func c(_ peer: UInt32, acc: Int64, last: Int64? = nil, served: Bool = true, lingering: Bool = false) -> ConnectionInfo? {
        ConnectionInfo(peer: peer, acceptedMs: acc, lastActiveMs: last ?? acc, served: served, lingering: lingering)
    }

    @Test func freeSlotWithinBudget() {
        #expect(ConnectionEviction.victim([c(1, acc: 0), nil], newPeer: 2, perClientMax: 4) == nil)
    }

    @Test func overBudgetLosesItsOwn() {
        let slots = [c(1, acc: 0), c(2, acc: 1, last: 50), c(2, acc: 2, last: 10), nil]
        #expect(ConnectionEviction.victim(slots, newPeer: 2, perClientMax: 2) == 2)
    }

    @Test func fullPrefersLingeringThenBusiestPeerThenIncompleteThenIdle() {
        #expect(ConnectionEviction.victim([c(1, acc: 0), c(2, acc: 1, lingering: true)], newPeer: 3, perClientMax: 4) == 1)
        // 16 pollers polling every second, all served: the longest idle goes (issue 14: 0 of 25 reads).
        let pollers = (0..<16).map { c(7, acc: 0, last: 1_000 + Int64(($0 * 37) % 16)) }
        #expect(ConnectionEviction.victim(pollers, newPeer: 9, perClientMax: 16) == 0)
        // Half-open frames go before served clients of the same peer count.
        let mixed = [c(1, acc: 0, last: 5), c(2, acc: 9, served: false), c(3, acc: 1, last: 2)]
        #expect(ConnectionEviction.victim(mixed, newPeer: 4, perClientMax: 4) == 1)
        // The peer holding the most slots loses one before a lone client does.
        let crowd = [c(1, acc: 0, last: 0), c(2, acc: 5, last: 50), c(2, acc: 6, last: 60)]
        #expect(ConnectionEviction.victim(crowd, newPeer: 3, perClientMax: 4) == 1)
    }
}

@Suite struct SetpointBookTests {
    func message(issued: Int64, p: Int64, start: Int64 = t0) -> [UInt8] {
        Array("{\"version\":1,\"id\":\"i\(issued)\",\"issued\":\(issued),\"slots\":[{\"start\":\(start),\"duration\":900,\"bspP\":\(p),\"bspQ\":0}]}".utf8)
    }

    @Test func olderScheduleIsRefusedWithItsOwnCode() {
        let now = t0 * 1_000 + 10_000
        var book = SetpointBook(limits: ScheduleLimits())
        #expect(book.stage(message(issued: now - 1_000, p: 7), nowMs: now) == nil)
        #expect(book.stage(message(issued: now - 2_000, p: 1), nowMs: now)?.code == "superseded")
        #expect(book.stage(message(issued: now - 1_000, p: 1), nowMs: now)?.code == "superseded")
        let acks = book.commit(stored: true, nowMs: now).map { String(decoding: $0, as: UTF8.self) }
        #expect(acks.count == 3 && acks[0].contains("accepted") && acks[1].contains("superseded"))
        #expect(book.schedule.current(atMs: now)?.bspP == 7)
        #expect(book.stage(message(issued: now + 301_000, p: 1), nowMs: now)?.code == "issued_in_future")
        _ = book.commit(stored: true, nowMs: now)
        // The order survives a restart (issued is persisted).
        let restored = try? Schedule.restore(book.schedule.encode(), limits: ScheduleLimits(), nowMs: now)
        #expect(restored?.issuedMs == now - 1_000)
    }

    @Test func batchIsOneWriteAndAFailedWriteChangesNothing() {
        let now = t0 * 1_000
        var book = SetpointBook(limits: ScheduleLimits())
        for i in 1...5 { _ = book.stage(message(issued: now - 100 + Int64(i), p: Int64(i)), nowMs: now) }
        #expect(book.stagedBytes != nil)
        let acks = book.commit(stored: false, storageError: "disk full", nowMs: now)
        #expect(acks.count == 5 && acks.allSatisfy { String(decoding: $0, as: UTF8.self).contains("\"code\":\"storage\"") })
        #expect(book.schedule.slots.isEmpty && book.stagedBytes == nil)
        for i in 1...5 { _ = book.stage(message(issued: now - 100 + Int64(i), p: Int64(i)), nowMs: now) }
        _ = book.commit(stored: true, nowMs: now)
        #expect(book.schedule.current(atMs: now)?.bspP == 5)
    }

    @Test func endedSlotsArePrunedOnSlotChange() {
        let now = t0 * 1_000
        var book = SetpointBook(limits: ScheduleLimits())
        let two = Array("{\"version\":1,\"issued\":\(now),\"slots\":[{\"start\":\(t0),\"duration\":900,\"bspP\":1,\"bspQ\":0},{\"start\":\(t0 + 900),\"duration\":900,\"bspP\":2,\"bspQ\":0}]}".utf8)
        #expect(book.stage(two, nowMs: now) == nil)
        _ = book.commit(stored: true, nowMs: now)
        #expect(!book.tick(nowMs: now + 5_000) || book.schedule.slots.count == 2)
        #expect(book.schedule.slots.count == 2)
        let s = book.snapshot(nowMs: (t0 + 900) * 1_000, clockSynced: true, dsoConnected: false)
        #expect(s.current?.bspP == 2 && book.schedule.slots.count == 1)
        #expect(s.scheduleAgeS == 900)
    }
}

@Suite struct FieldConfigTests {
    struct Env: ConfigEnvironment {
        var dirs: [String] = ["/data"]
        var files: [String] = ["/ca.pem"]
        var addresses: [String] = ["127.0.0.1"]
        func isDirectory(_ p: String) -> Bool { dirs.contains(p) }
        func isFile(_ p: String) -> Bool { files.contains(p) }
        func isLocalAddress(_ a: String) -> Bool { a == "0.0.0.0" || addresses.contains(a) }
    }

    let field = """
        device.id = gw
        data.dir = /data
        meter.kind = modbus-tcp
        meter.host = 192.0.2.7
        bal.enabled = true
        bal.uris = ssl://bal.example:8883
        bal.ca_file = /ca.pem
        dso.enabled = true
        dso.uris = ssl://dso.example:8883
        dso.ca_file = /ca.pem

        """

    func error(_ text: String, env: Env = Env()) -> ConfigError? {
        do throws(ConfigError) {
            let c = try Config.load(Array(text.utf8), file: "f.conf")
            try c.checkFieldMode()
            try c.checkEnvironment(env)
            return nil
        } catch {
            return error
        }
    }

    @Test func fieldNeedsMeterBALAndDSO() {
        #expect(error(field) == nil)
        #expect(error("device.id = gw\ndata.dir = /data\n")?.message.hasPrefix("meter.kind: not set") == true)
        #expect(error(field.replacingOccurrences("meter.kind = modbus-tcp", "meter.kind = simulated"))?.line == 3)
        #expect(error(field.replacingOccurrences("bal.enabled = true", "bal.enabled = false"))?.message.hasPrefix("bal.enabled:") == true)
        #expect(error(field.replacingOccurrences("dso.enabled = true", "dso.enabled = false"))?.message.hasPrefix("dso.enabled:") == true)
        #expect(error("device.id = gw\ndata.dir = /data\ndevice.mode = demo\n") == nil)
        #expect(error("device.id = gw\ndata.dir = /data\ndevice.mode = lab\n") != nil)
    }

    @Test func brokerURIsAreCheckedWhole() {
        for bad in ["ssl://127", "ssl://:0", "ssl://h:1ssl://h:1", "ssl://h", "ssl://h:0", "ssl://h:65536", "tcp://h:1883",
                    "ssl://-h:1", "ssl://h_:1", "ssl://1.2.3:8883", "ssl://[zz]:1", "mqtts://:8883"] {
            #expect(ConfigValues.brokerURIProblem(bad) != nil, "\(bad)")
            #expect(error(field.replacingOccurrences("ssl://dso.example:8883", bad))?.message.hasPrefix("dso.uris:") == true, "\(bad)")
        }
        for good in ["ssl://h:1", "ssl://127.0.0.1:8883", "mqtts://broker.example.com:65535", "ssl://[::1]:8883"] {
            #expect(ConfigValues.brokerURIProblem(good) == nil, "\(good)")
        }
    }

    @Test func environment() {
        #expect(error(field, env: Env(dirs: []))?.message.hasPrefix("data.dir:") == true)
        #expect(error(field, env: Env(files: []))?.message.hasPrefix("dso.ca_file:") == true)
        #expect(error(field + "ems.bind = 10.9.9.9\n", env: Env())?.message.hasPrefix("ems.bind:") == true)
        #expect(error(field + "ems.bind = 127.0.0.1\n", env: Env()) == nil)
        #expect(error(field + "ems.bind = 10.9.9.9\nems.modbus_port = 0\nems.http_port = 0\n", env: Env()) == nil)
    }

    @Test func groupMustFitTheJournalRecord() {
        let demo = "device.id = gw\ndata.dir = /data\ndevice.mode = demo\n"
        let e = error(demo + "journal.record_bytes_max = 200\n")
        #expect(e?.message.hasPrefix("journal.record_bytes_max: 200 bytes cannot hold any signed group of 10 s") == true)
        #expect(e?.line == 4)
        let c = try? Config.load(Array(demo.utf8), file: "f")
        let least = c?.minimumSignedGroupBytes ?? 0
        #expect(least > 200 && least < 1_500)
        #expect(error(demo + "journal.record_bytes_max = \(least)\n") == nil)
        #expect(error(demo + "journal.record_bytes_max = \(least - 1)\n") != nil)
        #expect(error(demo + "group.window_s = 3\nmeter.period_ms = 2000\n")?.message.contains("whole multiple") == true)
    }
}

extension String {
    fileprivate func replacingOccurrences(_ a: String, _ b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[rest.startIndex..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
