import Testing

@testable import PGUICore

/// Issue 21 item 8: the update manifest, anti-rollback and low-S signatures.
@Suite struct UpdateManifestTests {
    let base = "format=pgui-bundle-1\nboard=qemu-virt-aarch64\nversion=dev-9c94b9a\nserial=1795800000\n" +
        "kernel.size=10\nkernel.sha256=ab\ninitrd.size=1\ninitrd.sha256=cd\nrootfs.size=2\nrootfs.sha256=ef\n"

    func parse(_ s: String) -> Result<UpdateManifest, UpdateError> { UpdateManifest.parse(Array(s.utf8)) }

    @Test func parsesTheManifestMakeBundleWrites() throws {
        let m = try parse(base).get()
        #expect(m == UpdateManifest(format: "pgui-bundle-1", board: "qemu-virt-aarch64", version: "dev-9c94b9a", serial: 1_795_800_000, allowDowngrade: false))
        #expect(try parse(base + "allow_downgrade=1\n").get().allowDowngrade)
    }

    @Test func rollbackRule() throws {
        let m = try parse(base).get()
        #expect(m.rollbackProblem(installedSerial: 1_795_800_000) == nil)  // re-install
        #expect(m.rollbackProblem(installedSerial: 1_700_000_000) == nil)
        #expect(m.rollbackProblem(installedSerial: 1_795_800_001)?.contains("allow_downgrade=1") == true)
        #expect(try parse(base + "allow_downgrade=1\n").get().rollbackProblem(installedSerial: 1_900_000_000) == nil)
        #expect(try parse(base + "allow_downgrade=0\n").get().rollbackProblem(installedSerial: 1_900_000_000) != nil)
    }

    @Test(arguments: [
        "", "format=pgui-bundle-2\nboard=b\nversion=v\nserial=1\n", "board=b\nversion=v\nserial=1\n",
        "format=pgui-bundle-1\nboard=b\nversion=v\n", "format=pgui-bundle-1\nboard=b\nversion=v\nserial=-1\n",
        "format=pgui-bundle-1\nboard=b\nversion=v\nserial=9007199254740993\n",
        "format=pgui-bundle-1\nboard=b\nversion=v\nserial=1\nserial=2\n",
        "format=pgui-bundle-1\nboard=b\nversion=v\nserial=1\nallow_downgrade=yes\n",
        "format=pgui-bundle-1\nboard=b\nversion=v w\nserial=1\n", "format=pgui-bundle-1\nboard=b\nversion=\nserial=1\n",
        "format=pgui-bundle-1\nboard=b\nversion=v\nserial=1\nextra=1\n", "format=pgui-bundle-1\nboard=b\nversion=v\nserial=1\nnoequals\n",
    ])
    func refusesMalformedManifests(_ text: String) {
        if case .success = parse(text) { Issue.record("accepted: \(text)") }
    }

    @Test func limits() {
        let v64 = String(repeating: "a", count: UpdateManifest.valueBytesMax)
        let ok = "format=pgui-bundle-1\nboard=b\nversion=\(v64)\nserial=9007199254740992\n"
        #expect((try? parse(ok).get()) != nil)
        #expect((try? parse(ok.replacingOccurrences64()).get()) == nil)
        let big = ok + String(repeating: "\n", count: UpdateManifest.bytesMax)
        #expect((try? parse(big).get()) == nil)
        for cut in 0..<ok.utf8.count {
            _ = UpdateManifest.parse(Array(Array(ok.utf8)[0..<cut]))  // truncated: never traps
        }
    }

    @Test func lowS() {
        var sig = [UInt8](repeating: 0x11, count: 64)
        #expect(ECDSALowS.isLowS(sig))
        for i in 0..<32 { sig[32 + i] = ECDSALowS.halfOrder[i] }
        #expect(ECDSALowS.isLowS(sig))  // s = n/2 exactly
        sig[63] += 1
        #expect(!ECDSALowS.isLowS(sig))
        sig[32] = 0xFF
        #expect(!ECDSALowS.isLowS(sig))
        #expect(!ECDSALowS.isLowS([UInt8](repeating: 0, count: 63)))
    }
}

extension String {
    /// The 64-byte version value with one more byte (limit + 1).
    func replacingOccurrences64() -> String {
        var b = Array(utf8)
        if let i = b.firstIndex(of: 97) { b.insert(97, at: i) }
        return String(decoding: b, as: UTF8.self)
    }
}

/// Issue 21 item 9: the host must be in the SAN; the CN never counts.
@Suite struct TLSHostNameTests {
    @Test func dnsNames() {
        #expect(TLSHostName.matches(host: "bal.example.org", dnsNames: ["bal.example.org"], ipAddresses: []))
        #expect(TLSHostName.matches(host: "BAL.Example.org", dnsNames: ["bal.example.ORG."], ipAddresses: []))
        #expect(TLSHostName.matches(host: "a.bal.example.org", dnsNames: ["*.bal.example.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "bal.example.org", dnsNames: ["*.bal.example.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "x.a.bal.example.org", dnsNames: ["*.bal.example.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "a.org", dnsNames: ["*.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "baz.example.org", dnsNames: ["b*z.example.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "bal.example.org", dnsNames: [], ipAddresses: []))  // no SAN: no CN fallback
        #expect(!TLSHostName.matches(host: "evil.org", dnsNames: ["bal.example.org"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "", dnsNames: [""], ipAddresses: []))
    }

    @Test func ipLiteralsMatchOnlyIPEntries() {
        #expect(TLSHostName.matches(host: "127.0.0.1", dnsNames: [], ipAddresses: [[127, 0, 0, 1]]))
        #expect(!TLSHostName.matches(host: "127.0.0.1", dnsNames: ["127.0.0.1"], ipAddresses: []))
        #expect(!TLSHostName.matches(host: "127.0.0.2", dnsNames: [], ipAddresses: [[127, 0, 0, 1]]))
        var one = [UInt8](repeating: 0, count: 16)
        one[15] = 1
        #expect(TLSHostName.matches(host: "::1", dnsNames: [], ipAddresses: [one]))
        #expect(TLSHostName.matches(host: "[0:0:0:0:0:0:0:1]", dnsNames: [], ipAddresses: [one]))
    }

    @Test func literalParsers() {
        #expect(TLSHostName.parseIPv4("10.0.0.255") == [10, 0, 0, 255])
        for bad in ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "a.b.c.d", "", "1..2.3"] { #expect(TLSHostName.parseIPv4(bad) == nil, "\(bad)") }
        #expect(TLSHostName.parseIPv6("fe80::1")?.count == 16)
        #expect(TLSHostName.parseIPv6("1:2:3:4:5:6:7:8")?.last == 8)
        for bad in ["1:::2", "1::2::3", "12345::1", "1:2:3:4:5:6:7:8:9", "g::1", "1:2:3:4:5:6:7", ":"] { #expect(TLSHostName.parseIPv6(bad) == nil, "\(bad)") }
    }
}

/// SAN extraction from real certificates (self-made with Python `cryptography` for these tests:
/// CN bal.example.org; the first with SAN DNS bal.example.org, *.bal.example.org, IP 127.0.0.1, ::1).
@Suite struct SubjectAltNamesTests {
    static let withSAN = "MIIBbDCCARKgAwIBAgIBATAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9iYWwuZXhhbXBsZS5vcmcwHhcNMjYwMTAxMDAwMDAwWhcNMzYwMTAxMDAwMDAwWjAaMRgwFgYDVQQDDA9iYWwuZXhhbXBsZS5vcmcwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASIREtZQ6u6oFHFk3H06PeTWjUs/LC+CLrXvMfuPnyxYQuV5Xs2NAowwrZjfmXZTn2h1U0SHSgDBInFLOrPF0Oso0kwRzBFBgNVHREEPjA8gg9iYWwuZXhhbXBsZS5vcmeCESouYmFsLmV4YW1wbGUub3JnhwR/AAABhxAAAAAAAAAAAAAAAAAAAAABMAoGCCqGSM49BAMCA0gAMEUCIHJoOamaDe2X0DivqlwFWz4neL2KTDNKTYo2latDuPwMAiEAkNAmuQcKLMpXsLrW4xNtKA+EcVcMEhcMdPWHQaXhIsY="
    static let cnOnly = "MIIBHzCBx6ADAgECAgEBMAoGCCqGSM49BAMCMBoxGDAWBgNVBAMMD2JhbC5leGFtcGxlLm9yZzAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAwMDBaMBoxGDAWBgNVBAMMD2JhbC5leGFtcGxlLm9yZzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIhES1lDq7qgUcWTcfTo95NaNSz8sL4Iute8x+4+fLFhC5XlezY0CjDCtmN+ZdlOfaHVTRIdKAMEicUs6s8XQ6wwCgYIKoZIzj0EAwIDRwAwRAIgZXlA1DPKw7uehjPNZ0Sn7rPCRmfv+KCfuamn7Ib0ujUCIEJxLEwqHwlIaNxQHrc6osA40y2vddUfofVK3kbU9LrV"

    static func der(_ b64: String) -> [UInt8] {
        var url: [UInt8] = []
        for c in b64.utf8 where c != 61 { url.append(c == 43 ? 45 : (c == 47 ? 95 : c)) }
        return Base64.urlDecode(url[...])!
    }

    @Test func extractsDNSAndIPEntries() throws {
        let s = try #require(SubjectAltNames.parse(certificateDER: Self.der(Self.withSAN)))
        #expect(s.dnsNames == ["bal.example.org", "*.bal.example.org"])
        var one = [UInt8](repeating: 0, count: 16)
        one[15] = 1
        #expect(s.ipAddresses == [[127, 0, 0, 1], one])
        #expect(TLSHostName.matches(host: "bal.example.org", dnsNames: s.dnsNames, ipAddresses: s.ipAddresses))
        #expect(TLSHostName.matches(host: "127.0.0.1", dnsNames: s.dnsNames, ipAddresses: s.ipAddresses))
    }

    @Test func cnOnlyCertificateNamesNoHost() throws {
        let s = try #require(SubjectAltNames.parse(certificateDER: Self.der(Self.cnOnly)))
        #expect(s == SubjectAltNames())
        #expect(!TLSHostName.matches(host: "bal.example.org", dnsNames: s.dnsNames, ipAddresses: s.ipAddresses))
    }

    @Test func truncatedAndGarbageCertificates() {
        let d = Self.der(Self.withSAN)
        for cut in 0..<d.count { _ = SubjectAltNames.parse(certificateDER: Array(d[0..<cut])) }  // never traps
        #expect(SubjectAltNames.parse(certificateDER: Array(d[0..<(d.count - 1)])) == nil)
        #expect(SubjectAltNames.parse(certificateDER: []) == nil)
        #expect(SubjectAltNames.parse(certificateDER: [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(SubjectAltNames.parse(certificateDER: [UInt8](repeating: 0x30, count: SubjectAltNames.certificateBytesMax + 1)) == nil)
        var flipped = d
        for i in 0..<d.count {
            flipped[i] ^= 0xFF
            _ = SubjectAltNames.parse(certificateDER: flipped)
            flipped[i] = d[i]
        }
    }
}
