import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui-bench [NAME…]`: benchmarks built from the firmware's own libraries, so the same code is measured on
/// every architecture (aarch64/armv7 under qemu-user). Each one measures PGUI against a baseline in
/// the same run and prints the ratio; absolute numbers alone mean little across machines.
enum Bench {
    /// name → function. Each area adds its benchmarks here (defined in its own Bench*.swift file).
    static let all: [(name: String, run: @Sendable () -> Bool)] = [
        ("json", benchJSON),
        ("identity", benchIdentity),
        ("meter", benchMeter),
        ("update-verify", benchUpdateVerify),
        ("journal", benchJournal),
        ("setpoints", benchSetpoints),
        ("inbound", benchInbound),
        ("dlms", benchDLMS),
        ("footprint", benchFootprint),
        ("serial-meters", benchSerialMeters),
    ]

    static var usage: String {
        "usage: pgui-bench [NAME...]   run benchmarks (ratios against same-run baselines); names: "
            + all.map { $0.name }.joined(separator: " ")
    }

    static func run(_ names: [String]) -> Int32 {
        var ok = true
        var ran = 0
        for b in all where names.isEmpty || names.contains(b.name) {
            ok = b.run() && ok
            ran += 1
        }
        if ran == 0 {
            printErr("pgui-bench: no benchmark named \(names.joined(separator: " "))\n\(usage)")
            return Exit.usage
        }
        return ok ? Exit.ok : Exit.failure
    }

    /// Runs `body` repeatedly for at least `ms` milliseconds; returns operations per second.
    static func rate(ms: Int64 = 500, _ body: () -> Void) -> Int64 {
        var n: Int64 = 0
        let start = pgui_monotonic_ms()
        var now = start
        while now - start < ms {
            for _ in 0..<16 { body() }
            n += 16
            now = pgui_monotonic_ms()
        }
        return n * 1_000 / max(now - start, 1)
    }

    /// One line per comparison: `bench NAME: subject N/s vs baseline M/s = ratio R`.
    static func report(_ name: String, subject: String, _ subjectRate: Int64, baseline: String, _ baselineRate: Int64) {
        let ratioMilli = subjectRate * 1_000 / max(baselineRate, 1)
        let ratio = "\(ratioMilli / 1_000).\(UTC.pad(ratioMilli % 1_000, 3))"
        printOut("bench \(name): \(subject) \(subjectRate)/s vs \(baseline) \(baselineRate)/s = ratio \(ratio)")
    }

    /// The JSON writer against a plain byte copy of the same output: the writer's cost per document.
    static func benchJSON() -> Bool {
        var w = JSONWriter(capacity: 1_024)
        func doc() {
            w.reset()
            w.beginObject()
            w.field("device", "gw-0042")
            w.field("seq", Int64(123_456_789))
            w.key("samples")
            w.beginArray()
            for i in 0..<10 {
                w.beginObject()
                w.field("t", Int64(1_700_000_000_000) + Int64(i) * 1_000)
                w.field("p", Int64(-1_234 + i))
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        doc()
        let reference = w.bytes
        var copy = [UInt8]()
        copy.reserveCapacity(reference.count)
        let subject = rate { doc() }
        let baseline = rate {
            copy.removeAll(keepingCapacity: true)
            copy.append(contentsOf: reference)
        }
        report("json", subject: "JSONWriter \(reference.count)-byte documents", subject, baseline: "memcpy of the same bytes", baseline)
        return true
    }
}
