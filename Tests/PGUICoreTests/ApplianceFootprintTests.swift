import Testing

@testable import PGUICore

/// Issue 8 leftovers: the provisioning receipt's JSON and the EMS/heap metrics.
@Suite struct ProvisioningReceiptTests {
    func parse(_ r: ProvisioningReceipt) throws -> JSONValue {
        let bytes = r.encode()
        #expect(bytes.last == ASCII.lf)
        return try JSONParser.parse(Array(bytes.dropLast()))
    }

    @Test func rejectedReceiptHasErrorsAndNoIdentity() throws {
        var r = ProvisioningReceipt()
        r.timeMs = 1_795_000_000_000
        r.errors = ["pgui.conf:3: meter.period_ms: 5 is out of range 100...60000"]
        let v = try parse(r)
        #expect(v["v"]?.intValue == 1)
        #expect(v["result"]?.stringValue == "rejected")
        #expect(v["device"]?.stringValue == "")
        #expect(v["config_sha256"] == nil && v["kid"] == nil && v["jwk"] == nil && v["csr_pem"] == nil)
        #expect(v["errors"]?.arrayValue?.first?.stringValue == "pgui.conf:3: meter.period_ms: 5 is out of range 100...60000")
    }

    @Test func appliedReceiptCarriesThePublicIdentity() throws {
        let jwk = try ECPublicJWK(x: [UInt8](repeating: 1, count: 32), y: [UInt8](repeating: 2, count: 32))
        var r = ProvisioningReceipt()
        r.device = "gw-\"7\""
        r.applied = true
        r.configSHA256 = "ab"
        r.identity = .init(kid: "KID", jwk: jwk, publicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n",
                           csrPEM: "-----BEGIN CERTIFICATE REQUEST-----\nBB\n-----END CERTIFICATE REQUEST-----\n")
        let v = try parse(r)
        #expect(v["device"]?.stringValue == "gw-\"7\"")
        #expect(v["result"]?.stringValue == "applied" && v["config_sha256"]?.stringValue == "ab")
        #expect(v["kid"]?.stringValue == "KID")
        #expect(try ECPublicJWK(v["jwk"]!) == jwk)
        #expect(v["public_key_pem"]?.stringValue?.hasSuffix("-----END PUBLIC KEY-----\n") == true)
        #expect(v["csr_pem"]?.stringValue?.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n") == true)
        #expect(v["identity_error"] == nil)
        #expect(v["errors"]?.arrayValue?.isEmpty == true)
        #expect(!String(decoding: r.encode(), as: UTF8.self).contains("PRIVATE"))
    }

    @Test func appliedWithoutIdentitySaysWhy() throws {
        var r = ProvisioningReceipt()
        r.applied = true
        r.identityError = "no key"
        let v = try parse(r)
        #expect(v["result"]?.stringValue == "applied" && v["kid"] == nil && v["identity_error"]?.stringValue == "no key")
    }
}

@Suite struct EMSMetricsTests {
    func text(_ m: Metrics) -> String {
        var out: [UInt8] = []
        m.encodePrometheus(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func emsCountersAndHeapAreExposed() {
        var m = Metrics()
        m.modbusRequests = 12
        m.modbusErrors = 2
        m.modbusRefused = 1
        m.httpRequests = UInt64.max
        m.httpErrors = 0
        m.httpRefused = 3
        m.heapInUseBytes = 123_456
        let t = text(m)
        for line in ["pgui_modbus_requests_total 12", "pgui_modbus_errors_total 2", "pgui_modbus_connections_refused_total 1",
                     "pgui_http_requests_total 18446744073709551615", "pgui_http_errors_total 0",
                     "pgui_http_connections_refused_total 3", "pgui_heap_in_use_bytes 123456"] {
            #expect(t.contains("\n" + line + "\n"), "missing \(line)")
        }
        #expect(t.contains("# TYPE pgui_heap_in_use_bytes gauge\n"))
        #expect(t.contains("# TYPE pgui_http_errors_total counter\n"))
    }

    @Test func unknownHeapIsLeftOutRatherThanReportedAsANumber() {
        var m = Metrics()
        m.heapInUseBytes = -1
        #expect(!text(m).contains("pgui_heap_in_use_bytes"))
        m.heapInUseBytes = 0
        #expect(text(m).contains("\npgui_heap_in_use_bytes 0\n"))
    }
}
