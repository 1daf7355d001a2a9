import CTLSCompat
import PGUICore
import Testing

@testable import PGUIPlatform

/// The TLS layer's notes (Sources/CTLSCompat) → failure kinds and the words the log uses.
@Suite struct TLSFailureTests {
    func parse(_ s: String) -> TLSFailure? { TLSFailure.parse(note: Array(s.utf8)[...]) }

    @Test func expiredCertificate() {
        let f = parse("pgui-tls:expired 127.0.0.1 certificate expired")
        #expect(f?.kind == .expired && f?.host == "127.0.0.1")
        #expect(f?.explanation(link: "bal") == "TLS: the broker's certificate was refused (certificate expired); check bal.ca_file, the broker's certificate and the device clock")
    }

    @Test func everyKindRoundTripsItsLabel() {
        for raw in 0..<TLSFailureKind.count {
            let k = TLSFailureKind(rawValue: raw)!
            #expect(parse("pgui-tls:\(k.label) h d")?.kind == k)
        }
        #expect(parse("pgui-tls:something_new h d")?.kind == .other)
    }

    @Test func wrongHostNamesTheHost() {
        let f = parse("pgui-tls:wrong_host ::1 host not in the certificate's SAN")
        #expect(f?.kind == .wrongHost && f?.host == "::1")
        #expect(f?.explanation(link: "bal").contains("does not name the host ::1 it was reached at") == true)
    }

    @Test func brokerAlertCarriesTheAlert() {
        let f = parse("pgui-tls:broker_alert broker.example handshake failure")
        #expect(f?.explanation(link: "dso") == "TLS: the broker ended the handshake (handshake failure); it refused this device's TLS parameters or client certificate")
    }

    @Test func noHost() {
        let f = parse("pgui-tls:local_credentials - CA file /x: X509 - bad (-0x2180)")
        #expect(f?.kind == .localCredentials && f?.host == "" && f?.detail == "CA file /x: X509 - bad (-0x2180)")
    }

    /// Limit, limit+1, truncated and garbage input.
    @Test func truncatedGarbageAndOversizedNotes() {
        #expect(parse("") == nil)
        #expect(parse("pgui-tls:") == nil)
        #expect(parse("pgui-tls:expired") == nil)
        #expect(parse("pgui-tls:expired host") == nil)
        #expect(parse("pgui-tls:expired host ")?.detail == "")
        #expect(parse("SSL alert write:fatal:certificate expired") == nil)
        let limit = "pgui-tls:other h " + String(repeating: "x", count: TLSFailure.noteBytesMax - 17)
        #expect(limit.utf8.count == TLSFailure.noteBytesMax)
        let atLimit = parse(limit)
        #expect(atLimit != nil)
        let over = parse(limit + "y")
        #expect(over?.detail == atLimit?.detail)  // cut at the limit
        let hostile = TLSFailure.parse(note: (Array("pgui-tls:bad_certificate h ".utf8) + [0x1b, 0x5b, 0x32, 0x4a, 0xff])[...])
        #expect(hostile != nil && !hostile!.detail.utf8.contains(0x1b) && !hostile!.detail.utf8.contains(0xff))
    }
}

/// The host check PGUI's TLS layer runs on the broker's certificate: SAN only, never the CN
/// (docs/bal-protocol.md). Certificates: self-signed P-256, made for this test with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj … [-addext subjectAltName=…]`.
@Suite struct TLSHostCheckTests {
    func matches(_ der: [UInt8], _ host: String) -> Int32 {
        der.withUnsafeBufferPointer { pgui_tls_cert_matches_host($0.baseAddress, $0.count, host) }
    }

    @Test func commonNameIsNeverUsed() {
        // CN=broker.example.net, no SAN: refused (mbedTLS alone would accept it through the CN).
        #expect(matches(Certs.cnonly, "broker.example.net") == 0)
    }

    @Test func dnsName() {
        #expect(matches(Certs.dns, "broker.example.net") == 1)
        #expect(matches(Certs.dns, "BROKER.example.NET") == 1)
        #expect(matches(Certs.dns, "broker.example.net.") == 1)
        #expect(matches(Certs.dns, "other") == 0)  // the CN
        #expect(matches(Certs.dns, "evil.broker.example.net") == 0)
        #expect(matches(Certs.dns, "broker.example") == 0)
        #expect(matches(Certs.dns, "") == 0)
    }

    @Test func wildcardMatchesOneLabel() {
        #expect(matches(Certs.wild, "bal.example.net") == 1)
        #expect(matches(Certs.wild, "a.bal.example.net") == 0)
        #expect(matches(Certs.wild, "example.net") == 0)
    }

    @Test func addressesOnlyFromIPAddressEntries() {
        #expect(matches(Certs.ip, "127.0.0.1") == 1)
        #expect(matches(Certs.ip, "::1") == 1)
        #expect(matches(Certs.ip, "[::1]") == 1)
        #expect(matches(Certs.ip, "127.0.0.2") == 0)
        #expect(matches(Certs.dns, "127.0.0.1") == 0)
    }

    @Test func garbageAndTruncatedCertificates() {
        #expect(matches([], "x") == -1)
        #expect(matches([0x30, 0x82, 0xff], "x") == -1)
        #expect(matches(Array(Certs.dns.prefix(Certs.dns.count - 1)), "broker.example.net") == -1)
    }
}

private func base16(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var hi: UInt8? = nil
    for c in s.utf8 {
        let v = c <= 0x39 ? c - 0x30 : c - 0x61 + 10
        if let h = hi { out.append(h << 4 | v); hi = nil } else { hi = v }
    }
    return out
}

private enum Certs {
    static let cnonly: [UInt8] = base16("3082019130820137a00302010202140b031edd2b06b3945581eb2801f5ffaf75b9290b300a06082a8648ce3d040302301d311b301906035504030c1262726f6b65722e6578616d706c652e6e65743020170d3236313230323134353331395a180f32313236313130383134353331395a301d311b301906035504030c1262726f6b65722e6578616d706c652e6e65743059301306072a8648ce3d020106082a8648ce3d030107034200047635cebc5e3ff23b2d9cda87048027cecede53836cebce718d7f1e219cbed39e0de7636b728d8b14e6cab9b782c7e5e5939ab71c5ec1981dbe68c51f0033ef89a3533051301d0603551d0e0416041467cde4d00ce9ece5e518f35b23a26319fbfb80f2301f0603551d2304183016801467cde4d00ce9ece5e518f35b23a26319fbfb80f2300f0603551d130101ff040530030101ff300a06082a8648ce3d0403020348003045022100d6e703b17bb08a51ff0e5c3ec945a079fd2a3f003d06cf801a795ca154086b280220223f1f393f4a3971a35a8537aef87f9841a6ef40bd6ec520c785d616d6baef91")
    static let dns: [UInt8] = base16("308201963082013ca003020102021451fec9429d0e41f337c0d713264edb87f6556f87300a06082a8648ce3d0403023010310e300c06035504030c056f746865723020170d3236313230323134353331395a180f32313236313130383134353331395a3010310e300c06035504030c056f746865723059301306072a8648ce3d020106082a8648ce3d03010703420004c590029354998231171a049a2b6e7bf5d6ce2bb134e37dfe5d0cc3561e38c457e94a194e3231802cfbfc520c3760cf1b9fce5abf6ac0bf87e069d05faaae1c89a3723070301d0603551d0e0416041440c5b5bf6ab73d7462d75d287175421859b3aa07301f0603551d2304183016801440c5b5bf6ab73d7462d75d287175421859b3aa07300f0603551d130101ff040530030101ff301d0603551d1104163014821262726f6b65722e6578616d706c652e6e6574300a06082a8648ce3d04030203480030450220691d8c70997fb66f6ffb148501e9633c421307a78fed2188ca14f564b96d197c022100d1c8f3cabc735a6587dd37c47edf59daf95236f7b8515161785c9db86057b777")
    static let wild: [UInt8] = base16("308201893082012fa0030201020214431dee602bc18023315ce0600480a405d3cbd9c0300a06082a8648ce3d040302300c310a300806035504030c01783020170d3236313230323134353331395a180f32313236313130383134353331395a300c310a300806035504030c01783059301306072a8648ce3d020106082a8648ce3d030107034200041db08c233a25d506e90507d1d643b340186b3fe145cb444d7eef86acb5f81e9eac6d48bbedc40f4a683230713b63cfbae27a62f48a464dc36a1a7e618f722ed5a36d306b301d0603551d0e0416041420f83cc597e7bdd743ed0e97dd5c780e1e5d9369301f0603551d2304183016801420f83cc597e7bdd743ed0e97dd5c780e1e5d9369300f0603551d130101ff040530030101ff30180603551d110411300f820d2a2e6578616d706c652e6e6574300a06082a8648ce3d04030203480030450221008d6aa1ab34cc1980b1c0ba5d8accd670327ca82f8825c5d30181094796cd6734022045075ffdfe363a41f7d4cc80a47db46e9c1b915686137fda4588c80a72092d23")
    static let ip: [UInt8] = base16("308201a230820148a00302010202145349435089da001ca27a0e9e3bd7690c4c7d1ad8300a06082a8648ce3d04030230143112301006035504030c093132372e302e302e313020170d3236313230323134353331395a180f32313236313130383134353331395a30143112301006035504030c093132372e302e302e313059301306072a8648ce3d020106082a8648ce3d030107034200041e62fb1c75ee055089988daf3b37bd1397ac3712561cbf86dae2811441280ba213010506a4d3968432aa3fbf887ee3e306688e0ee28da5cf89f882f73551f845a3763074301d0603551d0e04160414a601ee35d5f2a8960b7d6cbb9095c07d17fd275a301f0603551d23041830168014a601ee35d5f2a8960b7d6cbb9095c07d17fd275a300f0603551d130101ff040530030101ff30210603551d11041a301887047f000001871000000000000000000000000000000001300a06082a8648ce3d0403020348003045022100f59f04c0860b264e8a87175188e0a9edee20302a68d7d73e4cba45c59c583d0d022054df412e3fed3079e06d0f35a83affc6e1f347536e72764a65cdf52054746945")
}
