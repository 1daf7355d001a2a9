import CSystem
import PGUICore
import PGUIPlatform
import Testing

@testable import PGUIRuntime

/// A day of DSO slots on a manual clock (docs/setpoints.md): the schedule the DSO sent is what the EMS
/// reads at every moment of the day (current and next set-point, Modbus register image), across a
/// restart at noon and a replacement message in the afternoon, and nothing once the day is over.
@Suite struct SetpointDayTests {
    /// 2026-11-24T00:00:00Z, a slot boundary.
    static let midnightS: Int64 = 1_795_910_400
    static let slotS: Int64 = 900

    func tempDir() -> String {
        var template = Array("/tmp/pgui-runtime-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: p!)
    }

    /// A DSO message made at `issuedMs`: `count` slots from `startS`, slot i with P = base + i, Q = -i.
    func message(id: String, issuedMs: Int64, startS: Int64, count: Int64, base: Int64) -> [UInt8] {
        var w = JSONWriter(capacity: 8_192)
        w.beginObject()
        w.field("version", Int64(1))
        w.field("id", id)
        w.field("issued", issuedMs)
        w.key("slots")
        w.beginArray()
        for i in 0..<count {
            w.beginObject()
            w.field("start", startS + i * Self.slotS)
            w.field("duration", Self.slotS)
            w.field("bspP", base + i)
            w.field("bspQ", -i)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    func status(_ ack: [UInt8]) -> String? { (try? JSONParser.parse(ack))?["status"]?.stringValue }

    /// One DSO message as a batch of one (stage, then one write): its ack.
    func receive(_ service: SetpointService<ManualClock>, _ bytes: [UInt8]) -> [UInt8] {
        service.stage(bytes, source: "test")
        return service.commit().last ?? []
    }

    @Test func aDayOfSlotTransitions() throws {
        let dir = tempDir()
        let config = try testConfig()
        let clock = ManualClock(wallMs: (Self.midnightS - 60) * 1_000, monotonicMs: 0)
        var service = SetpointService(config: config.dso, dataDir: dir, clock: clock)
        #expect(service.current == nil)
        #expect(status(receive(service, message(id: "day", issuedMs: clock.wallMs(), startS: Self.midnightS, count: 96, base: 1_000))) == "accepted")
        #expect(service.current == nil, "the schedule starts at midnight")
        #expect(service.next?.bspP == 1_000)

        var image = SetpointRegisters()
        var transitions = 0
        var lastP: Int64? = nil
        // Every minute of the day; at noon the process restarts and restores the stored schedule; at
        // 18:00 a new message replaces the evening.
        while clock.wallMs() < (Self.midnightS + 86_400) * 1_000 {
            clock.advance(ms: 60_000)
            let nowS = clock.wallMs() / 1_000
            let slot = (nowS - Self.midnightS) / Self.slotS
            if nowS == Self.midnightS + 12 * 3_600 {
                service = SetpointService(config: config.dso, dataDir: dir, clock: clock)
            }
            if nowS == Self.midnightS + 18 * 3_600 {
                let ack = receive(service, message(id: "evening", issuedMs: clock.wallMs(), startS: nowS, count: 24, base: 5_000))
                #expect(status(ack) == "accepted")
            }
            guard slot < 96 else { break }
            let expected = slot >= 72 ? 5_000 + (slot - 72) : 1_000 + slot
            #expect(service.current?.bspP == expected, "slot \(slot) at \(UTC.format(ms: clock.wallMs()))")
            #expect(service.current?.bspQ == -(slot >= 72 ? slot - 72 : slot))
            // Until 18:00 the evening is still the morning message's (slot 71's next is 1,072).
            let expectedNext: Int64? = slot == 95 ? nil : (slot >= 72 ? 5_000 + (slot + 1 - 72) : 1_000 + slot + 1)
            #expect(service.next?.bspP == expectedNext)
            image.update(service.snapshot())
            #expect(Int64(Int32(bitPattern: image.value(at: SetpointRegisters.pCurrent))) == expected)
            if lastP != service.current?.bspP { transitions += 1 }
            lastP = service.current?.bspP
        }
        #expect(transitions == 96, "one change per slot")
        clock.advance(ms: 60_000)
        #expect(service.current == nil, "nothing after the last slot")
        #expect(service.next == nil)
        service.tick()
        #expect(service.schedule.slots.isEmpty)
    }

    @Test func aRejectedMessageKeepsTheDay() throws {
        let dir = tempDir()
        let config = try testConfig()
        let clock = ManualClock(wallMs: Self.midnightS * 1_000, monotonicMs: 0)
        let service = SetpointService(config: config.dso, dataDir: dir, clock: clock)
        _ = receive(service, message(id: "day", issuedMs: clock.wallMs(), startS: Self.midnightS, count: 96, base: 1_000))
        clock.advance(ms: 3_600_000)
        var bad = message(id: "bad", issuedMs: clock.wallMs(), startS: Self.midnightS + 7_200, count: 4, base: 9_000_000_000)
        #expect(status(receive(service, bad)) == "rejected")
        bad = Array(bad.prefix(bad.count / 2))
        #expect(status(receive(service, bad)) == "rejected")
        #expect(service.current?.bspP == 1_004)
        let restored = SetpointService(config: config.dso, dataDir: dir, clock: clock)
        #expect(restored.current?.bspP == 1_004, "the stored schedule is the accepted one")
    }
}
