import Testing

@testable import PGUICore

/// Issue 21: a journal on a hostile or damaged medium. A hint is trusted only as far as the records
/// prove it; a truncated or vanished ring is counted and reported, never a silent fresh start.
@Suite struct JournalForgedHintTests {
    typealias J = Journal<MemoryJournalStorage, ManualClock>

    /// 30 committed records (seq 1...30 at pos 0...29), the first 10 acknowledged, closed cleanly.
    func ring() throws -> MemoryJournalStorage {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...30 {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        try j.ack(upTo: 10)
        try j.close()
        return s
    }

    func honestHint(_ s: MemoryJournalStorage) -> JournalHint {
        guard case .success(let h) = JournalHint.decode(s.hint!) else { fatalError("honest hint does not decode") }
        return h
    }

    /// Opening with the forged hint neither traps nor hides, loses or blocks anything: every
    /// un-acknowledged record the ring holds comes back (all 30 when the hint is refused, since its
    /// acknowledgements are then unknown) and the next seq can be appended.
    func expectSafe(_ forged: JournalHint) throws {
        let s = try ring()
        s.hint = forged.encode()
        let r = try JT.open(s)
        let seqs = try JT.drain(r).map(\.seq)
        #expect(seqs == Array(11...30) || seqs == Array(1...30), "forged \(forged)")
        #expect(r.stats.lastSeq == 30)
        #expect(r.stats.head == 30)
        try r.append(seq: 31, payload: JT.payload(31))
        #expect(try r.commit() == 31)
        // The stats JSON the CLI prints must stay encodable.
        #expect(!r.stats.json().isEmpty)
    }

    @Test func honestHintIsUsed() throws {
        let s = try ring()
        let r = try JT.open(s)
        #expect(r.stats.recovery == "hint")
        #expect(r.stats.hintRejected == "")
        #expect(try JT.drain(r).map(\.seq) == Array(11...30))
    }

    /// The crash of the campaign: head = 2^64−30 (and the fuzzer's head = tail = 2^64−1).
    @Test(arguments: [UInt64.max - 29, UInt64.max, (1 << 62) + 1, 1 << 62, 31, 1_000_000] as [UInt64])
    func forgedHead(_ head: UInt64) throws {
        let s = try ring()
        var h = honestHint(s)
        h.head = head
        try expectSafe(h)
        h.tail = head
        try expectSafe(h)
    }

    @Test(arguments: [UInt64.max, UInt64.max - 1, 31, 30, 1 << 62] as [UInt64])
    func forgedAckedSeq(_ acked: UInt64) throws {
        let s = try ring()
        var h = honestHint(s)
        h.ackedSeq = acked
        s.hint = h.encode()
        let r = try JT.open(s)
        // Beyond the last seq: refused, recovered by a scan. Up to the last seq the records cannot
        // contradict it (record 9 below the tail has seq 10 ≤ acked). Either way nothing traps.
        if acked > 30 { #expect(r.stats.recovery == "scan") }
        try r.append(seq: 31, payload: JT.payload(31))
        #expect(try r.commit() == 31)
    }

    @Test(arguments: [UInt64.max - 1, UInt64.max, 1 << 62, 31, 29, 5] as [UInt64])
    func forgedLastSeq(_ last: UInt64) throws {
        let s = try ring()
        var h = honestHint(s)
        h.lastSeq = last
        try expectSafe(h)
        s.hint = h.encode()
        #expect(try JT.open(s).stats.recovery == "scan")
    }

    /// A tail moved forward over un-acknowledged records would hide them.
    @Test(arguments: [UInt64(15), 29, 30])
    func forgedTail(_ tail: UInt64) throws {
        let s = try ring()
        var h = honestHint(s)
        h.tail = tail
        try expectSafe(h)
        s.hint = h.encode()
        let r = try JT.open(s)
        #expect(r.stats.recovery == "scan")
        #expect(r.stats.hintRejected.contains("not acknowledged"))
    }

    @Test func forgedTailBelowTheHonestOneOnlyResends() throws {
        let s = try ring()
        var h = honestHint(s)
        h.tail = 3
        s.hint = h.encode()
        let r = try JT.open(s)
        // Record 2 (seq 3) is acknowledged, so nothing contradicts; the acked filter still hides 1...10.
        #expect(try JT.drain(r).map(\.seq) == Array(11...30))
    }

    @Test(arguments: [UInt64.max, (1 << 62) + 1] as [UInt64])
    func forgedLossCounters(_ v: UInt64) throws {
        let s = try ring()
        var h = honestHint(s)
        h.lostCount = v
        try expectSafe(h)
        h = honestHint(s)
        h.lostFirstSeq = 20
        h.lostLastSeq = v
        try expectSafe(h)
        h.lostFirstSeq = 25
        h.lostLastSeq = 24
        try expectSafe(h)
    }

    @Test func forgedGeometryInTheHint() throws {
        let s = try ring()
        var h = honestHint(s)
        h.geometry = JournalGeometry(slotCount: Int(UInt32.max), slotBytes: 512)
        try expectSafe(h)
        h.geometry = JournalGeometry(slotCount: 0, slotBytes: 0)
        try expectSafe(h)
    }

    @Test func emptyRingHintWithSequences() throws {
        let s = try ring()
        var h = JournalHint(geometry: JT.geometry)
        h.lastSeq = 1 << 61
        try expectSafe(h)
        h = JournalHint(geometry: JT.geometry)
        h.ackedSeq = 5
        try expectSafe(h)
    }

    /// A record with a valid CRC but a position or seq near 2^64 is garbage, not a record: it can
    /// neither trap the scan nor block every later append.
    @Test(arguments: [UInt64.max, UInt64.max - 1, (1 << 62) + 400] as [UInt64])
    func forgedRecordPositionAndSeq(_ v: UInt64) throws {
        for field in 0..<2 {
            let s = try ring()
            var buf = [UInt8](repeating: 0, count: 512)
            let p = JT.payload(7)
            let pos: UInt64 = field == 0 ? v - v % 200 - 200 + 30 : 30  // lands in slot 30 when pos is forged
            let seq: UInt64 = field == 1 ? v : 31
            let n = p.withUnsafeBytes { JournalRecordHeader.encode(pos: pos, seq: seq, payload: $0, into: &buf) }
            try s.write(at: JT.geometry.offset(30), buf, count: n)
            try s.sync()
            s.hint = nil
            let r = try JT.open(s)
            #expect(r.stats.lastSeq == 30)
            #expect(try JT.drain(r).map(\.seq) == Array(1...30))
            try r.append(seq: 31, payload: JT.payload(31))
            #expect(try r.commit() == 31)
        }
    }

    @Test func appendRefusesASeqBeyondTheLimit() throws {
        let j = try JT.open(JT.storage())
        #expect(throws: JournalError.self) { try j.append(seq: JournalGeometry.counterMax + 1, payload: [1]) }
        try j.append(seq: JournalGeometry.counterMax, payload: [1])
    }
}

@Suite struct JournalDamageTests {
    func filled(_ count: UInt64) throws -> MemoryJournalStorage {
        let s = JT.storage()
        let j = try JT.open(s)
        for q in UInt64(1)...count {
            try j.append(seq: q, payload: JT.payload(q))
            try j.commit()
        }
        try j.close()
        return s
    }

    /// The campaign's case: a ring cut short "recovered by hint" while most records were gone.
    @Test(arguments: [true, false])
    func truncatedRingIsCountedAndPreallocatedAgain(keepHint: Bool) throws {
        let s = try filled(150)
        let cut = Int(JT.geometry.offset(60)) + 10  // slots 60... gone, the header of slot 60 torn
        s.truncate(to: cut)
        if !keepHint { s.hint = nil }
        let r = try JT.open(s)
        #expect(r.stats.missingSlots == 200 - 60)
        #expect(try s.byteCount() == JT.geometry.fileBytes)  // written back, not sparse
        let seqs = try JT.drain(r).map(\.seq)
        #expect(seqs == Array(1...60))
        if keepHint {
            #expect(r.stats.recovery == "hint" || r.stats.recovery == "scan")
        }
        // The records the ring lost are accounted for: holes in the live range when the hint kept the
        // head, or a shorter ring after a scan (the hint is then contradicted by the missing record).
        #expect(r.stats.holes + UInt64(seqs.count) == r.stats.records)
    }

    @Test func readOnlyOpenOfATruncatedRingReportsWithoutWriting() throws {
        let s = try filled(50)
        s.truncate(to: Int(JT.geometry.offset(20)))
        let r = try J.open(s, clock: ManualClock(wallMs: 0), expected: nil, readOnly: true)
        #expect(r.stats.missingSlots == 180)
        #expect(try s.byteCount() == JT.geometry.offset(20))
    }
    typealias J = Journal<MemoryJournalStorage, ManualClock>

    @Test func holesInTheLiveRangeAreCountedAtOpen() throws {
        let s = try filled(40)
        s.flip(at: Int(JT.geometry.offset(5)) + 33)
        s.flip(at: Int(JT.geometry.offset(17)) + 33)
        let r = try JT.open(s)
        #expect(r.stats.holes == 2)
        #expect(r.stats.json().count > 0)
        #expect(try JT.drain(r).count == 38)
        #expect(r.stats.corruptSkipped == 2)
    }

    @Test func vanishedRingWithAHintIsCountedAsLost() throws {
        let old = try filled(30)
        let fresh = JT.storage()
        fresh.vanishedRingHint = old.hint
        let r = try JT.open(fresh)
        #expect(r.stats.records == 0)
        #expect(r.stats.lostCount == 30)
        #expect(r.stats.lostLastSeq == 30 && r.stats.lostFirstSeq == 1)
        #expect(r.stats.highestSeq == 30)
    }

    @Test func hintWriteFailuresAreCountedNotThrown() throws {
        let s = FailingHintStorage(bytes: Int(JT.geometry.fileBytes))
        try Journal<FailingHintStorage, ManualClock>.format(s, geometry: JT.geometry)
        s.failHints = true
        let clock = ManualClock(wallMs: 0)
        var policy = JournalPolicy()
        policy.hintIntervalMs = 0
        let j = try Journal.open(s, clock: clock, expected: nil, policy: policy)  // recovery writes a hint
        for q in UInt64(1)...20 {
            try j.append(seq: q, payload: [1, 2, 3])
            #expect(try j.commit() == q)
            try j.ack(upTo: q)
            clock.advance(ms: 1)
        }
        #expect(j.stats.hintWriteFailures >= 1)
    }
}

/// A storage whose hint writes fail like on a full disk.
final class FailingHintStorage: JournalStorage {
    let inner: MemoryJournalStorage
    var failHints = false
    init(bytes: Int) { inner = MemoryJournalStorage(bytes: bytes) }
    var name: String { "failing-hint journal" }
    func read(at offset: Int64, into buffer: inout [UInt8]) throws(JournalError) -> Int { try inner.read(at: offset, into: &buffer) }
    func write(at offset: Int64, _ bytes: [UInt8], count: Int) throws(JournalError) { try inner.write(at: offset, bytes, count: count) }
    func sync() throws(JournalError) { try inner.sync() }
    func readHint() throws(JournalError) -> [UInt8]? { try inner.readHint() }
    func writeHint(_ bytes: [UInt8]) throws(JournalError) {
        if failHints { throw JournalError("journal.hint.tmp: No space left on device") }
        try inner.writeHint(bytes)
    }
    func byteCount() throws(JournalError) -> Int64 { try inner.byteCount() }
    func extend(to bytes: Int64) throws(JournalError) { try inner.extend(to: bytes) }
}

@Suite struct SequenceReconcileTests {
    @Test func movesPastTheJournal() {
        #expect(SequenceAllocator.reconciledEnd(persistedEnd: 1, floor: 4) == 5)
        #expect(SequenceAllocator.reconciledEnd(persistedEnd: 5, floor: 4) == nil)
        #expect(SequenceAllocator.reconciledEnd(persistedEnd: 9, floor: 4) == nil)
        #expect(SequenceAllocator.reconciledEnd(persistedEnd: 1, floor: nil) == nil)
        #expect(SequenceAllocator.reconciledEnd(persistedEnd: 1, floor: UInt64.max) == nil)
        var a = SequenceAllocator(persistedEnd: SequenceAllocator.reconciledEnd(persistedEnd: 1, floor: 4)!, block: 10)
        a.reserved(a.reservationNeeded!)
        #expect(a.take() == 5)
    }

    @Test func highestSeqCoversLastAckedAndLost() {
        var s = JournalStats(geometry: JT.geometry)
        #expect(s.highestSeq == nil)
        s.lastSeq = 4
        s.lostLastSeq = 9
        s.ackedSeq = 3
        #expect(s.highestSeq == 9)
    }
}

@Suite struct JournalCrashLoopTests {
    /// Issue 21 item 11: a device killed faster than `hint_interval_s` while draining re-sends at
    /// most `ackedRecordsPerHint` acknowledged records per restart, not its whole backlog.
    @Test func restartResendsABoundedAmount() throws {
        let s = JT.storage(JournalGeometry(slotCount: 1_000, slotBytes: 512))
        let clock = ManualClock(wallMs: 0)
        var policy = JournalPolicy()
        policy.hintIntervalMs = 3_600_000  // never by time in this test
        var j = try Journal.open(s, clock: clock, expected: nil, policy: policy)
        for q in UInt64(1)...900 {
            try j.append(seq: q, payload: [UInt8(truncatingIfNeeded: q)])
            try j.commit()
        }
        var acked: UInt64 = 0
        var resent = 0
        for restart in 0..<8 {
            // Drain 100 records one PUBACK at a time, then crash (no close, no hint by time).
            for _ in 0..<100 {
                acked += 1
                try j.ack(upTo: acked)
            }
            s.crash(seed: UInt64(restart) + 1)
            j = try Journal.open(s, clock: clock, expected: nil, policy: policy)
            let first = try j.oldestUnacked(max: 1).first!.seq
            #expect(first <= acked + 1)
            resent += Int(acked + 1 - first)
            #expect(acked + 1 - first <= policy.ackedRecordsPerHint, "restart \(restart)")
        }
        #expect(resent <= 8 * Int(policy.ackedRecordsPerHint))
    }
}
