import Testing

@testable import PGUICore

@Suite struct HealthTests {
    let policy = HealthPolicy()

    func inputs(last: Int64?, journal: Bool = true, rss: Int64 = 10_000) -> HealthInputs {
        HealthInputs(lastSampleMs: last, startedMs: 0, journalWritable: journal, rssKiB: rss)
    }

    @Test func freshSampleIsHealthyAndStaleIsNot() {
        #expect(policy.evaluate(nowMs: 100_000, inputs(last: 95_000)) == .healthy)
        #expect(policy.evaluate(nowMs: 100_000, inputs(last: 94_999)) == .failing("no meter sample for 5001 ms (limit 5000 ms)"))
    }

    @Test func graceBeforeTheFirstSample() {
        #expect(policy.evaluate(nowMs: 35_000, inputs(last: nil)) == .healthy)
        #expect(policy.evaluate(nowMs: 35_001, inputs(last: nil)) != .healthy)
    }

    @Test func journalAndMemory() {
        #expect(policy.evaluate(nowMs: 1_000, inputs(last: 1_000, journal: false)) == .failing("journal is not writable"))
        #expect(policy.evaluate(nowMs: 1_000, inputs(last: 1_000, rss: 65_536)) == .healthy)
        #expect(policy.evaluate(nowMs: 1_000, inputs(last: 1_000, rss: 65_537)) != .healthy)
    }
}

@Suite struct MetricsTests {
    @Test func prometheusText() {
        var m = Metrics()
        m.groupsSigned = 7
        m.rssKiB = -1
        var out: [UInt8] = []
        m.encodePrometheus(into: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("# HELP pgui_groups_signed_total Measurement groups signed\n# TYPE pgui_groups_signed_total counter\npgui_groups_signed_total 7\n"))
        #expect(text.contains("\npgui_resident_memory_kib -1\n"))
        #expect(text.hasSuffix("\n"))
        // Every sample line is `name value`, every name has HELP and TYPE.
        let lines = text.split(separator: "\n")
        #expect(lines.count == 14 * 3)
    }
}
