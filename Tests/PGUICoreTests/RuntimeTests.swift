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
        // pgui_heap_in_use_bytes, pgui_meter_sample_age_ms and pgui_schedule_age_seconds are left out while
        // unknown; two labelled families (HELP, TYPE, one line per TLS refusal reason).
        #expect(lines.count == (23 + 5 + 1) * 3 + 2 * (2 + TLSFailureKind.count))  // + issue 21: five always-present metrics; + pgui_meter_invalid_total
    }

    @Test func tlsRefusalsHaveOneSamplePerReason() {
        var m = Metrics()
        m.balTLSRefusals[TLSFailureKind.expired.rawValue] = 3
        var out: [UInt8] = []
        m.encodePrometheus(into: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains("\npgui_bal_tls_refusals_total{reason=\"expired\"} 3\n"))
        #expect(text.contains("\npgui_bal_tls_refusals_total{reason=\"unknown_ca\"} 0\n"))
        #expect(text.contains("\npgui_dso_tls_refusals_total{reason=\"wrong_host\"} 0\n"))
    }
}

@Suite struct StatusTests {
    @Test func recentEventsKeepTheNewestInOrder() {
        var r = RecentEvents(capacity: 3)
        for i in 1...5 { r.add(timeMs: Int64(i), "e\(i)") }
        #expect(r.all.map { $0.text } == ["e3", "e4", "e5"])
        r.add(timeMs: 6, String(repeating: "x", count: 500))
        #expect(r.all.last!.text.utf8.count == 200)
    }

    @Test func jsonAndHTMLCarryTheState() throws {
        var s = StatusSnapshot()
        s.deviceId = "gw-<1>"
        s.nowMs = 1_700_000_000_000
        s.clockSynced = true
        var m = Measurement(timestampMs: 1_700_000_000_000, quality: [])
        m.activePowerW = -1_200
        s.lastSample = m
        s.bal.configured = true
        s.bal.lastError = "TLS: <bad> cert"
        s.currentP = 100
        s.currentQ = 100
        s.events.add(timeMs: 1, "meter timeout & retry")
        var w = JSONWriter()
        s.encodeJSON(into: &w)
        let v = try JSONParser.parse(w.bytes)
        #expect(v["meter"]?["p_w"]?.intValue == -1_200)
        #expect(v["setpoint"]?["next_p_w"] == .null)
        #expect(v["bal"]?["connected"]?.boolValue == false)
        var html: [UInt8] = []
        s.renderHTML(into: &html)
        let page = String(decoding: html, as: UTF8.self)
        #expect(page.contains("<title>PGUI gw-&lt;1&gt;</title>"))
        #expect(page.contains("disconnected: TLS: &lt;bad&gt; cert"))
        #expect(page.contains("meter timeout &amp; retry"))
        #expect(page.contains("-1200 W"))
        #expect(!page.contains("<script"))
    }
}
