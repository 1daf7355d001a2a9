/// Group sequence numbers that never repeat across reboots and crashes: numbers are handed out only
/// from a block whose end has been persisted first. After a crash the next run starts at the persisted
/// end, so the unused rest of the block is skipped, never reused.
public struct SequenceAllocator {
    /// The next number to hand out.
    public private(set) var next: UInt64
    /// Exclusive end of the block persisted on disk; `next < reservedEnd` means numbers are available.
    public private(set) var reservedEnd: UInt64
    public let block: UInt64

    /// `persistedEnd` is the value last written to disk (1 on a fresh device).
    public init(persistedEnd: UInt64, block: UInt64) {
        precondition(block >= 1, "sequence block must be at least 1")
        next = persistedEnd
        reservedEnd = persistedEnd
        self.block = block
    }

    /// The end to persist before `take()` can hand out another number, or nil while the block lasts.
    public var reservationNeeded: UInt64? {
        guard next >= reservedEnd else { return nil }
        let (end, overflow) = next.addingReportingOverflow(block)
        return overflow ? nil : end
    }

    /// Call only after `end` is durably on disk.
    public mutating func reserved(_ end: UInt64) {
        precondition(end > reservedEnd && end >= next, "a reservation only moves forward")
        reservedEnd = end
    }

    /// The persisted end a device must move to so that it never hands out a number at or below
    /// `floor` (the highest seq already used: the journal's last record, its acknowledged seq, a lost
    /// one), or nil when the persisted state is already above it. A re-created or restored identity
    /// restarts at 1 while the journal holds higher numbers; every group would then be refused as
    /// out of order (issue 21, item 1), so start-up moves the reservation past the journal first.
    public static func reconciledEnd(persistedEnd: UInt64, floor: UInt64?) -> UInt64? {
        guard let f = floor else { return nil }
        let (end, overflow) = f.addingReportingOverflow(1)
        guard !overflow, end > persistedEnd else { return nil }
        return end
    }

    public mutating func take() -> UInt64? {
        guard next < reservedEnd else { return nil }
        defer { next += 1 }
        return next
    }
}

/// The identity state file (`<data.dir>/identity/state.json`): `{"v":1,"seq_next":N,"key_created_ms":T}`.
/// `seq_next` is the persisted end of the sequence reservation.
public struct IdentityState: Equatable {
    public var seqNext: UInt64
    public var keyCreatedMs: Int64

    public init(seqNext: UInt64, keyCreatedMs: Int64) {
        self.seqNext = seqNext
        self.keyCreatedMs = keyCreatedMs
    }

    public var encoded: [UInt8] {
        var w = JSONWriter(capacity: 96)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("seq_next", seqNext)
        w.field("key_created_ms", keyCreatedMs)
        w.endObject()
        w.bytes.append(ASCII.lf)
        return w.bytes
    }

    public static func parse(_ bytes: [UInt8], file: String) throws(IdentityError) -> IdentityState {
        let v: JSONValue
        do throws(JSONError) { v = try JSONParser.parse(Array(trimmed(bytes[...]))) } catch {
            throw IdentityError("\(file): \(error.description)")
        }
        guard v["v"]?.intValue == 1 else { throw IdentityError("\(file): missing or unknown version 'v'") }
        guard let seq = v["seq_next"]?.intValue, seq >= 1 else {
            throw IdentityError("\(file): 'seq_next' missing or not a positive integer")
        }
        guard let created = v["key_created_ms"]?.intValue, created >= 0 else {
            throw IdentityError("\(file): 'key_created_ms' missing or negative")
        }
        return IdentityState(seqNext: UInt64(seq), keyCreatedMs: created)
    }
}

public enum KeyRotationPolicy {
    /// Whether a key created at `createdMs` is due for rotation at `nowMs` (days 0 = never). An
    /// implausible clock never triggers a rotation: it would rotate on every boot before NTP.
    /// `dayMs` is 86 400 000 in service (`identity.rotation_day_s` shortens it for tests).
    public static func isDue(createdMs: Int64, nowMs: Int64, periodDays: Int64, dayMs: Int64 = 86_400_000) -> Bool {
        guard periodDays > 0, nowMs >= plausibleWallMsMin, createdMs > 0 else { return false }
        return nowMs - createdMs >= periodDays * dayMs
    }
}
