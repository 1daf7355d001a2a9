/// The DSO set-point schedule (docs/setpoints.md): fixed-length UTC slots `{start, duration, bspP,
/// bspQ}`. A message replaces the slots it covers; "current" is the slot containing now, "next" the
/// slot that starts where the current slot ends. Pure logic: time comes in as an argument.

public struct SetpointSlot: Equatable, Sendable {
    /// Slot start, seconds since the Unix epoch (UTC), a multiple of the slot length.
    public var startS: Int64
    public var durationS: Int64
    /// Active power set-point in W (positive = import, the meter's load convention).
    public var bspP: Int64
    /// Reactive power set-point in var.
    public var bspQ: Int64

    public init(startS: Int64, durationS: Int64, bspP: Int64, bspQ: Int64) {
        self.startS = startS
        self.durationS = durationS
        self.bspP = bspP
        self.bspQ = bspQ
    }

    public var endS: Int64 { startS + durationS }
}

/// Limits every message is checked against (from the `dso.*` configuration keys).
public struct ScheduleLimits: Equatable, Sendable {
    public var slotS: Int64 = 900
    /// How far ahead of now a slot may start.
    public var horizonS: Int64 = 604_800
    public var pMinW: Int64 = -1_000_000
    public var pMaxW: Int64 = 1_000_000
    public var qMinVar: Int64 = -1_000_000
    public var qMaxVar: Int64 = 1_000_000
    public var messageBytesMax: Int = 65_536

    public init() {}

    /// Slots one message (and the stored schedule) may hold: the horizon plus the current slot.
    public var slotsMax: Int { Int(horizonS / slotS) + 1 }
    /// How far ahead of the device clock a message's `issued` may be: clock skew between the DSO
    /// platform and an NTP-synchronised gateway is seconds; a time beyond this would lock out every
    /// later schedule, so it is refused (`issued_in_future`).
    public var issuedSkewMaxMs: Int64 = 300_000
}

/// Why a message was rejected: a stable machine-readable code and a sentence for people.
public struct ScheduleError: Error, Equatable {
    public let code: String
    public let message: String
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

public struct SetpointMessage: Equatable {
    public static let version: Int64 = 1
    public static let idBytesMax = 64
    /// Latest `issued` a message may carry (9999-12-31T23:59:59.999Z).
    public static let issuedMsMax: Int64 = 253_402_300_799_999
    /// The sender's message id, echoed in the ack (nil when absent).
    public var id: String?
    /// When the DSO platform made the schedule (UTC ms). Each accepted message must be issued after
    /// the one in force, so a replayed or reordered older message cannot revert the set-points.
    public var issuedMs: Int64
    /// Sorted by start, no overlaps.
    public var slots: [SetpointSlot]

    public init(id: String?, issuedMs: Int64 = 1, slots: [SetpointSlot]) {
        self.id = id
        self.issuedMs = issuedMs
        self.slots = slots
    }

    /// Strict parse of a DSO message. `nowMs` = nil skips the time-window checks (used for the
    /// persisted schedule, whose past slots are simply dropped).
    public static func parse(_ bytes: [UInt8], limits: ScheduleLimits, nowMs: Int64?, allowEmpty: Bool = false) throws(ScheduleError) -> SetpointMessage {
        guard !bytes.isEmpty else { throw ScheduleError("invalid_json", "the message is empty") }
        guard bytes.count <= limits.messageBytesMax else {
            throw ScheduleError("too_large", "the message is \(bytes.count) bytes; the limit is \(limits.messageBytesMax)")
        }
        var jl = JSONLimits()
        jl.bytesMax = limits.messageBytesMax
        jl.depthMax = 4
        // One more than allowed, so an over-long list gets the precise "too_many_slots" reason.
        jl.membersMax = max(limits.slotsMax + 1, 8)
        jl.stringBytesMax = 256
        let doc: JSONValue
        do throws(JSONError) {
            doc = try JSONParser.parse(bytes, limits: jl)
        } catch {
            throw ScheduleError("invalid_json", error.description)
        }
        guard let members = doc.objectMembers else { throw ScheduleError("invalid_field", "the message is not a JSON object") }
        for (name, _) in members where name != "version" && name != "id" && name != "slots" && name != "issued" {
            throw ScheduleError("invalid_field", "unknown member '\(printable(Array(name.utf8)[...]))'")
        }
        guard let v = doc["version"] else { throw ScheduleError("invalid_field", "'version' is missing") }
        guard v.intValue == version else {
            throw ScheduleError("unknown_version", "version must be \(version)")
        }
        var id: String? = nil
        if let v = doc["id"] {
            guard let s = v.stringValue, !s.utf8.isEmpty, s.utf8.count <= idBytesMax,
                  s.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) else {
                throw ScheduleError("invalid_field", "'id' must be 1...\(idBytesMax) printable ASCII characters")
            }
            id = s
        }
        // A schedule stored by an older firmware has no `issued` (restore only: nowMs == nil).
        guard let issuedValue = doc["issued"] ?? (nowMs == nil ? JSONValue.int(1) : nil) else {
            throw ScheduleError("invalid_field", "'issued' (UTC ms when the schedule was made) is missing")
        }
        guard let issued = issuedValue.intValue, issued >= 1, issued <= issuedMsMax else {
            throw ScheduleError("invalid_field", "'issued' must be an integer UTC time in ms (1...\(issuedMsMax))")
        }
        if let nowMs, issued > nowMs + limits.issuedSkewMaxMs {
            throw ScheduleError("issued_in_future", "issued \(issued) is more than \(limits.issuedSkewMaxMs / 1_000) s after the device clock (\(nowMs))")
        }
        guard let list = doc["slots"]?.arrayValue else { throw ScheduleError("invalid_field", "'slots' must be an array") }
        guard !list.isEmpty || allowEmpty else { throw ScheduleError("invalid_field", "'slots' is empty") }
        guard list.count <= limits.slotsMax else {
            throw ScheduleError("too_many_slots", "\(list.count) slots; the limit is \(limits.slotsMax)")
        }
        var slots: [SetpointSlot] = []
        slots.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            slots.append(try parseSlot(item, index: i, limits: limits, nowMs: nowMs))
        }
        slots.sort { $0.startS < $1.startS }
        var i = 1
        while i < slots.count {
            if slots[i].startS < slots[i - 1].endS {
                throw ScheduleError("overlap", "slots starting at \(slots[i - 1].startS) and \(slots[i].startS) overlap")
            }
            i += 1
        }
        return SetpointMessage(id: id, issuedMs: issued, slots: slots)
    }

    static func parseSlot(_ item: JSONValue, index i: Int, limits: ScheduleLimits, nowMs: Int64?) throws(ScheduleError) -> SetpointSlot {
        guard let members = item.objectMembers else { throw ScheduleError("invalid_field", "slot \(i) is not an object") }
        for (name, _) in members where name != "start" && name != "duration" && name != "bspP" && name != "bspQ" {
            throw ScheduleError("invalid_field", "slot \(i): unknown member '\(printable(Array(name.utf8)[...]))'")
        }
        func int(_ name: String) throws(ScheduleError) -> Int64 {
            guard let v = item[name] else { throw ScheduleError("invalid_field", "slot \(i): '\(name)' is missing") }
            guard let n = v.intValue else { throw ScheduleError("invalid_field", "slot \(i): '\(name)' must be an integer") }
            return n
        }
        let start = try int("start")
        let duration = try int("duration")
        let p = try int("bspP")
        let q = try int("bspQ")
        guard start > 0, start <= 253_402_300_799 else {
            throw ScheduleError("invalid_field", "slot \(i): start \(start) is not a time between 1970 and 9999")
        }
        guard duration == limits.slotS else {
            throw ScheduleError("misaligned", "slot \(i): duration \(duration) s; slots are \(limits.slotS) s long")
        }
        guard start % limits.slotS == 0 else {
            throw ScheduleError("misaligned", "slot \(i): start \(start) is not a multiple of \(limits.slotS) s")
        }
        guard p >= limits.pMinW, p <= limits.pMaxW else {
            throw ScheduleError("out_of_limits", "slot \(i): bspP \(p) W is outside \(limits.pMinW)...\(limits.pMaxW)")
        }
        guard q >= limits.qMinVar, q <= limits.qMaxVar else {
            throw ScheduleError("out_of_limits", "slot \(i): bspQ \(q) var is outside \(limits.qMinVar)...\(limits.qMaxVar)")
        }
        if let nowMs {
            let nowS = UTC.floorDiv(nowMs, 1_000)
            guard start + duration > nowS else {
                throw ScheduleError("stale", "slot \(i): it ended at \(start + duration), before now (\(nowS))")
            }
            guard start <= nowS + limits.horizonS else {
                throw ScheduleError("too_far", "slot \(i): start \(start) is more than \(limits.horizonS) s ahead of now (\(nowS))")
            }
        }
        return SetpointSlot(startS: start, durationS: duration, bspP: p, bspQ: q)
    }

    /// The ack published for a message: accepted with the slot count, or rejected with the reason.
    public static func ack(id: String?, result: Result<Int, ScheduleError>, nowMs: Int64) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("version", version)
        w.key("id")
        if let id { w.value(id) } else { w.null() }
        switch result {
        case .success(let n):
            w.field("status", "accepted")
            w.field("slots", n)
        case .failure(let e):
            w.field("status", "rejected")
            w.field("code", e.code)
            w.field("reason", e.message)
        }
        w.field("time", nowMs)
        w.endObject()
        return w.bytes
    }

    /// The best-effort message id of a message that failed to parse (for the ack), else nil.
    public static func peekId(_ bytes: [UInt8], limits: ScheduleLimits) -> String? {
        guard bytes.count <= limits.messageBytesMax else { return nil }
        var jl = JSONLimits()
        jl.bytesMax = limits.messageBytesMax
        jl.membersMax = max(limits.slotsMax + 1, 8)
        guard let doc = try? JSONParser.parse(bytes, limits: jl), let s = doc["id"]?.stringValue,
              s.utf8.count <= idBytesMax, s.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) else { return nil }
        return s
    }
}

/// The accepted slots, sorted by start, never overlapping, bounded by `limits.slotsMax` after pruning.
public struct Schedule: Equatable {
    public private(set) var slots: [SetpointSlot] = []
    /// `issued` of the last accepted message (0 = none yet): the next one must be later.
    public private(set) var issuedMs: Int64 = 0
    /// Bumped on every change, so readers can tell a new schedule from an old one.
    public private(set) var generation: UInt64 = 0
    public let limits: ScheduleLimits

    public init(limits: ScheduleLimits) {
        self.limits = limits
        slots.reserveCapacity(limits.slotsMax + 1)
    }

    /// Refuses a message not issued after the schedule in force (its own ack code, `superseded`).
    public func checkOrder(_ message: SetpointMessage) throws(ScheduleError) {
        guard message.issuedMs > issuedMs else {
            throw ScheduleError("superseded", "issued \(message.issuedMs) is not after the schedule in force (issued \(issuedMs)); nothing changed")
        }
    }

    /// Replaces every stored slot that overlaps a slot of the message, adds the message's slots and
    /// drops slots that ended before `nowMs`. At most `limits.slotsMax` slots are kept (the message
    /// checks make more impossible; the bound holds even so).
    public mutating func apply(_ message: SetpointMessage, nowMs: Int64) {
        issuedMs = max(issuedMs, message.issuedMs)
        var merged: [SetpointSlot] = []
        merged.reserveCapacity(limits.slotsMax + 1)
        for old in slots {
            var covered = false
            for new in message.slots where new.startS < old.endS && old.startS < new.endS {
                covered = true
                break
            }
            if !covered { merged.append(old) }
        }
        merged.append(contentsOf: message.slots)
        merged.sort { $0.startS < $1.startS }
        slots = merged
        generation &+= 1
        prune(nowMs: nowMs)
        if slots.count > limits.slotsMax { slots.removeLast(slots.count - limits.slotsMax) }
    }

    /// Drops slots that have ended; returns how many were dropped.
    @discardableResult
    public mutating func prune(nowMs: Int64) -> Int {
        let nowS = UTC.floorDiv(nowMs, 1_000)
        var n = 0
        while n < slots.count && slots[n].endS <= nowS { n += 1 }
        if n > 0 {
            slots.removeFirst(n)
            generation &+= 1
        }
        return n
    }

    /// The slot containing `nowMs` (a slot is [start, end): exactly on a boundary, the later one).
    public func current(atMs nowMs: Int64) -> SetpointSlot? {
        slot(containingS: UTC.floorDiv(nowMs, 1_000))
    }

    /// The slot that starts where the current time slot ends (also when there is no current slot).
    public func next(atMs nowMs: Int64) -> SetpointSlot? {
        let nowS = UTC.floorDiv(nowMs, 1_000)
        let end = current(atMs: nowMs)?.endS ?? (UTC.floorDiv(nowS, limits.slotS) + 1) * limits.slotS
        return slot(containingS: end).flatMap { $0.startS == end ? $0 : nil }
    }

    func slot(containingS t: Int64) -> SetpointSlot? {
        // Binary search: the last slot whose start is <= t.
        var lo = 0
        var hi = slots.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if slots[mid].startS <= t { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = slots[lo - 1]
        return t < s.endS ? s : nil
    }

    /// The persisted form: the message format without an id (docs/setpoints.md).
    public func encode() -> [UInt8] {
        var w = JSONWriter(capacity: 64 + slots.count * 72)
        w.beginObject()
        w.field("version", SetpointMessage.version)
        w.field("issued", max(issuedMs, 1))
        w.key("slots")
        w.beginArray()
        for s in slots {
            w.beginObject()
            w.field("start", s.startS)
            w.field("duration", s.durationS)
            w.field("bspP", s.bspP)
            w.field("bspQ", s.bspQ)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// Restores a persisted schedule: the same strict checks as a message (against today's limits),
    /// minus the time window; slots that ended before `nowMs` are dropped.
    public static func restore(_ bytes: [UInt8], limits: ScheduleLimits, nowMs: Int64) throws(ScheduleError) -> Schedule {
        var s = Schedule(limits: limits)
        let m = try SetpointMessage.parse(bytes, limits: limits, nowMs: nil, allowEmpty: true)
        if !m.slots.isEmpty { s.apply(m, nowMs: nowMs) }
        s.issuedMs = m.issuedMs
        return s
    }
}
