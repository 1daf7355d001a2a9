import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui bench journal`: the journal on the real file system of the target (PGUI_BENCH_DIR, else
/// TMPDIR, else /tmp). Appends under the default policy (one pwrite + fdatasync per group) against a
/// plain pwrite+fdatasync loop of the same record size; bytes written per group; recovery of a full
/// 48-hour ring through the hint and by a full scan, with the ring's pages evicted from the cache.
extension Bench {
    static let journalRecordBytes = 2_048

    static func benchJournal() -> Bool {
        let level = Log.level
        Log.level = .error  // the ring-full warnings of the fill are expected here
        defer { Log.level = level }
        let base = getenv("PGUI_BENCH_DIR").map { String(cString: $0) } ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let dir = base + "/pgui-bench-journal-\(getpid())"
        guard mkdir(dir, 0o700) == 0 else {
            printErr("bench journal: cannot create \(dir): \(errnoText(pgui_errno()))")
            return false
        }
        defer {
            _ = try? JournalFiles.reset(dir + "/rate")
            _ = try? JournalFiles.reset(dir + "/full")
            rmdir(dir + "/rate")
            rmdir(dir + "/full")
            unlink(dir + "/baseline")
            rmdir(dir)
        }
        do throws(JournalError) {
            try benchJournalRate(dir)
            try benchJournalRecovery(dir)
            return true
        } catch {
            printErr("bench journal: \(error.message)")
            return false
        }
    }

    static func benchJournalRate(_ dir: String) throws(JournalError) {
        // The default 48 h ring: its hint cadence (1/16 ring) and no wrap, as on a device that is online.
        let g = JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: 4_064)
        let j = try FileJournal.open(dir: dir + "/rate", create: g, expected: g)
        let payload = [UInt8](repeating: 0x61, count: journalRecordBytes)
        var seq: UInt64 = 0
        var failure: JournalError? = nil
        // Baseline: the same record size written with pwrite + fdatasync to a preallocated plain file.
        let path = dir + "/baseline"
        let fd = pgui_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError("baseline: \(SystemError("create", path).description)") }
        defer { close(fd) }
        let zeros = [UInt8](repeating: 0, count: 4_096)
        for i in 0..<1_024 { _ = zeros.withUnsafeBytes { pgui_pwrite(fd, $0.baseAddress!, 4_096, Int64(i) * 4_096) } }
        _ = fsync(fd)
        let record = [UInt8](repeating: 0x62, count: journalRecordBytes + JournalGeometry.recordHeaderBytes)
        var i: Int64 = 0
        // fdatasync latency on a shared disk drifts: alternate short rounds of both and sum them.
        var subjectOps: Int64 = 0, subjectMs: Int64 = 0, subjectIO: Int64 = 0
        var baseOps: Int64 = 0, baseMs: Int64 = 0, baseIO: Int64 = 0
        let written0 = j.storage.bytesWritten
        for _ in 0..<8 {
            var io = pgui_io_write_bytes()
            var (n, ms) = timed(ms: 150) {
                guard failure == nil else { return }
                seq += 1
                do throws(JournalError) {
                    try j.append(seq: seq, payload: payload)
                    try j.commit()
                } catch { failure = error }
            }
            if let f = failure { throw f }
            subjectOps += n
            subjectMs += ms
            subjectIO += pgui_io_write_bytes() - io
            io = pgui_io_write_bytes()
            (n, ms) = timed(ms: 150) {
                _ = record.withUnsafeBytes { pgui_pwrite(fd, $0.baseAddress!, UInt($0.count), (i % 1_024) * 4_096) }
                _ = fdatasync(fd)
                i += 1
            }
            baseOps += n
            baseMs += ms
            baseIO += pgui_io_write_bytes() - io
        }
        let appBytes = (j.storage.bytesWritten - written0) / max(subjectOps, 1)
        let ioKnown = pgui_io_write_bytes() >= 0
        let ioBytes = ioKnown ? subjectIO / max(subjectOps, 1) : -1
        let bioBytes = ioKnown ? baseIO / max(baseOps, 1) : -1
        try j.close()
        let subject = subjectOps * 1_000 / max(subjectMs, 1)
        let baseline = baseOps * 1_000 / max(baseMs, 1)
        report("journal", subject: "append+commit of \(journalRecordBytes)-byte records (every-group)", subject,
               baseline: "pwrite+fdatasync of \(journalRecordBytes + JournalGeometry.recordHeaderBytes) bytes", baseline)
        printOut("bench journal: bytes written per group: journal \(appBytes) by the program, \(ioBytes) reached the block layer; baseline \(bioBytes) reached the block layer (block-layer ratio \(ioBytes < 0 || bioBytes <= 0 ? "n/a" : ratioText(ioBytes, bioBytes)) vs plain; \(ratioText(appBytes, Int64(journalRecordBytes))) of the payload)")
    }

    static func benchJournalRecovery(_ dir: String) throws(JournalError) {
        let g = JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: 4_064)
        let fillMs = try fillFullRing(dir + "/full", g)
        let hintMs = try timeRecovery(dir + "/full", g, expect: "hint")
        unlink(JournalFiles.hintPath(dir + "/full"))
        let scanMs = try timeRecovery(dir + "/full", g, expect: "scan")
        printOut("bench journal: recovery of a full 48 h ring (\(g.slotCount) records of 3000 bytes, \(g.fileBytes / 1_048_576) MiB, page cache dropped): \(hintMs) ms from the hint, \(scanMs) ms by full scan (created and filled in \(fillMs) ms)")
    }

    /// Creates the ring and fills it past one lap; the journal (and its lock) is released on return.
    static func fillFullRing(_ dir: String, _ g: JournalGeometry) throws(JournalError) -> Int64 {
        var policy = JournalPolicy()
        policy.sync = .everyN(JournalGeometry.uncommittedMax)  // fill quickly; durability is not measured here
        let start = pgui_monotonic_ms()
        let j = try FileJournal.open(dir: dir, create: g, expected: g, policy: policy)
        let payload = [UInt8](repeating: 0x63, count: 3_000)
        for s in 1...(g.slotCount + 100) {
            try j.append(seq: UInt64(s), payload: payload)
            try j.commit()
        }
        try j.close()
        j.storage.dropPageCache()
        return pgui_monotonic_ms() - start
    }

    static func timeRecovery(_ dir: String, _ g: JournalGeometry, expect: String) throws(JournalError) -> Int64 {
        let start = pgui_monotonic_ms()
        let j = try FileJournal.open(dir: dir, create: nil, expected: g)
        let ms = pgui_monotonic_ms() - start
        guard j.stats.records == UInt64(g.slotCount), j.stats.recovery == expect else {
            throw JournalError("\(expect) recovery found \(j.stats.records) records by \(j.stats.recovery), expected \(g.slotCount)")
        }
        try j.close()
        j.storage.dropPageCache()
        return ms
    }

    /// Runs `body` for at least `ms`; returns how many times and how long it took.
    static func timed(ms: Int64, _ body: () -> Void) -> (Int64, Int64) {
        var n: Int64 = 0
        let start = pgui_monotonic_ms()
        var now = start
        while now - start < ms {
            body()
            n += 1
            now = pgui_monotonic_ms()
        }
        return (n, now - start)
    }

    static func ratioText(_ a: Int64, _ b: Int64) -> String {
        let m = a * 1_000 / max(b, 1)
        return "\(m / 1_000).\(UTC.pad(m % 1_000, 3))"
    }
}
