import Testing

@testable import PGUICore

/// Inbound validation (issue 6) and the credential-rotation schedule (issue 3), mosquitto-style:
/// empty, truncated, oversized, wrong device/version/types, limit and limit + 1.
@Suite struct BALInboundTests {
    func b(_ s: String) -> [UInt8] { Array(s.utf8) }
    let topics = BALTopics(prefix: "pgui/v1", deviceId: "gw-1")

    func reason(_ bytes: [UInt8]) -> String {
        do throws(InboundError) {
            _ = try BALInbound.parseReceipt(bytes, device: "gw-1")
            return "accepted"
        } catch {
            return error.message
        }
    }

    @Test func routesOnlyOurTopics() {
        #expect(BALInbound.route(topic: "pgui/v1/gw-1/credentials/cert", topics: topics) == .credentials)
        #expect(BALInbound.route(topic: "pgui/v1/gw-1/in/receipt", topics: topics) == .receipt)
        #expect(BALInbound.route(topic: "pgui/v1/gw-1/in/other", topics: topics) == .unknown)
        #expect(BALInbound.route(topic: "pgui/v1/gw-2/in/receipt", topics: topics) == .unknown)
        #expect(BALInbound.route(topic: "pgui/v1/gw-1/credentials/csr", topics: topics) == .unknown)
        #expect(BALInbound.route(topic: "", topics: topics) == .unknown)
    }

    @Test func acceptsAWellFormedReceipt() throws {
        let r = try BALInbound.parseReceipt(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":42,\"ref\":\"tx-9f\",\"time\":1795805172000}"), device: "gw-1")
        #expect(r == BALReceipt(seq: 42, ref: "tx-9f"))
        #expect(try BALInbound.parseReceipt(b("{\"device\":\"gw-1\",\"seq\":1,\"v\":1}"), device: "gw-1") == BALReceipt(seq: 1))
        #expect(try BALInbound.parseReceipt(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":9223372036854775807}"), device: "gw-1").seq == UInt64(Int64.max))
    }

    @Test func refusesEmptyTruncatedAndNonObjects() {
        #expect(reason([]).contains("empty"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4")).contains("invalid JSON"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",")).contains("invalid JSON"))
        #expect(reason(b("[1]")).contains("not a JSON object"))
        #expect(reason(b("42")).contains("not a JSON object"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"seq\":5}")).contains("invalid JSON"))  // duplicate member
    }

    @Test func refusesWrongDeviceVersionAndTypes() {
        #expect(reason(b("{\"v\":1,\"device\":\"gw-2\",\"seq\":4}")).contains("for device 'gw-2', not 'gw-1'"))
        #expect(reason(b("{\"v\":2,\"device\":\"gw-1\",\"seq\":4}")).contains("unknown version"))
        #expect(reason(b("{\"device\":\"gw-1\",\"seq\":4}")).contains("missing version"))
        #expect(reason(b("{\"v\":\"1\",\"device\":\"gw-1\",\"seq\":4}")).contains("unknown version"))
        #expect(reason(b("{\"v\":1,\"device\":7,\"seq\":4}")).contains("'device' missing or not a string"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":\"4\"}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":0}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":-3}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4.5}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":18446744073709551616}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\"}")).contains("'seq'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":\"a b\"}")).contains("'ref'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":\"\"}")).contains("'ref'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":3}")).contains("'ref'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"time\":\"now\"}")).contains("'time'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"act\":\"reboot\"}")).contains("unknown member 'act'"))
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":{\"a\":1}}")).contains("invalid JSON"))  // depth
    }

    @Test func sizeLimitsAtAndBeyond() {
        // ref at its limit and one byte over.
        let refAtLimit = String(repeating: "r", count: BALInbound.refBytesMax)
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":\"\(refAtLimit)\"}")) == "accepted")
        #expect(reason(b("{\"v\":1,\"device\":\"gw-1\",\"seq\":4,\"ref\":\"\(refAtLimit)r\"}")).contains("invalid JSON"))
        // Whole message at receiptBytesMax (padded with blanks, which JSON allows) and one over.
        let body = "{\"v\":1,\"device\":\"gw-1\",\"seq\":4}"
        let atLimit = body + String(repeating: " ", count: BALInbound.receiptBytesMax - body.utf8.count)
        #expect(atLimit.utf8.count == BALInbound.receiptBytesMax)
        #expect(reason(b(atLimit)) == "accepted")
        #expect(reason(b(atLimit + " ")).contains("the limit is \(BALInbound.receiptBytesMax)"))
    }

    @Test func credentialResponsesAtTheSizeLimit() {
        let head = "{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"cert\":\"-----BEGIN CERTIFICATE-----"
        let tail = "\"}"
        let pad = CredentialResponse.bytesMax - head.utf8.count - tail.utf8.count
        let atLimit = b(head + String(repeating: "A", count: pad) + tail)
        #expect(atLimit.count == CredentialResponse.bytesMax)
        // The limit is on the whole document; JSONLimits' per-string cap (8 KiB) also applies.
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(atLimit + [32], device: "gw-1", request: "r1") }
        let small = b(head + "\\nMIIB\\n-----END CERTIFICATE-----\\n" + tail)
        #expect(throws: Never.self) { try CredentialResponse.parse(small, device: "gw-1", request: "r1") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(b("{\"v\":2,\"device\":\"gw-1\",\"request\":\"r1\",\"cert\":\"-----BEGIN CERTIFICATE-----\"}"), device: "gw-1", request: "r1") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(b("{\"v\":1,\"device\":1,\"request\":\"r1\",\"cert\":\"-----BEGIN CERTIFICATE-----\"}"), device: "gw-1", request: "r1") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(b("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"cert\":5}"), device: "gw-1", request: "r1") }
    }

    @Test func countersKeepTheHighestNotarizedSequence() {
        var c = BALInboundCounters()
        #expect(c.notarizedSeqMax == nil)
        c.receipt(BALReceipt(seq: 7))
        c.receipt(BALReceipt(seq: 3))
        #expect(c.notarizedSeqMax == 7 && c.receipts == 2 && c.accepted == 2)
    }

    @Test func logThrottleLetsABurstThroughThenCounts() {
        var t = LogThrottle(intervalMs: 10_000, burst: 2)
        #expect(t.allow(nowMs: 0) == 0)
        #expect(t.allow(nowMs: 1) == 0)
        #expect(t.allow(nowMs: 2) == nil)
        #expect(t.allow(nowMs: 9_999) == nil)
        #expect(t.allow(nowMs: 10_000) == 2)  // the next window reports what was suppressed
        #expect(t.allow(nowMs: 10_001) == 0)
    }

    @Test func statusCarriesInboundFigures() throws {
        var s = BALStatus(deviceId: "gw-1", online: true)
        var w = JSONWriter()
        s.encode(into: &w)
        var v = try JSONParser.parse(w.bytes)
        #expect(v["inbound_rejected"] == nil && v["notarized_seq"] == nil)
        s.inboundRejected = 3
        s.notarizedSeq = 41
        s.encode(into: &w)
        v = try JSONParser.parse(w.bytes)
        #expect(v["inbound_rejected"]?.intValue == 3 && v["notarized_seq"]?.intValue == 41)
    }
}

@Suite struct CredentialScheduleTests {
    let now: Int64 = 1_795_805_172_000
    let day: Int64 = 86_400_000

    func limits(periodDays: Int64 = 30) -> CredentialScheduleLimits {
        var l = CredentialScheduleLimits()
        l.periodMs = periodDays * day
        l.resendAfterMs = 60_000
        l.sendsMax = 3
        l.trialConnectsMax = 2
        return l
    }

    @Test func dueOnlyAfterThePeriodWithAPlausibleClock() {
        var s = CredentialSchedule(limits: limits(), rotatedMs: now)
        #expect(s.poll(wallMs: now + 30 * day - 1, monoMs: 0, linkUp: true, requested: false) == .none)
        #expect(s.poll(wallMs: now + 30 * day, monoMs: 0, linkUp: true, requested: false) == .start)
        #expect(s.poll(wallMs: now + 30 * day, monoMs: 0, linkUp: false, requested: false) == .none)
        #expect(!s.periodDue(wallMs: 1_000))  // clock not set yet
        var never = CredentialSchedule(limits: limits(periodDays: 0), rotatedMs: now)
        #expect(never.poll(wallMs: now + 3_650 * day, monoMs: 0, linkUp: true, requested: false) == .none)
        #expect(never.poll(wallMs: now, monoMs: 0, linkUp: true, requested: true) == .start)
    }

    @Test func resendsThenGivesUpAndStaysQuiet() {
        var s = CredentialSchedule(limits: limits(), rotatedMs: now - 31 * day)
        #expect(s.poll(wallMs: now, monoMs: 0, linkUp: true, requested: false) == .start)
        s.sent(request: "r1", monoMs: 0)
        #expect(s.pendingRequest == "r1")
        #expect(s.poll(wallMs: now, monoMs: 59_999, linkUp: true, requested: false) == .none)
        #expect(s.poll(wallMs: now, monoMs: 60_000, linkUp: true, requested: false) == .resend(request: "r1"))
        s.sent(request: "r1", monoMs: 60_000)
        #expect(s.poll(wallMs: now, monoMs: 120_000, linkUp: false, requested: false) == .none)  // link down: wait
        #expect(s.poll(wallMs: now, monoMs: 120_000, linkUp: true, requested: false) == .resend(request: "r1"))
        s.sent(request: "r1", monoMs: 120_000)
        #expect(s.poll(wallMs: now, monoMs: 180_000, linkUp: true, requested: false) == .giveUp(request: "r1"))  // 3 = limit
        #expect(s.pendingRequest == nil)
        #expect(s.poll(wallMs: now, monoMs: 180_001, linkUp: true, requested: false) == .none)  // quiet for a period
        #expect(s.poll(wallMs: now, monoMs: 180_000 + 30 * day, linkUp: true, requested: false) == .start)
        #expect(s.poll(wallMs: now, monoMs: 180_001, linkUp: true, requested: true) == .start)  // an operator overrides
    }

    @Test func trialSucceedsOrFallsBackAfterTheLimit() {
        var s = CredentialSchedule(limits: limits(), rotatedMs: now - 31 * day)
        s.sent(request: "r1", monoMs: 0)
        s.answered()
        #expect(s.phase == .trial(failures: 0))
        #expect(s.poll(wallMs: now, monoMs: 90_000, linkUp: true, requested: true) == .none)  // no new request mid-trial
        let first = s.trialFailed(monoMs: 1)
        let second = s.trialFailed(monoMs: 2)  // 2 = trialConnectsMax: fall back
        #expect(!first && second)
        #expect(s.phase == .idle)
        let third = s.trialFailed(monoMs: 3)  // nothing on trial any more
        #expect(!third)
        s.sent(request: "r2", monoMs: 10)
        s.answered()
        s.trialSucceeded(wallMs: now)
        #expect(s.rotatedMs == now && s.phase == .idle)
        #expect(s.poll(wallMs: now + 1, monoMs: 20, linkUp: true, requested: false) == .none)
    }

    @Test func keyRotationPeriodScalesWithTheConfiguredDay() {
        #expect(!KeyRotationPolicy.isDue(createdMs: now, nowMs: now + 4_999, periodDays: 1, dayMs: 5_000))
        #expect(KeyRotationPolicy.isDue(createdMs: now, nowMs: now + 5_000, periodDays: 1, dayMs: 5_000))
        #expect(!KeyRotationPolicy.isDue(createdMs: now, nowMs: now + 5_000, periodDays: 1))
    }
}
