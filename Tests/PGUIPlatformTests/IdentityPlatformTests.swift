import CMbedTLS
import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

private func identityTempDir() -> String {
    var template = Array("/tmp/pgui-identity-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

// One DRBG per use: tests run in parallel and a CTR-DRBG context is not thread-safe.
private var random: RandomSource { try! RandomSource(personalization: "pgui-identity-tests") }

private func write(_ path: String, _ s: String) { try! Files.writeAtomically(path, Array(s.utf8)) }

@Suite struct SignerTests {
    @Test func rfc7638ExampleThumbprint() {
        // RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its SHA-256 thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let input = JWKThumbprint.canonical([("kty", "RSA"), ("n", n), ("e", "AQAB")])
        #expect(Base64.urlEncode(sha256(input)) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func signedGroupsVerifyWithMbedTLSAndTheJWK() throws {
        let s = try DeviceSigner(key: try P256Key.generate(random), random: random)
        var gs = GroupSigner()
        let g = MeasurementGroup(meterId: "m", windowStartMs: 1, windowEndMs: 2, samples: [Measurement(timestampMs: 1, quality: [])])
        let jws = try JWS.parseCompact(try gs.sign(g, device: "gw-1", seq: 1, signer: s))
        #expect(JWS.verify(jws, key: s.publicJWK, kid: s.kid, MbedVerifier()))
        let other = try DeviceSigner(key: try P256Key.generate(random), random: random)
        #expect(!JWS.verify(jws, key: other.publicJWK, kid: s.kid, MbedVerifier()))
        // a point that is not on the curve is refused, not used
        let bogus = try ECPublicJWK(x: [UInt8](repeating: 1, count: 32), y: [UInt8](repeating: 2, count: 32))
        #expect(throws: CryptoError.self) { try P256Key.fromJWK(bogus) }
        #expect(!MbedVerifier().verifyES256([1], signature: [UInt8](repeating: 0, count: 64), key: bogus))
    }
}

@Suite struct IdentityStoreTests {
    func open(_ data: String, block: Int64 = 3) throws(IdentityError) -> IdentityStore {
        try IdentityStore.open(dataDir: data, device: "gw-1", seqBlock: block, random: random)
    }

    @Test func createOnceThenOpenWithSameKey() throws {
        let data = identityTempDir()
        #expect(throws: IdentityError.self) { try open(data) }  // nothing yet
        let s = try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        #expect(pgui_file_mode(data + "/identity/key.pem") == 0o600)
        #expect(throws: IdentityError.self) {
            try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        }
        #expect(try open(data).current.kid == s.current.kid)
        // a first start that crashed half-way left only the staging folder: the next first start works
        let data2 = identityTempDir()
        #expect(mkdir(data2 + "/identity.new", 0o700) == 0)
        write(data2 + "/identity.new/state.json", "{")
        #expect(throws: IdentityError.self) { try open(data2) }
        _ = try IdentityStore.create(dataDir: data2, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        #expect(!Files.exists(data2 + "/identity.new"))
        #expect(try open(data2).state.seqNext == 1)
    }

    @Test func badKeyAndStateFilesAreRefusedWithTheirName() throws {
        let data = identityTempDir()
        _ = try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        let key = data + "/identity/key.pem"
        let good = try Files.read(key, bytesMax: 4_096)
        for bad in [[], Array(good.prefix(good.count / 2)), Array("garbage".utf8)] {
            try Files.writeAtomically(key, bad)
            do { _ = try open(data); Issue.record("opened with a bad key") } catch {
                #expect(error.message.contains(key))
            }
        }
        unlink(key)
        #expect(throws: IdentityError.self) { try open(data) }
        try Files.writeAtomically(key, good)
        write(data + "/identity/state.json", "{\"v\":1,\"seq_n")
        do { _ = try open(data); Issue.record("opened with a torn state file") } catch {
            #expect(error.message.contains("state.json"))
        }
        unlink(data + "/identity/state.json")
        #expect(throws: IdentityError.self) { try open(data) }
    }

    @Test func sequenceNeverRepeatsAcrossCrashes() throws {
        let data = identityTempDir()
        _ = try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        var seen: [UInt64] = []
        for run in 0..<4 {
            let s = try open(data)  // each iteration = a reboot without clean shutdown
            for _ in 0..<(run + 1) { seen.append(try s.nextSequence()) }
        }
        #expect(seen == [1, 4, 5, 7, 8, 9, 10, 11, 12, 13])
        #expect(Set(seen).count == seen.count)
    }

    @Test func rotationSurvivesACrashAtEveryStep() throws {
        let data = identityTempDir()
        let id = data + "/identity"
        let s0 = try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        let oldKid = s0.current.kid
        let oldJWK = s0.current.publicJWK

        // step 1 only: key-next.pem on disk, announcement lost → rebuilt, old key still signs
        let a1 = try s0.prepareRotation(nowMs: 6)
        let pendingKid = s0.pending!.kid
        #expect(pgui_file_mode(id + "/key-next.pem") == 0o600)
        unlink(id + "/announcement.json")
        let s1 = try open(data)
        #expect(s1.current.kid == oldKid && s1.pending?.kid == pendingKid)
        let a1b = s1.announcement!
        for a in [a1, a1b] {
            let c = try KeyAnnouncement.verify(a, oldKey: oldJWK, oldKid: oldKid, sha256: sha256, MbedVerifier())
            #expect(c.newKid == pendingKid)
        }
        // steps 1–2: a second rotate reuses the pending key
        #expect(try JSONParser.parse(try s1.prepareRotation(nowMs: 7)) == (try JSONParser.parse(a1b)))
        // acceptance of a kid that is not pending is refused
        #expect(throws: IdentityError.self) { try s1.announcementAccepted(newKid: oldKid, nowMs: 8) }

        // step 3 done, crash before the announcement was removed: stale announcement dropped
        #expect(rename(id + "/key-next.pem", id + "/key.pem") == 0)
        let s3 = try open(data)
        #expect(s3.current.kid == pendingKid && s3.pending == nil && s3.announcement == nil)
        #expect(!Files.exists(id + "/announcement.json"))

        // a full rotation through the API, then a leftover .tmp and a corrupt pending key
        _ = try s3.prepareRotation(nowMs: 9)
        let third = s3.pending!.kid
        try s3.announcementAccepted(newKid: third, nowMs: 10)
        #expect(s3.current.kid == third && !Files.exists(id + "/key-next.pem") && !Files.exists(id + "/announcement.json"))
        write(id + "/key.pem.tmp", "half")
        write(id + "/key-next.pem", "-----BEGIN EC PRIVATE KEY-----\ntrunc")
        let s4 = try open(data)
        #expect(s4.current.kid == third && s4.pending == nil)
        #expect(!Files.exists(id + "/key.pem.tmp") && Files.exists(id + "/key-next.pem.corrupt"))
        #expect(s4.repairs.count == 2)
        var gs = GroupSigner()
        let g = MeasurementGroup(meterId: "m", windowStartMs: 1, windowEndMs: 2, samples: [])
        let jws = try JWS.parseCompact(try s4.sign(g, with: &gs))
        #expect(JWS.verify(jws, key: s4.current.publicJWK, kid: third, MbedVerifier()))
    }
}

@Suite struct ClientCredentialTests {
    @Test func csrNamesTheDeviceAndCertificateChecksRefuseGarbage() throws {
        let data = identityTempDir()
        let s = try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random)
        #expect(throws: IdentityError.self) {
            try ClientCredentials.acceptCertificate(s, certPEM: Array("x".utf8), caPEM: Array("y".utf8))
        }  // no CSR pending
        let pem = try ClientCredentials.prepareCSR(s, random)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----"))
        #expect(pgui_file_mode(data + "/identity/bal-client-next.key") == 0o600)
        var csr = mbedtls_x509_csr()
        mbedtls_x509_csr_init(&csr)
        defer { mbedtls_x509_csr_free(&csr) }
        var input = Array(pem.utf8)
        input.append(0)
        #expect(mbedtls_x509_csr_parse(&csr, input, input.count) == 0)
        var name = [CChar](repeating: 0, count: 128)
        _ = mbedtls_x509_dn_gets(&name, name.count, &csr.subject)
        #expect(String(cString: name) == "CN=gw-1")
        // the same pending key answers a repeated CSR request
        let again = try ClientCredentials.prepareCSR(s, random)
        #expect(again.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----"))
        for (cert, ca) in [("", ""), (pem, pem), ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "")] {
            #expect(throws: IdentityError.self) {
                try ClientCredentials.acceptCertificate(s, certPEM: Array(cert.utf8), caPEM: Array(ca.utf8))
            }
        }
        #expect(!Files.exists(data + "/identity/bal-client-next.pem"))
        try ClientCredentials.acceptPassword(s, username: "gw-1", password: "p")
        try ClientCredentials.reconnectSucceeded(s)
        #expect(Files.exists(data + "/identity/bal-password.json") && !Files.exists(data + "/identity/bal-password-next.json"))
    }
}

@Suite struct CSRDERTests {
    @Test func nullParametersAreDroppedAndGarbageRefused() {
        let cri: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x00]
        let algNull: [UInt8] = [0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00]
        let sig: [UInt8] = [0x03, 0x02, 0x00, 0xff]
        let body = cri + algNull + sig
        let der = [0x30, UInt8(body.count)] + body
        let fixed = CSRDER.withoutNullSignatureParameters(der)
        #expect(fixed == [0x30, UInt8(body.count - 2)] + cri + CSRDER.ecdsaSHA256 + sig)
        #expect(CSRDER.withoutNullSignatureParameters(fixed!) == fixed)  // already canonical
        #expect(CSRDER.withoutNullSignatureParameters([]) == nil)
        #expect(CSRDER.withoutNullSignatureParameters(Array(der.dropLast())) == nil)  // truncated
        var otherAlg = der
        otherAlg[2 + cri.count + 11] = 0x03  // ecdsa-with-SHA384: not what PGUI writes
        #expect(CSRDER.withoutNullSignatureParameters(otherAlg) == nil)
        // long-form lengths (0x81, 0x82) round trip
        #expect(CSRDER.header(0x30, 0x7f) == [0x30, 0x7f])
        #expect(CSRDER.header(0x30, 0x80) == [0x30, 0x81, 0x80])
        #expect(CSRDER.header(0x30, 0x1234) == [0x30, 0x82, 0x12, 0x34])
        #expect(CSRDER.tlv([0x30, 0x82, 0x00, 0x01, 0x05], 0)! == (4, 1))
        #expect(CSRDER.tlv([0x30, 0x83, 0, 0, 1, 5], 0) == nil)  // 3-byte lengths are not needed here
    }
}
