/// The journal's on-disk format (docs/journal.md is the byte-by-byte contract). All integers are
/// little-endian. The ring file is a 4 KiB superblock followed by `slotCount` fixed-size slots;
/// record number `pos` (a counter of appends, never reused) lives in slot `pos % slotCount`, so a
/// slot's content names its own lap and a stale record from an earlier lap can never pass as new.

/// What went wrong with a journal: what failed, on what, and what the device did about it.
public struct JournalError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Size of the ring, fixed when the file is created and checked on every open.
public struct JournalGeometry: Equatable, Sendable {
    public static let superblockBytes = 4_096
    public static let recordHeaderBytes = 32
    /// At most this many records are ever written past the last fdatasync. Recovery relies on it:
    /// anything torn or stale lies within this window after the last durable record.
    public static let uncommittedMax = 64
    /// Slots are multiples of a disk sector so one record never shares a sector with another.
    public static let slotAlign = 512
    public static let slotCountMin = 2 * uncommittedMax
    public static let slotCountMax = 1 << 24
    public static let slotBytesMax = 1 << 20
    public static let fileBytesMax: Int64 = (1 << 31) - 1
    /// Highest position or sequence number a record or hint may carry. At one group per second a
    /// device needs 1.4·10^11 years to reach 2^62, so anything above is forged or garbage; the bound
    /// keeps every `+ 1` and `+ slotCount` on positions and sequences far from overflowing (issue 21:
    /// a hint with head 2^64−30 trapped recovery in `p += 1`).
    public static let counterMax: UInt64 = 1 << 62

    public let slotCount: Int
    public let slotBytes: Int

    public init(slotCount: Int, slotBytes: Int) {
        self.slotCount = slotCount
        self.slotBytes = slotBytes
    }

    /// The ring for `retentionHours` at one record per `groupWindowS` seconds, each record up to
    /// `recordBytesMax` payload bytes, plus the uncommitted window so retention holds after a crash.
    public static func forRetention(hours: Int64, groupWindowS: Int64, recordBytesMax: Int64) -> JournalGeometry {
        let records = (hours * 3_600 + groupWindowS - 1) / groupWindowS
        let slot = (Int64(recordHeaderBytes) + recordBytesMax + Int64(slotAlign) - 1) / Int64(slotAlign) * Int64(slotAlign)
        return JournalGeometry(slotCount: Int(records) + uncommittedMax, slotBytes: Int(slot))
    }

    public var payloadBytesMax: Int { slotBytes - Self.recordHeaderBytes }
    public var fileBytes: Int64 { Int64(Self.superblockBytes) + Int64(slotCount) * Int64(slotBytes) }

    public func slot(_ pos: UInt64) -> Int { Int(pos % UInt64(slotCount)) }
    public func offset(_ pos: UInt64) -> Int64 { Int64(Self.superblockBytes) + Int64(slot(pos)) * Int64(slotBytes) }

    /// nil when usable, else why not.
    public var problem: String? {
        if slotCount < Self.slotCountMin || slotCount > Self.slotCountMax {
            return "slot count \(slotCount) is outside \(Self.slotCountMin)...\(Self.slotCountMax)"
        }
        if slotBytes <= Self.recordHeaderBytes || slotBytes > Self.slotBytesMax || slotBytes % Self.slotAlign != 0 {
            return "slot size \(slotBytes) is not a multiple of \(Self.slotAlign) in \(Self.slotAlign)...\(Self.slotBytesMax)"
        }
        if fileBytes > Self.fileBytesMax {
            return "ring file of \(fileBytes) bytes exceeds \(Self.fileBytesMax) (32-bit file offsets on armv7)"
        }
        return nil
    }

    public var summary: String { "\(slotCount) slots of \(slotBytes) bytes (\(fileBytes) bytes)" }
}

/// Little-endian field access on byte buffers.
enum LE {
    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
    static func put64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
        for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
    static func get32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[at + i]) << (8 * UInt32(i)) }
        return v
    }
    static func get64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
        return v
    }
    static func get32(_ b: [UInt8], _ at: Int) -> UInt32 { b.withUnsafeBytes { get32($0, at) } }
    static func get64(_ b: [UInt8], _ at: Int) -> UInt64 { b.withUnsafeBytes { get64($0, at) } }
}

/// The superblock: written once when the ring is created, never rewritten.
/// `0 magic "PGUIJRNL" | 8 version u32 | 12 slotBytes u32 | 16 slotCount u32 | 20 headerBytes u32 |
///  24..60 zero | 60 crc32c of 0..<60 u32`, rest of the 4 KiB zero.
public enum JournalSuperblock {
    static let magic: [UInt8] = Array("PGUIJRNL".utf8)
    static let version: UInt32 = 1
    static let crcAt = 60

    public static func encode(_ g: JournalGeometry) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: JournalGeometry.superblockBytes)
        for i in 0..<8 { b[i] = magic[i] }
        LE.put32(&b, 8, version)
        LE.put32(&b, 12, UInt32(g.slotBytes))
        LE.put32(&b, 16, UInt32(g.slotCount))
        LE.put32(&b, 20, UInt32(JournalGeometry.recordHeaderBytes))
        LE.put32(&b, crcAt, CRC32C.checksum(Array(b[0..<crcAt])))
        return b
    }

    /// The geometry, or a sentence saying why these bytes are not a PGUI journal superblock.
    public static func decode(_ b: [UInt8]) -> Result<JournalGeometry, JournalError> {
        guard b.count >= 64 else { return .failure(JournalError("file is \(b.count) bytes, shorter than a journal superblock")) }
        guard Array(b[0..<8]) == magic else { return .failure(JournalError("not a PGUI journal (no PGUIJRNL magic)")) }
        guard LE.get32(b, crcAt) == CRC32C.checksum(Array(b[0..<crcAt])) else {
            return .failure(JournalError("journal superblock checksum mismatch (corrupt header)"))
        }
        let v = LE.get32(b, 8)
        guard v == version else { return .failure(JournalError("journal format version \(v) is not supported (this firmware reads \(version))")) }
        guard LE.get32(b, 20) == UInt32(JournalGeometry.recordHeaderBytes) else {
            return .failure(JournalError("journal record header size \(LE.get32(b, 20)) is not supported"))
        }
        let g = JournalGeometry(slotCount: Int(LE.get32(b, 16)), slotBytes: Int(LE.get32(b, 12)))
        if let p = g.problem { return .failure(JournalError("journal superblock describes an unusable ring: \(p)")) }
        return .success(g)
    }
}

/// A record header: `0 magic "PJR1" | 4 payload length u32 | 8 pos u64 | 16 seq u64 | 24 zero u32 |
/// 28 crc32c u32` over bytes 0..<28 and the payload. The payload follows at 32.
public struct JournalRecordHeader: Equatable {
    static let magic: UInt32 = 0x3152_4A50  // "PJR1"
    public var length: Int
    public var pos: UInt64
    public var seq: UInt64
    public var crc: UInt32

    /// Writes header and payload into `buffer` (at least header + payload bytes); returns the length.
    public static func encode(pos: UInt64, seq: UInt64, payload: UnsafeRawBufferPointer, into buffer: inout [UInt8]) -> Int {
        let n = JournalGeometry.recordHeaderBytes
        precondition(buffer.count >= n + payload.count, "record buffer too small")
        LE.put32(&buffer, 0, magic)
        LE.put32(&buffer, 4, UInt32(payload.count))
        LE.put64(&buffer, 8, pos)
        LE.put64(&buffer, 16, seq)
        LE.put32(&buffer, 24, 0)
        buffer.withUnsafeMutableBytes { dst in
            if payload.count > 0 { (dst.baseAddress! + n).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        }
        let crc = buffer.withUnsafeBytes { b in
            CRC32C.finish(CRC32C.update(CRC32C.update(CRC32C.initial, UnsafeRawBufferPointer(rebasing: b[0..<28])),
                                        UnsafeRawBufferPointer(rebasing: b[n..<n + payload.count])))
        }
        LE.put32(&buffer, 28, crc)
        return n + payload.count
    }

    /// The header if the first 32 bytes look like one with a length that fits the slot; the CRC
    /// is only checked by `verify`, which needs the payload too.
    public static func decode(_ b: UnsafeRawBufferPointer, payloadBytesMax: Int) -> JournalRecordHeader? {
        guard b.count >= JournalGeometry.recordHeaderBytes, LE.get32(b, 0) == magic, LE.get32(b, 24) == 0 else { return nil }
        let len = Int(LE.get32(b, 4))
        guard len <= payloadBytesMax else { return nil }
        let pos = LE.get64(b, 8)
        let seq = LE.get64(b, 16)
        guard pos <= JournalGeometry.counterMax, seq <= JournalGeometry.counterMax else { return nil }
        return JournalRecordHeader(length: len, pos: pos, seq: seq, crc: LE.get32(b, 28))
    }

    /// True when `b` (header + at least `length` payload bytes) carries this header's CRC.
    public func verify(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = JournalGeometry.recordHeaderBytes
        guard b.count >= n + length else { return false }
        let c = CRC32C.finish(CRC32C.update(CRC32C.update(CRC32C.initial, UnsafeRawBufferPointer(rebasing: b[0..<28])),
                                            UnsafeRawBufferPointer(rebasing: b[n..<n + length])))
        return c == crc
    }
}

/// The hint: where the ring stood at the last lazy checkpoint, so recovery need not scan the ring.
/// Written atomically (temp file + rename); only ever a hint: recovery never trusts it beyond what
/// the records themselves prove, and falls back to a full scan when it is missing or corrupt.
/// `0 magic "PGUIJHNT" | 8 version u32 | 12 slotBytes u32 | 16 slotCount u32 | 20 flags u32
/// (bit 0: ackedSeq valid, bit 1: lastSeq valid, bit 2: lost range valid) | 24 head u64 | 32 tail u64 |
/// 40 ackedSeq u64 | 48 lastSeq u64 | 56 lostCount u64 | 64 lostFirstSeq u64 | 72 lostLastSeq u64 |
/// 80 zero u32 | 84 crc32c of 0..<84 u32` (88 bytes).
public struct JournalHint: Equatable {
    static let magic: [UInt8] = Array("PGUIJHNT".utf8)
    static let version: UInt32 = 1
    public static let bytes = 88

    public var geometry: JournalGeometry
    public var head: UInt64 = 0
    public var tail: UInt64 = 0
    public var ackedSeq: UInt64? = nil
    public var lastSeq: UInt64? = nil
    public var lostCount: UInt64 = 0
    public var lostFirstSeq: UInt64? = nil
    public var lostLastSeq: UInt64? = nil

    public init(geometry: JournalGeometry) { self.geometry = geometry }

    public func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.bytes)
        for i in 0..<8 { b[i] = Self.magic[i] }
        LE.put32(&b, 8, Self.version)
        LE.put32(&b, 12, UInt32(geometry.slotBytes))
        LE.put32(&b, 16, UInt32(geometry.slotCount))
        var flags: UInt32 = 0
        if ackedSeq != nil { flags |= 1 }
        if lastSeq != nil { flags |= 2 }
        if lostFirstSeq != nil && lostLastSeq != nil { flags |= 4 }
        LE.put32(&b, 20, flags)
        LE.put64(&b, 24, head)
        LE.put64(&b, 32, tail)
        LE.put64(&b, 40, ackedSeq ?? 0)
        LE.put64(&b, 48, lastSeq ?? 0)
        LE.put64(&b, 56, lostCount)
        LE.put64(&b, 64, lostFirstSeq ?? 0)
        LE.put64(&b, 72, lostLastSeq ?? 0)
        LE.put32(&b, 84, CRC32C.checksum(Array(b[0..<84])))
        return b
    }

    public static func decode(_ b: [UInt8]) -> Result<JournalHint, JournalError> {
        guard b.count == bytes else { return .failure(JournalError("hint is \(b.count) bytes, expected \(bytes)")) }
        guard Array(b[0..<8]) == magic else { return .failure(JournalError("hint has no PGUIJHNT magic")) }
        guard LE.get32(b, 84) == CRC32C.checksum(Array(b[0..<84])) else { return .failure(JournalError("hint checksum mismatch")) }
        guard LE.get32(b, 8) == version else { return .failure(JournalError("hint version \(LE.get32(b, 8)) is not supported")) }
        var h = JournalHint(geometry: JournalGeometry(slotCount: Int(LE.get32(b, 16)), slotBytes: Int(LE.get32(b, 12))))
        let flags = LE.get32(b, 20)
        h.head = LE.get64(b, 24)
        h.tail = LE.get64(b, 32)
        if flags & 1 != 0 { h.ackedSeq = LE.get64(b, 40) }
        if flags & 2 != 0 { h.lastSeq = LE.get64(b, 48) }
        h.lostCount = LE.get64(b, 56)
        if flags & 4 != 0 {
            h.lostFirstSeq = LE.get64(b, 64)
            h.lostLastSeq = LE.get64(b, 72)
        }
        if let p = h.geometry.problem { return .failure(JournalError("hint describes an unusable ring: \(p)")) }
        let m = JournalGeometry.counterMax
        for (name, v) in [("head", h.head), ("tail", h.tail), ("acked seq", h.ackedSeq ?? 0), ("last seq", h.lastSeq ?? 0),
                          ("lost count", h.lostCount), ("first lost seq", h.lostFirstSeq ?? 0), ("last lost seq", h.lostLastSeq ?? 0)] where v > m {
            return .failure(JournalError("hint \(name) \(v) is above \(m), which no device reaches"))
        }
        guard h.tail <= h.head, h.head - h.tail <= UInt64(h.geometry.slotCount) else {
            return .failure(JournalError("hint positions are inconsistent (tail \(h.tail), head \(h.head))"))
        }
        if let f = h.lostFirstSeq, let l = h.lostLastSeq, f > l {
            return .failure(JournalError("hint lost range \(f)...\(l) is reversed"))
        }
        // Only a journalled seq can have been acknowledged. (The lost range is not bounded by the last
        // seq: after a vanished ring it describes records of the old ring; it hides and blocks nothing.)
        if let a = h.ackedSeq {
            guard let l = h.lastSeq, a <= l else { return .failure(JournalError("hint acknowledges seq \(a) beyond its last seq \(h.lastSeq.map { "\($0)" } ?? "none")")) }
        }
        return .success(h)
    }
}
