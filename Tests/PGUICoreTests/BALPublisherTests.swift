import Testing

@testable import PGUICore

/// An in-memory journal: sorted records, retired up to the acknowledged sequence.
struct FakeStore: GroupStore {
    var records: [(seq: UInt64, payload: [UInt8])] = []
    var head = 0  // records before it are retired
    var acknowledged: UInt64? = nil

    init(seqs: [UInt64]) {
        for s in seqs { records.append((s, Array("g\(s)".utf8))) }
    }

    mutating func append(_ s: UInt64) { records.append((s, Array("g\(s)".utf8))) }

    /// Binary search: the first live record above `seq`.
    mutating func next(after seq: UInt64?) -> (seq: UInt64, payload: [UInt8])? {
        var lo = head
        var hi = records.count
        if let seq {
            while lo < hi {
                let mid = (lo + hi) / 2
                if records[mid].seq <= seq { lo = mid + 1 } else { hi = mid }
            }
        }
        return lo < records.count ? records[lo] : nil
    }

    mutating func acknowledge(upTo seq: UInt64) {
        acknowledged = seq
        while head < records.count && records[head].seq <= seq { head += 1 }
    }
}

struct FakeTransport: BALTransport {
    var sent: [(token: Int32, payload: String)] = []
    var nextToken: Int32 = 1
    var refuse = false

    mutating func publish(topic: String, payload: [UInt8], retained: Bool) -> Int32? {
        if refuse { return nil }
        defer { nextToken += 1 }
        sent.append((nextToken, String(decoding: payload, as: UTF8.self)))
        return nextToken
    }

    var payloads: [String] { sent.map { $0.payload } }
}

@Suite struct BALPublisherTests {
    func limits(window: Int = 4, rate: Int = 1_000) -> BALPublisherLimits {
        var l = BALPublisherLimits()
        l.inFlightMax = window
        l.drainPerSecondMax = rate
        l.drainLatencyTargetMs = 0  // these tests pin the fixed-rate lane; AdaptiveDrainTests cover the rest
        return l
    }

    @Test func nothingIsPublishedBeforeTheLinkIsUp() {
        var store = FakeStore(seqs: [1, 2, 3])
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits())
        p.pump(nowMs: 0, store: &store, transport: &t)
        p.committed(seq: 4, payload: [1], store: &store, transport: &t)
        #expect(t.sent.isEmpty)
    }

    @Test func windowBoundsInFlightAndAcksRetireInOrder() {
        var store = FakeStore(seqs: Array(1...10))
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits(window: 4))
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.payloads == ["g1", "g2", "g3", "g4"])
        // PUBACKs out of order: the journal is only retired below a fully acknowledged prefix.
        p.published(token: 2, store: &store)
        #expect(store.acknowledged == nil)
        p.published(token: 1, store: &store)
        #expect(store.acknowledged == 2)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.payloads.suffix(2) == ["g5", "g6"])
        #expect(p.inFlightCount == 4)
    }

    @Test func unknownTokensAreIgnored() {
        var store = FakeStore(seqs: [1])
        var p = BALPublisher(measurementsTopic: "m", limits: limits())
        #expect(p.published(token: 99, store: &store) == nil)
    }

    @Test func drainIsRateLimited() {
        var store = FakeStore(seqs: Array(1...100))
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits(window: 100, rate: 10))
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.sent.count == 10)
        p.pump(nowMs: 500, store: &store, transport: &t)
        #expect(t.sent.count == 15)
        p.pump(nowMs: 10_000, store: &store, transport: &t)
        #expect(t.sent.count == 25)  // the bucket holds at most one second of budget
    }

    @Test func liveDataFlowsDuringADrainAndIsNotSentTwice() {
        var store = FakeStore(seqs: Array(1...20))
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits(window: 8, rate: 2))
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.payloads == ["g1", "g2"])
        store.append(21)
        p.committed(seq: 21, payload: Array("g21".utf8), store: &store, transport: &t)
        #expect(t.payloads.last == "g21")
        for tok in t.sent.map({ $0.token }) { p.published(token: tok, store: &store) }
        #expect(store.acknowledged == 2)
        var now: Int64 = 0
        while store.acknowledged != 21 {
            now += 1_000
            p.pump(nowMs: now, store: &store, transport: &t)
            for tok in t.sent.map({ $0.token }) { p.published(token: tok, store: &store) }
            #expect(now < 100_000)
        }
        #expect(t.payloads.filter { $0 == "g21" }.count == 1)
        #expect(t.sent.count == 21)
    }

    @Test func reconnectResendsFromTheWatermarkOnly() {
        var store = FakeStore(seqs: Array(1...6))
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits(window: 4))
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        p.published(token: 1, store: &store)
        p.linkDown()
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.sent.count == 4)  // nothing while down
        p.linkUp(nowMs: 1_000)
        p.pump(nowMs: 1_000, store: &store, transport: &t)
        #expect(Array(t.payloads.suffix(4)) == ["g2", "g3", "g4", "g5"])
    }

    @Test func sequenceGapsInTheJournalDoNotStallTheWatermark() {
        var store = FakeStore(seqs: [5, 6, 100, 101])  // a crash skipped reserved numbers
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits())
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        for tok in t.sent.map({ $0.token }) { p.published(token: tok, store: &store) }
        #expect(store.acknowledged == 101)
        #expect(p.watermark == 101)
    }

    @Test func refusedPublishIsRetriedLater() {
        var store = FakeStore(seqs: [1, 2])
        var t = FakeTransport()
        t.refuse = true
        var p = BALPublisher(measurementsTopic: "m", limits: limits())
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.sent.isEmpty)
        t.refuse = false
        p.pump(nowMs: 10, store: &store, transport: &t)
        #expect(t.payloads == ["g1", "g2"])
    }

    @Test func failedPublishGoesOutAgainInOrder() {
        var store = FakeStore(seqs: [1, 2, 3])
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits())
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        p.published(token: 1, store: &store)
        p.failed(token: 2)
        p.published(token: 3, store: &store)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.payloads.last == "g2")
        p.published(token: t.sent.last!.token, store: &store)
        #expect(store.acknowledged == 3)
    }

    @Test func fortyEightHourBacklogDrainsCompletelyInOrder() {
        // 48 h of 10 s groups.
        let n: UInt64 = 48 * 360
        var store = FakeStore(seqs: Array(1...n))
        var t = FakeTransport()
        var p = BALPublisher(measurementsTopic: "m", limits: limits(window: 16, rate: 200))
        p.linkUp(nowMs: 0)
        var now: Int64 = 0
        var acked = 0
        while store.acknowledged != n {
            p.pump(nowMs: now, store: &store, transport: &t)
            while acked < t.sent.count {
                p.published(token: t.sent[acked].token, store: &store)
                acked += 1
            }
            now += 100
        }
        #expect(t.sent.count == Int(n))
        var expected: UInt64 = 1
        for s in t.payloads {
            #expect(s == "g\(expected)")
            expected += 1
        }
        #expect(now / 1_000 >= Int64(n) / 200)  // the drain honoured its rate
    }
}

@Suite struct BALMessageTests {
    @Test func topicsAndStatus() throws {
        let t = BALTopics(prefix: "pgui/v1", deviceId: "gw-1")
        #expect(t.measurements == "pgui/v1/gw-1/measurements")
        #expect(t.status == "pgui/v1/gw-1/status")
        var w = JSONWriter()
        BALStatus(deviceId: "gw-1", online: false).encode(into: &w)
        #expect(w.string == #"{"v":1,"device":"gw-1","state":"offline"}"#)
        var s = BALStatus(deviceId: "gw-1", online: true)
        s.firmware = "0.1.0"
        s.kid = "k"
        s.jwkJSON = Array(#"{"kty":"EC"}"#.utf8)
        s.lostGroups = 3
        s.lostFirstSeq = 10
        s.lostLastSeq = 12
        s.encode(into: &w)
        let v = try JSONParser.parse(w.bytes)
        #expect(v["jwk"]?["kty"]?.stringValue == "EC")
        #expect(v["lost_range"] == .array([.int(10), .int(12)]))
        #expect(v["last_meter_read"] == .null)
    }
}

/// The fleet behaviour (docs/fleet.md): a reconnected device starts its backlog slowly, after a
/// random delay, halves its rate when PUBACKs come back slower than the target and climbs back by a
/// tenth of the ceiling per second when they are fast. Driven by explicit times: a minute of
/// draining runs in microseconds.
@Suite struct AdaptiveDrainTests {
    func publisher(rate: Int = 100, target: Int64 = 500, jitter: Int64 = 5_000) -> BALPublisher {
        var l = BALPublisherLimits()
        l.inFlightMax = 1_000
        l.drainPerSecondMax = rate
        l.drainLatencyTargetMs = target
        l.drainStartJitterMs = jitter
        return BALPublisher(measurementsTopic: "m", limits: l)
    }

    @Test func backlogWaitsForTheStartJitterButLiveDataDoesNot() {
        var store = FakeStore(seqs: Array(1...100))
        var t = FakeTransport()
        var p = publisher()
        p.linkUp(nowMs: 0, drainDelayMs: 3_000)
        p.pump(nowMs: 2_999, store: &store, transport: &t)
        #expect(t.sent.isEmpty)
        store.append(101)
        p.committed(seq: 101, payload: Array("g101".utf8), store: &store, transport: &t)
        #expect(t.payloads == ["g101"])
        p.pump(nowMs: 4_000, store: &store, transport: &t)
        #expect(t.sent.count == 1 + p.drainStartRate)  // one second at the start rate
    }

    @Test func delayIsClampedToTheConfiguredJitter() {
        var store = FakeStore(seqs: Array(1...10))
        var t = FakeTransport()
        var p = publisher(jitter: 1_000)
        p.linkUp(nowMs: 0, drainDelayMs: 60_000)
        p.pump(nowMs: 2_000, store: &store, transport: &t)
        #expect(!t.sent.isEmpty)
    }

    /// Acknowledges everything in flight `latency` ms after `now`.
    func ackAll(_ p: inout BALPublisher, _ t: FakeTransport, from: Int, _ store: inout FakeStore, at now: Int64) {
        for s in t.sent[from...] { p.published(token: s.token, store: &store, nowMs: now) }
    }

    @Test func fastAcksClimbToTheCeilingSlowAcksHalve() {
        var store = FakeStore(seqs: Array(1...10_000))
        var t = FakeTransport()
        var p = publisher(rate: 100, target: 500)
        p.linkUp(nowMs: 0)
        #expect(p.drainRate == 20)
        var now: Int64 = 0
        // Fast acknowledgements (10 ms) for 10 s: +10/s up to the ceiling of 100.
        for _ in 0..<100 {
            now += 100
            let before = t.sent.count
            p.pump(nowMs: now, store: &store, transport: &t)
            ackAll(&p, t, from: before, &store, at: now + 10)
        }
        #expect(p.drainRate == 100)
        // The broker slows down: acknowledgements take 800 ms. One cut per target period, not per ack.
        let before = t.sent.count
        now += 100
        p.pump(nowMs: now, store: &store, transport: &t)
        ackAll(&p, t, from: before, &store, at: now + 800)
        #expect(p.drainRate == 50)
        #expect(p.drainDecreases == 1)
        now += 1_000
        let b2 = t.sent.count
        p.pump(nowMs: now, store: &store, transport: &t)
        ackAll(&p, t, from: b2, &store, at: now + 800)
        #expect(p.drainRate == 25)
        #expect(p.slowestAckMs == 800)
        // Never below one group per second.
        for _ in 0..<20 {
            now += 1_000
            let b = t.sent.count
            p.pump(nowMs: now, store: &store, transport: &t)
            ackAll(&p, t, from: b, &store, at: now + 5_000)
        }
        #expect(p.drainRate == 1)
        #expect(store.acknowledged != nil)  // slow, but nothing is dropped: the watermark still moves
    }

    @Test func sentRateFollowsTheAdaptiveRate() {
        var store = FakeStore(seqs: Array(1...10_000))
        var t = FakeTransport()
        var p = publisher(rate: 100, target: 500, jitter: 0)
        p.linkUp(nowMs: 0)
        // Without acknowledgements the rate stays at the start rate: 20/s, including fractions of a tick
        // (20 at once on the link coming up, then 20 per second).
        for i in 1...100 { p.pump(nowMs: Int64(i) * 30, store: &store, transport: &t) }  // 3 s in 30 ms ticks
        #expect(t.sent.count == 80)
    }

    @Test func fixedRateWhenTheTargetIsZero() {
        var store = FakeStore(seqs: Array(1...1_000))
        var t = FakeTransport()
        var p = publisher(rate: 100, target: 0, jitter: 0)
        p.linkUp(nowMs: 0)
        p.pump(nowMs: 0, store: &store, transport: &t)
        #expect(t.sent.count == 100)
        #expect(p.drainRate == 100)
    }
}
