import Testing

@testable import PGUICore

@Suite struct CRC32CTests {
    // RFC 3720 §B.4 (iSCSI) test vectors, plus the common "123456789" check value.
    @Test func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func incrementalEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let whole = CRC32C.checksum(bytes)
        let split = bytes.withUnsafeBytes { b in
            CRC32C.finish(CRC32C.update(CRC32C.update(CRC32C.initial, UnsafeRawBufferPointer(rebasing: b[0..<333])),
                                        UnsafeRawBufferPointer(rebasing: b[333...])))
        }
        #expect(whole == split)
    }
}

@Suite struct JournalFormatTests {
    func encoded(pos: UInt64 = 7, seq: UInt64 = 42, payload: [UInt8], slot: Int = 512) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: slot)
        _ = payload.withUnsafeBytes { JournalRecordHeader.encode(pos: pos, seq: seq, payload: $0, into: &buf) }
        return buf
    }

    func check(_ b: [UInt8], max: Int = 480) -> JournalRecordHeader? {
        b.withUnsafeBytes { r in
            guard let h = JournalRecordHeader.decode(r, payloadBytesMax: max), h.verify(r) else { return nil }
            return h
        }
    }

    @Test func roundTripIncludingEmptyAndLimit() {
        for len in [0, 1, 479, 480] {
            let p = (0..<len).map { UInt8(truncatingIfNeeded: $0) }
            let h = check(encoded(payload: p))
            #expect(h == JournalRecordHeader(length: len, pos: 7, seq: 42, crc: h?.crc ?? 0))
        }
    }

    @Test func emptyZeroAndTruncatedInputAreNotRecords() {
        #expect(check([]) == nil)
        #expect(check([UInt8](repeating: 0, count: 512)) == nil)
        let b = encoded(payload: [1, 2, 3, 4])
        #expect(check(Array(b[0..<31])) == nil)  // header cut
        #expect(check(Array(b[0..<35])) == nil)  // payload cut
        #expect(check(Array(b[0..<36])) != nil)
    }

    @Test func everyFlippedBitIsDetected() {
        let b = encoded(payload: Array("signed group".utf8))
        for i in 0..<(32 + 12) {
            var c = b
            c[i] ^= 0x01
            #expect(check(c) == nil, "bit flip at byte \(i) went unnoticed")
        }
    }

    @Test func lengthBeyondTheSlotIsRejected() {
        var b = encoded(payload: [9])
        LE.put32(&b, 4, 481)  // limit + 1
        #expect(check(b) == nil)
    }

    @Test func superblockRoundTripAndRejections() {
        let g = JournalGeometry(slotCount: 200, slotBytes: 512)
        let sb = JournalSuperblock.encode(g)
        #expect(sb.count == 4096)
        guard case .success(let back) = JournalSuperblock.decode(sb) else { Issue.record("decode failed"); return }
        #expect(back == g)
        var foreign = sb
        foreign[0] = 0x7F
        if case .success = JournalSuperblock.decode(foreign) { Issue.record("foreign magic accepted") }
        var corrupt = sb
        corrupt[16] ^= 1
        if case .success = JournalSuperblock.decode(corrupt) { Issue.record("corrupt superblock accepted") }
        if case .success = JournalSuperblock.decode([]) { Issue.record("empty file accepted") }
        if case .success = JournalSuperblock.decode(Array(sb[0..<63])) { Issue.record("truncated superblock accepted") }
    }

    @Test func hintRoundTripAndRejections() {
        var h = JournalHint(geometry: JournalGeometry(slotCount: 200, slotBytes: 512))
        h.head = 1_000
        h.tail = 900
        h.ackedSeq = 5
        h.lastSeq = 77
        h.lostCount = 3
        h.lostFirstSeq = 1
        h.lostLastSeq = 3
        let b = h.encode()
        guard case .success(let back) = JournalHint.decode(b) else { Issue.record("decode failed"); return }
        #expect(back == h)
        for i in 0..<b.count {
            var c = b
            c[i] ^= 0x80
            if case .success = JournalHint.decode(c) { Issue.record("corrupt hint byte \(i) accepted") }
        }
        if case .success = JournalHint.decode(Array(b.dropLast())) { Issue.record("truncated hint accepted") }
        h.tail = 700  // more than a lap behind the head
        if case .success = JournalHint.decode(h.encode()) { Issue.record("inconsistent hint accepted") }
    }

    @Test func geometryFromRetention() {
        let g = JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: 4_064)
        #expect(g.slotCount == 17_280 + JournalGeometry.uncommittedMax)
        #expect(g.slotBytes == 4_096)
        #expect(g.problem == nil)
        #expect(g.offset(0) == 4_096)
        #expect(g.offset(UInt64(g.slotCount)) == 4_096)  // the next lap reuses slot 0
        #expect(JournalGeometry(slotCount: JournalGeometry.slotCountMin - 1, slotBytes: 512).problem != nil)
        #expect(JournalGeometry(slotCount: JournalGeometry.slotCountMin, slotBytes: 512).problem == nil)
        #expect(JournalGeometry(slotCount: 200, slotBytes: 500).problem != nil)
        #expect(JournalGeometry(slotCount: 1 << 20, slotBytes: 4_096).problem != nil)  // > 2 GiB
    }
}

/// Shared fixtures for the engine tests.
enum JT {
    static let geometry = JournalGeometry(slotCount: 200, slotBytes: 512)

    static func payload(_ seq: UInt64) -> [UInt8] {
        let len = 1 + Int(seq % 300)
        return (0..<len).map { UInt8(truncatingIfNeeded: seq &* 31 &+ UInt64($0) &* 7) }
    }

    static func storage(_ g: JournalGeometry = geometry) -> MemoryJournalStorage {
        let s = MemoryJournalStorage(bytes: Int(g.fileBytes))
        try! Journal<MemoryJournalStorage, ManualClock>.format(s, geometry: g)
        return s
    }

    static func open(_ s: MemoryJournalStorage, _ clock: ManualClock = ManualClock(wallMs: 0), policy: JournalPolicy = JournalPolicy())
        throws(JournalError) -> Journal<MemoryJournalStorage, ManualClock>
    {
        try Journal.open(s, clock: clock, expected: nil, policy: policy)
    }

    static func drain(_ j: Journal<MemoryJournalStorage, ManualClock>) throws(JournalError) -> [JournalRecord] {
        var out: [JournalRecord] = []
        var pos = j.stats.tail
        while pos < j.stats.head {
            let (r, next) = try j.read(from: pos, max: 50)
            out += r
            pos = next
        }
        return out
    }
}

@Suite struct JournalEngineTests {
    @Test func emptyJournal() throws {
        let j = try JT.open(JT.storage())
        #expect(j.stats.records == 0)
        #expect(try j.oldestUnacked(max: 10).isEmpty)
        #expect(j.stats.lastSeq == nil)
        #expect(throws: JournalError.self) { try j.ack(upTo: 1) }
    }

    @Test func appendCommitReadInOrderWithSequenceGaps() throws {
        let s = JT.storage()
        let j = try JT.open(s)
        let seqs: [UInt64] = [5, 6, 9, 100, 101, 1_000_000]
        for q in seqs {
            try j.append(seq: q, payload: JT.payload(q))
            #expect(try j.commit() == q)
        }
        let back = try JT.drain(j)
        #expect(back.map(\.seq) == seqs)
        #expect(back.allSatisfy { $0.payload == JT.payload($0.seq) })
        // Reopen: via the hint, and with the hint gone (full scan): same records.
        #expect(try JT.drain(JT.open(s)).map(\.seq) == seqs)
        s.hint = nil
        let scanned = try JT.open(s)
        #expect(scanned.stats.recovery == "scan")
        #expect(try JT.drain(scanned).map(\.seq) == seqs)
    }

    @Test func refusesOutOfOrderAndOversizeRecords() throws {
        let j = try JT.open(JT.storage())
        try j.append(seq: 10, payload: [1])
        #expect(throws: JournalError.self) { try j.append(seq: 10, payload: [1]) }
        #expect(throws: JournalError.self) { try j.append(seq: 9, payload: [1]) }
        try j.append(seq: 11, payload: [UInt8](repeating: 1, count: 480))  // limit
        #expect(throws: JournalError.self) { try j.append(seq: 12, payload: [UInt8](repeating: 1, count: 481)) }
        try j.commit()
        #expect(try JT.drain(j).map(\.seq) == [10, 11])
    }

    @Test func wrappedRingCountsLossAndKeepsNewest() throws {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...450 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        #expect(j.stats.records == 200)
        #expect(j.stats.lostCount == 250)
        #expect(j.stats.lostFirstSeq == 1 && j.stats.lostLastSeq == 250)
        #expect(try JT.drain(j).map(\.seq) == Array(251...450))
        try j.close()
        let again = try JT.open(s)
        #expect(again.stats.lostCount == 250)
        #expect(try JT.drain(again).map(\.seq) == Array(251...450))
    }

    @Test func acknowledgedRecordsAreNotLostWhenOverwritten() throws {
        let j = try JT.open(JT.storage())
        for q in UInt64(1)...300 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
            try j.ack(upTo: q)
        }
        #expect(j.stats.lostCount == 0)
        #expect(j.stats.records == 0)
        #expect(throws: JournalError.self) { try j.ack(upTo: 301) }  // beyond the last
    }

    @Test func ackIsPersistedLazilyAndNeverLosesARecord() throws {
        let s = JT.storage()
        let clock = ManualClock(wallMs: 0)
        var policy = JournalPolicy()
        policy.hintIntervalMs = 10_000
        let j = try JT.open(s, clock, policy: policy)
        for q in UInt64(1)...20 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        clock.advance(ms: 10_000)
        try j.ack(upTo: 10)  // hint due: persisted
        try j.ack(upTo: 15)  // within the interval: not yet
        s.crash(seed: 3)
        let r = try JT.open(s, clock, policy: policy)
        #expect(r.stats.ackedSeq == 10)
        #expect(try r.oldestUnacked(max: 100).map(\.seq) == Array(11...20))  // 11...15 re-sent, none lost
    }

    @Test func corruptRecordIsSkippedNeverReturned() throws {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...10 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        s.flip(at: Int(JT.geometry.offset(4)) + 34)  // inside record seq 5's payload
        let back = try JT.drain(j)
        #expect(back.map(\.seq) == [1, 2, 3, 4, 6, 7, 8, 9, 10])
        #expect(j.stats.corruptSkipped == 1)
    }

    @Test func corruptOrForeignHintFallsBackToScan() throws {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...30 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        try j.close()
        s.hint = [UInt8](repeating: 0x41, count: JournalHint.bytes)
        let a = try JT.open(s)
        #expect(a.stats.recovery == "scan")
        #expect(try JT.drain(a).map(\.seq) == Array(1...30))
        var other = JournalHint(geometry: JournalGeometry(slotCount: 300, slotBytes: 512))
        other.head = 5
        s.hint = other.encode()
        let b = try JT.open(s)
        #expect(b.stats.recovery == "scan")
        #expect(try JT.drain(b).map(\.seq) == Array(1...30))
    }

    @Test func geometryMismatchAndForeignStorageAreRefused() throws {
        let s = JT.storage()
        #expect(throws: JournalError.self) {
            _ = try Journal.open(s, clock: ManualClock(wallMs: 0), expected: JournalGeometry(slotCount: 300, slotBytes: 512))
        }
        let blank = MemoryJournalStorage(bytes: 100_000)
        #expect(throws: JournalError.self) { _ = try JT.open(blank) }
        let short = MemoryJournalStorage(bytes: 10)
        #expect(throws: JournalError.self) { _ = try JT.open(short) }
    }

    @Test func fullDiskIsReportedAndNothingCommittedIsLost() throws {
        // A storage whose writes fail past a point behaves like a medium that stops taking writes:
        // the write fails with a clear error and committed records stay readable.
        let g = JT.geometry
        let s = MemoryJournalStorage(bytes: Int(g.fileBytes))
        try Journal<MemoryJournalStorage, ManualClock>.format(s, geometry: g)
        s.writableBytes = Int(g.fileBytes) - 512 * 190
        let j = try JT.open(s)
        var failed = false
        for q in UInt64(1)...20 {
            do throws(JournalError) {
                try j.append(seq: q, payload: JT.payload(q))
                try j.commit()
            } catch {
                failed = true
                #expect(error.message.contains("beyond the end"))
                break
            }
        }
        #expect(failed)
        #expect(try JT.drain(j).map(\.seq) == Array(1...10))
    }

    /// Power cuts at random points: every record `commit` reported durable comes back exactly once,
    /// in order, intact; nothing torn is ever returned; appending continues after each recovery.
    @Test(arguments: [JournalSyncPolicy.everyGroup, .everyN(5)])
    func randomPowerCuts(sync: JournalSyncPolicy) throws {
        let s = JT.storage()
        var policy = JournalPolicy()
        policy.sync = sync
        policy.hintIntervalMs = 0
        var committed: [UInt64] = []
        var nextSeq: UInt64 = 1
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func rand(_ n: UInt64) -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (rng >> 33) % n
        }
        var appended: [UInt64] = []
        for round in 0..<80 {
            let j = try JT.open(s, policy: policy)
            let back = try JT.drain(j).map(\.seq)
            let payloadsIntact = try JT.drain(j).allSatisfy { $0.payload == JT.payload($0.seq) }
            #expect(payloadsIntact, "round \(round): a record came back altered")
            #expect(back == back.sorted() && Set(back).count == back.count, "round \(round): order or duplicates")
            // No committed record is missing, apart from those the full ring overwrote.
            let first = back.first ?? UInt64.max
            for c in committed.suffix(100) where c >= first || committed.count <= 100 {
                #expect(back.contains(c), "round \(round): committed seq \(c) lost")
            }
            // Nothing comes back that was never written.
            #expect(back.allSatisfy { appended.contains($0) }, "round \(round): unknown record")
            committed = back
            var session: [UInt64] = []
            nextSeq = max(nextSeq, (j.stats.lastSeq ?? 0) + 1)
            let groups = 1 + rand(20)
            for _ in 0..<groups {
                try j.append(seq: nextSeq, payload: JT.payload(nextSeq))
                appended.append(nextSeq)
                session.append(nextSeq)
                nextSeq += 1 + rand(2)  // gaps
                if let c = try j.commit() {
                    committed += session.filter { $0 <= c && $0 > (committed.last ?? 0) }
                }
            }
            // Some appends that never reach a commit before the cut.
            for _ in 0..<rand(4) {
                try j.append(seq: nextSeq, payload: JT.payload(nextSeq))
                appended.append(nextSeq)
                nextSeq += 1
            }
            if rand(3) == 0 { s.hint = nil }
            s.crash(seed: rng)
        }
    }
}

extension Array where Element == UInt64 {
    /// The longest suffix whose elements all satisfy `p`.
    func suffix(while p: (UInt64) -> Bool) -> ArraySlice<UInt64> {
        var i = count
        while i > 0 && p(self[i - 1]) { i -= 1 }
        return self[i...]
    }
}

/// DESIGN.md §5: a 60-hour network partition on a 48-hour ring, one signed group every 10 s, time
/// driven by a ManualClock. The ring fills, wraps and counts what it overwrites; when the network
/// returns, the backlog drains oldest-first, in order, while live groups keep arriving.
@Suite struct JournalOutageTests {
    @Test func sixtyHourOutageFillsWrapsAndDrainsInOrder() throws {
        let g = JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: 400)
        #expect(g.slotCount == 17_344)
        let s = MemoryJournalStorage(bytes: Int(g.fileBytes))
        try Journal<MemoryJournalStorage, ManualClock>.format(s, geometry: g)
        let clock = ManualClock(wallMs: plausibleWallMsMin)
        let j = try Journal.open(s, clock: clock, expected: g)
        let payload = [UInt8](repeating: 0x5A, count: 300)
        var seq: UInt64 = 0
        let groups = 60 * 360
        for _ in 0..<groups {
            clock.advance(ms: 10_000)
            seq += 1
            try j.append(seq: seq, payload: payload)
            try j.commit()
        }
        let lost = UInt64(groups - g.slotCount)
        #expect(j.stats.records == UInt64(g.slotCount))
        #expect(j.stats.fillPerMille == 1_000)
        #expect(j.stats.lostCount == lost)
        #expect(j.stats.lostFirstSeq == 1 && j.stats.lostLastSeq == lost)
        #expect(s.syncs >= groups)  // default policy: one fdatasync per group

        // A power cut at the end of the outage: recovery via the lazy hint finds the same ring.
        s.crash(seed: 11)
        let r = try Journal.open(s, clock: clock, expected: g)
        #expect(r.stats.recovery == "hint")
        #expect(r.stats.records == UInt64(g.slotCount) && r.stats.lastSeq == seq)
        #expect(r.stats.lostCount >= lost - 6)  // losses of the last hint interval may be uncounted

        // The network is back: drain 100 records per 10 s window while live groups keep coming.
        var received: [UInt64] = []
        while true {
            clock.advance(ms: 10_000)
            seq += 1
            try r.append(seq: seq, payload: payload)
            try r.commit()
            let batch = try r.oldestUnacked(max: 100)
            guard let last = batch.last else { break }
            received += batch.map(\.seq)
            try r.ack(upTo: last.seq)
            if r.stats.records == 0 { break }
        }
        // The first live group arrived while the ring was still full: it overwrote one more record.
        #expect(received == Array((lost + 2)...seq))
        #expect(r.stats.records == 0)
        #expect(r.stats.lostCount >= lost - 6)
    }
}

@Suite struct JournalRecoveryTests {
    /// A record damaged on the medium inside the last uncommitted-window's worth of records must not
    /// hide the intact ones after it, with or without the hint.
    @Test(arguments: [true, false])
    func damagedRecordDoesNotTruncateTheJournal(keepHint: Bool) throws {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...20 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        if !keepHint { s.hint = nil } else { s.hint = { var h = JournalHint(geometry: JT.geometry); h.head = 2; h.lastSeq = 2; return h.encode() }() }
        s.flip(at: Int(JT.geometry.offset(4)) + 34)
        let r = try JT.open(s)
        #expect(try JT.drain(r).map(\.seq) == [1, 2, 3, 4] + Array(6...20))
        #expect(r.stats.lastSeq == 20)
        try r.append(seq: 21, payload: JT.payload(21))
        #expect(try r.commit() == 21)
    }

    /// A record that breaks the sequence order (it cannot have been written by this journal in that
    /// place) is a hole: it neither ends the journal nor comes back, with or without the hint.
    @Test(arguments: [true, false])
    func outOfOrderRecordIsAHole(keepHint: Bool) throws {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...5 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        try j.close()
        var buf = [UInt8](repeating: 0, count: 512)
        let p = JT.payload(3)
        let n = p.withUnsafeBytes { JournalRecordHeader.encode(pos: 5, seq: 3, payload: $0, into: &buf) }
        try s.write(at: JT.geometry.offset(5), buf, count: n)
        try s.sync()
        if !keepHint { s.hint = nil }
        let r = try JT.open(s)
        #expect(r.stats.lastSeq == 5)
        #expect(try JT.drain(r).map(\.seq) == [1, 2, 3, 4, 5])
        var check = [UInt8](repeating: 0, count: 32)
        _ = try s.read(at: JT.geometry.offset(5), into: &check)
        #expect(check == [UInt8](repeating: 0, count: 32))  // invalidated, so it cannot resurface
    }
}
