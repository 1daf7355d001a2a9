import Testing

@testable import PGUICore

/// The retained status message (issue 6): journal fill, lost groups and range, last meter read,
/// clock state and link state; the Last Will carries nothing but the device and `offline`.
@Suite struct BALStatusTests {
    func online() -> BALStatus {
        var s = BALStatus(deviceId: "gw-1", online: true)
        s.firmware = "0.1.0"
        s.kid = "k"
        s.timeMs = 1_795_805_172_000
        s.clockSynced = true
        s.journalFillPermille = 1_000
        s.backlogGroups = 17_280
        s.lastMeterReadMs = 1_795_805_171_000
        s.link.connectedSinceMs = 1_795_805_170_000
        s.link.reconnects = 2
        s.link.inFlight = 16
        s.link.inFlightMax = 16
        s.link.drainPerSecondMax = 50
        return s
    }

    @Test func offlineCarriesNothingElse() throws {
        var w = JSONWriter()
        var s = online()
        s.online = false
        s.encode(into: &w)
        #expect(w.string == #"{"v":1,"device":"gw-1","state":"offline"}"#)
    }

    @Test func onlineCarriesEveryField() throws {
        var w = JSONWriter()
        online().encode(into: &w)
        let v = try JSONParser.parse(w.bytes)
        #expect(v["state"]?.stringValue == "online")
        #expect(v["clock_synced"] == .bool(true))
        #expect(v["journal_fill_permille"] == .int(1_000))
        #expect(v["backlog_groups"] == .int(17_280))
        #expect(v["lost_groups"] == .int(0))
        #expect(v["lost_range"] == nil)
        #expect(v["last_meter_read"] == .int(1_795_805_171_000))
        #expect(v["link"]?["state"]?.stringValue == "connected")
        #expect(v["link"]?["since"] == .int(1_795_805_170_000))
        #expect(v["link"]?["reconnects"] == .int(2))
        #expect(v["link"]?["inflight"] == .int(16))
        #expect(v["link"]?["inflight_max"] == .int(16))
        #expect(v["link"]?["drain_per_s"] == .int(50))
    }

    @Test func lostRangeOnlyWhenBothEndsAreKnown() throws {
        var w = JSONWriter()
        var s = online()
        s.lostGroups = 1
        s.lostFirstSeq = 7
        s.encode(into: &w)
        #expect(try JSONParser.parse(w.bytes)["lost_range"] == nil)
        s.lostLastSeq = 7  // one group lost: a range of one
        s.encode(into: &w)
        #expect(try JSONParser.parse(w.bytes)["lost_range"] == .array([.int(7), .int(7)]))
        s.lostFirstSeq = UInt64(Int64.max)
        s.lostLastSeq = UInt64(Int64.max)
        s.encode(into: &w)
        #expect(try JSONParser.parse(w.bytes)["lost_range"] == .array([.int(Int64.max), .int(Int64.max)]))
    }

    @Test func unsyncedClockAndNoMeterReadYet() throws {
        var w = JSONWriter()
        var s = online()
        s.clockSynced = false
        s.lastMeterReadMs = nil
        s.timeMs = 0
        s.encode(into: &w)
        let v = try JSONParser.parse(w.bytes)
        #expect(v["clock_synced"] == .bool(false))
        #expect(v["last_meter_read"] == .null)
    }

    @Test func encodingTwiceGivesTheSameBytes() {
        var w = JSONWriter()
        let s = online()
        s.encode(into: &w)
        let first = w.bytes
        s.encode(into: &w)
        #expect(w.bytes == first)
        #expect(first.count < 1_024)  // BALLink's status buffer
    }
}
