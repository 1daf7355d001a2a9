import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui journal …`: field diagnosis (stats, dump), the operator's explicit reset, and the drivers
/// the crash test and benchmarks use (fill, writer, ack). docs/journal.md describes each verb.
enum JournalCommand {
    static let usage = """
        usage: pgui journal stats DIR                 ring geometry, fill, sequences, losses (JSON)
               pgui journal dump DIR [--from SEQ]     un-acknowledged records: SEQ POS BYTES BASE64URL
               pgui journal ack DIR SEQ               acknowledge every record up to SEQ
               pgui journal reset DIR --yes           delete the journal's own files (nothing else)
               pgui journal fill DIR --count N [--bytes B] [--seq-step K] [RING]
               pgui journal writer DIR [--count N] [--bytes B] [RING]   append+commit, print each committed seq
               pgui journal fill-groups DATA_DIR --config FILE --count N   N signed simulated groups ending now (BAL bench)
          RING: --config FILE (journal.* keys) | --slots N --record-bytes B [--every-n K]  (used to create)
        """

    struct Options {
        var dir = ""
        var count: Int64 = -1
        var bytes: Int64 = 200
        var seqStep: Int64 = 1
        var from: Int64 = -1
        var slots: Int64 = -1
        var recordBytes: Int64 = -1
        var everyN: Int64 = -1
        var config = ""
        var yes = false
        var positional: [String] = []
    }

    static func run(_ args: [String]) -> Int32 {
        guard args.count >= 2 else {
            printErr(usage)
            return Exit.usage
        }
        guard let o = parse(Array(args.dropFirst())) else { return Exit.usage }
        do throws(JournalError) {
            switch args[0] {
            case "stats": return try stats(o)
            case "dump": return try dump(o)
            case "ack": return try ack(o)
            case "reset": return try reset(o)
            case "fill": return try fill(o)
            case "writer": return try writer(o)
            case "fill-groups": return try fillGroups(o)
            default:
                printErr("pgui journal: unknown verb '\(args[0])'\n\(usage)")
                return Exit.usage
            }
        } catch {
            printErr("pgui journal \(args[0]): \(error.message)")
            return Exit.failure
        }
    }

    static func parse(_ args: [String]) -> Options? {
        var o = Options()
        var i = 0
        func int(_ name: String) -> Int64? {
            guard i + 1 < args.count, let v = parseInt64(args[i + 1]), v >= 0 else {
                printErr("pgui journal: \(name) needs a non-negative integer\n\(usage)")
                return nil
            }
            i += 1
            return v
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--count": guard let v = int(a) else { return nil }; o.count = v
            case "--bytes": guard let v = int(a) else { return nil }; o.bytes = v
            case "--seq-step": guard let v = int(a), v >= 1 else { return nil }; o.seqStep = v
            case "--from": guard let v = int(a) else { return nil }; o.from = v
            case "--slots": guard let v = int(a) else { return nil }; o.slots = v
            case "--record-bytes": guard let v = int(a) else { return nil }; o.recordBytes = v
            case "--every-n": guard let v = int(a), v >= 1 else { return nil }; o.everyN = v
            case "--yes": o.yes = true
            case "--config":
                guard i + 1 < args.count else { printErr("pgui journal: --config needs a file"); return nil }
                o.config = args[i + 1]
                i += 1
            default:
                if a.utf8.first == ASCII.minus {
                    printErr("pgui journal: unknown option '\(a)'\n\(usage)")
                    return nil
                }
                o.positional.append(a)
            }
            i += 1
        }
        guard let d = o.positional.first else {
            printErr("pgui journal: missing DIR\n\(usage)")
            return nil
        }
        o.dir = d
        o.positional.removeFirst()
        return o
    }

    /// Geometry and policy for creating/opening a ring in the drivers.
    /// The third value says whether the geometry was asked for explicitly (then an existing ring must match it).
    static func ring(_ o: Options) throws(JournalError) -> (JournalGeometry, JournalPolicy, Bool) {
        if !o.config.isEmpty {
            guard let c = Command.loadConfig(o.config) else { throw JournalError("configuration \(o.config) is not usable") }
            return (c.journal.geometry, c.journal.policy, true)
        }
        var policy = JournalPolicy()
        if o.everyN > 0 { policy.sync = .everyN(Int(o.everyN)) }
        if o.slots > 0 || o.recordBytes > 0 {
            let slotBytes = (Int64(JournalGeometry.recordHeaderBytes) + max(o.recordBytes, 1) + 511) / 512 * 512
            let g = JournalGeometry(slotCount: Int(max(o.slots, 0)), slotBytes: Int(slotBytes))
            if let p = g.problem { throw JournalError("cannot use that ring: \(p)") }
            return (g, policy, true)
        }
        return (JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: 4_064), policy, false)
    }

    static func openReadOnly(_ o: Options) throws(JournalError) -> FileJournal {
        try FileJournal.open(dir: o.dir, create: nil, expected: nil, readOnly: true)
    }

    static func stats(_ o: Options) throws(JournalError) -> Int32 {
        let j = try openReadOnly(o)
        printOut(String(decoding: j.stats.json(), as: UTF8.self))
        return Exit.ok
    }

    static func dump(_ o: Options) throws(JournalError) -> Int32 {
        let j = try openReadOnly(o)
        var pos = j.stats.tail
        while true {
            let (records, next) = try j.read(from: pos, max: 64)
            for r in records where o.from < 0 || r.seq >= UInt64(o.from) {
                printOut("\(r.seq) \(r.pos) \(r.payload.count) \(Base64.urlEncode(r.payload))")
            }
            if next >= j.stats.head { break }
            pos = next
        }
        if j.stats.corruptSkipped > 0 { printErr("pgui journal dump: \(j.stats.corruptSkipped) torn or corrupt record(s) skipped") }
        return Exit.ok
    }

    static func ack(_ o: Options) throws(JournalError) -> Int32 {
        guard let s = o.positional.first, let seq = parseInt64(s), seq >= 0 else { throw JournalError("ack needs a sequence number") }
        let j = try FileJournal.open(dir: o.dir, create: nil, expected: nil)
        try j.ack(upTo: UInt64(seq))
        try j.close()
        printOut(String(decoding: j.stats.json(), as: UTF8.self))
        return Exit.ok
    }

    static func reset(_ o: Options) throws(JournalError) -> Int32 {
        guard o.yes else {
            printErr("pgui journal reset: this deletes every record in \(o.dir); add --yes to confirm")
            return Exit.usage
        }
        let removed = try JournalFiles.reset(o.dir)
        var list = ""
        for r in removed { list += list.isEmpty ? r : ", \(r)" }
        printOut(removed.isEmpty ? "\(o.dir): no journal files" : "\(o.dir): removed \(list)")
        return Exit.ok
    }

    /// The payload the drivers write for `seq`: its length and content follow from `seq` alone, so
    /// a checker can tell a record that came back intact from one that did not.
    static func payload(seq: UInt64, bytesMax: Int, into p: inout [UInt8]) {
        let len = max(1, bytesMax - Int(seq % 17))
        p.removeAll(keepingCapacity: true)
        for i in 0..<len { p.append(UInt8(truncatingIfNeeded: seq &* 31 &+ UInt64(i) &* 7)) }
    }

    static func fill(_ o: Options) throws(JournalError) -> Int32 {
        let (g, policy, explicit) = try ring(o)
        let j = try FileJournal.open(dir: o.dir, create: g, expected: explicit ? g : nil, policy: policy)
        let bytes = min(Int(o.bytes), j.geometry.payloadBytesMax)
        var p = [UInt8]()
        p.reserveCapacity(bytes)
        var seq = (j.stats.lastSeq ?? 0) + 1
        for _ in 0..<max(o.count, 0) {
            payload(seq: seq, bytesMax: bytes, into: &p)
            try j.append(seq: seq, payload: p)
            try j.commit()
            seq += UInt64(o.seqStep)
        }
        try j.close()
        printOut(String(decoding: j.stats.json(), as: UTF8.self))
        return Exit.ok
    }

    /// Appends and commits forever (or `--count` times); prints each seq once `commit` reports it
    /// durable. The crash test SIGKILLs it at random moments.
    static func writer(_ o: Options) throws(JournalError) -> Int32 {
        let (g, policy, explicit) = try ring(o)
        let j = try FileJournal.open(dir: o.dir, create: g, expected: explicit ? g : nil, policy: policy)
        let bytes = min(Int(o.bytes), j.geometry.payloadBytesMax)
        var p = [UInt8]()
        p.reserveCapacity(bytes)
        var seq = (j.stats.lastSeq ?? 0) + 1
        var printed = j.stats.lastSeq ?? 0
        var n: Int64 = 0
        printOut("ready \(j.stats.lastSeq ?? 0)")
        while o.count < 0 || n < o.count {
            payload(seq: seq, bytesMax: bytes, into: &p)
            try j.append(seq: seq, payload: p)
            if let c = try j.commit(), c > printed {
                printOut("c \(c)")
                printed = c
            }
            seq += 1
            n += 1
        }
        try j.close()
        return Exit.ok
    }
}
