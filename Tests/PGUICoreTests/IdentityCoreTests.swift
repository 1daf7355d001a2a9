import Testing

@testable import PGUICore

/// A deterministic stand-in for ES256 so the core is tested without C crypto: the "signature" is a
/// keyed checksum of the message, the "hash" a keyed spread of the bytes.
func fakeHash(_ b: [UInt8]) -> [UInt8] {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    var out: [UInt8] = []
    for round in 0..<32 {
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        h = h &+ UInt64(round)
        out.append(UInt8(truncatingIfNeeded: h >> 24))
    }
    return out
}

struct FakeSigner: Signer {
    let publicJWK: ECPublicJWK
    let kid: String
    init(_ seed: UInt8) {
        publicJWK = try! ECPublicJWK(x: [UInt8](repeating: seed, count: 32), y: [UInt8](repeating: seed &+ 1, count: 32))
        kid = publicJWK.thumbprint(sha256: fakeHash)
    }
    func signES256(_ message: [UInt8]) throws(IdentityError) -> [UInt8] { FakeVerifier.sig(message, publicJWK) }
}

struct FakeVerifier: SignatureVerifier {
    static func sig(_ m: [UInt8], _ key: ECPublicJWK) -> [UInt8] { fakeHash(key.x + m) + fakeHash(m + key.y) }
    func verifyES256(_ message: [UInt8], signature: [UInt8], key: ECPublicJWK) -> Bool { signature == Self.sig(message, key) }
}

func sampleGroup() -> MeasurementGroup {
    var a = Measurement(timestampMs: 1_750_000_000_000, quality: [.simulated])
    a.activePowerW = -1_234
    a.frequencyMhz = 50_010
    a.l1.voltageMv = 230_100
    let b = Measurement.gap(at: 1_750_000_001_000, reason: .timeout)
    return MeasurementGroup(meterId: "m-1", windowStartMs: 1_750_000_000_000, windowEndMs: 1_750_000_002_000, samples: [a, b])
}

@Suite struct JOSETests {
    @Test func base64urlOfTheRFC7515Header() {
        // RFC 7515 §3.3: the example JOSE header (with its CRLF) and its encoding.
        let header = Array("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}".utf8)
        #expect(Base64.urlEncode(header) == "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9")
        #expect(Base64.urlDecode("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9") == header)
        #expect(Base64.urlEncode([]) == "")
        #expect(Base64.urlDecode("A") == nil)  // truncated
        #expect(Base64.urlDecode("AB=") == nil)  // padding is not base64url
    }

    @Test func thumbprintInputIsSortedAndCompact() {
        let got = JWKThumbprint.canonical([("n", "N"), ("kty", "RSA"), ("e", "AQAB")])
        #expect(String(decoding: got, as: UTF8.self) == "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"N\"}")
        let jwk = try! ECPublicJWK(x: [UInt8](repeating: 0, count: 32), y: [UInt8](repeating: 255, count: 32))
        #expect(String(decoding: jwk.json, as: UTF8.self)
            == "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\"__________________________________________8\"}")
    }

    @Test func jwkRefusesWrongSizesAndTypes() throws {
        #expect(throws: IdentityError.self) { try ECPublicJWK(x: [1], y: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: IdentityError.self) { try ECPublicJWK(x: [UInt8](repeating: 0, count: 33), y: [UInt8](repeating: 0, count: 32)) }
        let rsa = try JSONParser.parse(Array("{\"kty\":\"RSA\",\"n\":\"AA\",\"e\":\"AQAB\"}".utf8))
        #expect(throws: IdentityError.self) { try ECPublicJWK(rsa) }
        let k = FakeSigner(7).publicJWK
        #expect(try ECPublicJWK(try JSONParser.parse(k.json)) == k)
    }

    @Test func compactRoundTripAndRejections() throws {
        let s = FakeSigner(1)
        var gs = GroupSigner()
        let jws = try gs.sign(sampleGroup(), device: "gw-1", seq: 42, signer: s)
        let parsed = try JWS.parseCompact(jws)
        #expect(parsed.kid == s.kid)
        #expect(parsed.header["typ"]?.stringValue == GroupPayload.typ)
        #expect(JWS.verify(parsed, key: s.publicJWK, kid: s.kid, FakeVerifier()))
        #expect(try JSONParser.parse(parsed.payload)["seq"]?.intValue == 42)
        // wrong kid: the key of another device
        let other = FakeSigner(2)
        #expect(!JWS.verify(parsed, key: other.publicJWK, kid: other.kid, FakeVerifier()))
        // tampered payload: one character of the payload part changed
        var tampered = jws
        let firstDot = tampered.firstIndex(of: 46)!
        tampered[firstDot + 5] = tampered[firstDot + 5] == 65 ? 66 : 65
        if let t = try? JWS.parseCompact(tampered) {
            #expect(!JWS.verify(t, key: s.publicJWK, kid: s.kid, FakeVerifier()))
        }
        // structure errors
        #expect(throws: IdentityError.self) { try JWS.parseCompact([]) }
        #expect(throws: IdentityError.self) { try JWS.parseCompact(Array(jws[..<(jws.count - 1)])) }  // truncated signature
        #expect(throws: IdentityError.self) { try JWS.parseCompact(jws + [46, 65]) }  // 4 parts
        #expect(throws: IdentityError.self) { try JWS.parseCompact([UInt8](repeating: 65, count: JWS.compactBytesMax + 1)) }
    }

    @Test func payloadOmitsAbsentQuantities() throws {
        var w = JSONWriter()
        GroupPayload.encode(sampleGroup(), device: "gw-1", seq: UInt64.max, into: &w)
        #expect(w.string == """
            {"v":1,"device":"gw-1","seq":18446744073709551615,"meter":"m-1","start":1750000000000,"end":1750000002000,\
            "clock":"synced","samples":[{"t":1750000000000,"q":8,"p":-1234,"f":50010,"l1":{"u":230100}},{"t":1750000001000,"q":2}]}
            """)
        var g = sampleGroup()
        g.samples[1].quality.insert(.clockUnsynced)
        w.reset()
        GroupPayload.encode(g, device: "gw-1", seq: 1, into: &w)
        #expect(try JSONParser.parse(w.bytes)["clock"]?.stringValue == "unsynced")
    }
}

@Suite struct AnnouncementTests {
    @Test func signedByBothKeysAndVerified() throws {
        let old = FakeSigner(1), new = FakeSigner(2)
        let a = try KeyAnnouncement.build(device: "gw-1", old: old, new: new, createdMs: 5)
        let c = try KeyAnnouncement.verify(a, oldKey: old.publicJWK, oldKid: old.kid, sha256: fakeHash, FakeVerifier())
        #expect(c.newKid == new.kid && c.newKey == new.publicJWK && c.device == "gw-1")
        // a verifier that trusts a different old key refuses the chain
        let stranger = FakeSigner(3)
        #expect(throws: IdentityError.self) {
            try KeyAnnouncement.verify(a, oldKey: stranger.publicJWK, oldKid: stranger.kid, sha256: fakeHash, FakeVerifier())
        }
        // signed by the new key only (an attacker's self-signed key): refused
        let forged = try KeyAnnouncement.build(device: "gw-1", old: stranger, new: new, createdMs: 5)
        #expect(throws: IdentityError.self) {
            try KeyAnnouncement.verify(forged, oldKey: old.publicJWK, oldKid: old.kid, sha256: fakeHash, FakeVerifier())
        }
        #expect(throws: IdentityError.self) { try KeyAnnouncement.verify([], oldKey: old.publicJWK, oldKid: old.kid, sha256: fakeHash, FakeVerifier()) }
        #expect(throws: IdentityError.self) {
            try KeyAnnouncement.verify(Array(a.dropLast(3)), oldKey: old.publicJWK, oldKid: old.kid, sha256: fakeHash, FakeVerifier())
        }
    }
}

@Suite struct SequenceTests {
    @Test func blocksArePersistedBeforeUseAndNeverReused() {
        var disk: UInt64 = 1
        var issued: [UInt64] = []
        var a = SequenceAllocator(persistedEnd: disk, block: 3)
        for _ in 0..<4 {
            if let end = a.reservationNeeded { disk = end; a.reserved(end) }
            issued.append(a.take()!)
        }
        #expect(issued == [1, 2, 3, 4])
        #expect(disk == 7)
        // crash: the next run starts at the persisted end, skipping 5 and 6
        var b = SequenceAllocator(persistedEnd: disk, block: 3)
        #expect(b.take() == nil)  // nothing without a reservation
        if let end = b.reservationNeeded { disk = end; b.reserved(end) }
        #expect(b.take() == 7)
        // block 1: a write per number (limit case)
        var c = SequenceAllocator(persistedEnd: 10, block: 1)
        #expect(c.reservationNeeded == 11)
        c.reserved(11)
        #expect(c.take() == 10)
        #expect(c.reservationNeeded == 12)
        // at the top of the range there is no further block
        let d = SequenceAllocator(persistedEnd: UInt64.max, block: 1)
        #expect(d.reservationNeeded == nil)
    }

    @Test func stateFileParsing() throws {
        let s = IdentityState(seqNext: 1_001, keyCreatedMs: 1_750_000_000_000)
        #expect(try IdentityState.parse(s.encoded, file: "state.json") == s)
        for bad in ["", "{", "{\"v\":2,\"seq_next\":1,\"key_created_ms\":0}", "{\"v\":1,\"seq_next\":0,\"key_created_ms\":0}",
                    "{\"v\":1,\"seq_next\":5}", "{\"v\":1,\"seq_next\":\"5\",\"key_created_ms\":0}"] {
            #expect(throws: IdentityError.self) { try IdentityState.parse(Array(bad.utf8), file: "state.json") }
        }
        let truncated = Array(s.encoded.dropLast(5))
        #expect(throws: IdentityError.self) { try IdentityState.parse(truncated, file: "state.json") }
    }

    @Test func rotationPolicy() {
        let day: Int64 = 86_400_000
        let t0 = plausibleWallMsMin + day
        #expect(!KeyRotationPolicy.isDue(createdMs: t0, nowMs: t0 + 30 * day - 1, periodDays: 30))
        #expect(KeyRotationPolicy.isDue(createdMs: t0, nowMs: t0 + 30 * day, periodDays: 30))
        #expect(!KeyRotationPolicy.isDue(createdMs: t0, nowMs: t0 + 3_000 * day, periodDays: 0))
        #expect(!KeyRotationPolicy.isDue(createdMs: t0, nowMs: 1_000, periodDays: 1))  // clock not plausible
    }
}

@Suite struct CredentialMessageTests {
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    func json(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func requestFormat() throws {
        let r = try JSONParser.parse(CredentialRequest.encode(device: "gw-1", request: "r1", csrPEM: "PEM"))
        #expect(r["kind"]?.stringValue == "mtls" && r["csr"]?.stringValue == "PEM" && r["device"]?.stringValue == "gw-1")
        let p = try JSONParser.parse(CredentialRequest.encode(device: "gw-1", request: "r2", csrPEM: nil))
        #expect(p["kind"]?.stringValue == "password" && p["csr"] == nil)
        #expect(CredentialTopics.csr(prefix: "pgui/v1", device: "gw-1") == "pgui/v1/gw-1/credentials/csr")
        #expect(CredentialTopics.cert(prefix: "pgui/v1", device: "gw-1") == "pgui/v1/gw-1/credentials/cert")
        #expect(CredentialTopics.keys(prefix: "pgui/v1", device: "gw-1") == "pgui/v1/gw-1/keys")
    }

    @Test func responsesAreCheckedAgainstDeviceAndRequest() throws {
        let escaped = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
        let good = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"cert\":\"\(escaped)\"}")
        #expect(try CredentialResponse.parse(good, device: "gw-1", request: "r1") == .certificate(pem: cert))
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(good, device: "gw-2", request: "r1") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(good, device: "gw-1", request: "r0") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse([], device: "gw-1", request: "r1") }
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(Array(good.dropLast()), device: "gw-1", request: "r1") }
        let notPEM = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"cert\":\"hello\"}")
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(notPEM, device: "gw-1", request: "r1") }
        let pw = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"username\":\"gw-1\",\"password\":\"s3cr3t!\"}")
        #expect(try CredentialResponse.parse(pw, device: "gw-1", request: "r1") == .password(username: "gw-1", password: "s3cr3t!"))
        let space = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"username\":\"gw-1\",\"password\":\"a b\"}")
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(space, device: "gw-1", request: "r1") }
        let atLimit = String(repeating: "x", count: CredentialResponse.secretBytesMax)
        let ok = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"username\":\"u\",\"password\":\"\(atLimit)\"}")
        #expect(throws: Never.self) { try CredentialResponse.parse(ok, device: "gw-1", request: "r1") }
        let over = json("{\"v\":1,\"device\":\"gw-1\",\"request\":\"r1\",\"username\":\"u\",\"password\":\"\(atLimit)x\"}")
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(over, device: "gw-1", request: "r1") }
        let big = [UInt8](repeating: 32, count: CredentialResponse.bytesMax + 1)
        #expect(throws: IdentityError.self) { try CredentialResponse.parse(big, device: "gw-1", request: "r1") }
    }
}

@Suite struct IdentityConfigTests {
    @Test func defaultsAndBadPrefix() throws {
        let base = "device.id = gw-1\ndata.dir = /data\n"
        let c = try Config.load(Array(base.utf8), file: "f")
        #expect(c.identity.keyRotationDays == 365 && c.identity.seqBlock == 1_000 && c.identity.topicPrefix == "pgui/v1")
        #expect(throws: ConfigError.self) { try Config.load(Array((base + "identity.topic_prefix = pgui/#\n").utf8), file: "f") }
        #expect(throws: ConfigError.self) { try Config.load(Array((base + "identity.seq_block = 0\n").utf8), file: "f") }
        #expect(throws: ConfigError.self) { try Config.load(Array((base + "identity.seq_block = 1000001\n").utf8), file: "f") }
    }
}
