import PGUICore
import PGUIPlatform
import Testing

@testable import PGUIRuntime

/// The BAL link across a 48 h outage (DESIGN.md §4, docs/bal-protocol.md): every group taken while
/// the broker was unreachable stays in the journal, and after the reconnect the backlog goes out in
/// sequence order, at most `bal.drain_per_s` groups per second, each retired on its PUBACK.
@Suite struct BALOutageTests {
    static let wallStartMs: Int64 = 1_795_000_000_000
    static let windowMs: Int64 = 10_000
    static let outageGroups = 48 * 3_600 * 1_000 / Int(windowMs)  // 17,280 groups of 10 s

    func seq(of m: FakeSession.Message) -> UInt64? { parseInt64(String(decoding: m.payload.dropFirst(), as: UTF8.self)).map { UInt64($0) } }

    @Test func fortyEightHourOutageDrainsInOrder() throws {
        let clock = ManualClock(wallMs: Self.wallStartMs, monotonicMs: 0)
        let config = try testConfig("bal.drain_per_s = 200\n")
        let journal = try memoryJournal(clock)
        let session = FakeSession()
        let link = BALLink<TestPorts>(config: config.bal, topicPrefix: config.identity.topicPrefix, deviceId: "gw-test",
                                      session: session, identity: FakeIdentity(device: "gw-test"), journal: journal, clock: clock)
        session.isConnected = true
        link.mqttConnected()
        #expect(session.on(link.topics.status).count == 1, "birth message after CONNACK")
        session.isConnected = false
        link.mqttDisconnected("broker unreachable")

        // 48 h without the broker: one group per window, committed to the journal, offered to the link.
        for s in 1...Self.outageGroups {
            clock.advance(ms: Self.windowMs)
            let payload = Array("g\(s)".utf8)
            try journal.append(seq: UInt64(s), payload: payload)
            try journal.commit()
            link.committed(seq: UInt64(s), payload: payload)
            link.tick(clock.wallMs(), clock.monotonicMs())
        }
        #expect(session.on(link.topics.measurements).isEmpty, "nothing is sent while the link is down")
        #expect(journal.stats.records == UInt64(Self.outageGroups))
        #expect(journal.stats.lostCount == 0, "a 48 h ring holds a 48 h outage")

        // The broker is back: drain, acknowledging every publish at the next 100 ms tick.
        session.isConnected = true
        link.mqttConnected()
        let drainStartMs = clock.monotonicMs()
        var acked = 0
        var ticks = 0
        let ticksMax = 100_000  // 10,000 s of link time; the drain needs about 87 s at 200/s
        while journal.stats.records > 0 && ticks < ticksMax {
            clock.advance(ms: 100)
            ticks += 1
            let sent = session.on(link.topics.measurements)
            while acked < sent.count {
                link.mqttDelivered(token: sent[acked].token)
                acked += 1
            }
            link.tick(clock.wallMs(), clock.monotonicMs())
        }
        #expect(ticks < ticksMax, "drain did not finish within \(ticksMax) ticks; \(journal.stats.records) records left")
        let sent = session.on(link.topics.measurements).compactMap { seq(of: $0) }
        #expect(sent.count == Self.outageGroups, "each group exactly once (no reconnect during the drain)")
        #expect(sent == (1...UInt64(Self.outageGroups)).map { $0 }, "in sequence order")
        #expect(link.publisher.ackedCount == UInt64(Self.outageGroups))
        #expect(journal.stats.ackedSeq == UInt64(Self.outageGroups))
        // bal.drain_per_s bounds the rate on the link's clock.
        let drainS = (clock.monotonicMs() - drainStartMs) / 1_000
        #expect(drainS >= Int64(Self.outageGroups / 200) - 1, "drained \(Self.outageGroups) groups in \(drainS) s at 200/s")
        // The last status tells the BAL the backlog is gone.
        link.publishStatus(clock.wallMs(), clock.monotonicMs())
        let status = try JSONParser.parse(session.on(link.topics.status).last!.payload)
        #expect(status["backlog_groups"]?.intValue == 0)
        #expect(status["lost_groups"]?.intValue == 0)
    }

    @Test func aReconnectDuringTheDrainResendsFromTheOldestUnacknowledged() throws {
        let clock = ManualClock(wallMs: Self.wallStartMs, monotonicMs: 0)
        let config = try testConfig("bal.drain_per_s = 200\n")
        let journal = try memoryJournal(clock)
        let session = FakeSession()
        let link = BALLink<TestPorts>(config: config.bal, topicPrefix: config.identity.topicPrefix, deviceId: "gw-test",
                                      session: session, identity: FakeIdentity(device: "gw-test"), journal: journal, clock: clock)
        for s in 1...500 {
            try journal.append(seq: UInt64(s), payload: Array("g\(s)".utf8))
            try journal.commit()
        }
        session.isConnected = true
        link.mqttConnected()
        // Only groups up to 100 are acknowledged before the broker goes away again; later ones are in flight.
        var delivered = 0
        var ticks = 0
        while journal.stats.ackedSeq != 100 && ticks < 1_000 {
            clock.advance(ms: 100)
            ticks += 1
            let sent = session.on(link.topics.measurements)
            while delivered < sent.count, (seq(of: sent[delivered]) ?? 0) <= 100 {
                link.mqttDelivered(token: sent[delivered].token)
                delivered += 1
            }
            link.tick(clock.wallMs(), clock.monotonicMs())
        }
        #expect(session.on(link.topics.measurements).count > 100, "groups after 100 were in flight when the link dropped")
        session.isConnected = false
        link.mqttDisconnected("connection lost")
        #expect(journal.stats.ackedSeq == 100)
        let before = session.on(link.topics.measurements).count
        session.isConnected = true
        link.mqttConnected()
        var acked = before
        while journal.stats.records > 0 {
            clock.advance(ms: 100)
            let sent = session.on(link.topics.measurements)
            while acked < sent.count {
                link.mqttDelivered(token: sent[acked].token)
                acked += 1
            }
            link.tick(clock.wallMs(), clock.monotonicMs())
        }
        let resent = session.on(link.topics.measurements).dropFirst(before).compactMap { seq(of: $0) }
        #expect(resent.first == 101, "the drain resumes after the last acknowledged group")
        #expect(resent == resent.sorted() && Set(resent).count == resent.count)
        #expect(resent.last == 500)
    }
}
