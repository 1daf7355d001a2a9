/// The schedule of the running device and how messages change it (docs/setpoints.md): messages of
/// one loop turn are validated and applied to a staged copy, written to storage once, then put in
/// force and acknowledged together. A burst of DSO messages therefore costs one atomic write per
/// loop turn instead of two fsyncs per message (issue 14: 300 back-to-back schedules pushed HTTP
/// latency from 10 ms to 2.85 s). Ended slots are dropped at every slot change. Pure: the caller
/// does the file I/O and passes the time.
public struct SetpointBook {
    public private(set) var schedule: Schedule
    /// Accepted messages of the current batch applied on top of `schedule`; nil = none.
    public private(set) var staged: Schedule? = nil
    /// Acks of the current batch in arrival order (accepted ones are final only after the write).
    var pending: [(id: String?, result: Result<Int, ScheduleError>)] = []
    /// Messages and slots the last `commit` put in force (for the log).
    public private(set) var lastCommitMessages = 0
    public private(set) var lastCommitSlots = 0
    /// Slot index (UTC s / slot length) of the last prune.
    var prunedSlot: Int64 = Int64.min

    public init(limits: ScheduleLimits) {
        schedule = Schedule(limits: limits)
        pending.reserveCapacity(16)
    }

    public init(restored: Schedule) { schedule = restored }

    public var limits: ScheduleLimits { schedule.limits }

    /// Validates one message against the limits, the time window and the schedule it would replace
    /// (staged or in force), and stages it. Returns the ack for a rejection at once (nothing
    /// changes); an accepted message is acknowledged by `commit`.
    public mutating func stage(_ bytes: [UInt8], nowMs: Int64) -> ScheduleError? {
        let base = staged ?? schedule
        do throws(ScheduleError) {
            let m = try SetpointMessage.parse(bytes, limits: limits, nowMs: nowMs)
            try base.checkOrder(m)
            var next = base
            next.apply(m, nowMs: nowMs)
            staged = next
            pending.append((m.id, .success(m.slots.count)))
            return nil
        } catch {
            pending.append((SetpointMessage.peekId(bytes, limits: limits), .failure(error)))
            return error
        }
    }

    /// The bytes to write before `commit(stored: true)`; nil = nothing staged (no write needed).
    public var stagedBytes: [UInt8]? { staged?.encode() }

    /// Ends the batch: with `stored` the staged schedule goes into force; otherwise every accepted
    /// message of the batch is rejected with `storage` and nothing changes. Returns the acks in
    /// arrival order.
    public mutating func commit(stored: Bool, storageError: String = "", nowMs: Int64) -> [[UInt8]] {
        if let s = staged, stored { schedule = s }
        var acks: [[UInt8]] = []
        acks.reserveCapacity(pending.count)
        lastCommitMessages = 0
        lastCommitSlots = 0
        for p in pending {
            var result = p.result
            if case .success(let n) = result, stored {
                lastCommitMessages += 1
                lastCommitSlots += n
            }
            if case .success = result, !stored {
                result = .failure(ScheduleError("storage", "cannot persist the schedule (\(storageError)); message not applied"))
            }
            acks.append(SetpointMessage.ack(id: p.id, result: result, nowMs: nowMs))
        }
        pending.removeAll(keepingCapacity: true)
        staged = nil
        return acks
    }

    /// Drops ended slots when a slot boundary has passed since the last call; true when some were
    /// dropped (memory stays within `limits.slotsMax` slots).
    @discardableResult
    public mutating func tick(nowMs: Int64) -> Bool {
        let slot = UTC.floorDiv(UTC.floorDiv(nowMs, 1_000), limits.slotS)
        guard slot != prunedSlot else { return false }
        prunedSlot = slot
        return schedule.prune(nowMs: nowMs) > 0
    }

    /// What the EMS sees now, from one instant.
    public mutating func snapshot(nowMs: Int64, clockSynced: Bool, dsoConnected: Bool) -> SetpointSnapshot {
        tick(nowMs: nowMs)
        let age: Int64? = schedule.issuedMs > 1 ? max(0, UTC.floorDiv(nowMs - schedule.issuedMs, 1_000)) : nil
        return SetpointSnapshot(current: schedule.current(atMs: nowMs), next: schedule.next(atMs: nowMs), clockSynced: clockSynced,
                                dsoConnected: dsoConnected, scheduleAgeS: age)
    }
}
