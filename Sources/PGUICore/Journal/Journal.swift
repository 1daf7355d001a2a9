/// The 48-hour store-and-forward journal (DESIGN.md §5, docs/journal.md): a ring of fixed-size slots
/// holding opaque signed records, each with the caller's sequence number. Pure logic over a
/// `JournalStorage`, so crash and torn-write behaviour is tested on the host with `MemoryJournalStorage`.

/// An abstract file: the POSIX ring file in firmware, a fake that can tear writes in tests.
/// Class-bound so one storage outlives the journals opened on it (a "reboot" in tests).
public protocol JournalStorage: AnyObject {
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (short only at EOF).
    func read(at offset: Int64, into buffer: inout [UInt8]) throws(JournalError) -> Int
    /// Writes the first `count` bytes of `bytes` at `offset`.
    func write(at offset: Int64, _ bytes: [UInt8], count: Int) throws(JournalError)
    /// Makes every write so far durable (fdatasync).
    func sync() throws(JournalError)
    /// The hint's bytes, nil when there is none.
    func readHint() throws(JournalError) -> [UInt8]?
    /// Replaces the hint atomically and durably.
    func writeHint(_ bytes: [UInt8]) throws(JournalError)
    /// Names the storage in messages (the file path).
    var name: String { get }
    /// The hint that was found when the ring file itself was missing and had to be created again:
    /// the records it described are gone (an alarm, never a silent fresh start).
    var vanishedRingHint: [UInt8]? { get }
    /// A whole-ring scan begins (true) or ends (false): the file may switch readahead on for it.
    func sequentialScan(_ active: Bool)
    /// The ring's current size in bytes (a truncated file is shorter than its geometry says).
    func byteCount() throws(JournalError) -> Int64
    /// Grows the ring to `bytes` with written zeros (real blocks, never a sparse hole).
    func extend(to bytes: Int64) throws(JournalError)
}

extension JournalStorage {
    public func sequentialScan(_ active: Bool) {}
    public var vanishedRingHint: [UInt8]? { nil }
}

/// When `commit()` makes records durable.
public enum JournalSyncPolicy: Equatable, Sendable {
    /// fdatasync at every commit (one commit per measurement group): a power cut loses nothing committed.
    case everyGroup
    /// fdatasync at every n-th commit: up to n-1 groups may be lost on a power cut; fewer flash writes.
    case everyN(Int)
}

public struct JournalPolicy: Equatable, Sendable {
    public var sync: JournalSyncPolicy = .everyGroup
    /// The hint (head, tail, acknowledged sequence, loss counters) is rewritten at most this often
    /// while it changes; a crash re-sends at most the records acknowledged since (never loses one).
    public var hintIntervalMs: Int64 = 60_000
    /// The hint is also rewritten once the tail (acknowledgements, or losses in a full ring) moved
    /// this many records past the last hint, whatever the interval: a device that crash-loops faster
    /// than the interval re-sends at most this many acknowledged records per restart (issue 21,
    /// item 11: a drain-and-kill loop re-sent its backlog 2.6 times). 64 = the uncommitted window, so
    /// a drain at the measured ~2 000 PUBACKs/s costs about 30 hint replacements per second at most.
    public var ackedRecordsPerHint: UInt64 = UInt64(JournalGeometry.uncommittedMax)
    public init() {}
}

public struct JournalRecord: Equatable {
    public var pos: UInt64
    public var seq: UInt64
    public var payload: [UInt8]
}

public struct JournalStats: Equatable {
    public var geometry: JournalGeometry
    /// How recovery found the ring: "new", "hint" or "scan".
    public var recovery: String = "new"
    public var head: UInt64 = 0
    public var tail: UInt64 = 0
    public var durableHead: UInt64 = 0
    public var lastSeq: UInt64? = nil
    public var ackedSeq: UInt64? = nil
    public var lostCount: UInt64 = 0
    public var lostFirstSeq: UInt64? = nil
    public var lostLastSeq: UInt64? = nil
    /// Records found torn or corrupt inside the live range (skipped, never returned).
    public var corruptSkipped: UInt64 = 0
    /// Slots of the live range that held no intact record when the journal was opened (damage found
    /// by recovery; a truncated ring's missing slots are among them).
    public var holes: UInt64 = 0
    /// Slots the ring file lacked at open (truncated below its geometry); 0 for an intact file.
    public var missingSlots: UInt64 = 0
    /// Why the hint was not used, when it was not ("" when recovery used it or there was none).
    public var hintRejected: String = ""
    /// Hint writes that failed (full or read-only disk); the hint is only a hint, records stay safe.
    public var hintWriteFailures: UInt64 = 0
    public var records: UInt64 { head - tail }
    /// The highest sequence number this journal has seen (last, acknowledged or lost); a device's
    /// next number must be above it.
    public var highestSeq: UInt64? {
        [lastSeq, ackedSeq, lostLastSeq].compactMap { $0 }.max()
    }
    /// Fill in per mille of the slots.
    public var fillPerMille: Int64 { Int64(records * 1_000 / UInt64(geometry.slotCount)) }

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.field("slots", Int64(geometry.slotCount))
        w.field("slot_bytes", Int64(geometry.slotBytes))
        w.field("file_bytes", geometry.fileBytes)
        w.field("recovery", recovery)
        w.field("head", head)
        w.field("tail", tail)
        w.field("records", records)
        w.field("fill_permille", fillPerMille)
        optional(&w, "last_seq", lastSeq)
        optional(&w, "acked_seq", ackedSeq)
        w.field("lost", lostCount)
        optional(&w, "lost_first_seq", lostFirstSeq)
        optional(&w, "lost_last_seq", lostLastSeq)
        w.field("corrupt_skipped", corruptSkipped)
        w.field("holes", holes)
        w.field("missing_slots", missingSlots)
        w.field("hint_rejected", hintRejected)
        w.field("hint_write_failures", hintWriteFailures)
        w.endObject()
        return w.bytes
    }

    private func optional(_ w: inout JSONWriter, _ key: String, _ v: UInt64?) {
        if let v { w.field(key, v) } else { w.key(key); w.null() }
    }
}

public final class Journal<S: JournalStorage, C: Clock> {
    public let storage: S
    let clock: C
    public let geometry: JournalGeometry
    public let policy: JournalPolicy
    public private(set) var stats: JournalStats
    /// One slot, allocated once: records are assembled and read through it.
    private var buffer: [UInt8]
    private var commitsSinceSync = 0
    private var hintDirty = false
    private var hintHead: UInt64 = 0
    private var hintWrittenMs: Int64 = 0
    /// The tail the last hint recorded (acknowledgements persisted up to there).
    private var hintTail: UInt64 = 0
    /// After a failed hint write, no retry before this monotonic time.
    private var hintRetryMs: Int64 = Int64.min

    /// Where the journal reports recovery findings and losses (the platform passes `Log`).
    let log: (LogLevel, String) -> Void

    private var n: UInt64 { UInt64(geometry.slotCount) }

    private init(storage: S, clock: C, geometry: JournalGeometry, policy: JournalPolicy, log: @escaping (LogLevel, String) -> Void) {
        self.log = log
        self.storage = storage
        self.clock = clock
        self.geometry = geometry
        self.policy = policy
        self.stats = JournalStats(geometry: geometry)
        self.buffer = [UInt8](repeating: 0, count: geometry.slotBytes)
    }

    // MARK: creation and recovery

    /// Writes the superblock and an empty hint on a storage whose slots are already zero
    /// (the platform preallocates them).
    public static func format(_ storage: S, geometry: JournalGeometry) throws(JournalError) {
        if let p = geometry.problem { throw JournalError("cannot create a journal with \(p)") }
        let sb = JournalSuperblock.encode(geometry)
        try storage.write(at: 0, sb, count: sb.count)
        try storage.sync()
        try storage.writeHint(JournalHint(geometry: geometry).encode())
    }

    /// Reads the superblock of a storage without recovering it.
    public static func readGeometry(_ storage: S) throws(JournalError) -> JournalGeometry {
        var sb = [UInt8](repeating: 0, count: JournalGeometry.superblockBytes)
        let got = try storage.read(at: 0, into: &sb)
        if got < sb.count { sb.removeLast(sb.count - got) }
        switch JournalSuperblock.decode(sb) {
        case .success(let g): return g
        case .failure(let e): throw JournalError("\(storage.name): \(e.message); refusing to use it (nothing was changed)")
        }
    }

    /// Opens and recovers a journal. `expected` (from the configuration) must match the ring's
    /// geometry; a mismatch is refused, never "fixed" by rewriting the ring. `readOnly` recovers
    /// without writing anything (diagnosis while the gateway may be running).
    public static func open(_ storage: S, clock: C, expected: JournalGeometry?, policy: JournalPolicy = JournalPolicy(),
                            readOnly: Bool = false, log: @escaping (LogLevel, String) -> Void = { _, _ in }) throws(JournalError) -> Journal {
        let g = try readGeometry(storage)
        if let e = expected, e != g {
            throw JournalError("\(storage.name) holds a ring of \(g.summary) but the configuration asks for \(e.summary); refusing to start so that no record is lost: drain the journal and run 'pgui journal reset' on it, or restore the old settings")
        }
        let j = Journal(storage: storage, clock: clock, geometry: g, policy: policy, log: log)
        try j.recover(readOnly: readOnly)
        return j
    }

    /// The record in the slot of `pos` if it is intact and really is record `pos`; leaves the slot in `buffer`.
    private func load(_ pos: UInt64) throws(JournalError) -> JournalRecordHeader? {
        let off = geometry.offset(pos)
        let sb = geometry.slotBytes
        let got = try storage.read(at: off, into: &buffer)
        return buffer.withUnsafeBytes { b -> JournalRecordHeader? in
            let view = UnsafeRawBufferPointer(rebasing: b[0..<min(got, sb)])
            guard let h = JournalRecordHeader.decode(view, payloadBytesMax: geometry.payloadBytesMax),
                  h.pos == pos, h.verify(view) else { return nil }
            return h
        }
    }

    /// Any intact record in a slot (whatever lap), for the full scan.
    private func loadAny(slot: Int) throws(JournalError) -> JournalRecordHeader? {
        let off = Int64(JournalGeometry.superblockBytes) + Int64(slot) * Int64(geometry.slotBytes)
        let got = try storage.read(at: off, into: &buffer)
        return buffer.withUnsafeBytes { b -> JournalRecordHeader? in
            let view = UnsafeRawBufferPointer(rebasing: b[0..<got])
            guard let h = JournalRecordHeader.decode(view, payloadBytesMax: geometry.payloadBytesMax),
                  geometry.slot(h.pos) == slot, h.verify(view) else { return nil }
            return h
        }
    }

    private func recover(readOnly: Bool) throws(JournalError) {
        try checkSize(readOnly: readOnly)
        var hint: JournalHint? = nil
        var wellFormed: JournalHint? = nil
        var hintProblem = "no hint"
        do throws(JournalError) {
            if let bytes = try storage.readHint() {
                switch JournalHint.decode(bytes) {
                case .success(let h):
                    if h.geometry == geometry { wellFormed = h }
                    if h.geometry != geometry {
                        hintProblem = "hint describes another geometry"
                    } else if let why = try contradiction(h) {
                        hintProblem = "hint contradicts the ring (\(why))"
                    } else {
                        hint = h
                    }
                case .failure(let e): hintProblem = e.message
                }
            }
        } catch { hintProblem = error.message }

        var recovered = false
        if let h = hint { recovered = try recoverFromHint(h) }
        if !recovered {
            if hint != nil { hintProblem = "hint is older than the ring (a later lap overwrote its head)" }
            stats.hintRejected = hintProblem == "no hint" ? "" : hintProblem
            try recoverByScan()
            if stats.head > 0 {
                log(.warn, "\(storage.name): \(hintProblem); recovered by a full scan: \(stats.records) records, acknowledgements unknown so all are re-sent (the BAL deduplicates by sequence)")
            }
        }
        adoptVanishedRing()
        if stats.missingSlots > 0, let h = wellFormed, h.head > stats.head {
            // The file lost its end: the un-acknowledged records the hint vouched for beyond what the
            // ring still proves are gone. Only trusted this far because the truncation is a fact.
            let gone = min(h.head - max(h.tail, stats.head), n)
            if gone > 0 {
                noteLost(count: gone, first: max(h.ackedSeq ?? 0, stats.lastSeq ?? 0) + 1, last: h.lastSeq)
                log(.error, "\(storage.name): \(gone) record(s) up to seq \(h.lastSeq ?? 0) that the hint vouched for were in the missing part: counted as lost")
            }
        }
        stats.durableHead = stats.head
        hintHead = stats.head
        hintTail = stats.tail
        hintWrittenMs = clock.monotonicMs()
        try countHoles()
        if !readOnly {
            try wipeStaleAfterHead()
            // The hint is only a hint: a full or read-only disk must not stop the gateway here
            // (issue 21: pgui exited at start on a full partition because this write failed).
            hintWrite()
        }
    }

    /// A ring file shorter than its geometry lost its last slots (truncated by a tool or a damaged
    /// file system). Records there are gone: counted as holes and logged; a writable open writes the
    /// missing part back as zeros so the ring is preallocated again and cannot fill the disk later.
    private func checkSize(readOnly: Bool) throws(JournalError) {
        let size = try storage.byteCount()
        guard size < geometry.fileBytes else { return }
        let whole = max(0, size - Int64(JournalGeometry.superblockBytes)) / Int64(geometry.slotBytes)
        stats.missingSlots = n - UInt64(whole)
        log(.error, "\(storage.name) is \(size) bytes but its geometry (\(geometry.summary)) needs \(geometry.fileBytes): \(stats.missingSlots) slot(s) are missing, records that were there are lost\(readOnly ? "" : "; writing the missing part back as zeros")")
        if !readOnly { try storage.extend(to: geometry.fileBytes) }
    }

    /// The ring had vanished while its hint survived: the records the hint described are lost.
    private func adoptVanishedRing() {
        guard let bytes = storage.vanishedRingHint, case .success(let h) = JournalHint.decode(bytes), h.geometry == geometry,
              h.head > h.tail || h.lostCount > 0 else { return }
        let gone = h.head - h.tail
        stats.lostCount = h.lostCount
        stats.lostFirstSeq = h.lostFirstSeq
        stats.lostLastSeq = h.lostLastSeq
        // The first lost seq is not known exactly: the lowest it can be is the one after the acknowledged.
        if gone > 0 { noteLost(count: gone, first: (h.ackedSeq ?? 0) + 1, last: h.lastSeq) }
        log(.error, "\(storage.name) was missing while its hint described \(gone) un-acknowledged record(s) up to seq \(h.lastSeq ?? 0): created an empty ring and counted them as lost")
    }

    /// Why the records contradict a well-formed hint, or nil when they bear it out. A hint is trusted
    /// only as far as the ring proves it: its head must follow the record that carries its last seq,
    /// and the record just below its tail must be acknowledged unless the tail was pushed by a full ring.
    private func contradiction(_ h: JournalHint) throws(JournalError) -> String? {
        if h.head == 0 {
            if h.tail != 0 || h.lastSeq != nil || h.ackedSeq != nil { return "an empty ring with a tail, last or acknowledged seq" }
            return nil
        }
        guard let last = h.lastSeq else { return "head \(h.head) without the seq of the record below it" }
        if let later = try loadAny(slot: geometry.slot(h.head - 1)), later.pos > h.head - 1 {
            return nil  // a later lap: recoverFromHint notices and scans
        }
        guard let r = try load(h.head - 1) else { return "no intact record \(h.head - 1) below head \(h.head)" }
        guard r.seq == last else { return "record \(h.head - 1) has seq \(r.seq), the hint says \(last)" }
        let fullRingTail = h.head >= n ? h.head - n : 0
        if h.tail > fullRingTail, let below = try load(h.tail - 1) {
            guard let a = h.ackedSeq, below.seq <= a else {
                return "record \(h.tail - 1) below tail \(h.tail) has seq \(below.seq), which is not acknowledged"
            }
        }
        return nil
    }

    /// Reads the live range once and counts the slots that hold no intact record of their position.
    private func countHoles() throws(JournalError) {
        var holes: UInt64 = 0
        var p = stats.tail
        if stats.records > n / 16 { storage.sequentialScan(true) }
        defer { storage.sequentialScan(false) }
        while p < stats.head {
            if try load(p) == nil { holes += 1 }
            p += 1
        }
        stats.holes = holes
        if holes > 0 {
            log(.error, "\(storage.name): \(holes) of \(stats.records) slot(s) in the live range hold no intact record (damaged or missing); they are skipped and the records around them kept")
        }
    }

    /// Scans forward from the hint's head: the head ends up after the last intact record that is
    /// followed by fewer than `uncommittedMax` non-records. Holes before it (a write torn by the
    /// power cut, or a record damaged on the medium) stay in the live range and are skipped on read,
    /// so one bad record never hides the valid ones after it.
    private func recoverFromHint(_ h: JournalHint) throws(JournalError) -> Bool {
        // A later lap in the hint's head slot means the hint is too old to say where the head is.
        if let later = try loadAny(slot: geometry.slot(h.head)), later.pos > h.head { return false }
        var head = h.head
        var lastSeq = h.lastSeq
        var p = h.head
        let w = UInt64(JournalGeometry.uncommittedMax)
        while p - h.head < n && p - head < w {
            if let r = try load(p), lastSeq == nil || r.seq > lastSeq! {
                lastSeq = r.seq
                head = p + 1
            }
            p += 1
        }
        stats.recovery = "hint"
        stats.head = head
        stats.lastSeq = lastSeq
        stats.ackedSeq = h.ackedSeq
        stats.lostCount = h.lostCount
        stats.lostFirstSeq = h.lostFirstSeq
        stats.lostLastSeq = h.lostLastSeq
        stats.tail = max(h.tail, head >= n ? head - n : 0)
        if stats.tail > h.tail {
            // Records overwritten after the hint was written: counted, their sequence range unknown here.
            noteLost(count: stats.tail - h.tail, first: nil, last: nil)
        }
        return true
    }

    /// No usable hint: read every slot; the head follows the highest intact position, the tail is
    /// the oldest intact record of that lap. Holes between them are skipped on read.
    private func recoverByScan() throws(JournalError) {
        stats.recovery = "scan"
        storage.sequentialScan(true)
        defer { storage.sequentialScan(false) }
        var positions = [UInt64?](repeating: nil, count: geometry.slotCount)
        var seqs = [UInt64](repeating: 0, count: geometry.slotCount)
        var maxPos: UInt64? = nil
        for s in 0..<geometry.slotCount {
            if let h = try loadAny(slot: s) {
                positions[s] = h.pos
                seqs[s] = h.seq
                if maxPos == nil || h.pos > maxPos! { maxPos = h.pos }
            }
        }
        guard let m = maxPos else { return }
        let low = m + 1 >= n ? m + 1 - n : 0
        var tail = m
        var p = m
        while p > low {
            p -= 1
            if positions[geometry.slot(p)] == p { tail = p }
        }
        // Sequence numbers must rise along the range; a record that breaks the order is a hole.
        var lastSeq: UInt64? = nil
        var head = tail
        p = tail
        while p <= m {
            let slot = geometry.slot(p)
            if positions[slot] == p, lastSeq == nil || seqs[slot] > lastSeq! {
                lastSeq = seqs[slot]
                head = p + 1
            }
            p += 1
        }
        stats.head = head
        stats.tail = tail
        stats.lastSeq = lastSeq
    }

    /// Invalidates intact records past the head left by writes that were never committed, so that
    /// a later crash cannot splice them after newer records.
    private func wipeStaleAfterHead() throws(JournalError) {
        var wiped = 0
        let zero = [UInt8](repeating: 0, count: JournalGeometry.recordHeaderBytes)
        let limit = min(UInt64(JournalGeometry.uncommittedMax), n - stats.records)
        var p = stats.head
        while p < stats.head + limit {
            if let h = try loadAny(slot: geometry.slot(p)), h.pos >= stats.head {
                try storage.write(at: geometry.offset(p), zero, count: zero.count)
                wiped += 1
            }
            p += 1
        }
        if wiped > 0 {
            try storage.sync()
            log(.info, "\(storage.name): invalidated \(wiped) uncommitted record(s) past the recovered head")
        }
    }

    // MARK: writing

    /// Appends one record. `seq` must be above every earlier one (gaps are fine). Not durable until
    /// `commit()`. When the ring is full the oldest record is overwritten and counted as lost
    /// unless it was acknowledged.
    public func append(seq: UInt64, payload: [UInt8]) throws(JournalError) {
        guard payload.count <= geometry.payloadBytesMax else { throw tooLong(seq, payload.count) }
        try append(seq: seq, length: payload.count) { buffer in
            payload.withUnsafeBytes { p in JournalRecordHeader.encode(pos: stats.head, seq: seq, payload: p, into: &buffer) }
        }
    }

    public func append(seq: UInt64, payload: UnsafeRawBufferPointer) throws(JournalError) {
        guard payload.count <= geometry.payloadBytesMax else { throw tooLong(seq, payload.count) }
        try append(seq: seq, length: payload.count) { buffer in
            JournalRecordHeader.encode(pos: stats.head, seq: seq, payload: payload, into: &buffer)
        }
    }

    private func tooLong(_ seq: UInt64, _ bytes: Int) -> JournalError {
        JournalError("record seq \(seq) is \(bytes) bytes; the journal's limit is \(geometry.payloadBytesMax) (journal.record_bytes_max): record refused, nothing written")
    }

    private func append(seq: UInt64, length: Int, encode: (inout [UInt8]) -> Int) throws(JournalError) {
        guard seq <= JournalGeometry.counterMax else {
            throw JournalError("record seq \(seq) is above \(JournalGeometry.counterMax), the journal's limit: record refused, nothing written")
        }
        if let l = stats.lastSeq, seq <= l {
            throw JournalError("record seq \(seq) is not above the last journalled seq \(l): record refused, nothing written")
        }
        if stats.head - stats.durableHead >= UInt64(JournalGeometry.uncommittedMax) { try syncNow() }
        if stats.records == n { try dropOldest() }
        let pos = stats.head
        let len = encode(&buffer)
        try storage.write(at: geometry.offset(pos), buffer, count: len)
        stats.head = pos + 1
        stats.lastSeq = seq
    }

    private func dropOldest() throws(JournalError) {
        let pos = stats.tail
        if let h = try load(pos) {
            if stats.ackedSeq == nil || h.seq > stats.ackedSeq! { noteLost(count: 1, first: h.seq, last: h.seq) }
        } else {
            stats.corruptSkipped += 1
        }
        stats.tail = pos + 1
    }

    private func noteLost(count: UInt64, first: UInt64?, last: UInt64?) {
        stats.lostCount += count
        if let f = first, stats.lostFirstSeq == nil || f < stats.lostFirstSeq! { stats.lostFirstSeq = f }
        if let l = last, stats.lostLastSeq == nil || l > stats.lostLastSeq! { stats.lostLastSeq = l }
        if stats.lostCount == count || stats.lostCount % 1_000 == 0 {
            log(.warn, "ring full: oldest un-acknowledged records overwritten; lost \(stats.lostCount) so far (seq \(stats.lostFirstSeq ?? 0)...\(stats.lostLastSeq ?? 0))")
        }
        hintDirty = true
    }

    /// Ends a group. Returns the highest sequence number that is now durable (nil if none yet).
    @discardableResult
    public func commit() throws(JournalError) -> UInt64? {
        commitsSinceSync += 1
        let every: Int
        switch policy.sync {
        case .everyGroup: every = 1
        case .everyN(let k): every = k
        }
        if commitsSinceSync >= every || stats.head - stats.durableHead >= UInt64(JournalGeometry.uncommittedMax) {
            try syncNow()
        }
        maybeWriteHint()
        return stats.durableHead == stats.head ? stats.lastSeq : durableSeq
    }

    /// Seq of the last durable record (read back from the ring when writes are pending).
    private var durableSeq: UInt64? {
        guard stats.durableHead > stats.tail || stats.durableHead > 0 else { return nil }
        guard let h = try? load(stats.durableHead - 1) else { return nil }
        return h.seq
    }

    private func syncNow() throws(JournalError) {
        guard stats.durableHead != stats.head else { commitsSinceSync = 0; return }
        try storage.sync()
        stats.durableHead = stats.head
        commitsSinceSync = 0
    }

    private func maybeWriteHint() {
        let now = clock.monotonicMs()
        // A hint that lags 1/16 of the ring (3 h at the defaults) is rewritten whatever the interval:
        // it bounds the forward scan at recovery and keeps the hint from ever falling a lap behind.
        let lagging = stats.durableHead - hintHead >= n / 16
        guard now >= hintRetryMs else { return }
        let ackBacklog = stats.tail >= hintTail + policy.ackedRecordsPerHint
        guard lagging || ackBacklog || (hintDirty && now - hintWrittenMs >= policy.hintIntervalMs) else { return }
        hintWrite()
    }

    /// Writes the hint; a failure is counted and logged, never thrown: the records are already
    /// durable and recovery scans when the hint is stale.
    private func hintWrite() {
        do throws(JournalError) {
            try writeHint()
        } catch {
            stats.hintWriteFailures += 1
            hintRetryMs = clock.monotonicMs() + policy.hintIntervalMs  // not at every commit
            if stats.hintWriteFailures == 1 || stats.hintWriteFailures % 100 == 0 {
                log(.error, "\(error.message) (\(stats.hintWriteFailures) hint write failure(s) so far)")
            }
        }
    }

    private func writeHint() throws(JournalError) {
        var h = JournalHint(geometry: geometry)
        h.head = stats.durableHead
        h.tail = min(stats.tail, stats.durableHead)
        h.ackedSeq = stats.ackedSeq
        h.lastSeq = stats.durableHead == stats.head ? stats.lastSeq : durableSeq
        if h.lastSeq == nil && h.head > 0 { h.head = h.tail }  // unprovable: let the forward scan find it
        h.lostCount = stats.lostCount
        h.lostFirstSeq = stats.lostFirstSeq
        h.lostLastSeq = stats.lostLastSeq
        try storage.writeHint(h.encode())
        hintHead = h.head
        hintTail = h.tail
        hintWrittenMs = clock.monotonicMs()
        hintDirty = false
    }

    /// Commits and writes the hint now (orderly shutdown).
    public func close() throws(JournalError) {
        try syncNow()
        try writeHint()
    }

    // MARK: reading and acknowledging

    /// The oldest records not yet acknowledged, at most `max`, oldest first.
    public func oldestUnacked(max: Int) throws(JournalError) -> [JournalRecord] {
        try read(from: stats.tail, max: max).records
    }

    /// Intact, unacknowledged records from position `from` (clamped to the live range), at most `max`;
    /// also returns the position to continue from. Torn or corrupt slots are skipped and counted.
    public func read(from: UInt64, max: Int) throws(JournalError) -> (records: [JournalRecord], next: UInt64) {
        var out: [JournalRecord] = []
        var p = Swift.max(from, stats.tail)
        while p < stats.head && out.count < max {
            if let h = try load(p) {
                if (stats.ackedSeq == nil || h.seq > stats.ackedSeq!) && (out.last == nil || h.seq > out.last!.seq) {
                    let n = JournalGeometry.recordHeaderBytes
                    out.append(JournalRecord(pos: p, seq: h.seq, payload: Array(buffer[n..<n + h.length])))
                }
            } else {
                stats.corruptSkipped += 1
            }
            p += 1
        }
        return (out, p)
    }

    /// Acknowledges every record with seq ≤ `seq` (the broker's PUBACK). Persisted lazily with the hint.
    public func ack(upTo seq: UInt64) throws(JournalError) {
        if let l = stats.lastSeq, seq > l {
            throw JournalError("acknowledgement of seq \(seq) is beyond the last journalled seq \(l): ignored")
        }
        if stats.lastSeq == nil { throw JournalError("acknowledgement of seq \(seq) but the journal is empty: ignored") }
        if let a = stats.ackedSeq, seq <= a { return }
        stats.ackedSeq = seq
        while stats.tail < stats.durableHead {
            if let h = try load(stats.tail) {
                if h.seq > seq { break }
            } else {
                stats.corruptSkipped += 1
            }
            stats.tail += 1
        }
        hintDirty = true
        maybeWriteHint()
    }
}
