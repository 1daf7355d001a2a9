import PGUICore
import PGUIPlatform
import PGUIRuntime

extension Bench {
    /// Per-request EMS work: the current/next look-up in a full 7-day schedule plus the register
    /// image update (what every Modbus read does), and the HTTP head parse of a typical request —
    /// each against a plain copy of the same bytes (the floor for touching the data at all).
    static func benchSetpoints() -> Bool {
        var limits = ScheduleLimits()
        limits.horizonS = 604_800
        let t0: Int64 = 1_795_804_200
        var slots: [SetpointSlot] = []
        for i in 0..<Int64(limits.slotsMax) { slots.append(SetpointSlot(startS: t0 + i * 900, durationS: 900, bspP: i, bspQ: -i)) }
        var schedule = Schedule(limits: limits)
        schedule.apply(SetpointMessage(id: nil, slots: slots), nowMs: t0 * 1_000)
        var image = SetpointRegisters()
        var now = t0 * 1_000
        var sink: UInt32 = 0
        let lookup = rate {
            now += 7_919
            if now > (t0 + 604_000) * 1_000 { now = t0 * 1_000 }
            image.update(SetpointSnapshot(current: schedule.current(atMs: now), next: schedule.next(atMs: now)))
            sink &+= image.value(at: SetpointRegisters.pCurrent)
        }
        var copy = [UInt16](repeating: 0, count: 8)
        let copyRate = rate {
            for i in 0..<8 { copy[i] = image.words[i &* 5 % image.words.count] }
            sink &+= UInt32(copy[0])
        }
        report("setpoints-lookup", subject: "current+next of \(limits.slotsMax) slots + register image", lookup,
               baseline: "copy of 8 registers", copyRate)
        let request = Array("GET / HTTP/1.1\r\nHost: 192.168.1.10:8000\r\nUser-Agent: ems/1.0\r\nAccept: */*\r\n\r\n".utf8)
        var parsed = 0
        let parse = rate {
            if case .request = HTTPRequestParser.parse(request[...], headBytesMax: 4_096) { parsed += 1 }
        }
        var buf = [UInt8]()
        buf.reserveCapacity(request.count)
        let memcopy = rate {
            buf.removeAll(keepingCapacity: true)
            buf.append(contentsOf: request)
        }
        report("http-parse", subject: "HTTP head parse (\(request.count) B)", parse, baseline: "memcpy of the same bytes", memcopy)
        return sink != 1 && parsed > 0
    }
}
