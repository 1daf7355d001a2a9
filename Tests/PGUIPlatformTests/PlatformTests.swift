import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

private func tempDir() -> String {
    var template = Array("/tmp/pgui-test-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

@Suite struct FilesTests {
    @Test func atomicWriteReplacesAndKeepsMode() throws {
        let dir = tempDir()
        let path = dir + "/f"
        try Files.writeAtomically(path, Array("one".utf8))
        try Files.writeAtomically(path, Array("two".utf8))
        #expect(try Files.read(path, bytesMax: 16) == Array("two".utf8))
        #expect(pgui_file_mode(path) == 0o600)
        #expect(!Files.exists(path + ".tmp"))
    }

    @Test func readRefusesOversizedAndMissingFiles() throws {
        let dir = tempDir()
        try Files.writeAtomically(dir + "/big", [UInt8](repeating: 1, count: 17))
        #expect(throws: SystemError.self) { try Files.read(dir + "/big", bytesMax: 16) }
        #expect(throws: SystemError.self) { try Files.read(dir + "/missing", bytesMax: 16) }
    }

    @Test func directoryOf() {
        #expect(Files.directory(of: "/a/b/c") == "/a/b")
        #expect(Files.directory(of: "/c") == "/")
        #expect(Files.directory(of: "c") == ".")
    }
}

@Suite struct CryptoTests {
    @Test func signVerifyAndRejectTampering() throws {
        let random = try RandomSource(personalization: "test")
        let key = try P256Key.generate(random)
        let digest = sha256(Array("hello".utf8))
        let sig = try key.sign(digest: digest, random)
        #expect(sig.count == 64)
        #expect(key.verify(digest: digest, signature: sig))
        var bad = sig
        bad[63] ^= 0x80
        #expect(!key.verify(digest: digest, signature: bad))
        #expect(!key.verify(digest: digest, signature: Array(sig.prefix(63))))
    }

    @Test func pemRoundTripsAndPublicKeyVerifies() throws {
        let random = try RandomSource(personalization: "test")
        let key = try P256Key.generate(random)
        let pub = try P256Key.parsePublic(Array(try key.publicPEM().utf8))
        let digest = sha256([1, 2, 3])
        #expect(pub.verify(digest: digest, signature: try key.sign(digest: digest, random)))
        let again = try P256Key.parsePrivate(try key.privatePEM())
        #expect(try again.publicXY().x == key.publicXY().x)
    }

    @Test func garbageKeysAreRejected() {
        #expect(throws: CryptoError.self) { try P256Key.parsePrivate(Array("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n".utf8)) }
        #expect(throws: CryptoError.self) { try P256Key.parsePrivate([]) }
    }

    @Test func sha256Vectors() {
        // FIPS 180-2 appendix B.1 and the empty string.
        #expect(hex(sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func hex(_ b: [UInt8]) -> String {
        var s = ""
        for x in b { s += (x < 16 ? "0" : "") + String(x, radix: 16) }
        return s
    }
}

@Suite struct EventLoopTests {
    @Test func timersFireAndStopEndsTheLoop() throws {
        let loop = try EventLoop()
        var fired = 0
        try loop.addTimer(firstMs: 1, intervalMs: 1) { _ in
            fired += 1
            if fired == 3 { loop.stop() }
        }
        #expect(loop.run() == 0)
        #expect(fired == 3)
        #expect(loop.iterations >= 3)
    }
}

@Suite struct AESGCMTests {
    /// Test Case 2 of McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (2005): a zero key,
    /// IV and block; the published ciphertext and tag.
    @Test func publishedVector() throws {
        let gcm = try AESGCM(key: [UInt8](repeating: 0, count: 16))
        let iv = [UInt8](repeating: 0, count: 12)
        let plain = [UInt8](repeating: 0, count: 16)
        var cipher = [UInt8](repeating: 0, count: 16)
        var tag = [UInt8](repeating: 0, count: 16)
        let ok = iv.withUnsafeBufferPointer { ivp in
            plain.withUnsafeBufferPointer { pp in
                cipher.withUnsafeMutableBufferPointer { cp in
                    tag.withUnsafeMutableBufferPointer { tp in
                        gcm.seal(iv: ivp, aad: UnsafeBufferPointer(start: nil, count: 0), plaintext: pp, ciphertext: cp, tag: tp)
                    }
                }
            }
        }
        #expect(ok)
        #expect(cipher == hexBytes("0388dace60b6a392f328c2b971b2fe78"))
        #expect(tag == hexBytes("ab6e47d42cec13bdf53a67b21257bddf"))
        // And back, with a DLMS-length (12-byte) tag; a flipped bit fails authentication.
        var out = [UInt8](repeating: 0xAA, count: 16)
        func open(_ c: [UInt8], _ t: ArraySlice<UInt8>) -> Bool {
            iv.withUnsafeBufferPointer { ivp in
                c.withUnsafeBufferPointer { cp in
                    Array(t).withUnsafeBufferPointer { tp in
                        out.withUnsafeMutableBufferPointer { op in
                            gcm.open(iv: ivp, aad: UnsafeBufferPointer(start: nil, count: 0), ciphertext: cp, tag: tp, plaintext: op)
                        }
                    }
                }
            }
        }
        #expect(open(cipher, tag[0..<12]))
        #expect(out == plain)
        var bad = cipher
        bad[3] ^= 1
        #expect(!open(bad, tag[0..<12]))
        #expect(out == plain)  // zeroed, never the forged plaintext
    }

    @Test func wrongKeyLengthIsRefused() {
        #expect(throws: CryptoError.self) { _ = try AESGCM(key: [1, 2, 3]) }
    }

    private func hexBytes(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = Array(s.utf8).makeIterator()
        while let h = it.next(), let l = it.next() { out.append(ASCII.hexValue(h)! << 4 | ASCII.hexValue(l)!) }
        return out
    }
}

@Suite struct MeterKeyFileTests {
    @Test func modeAndFormat() throws {
        let dir = tempDir()
        let path = dir + "/ek"
        try Files.writeAtomically(path, Array("000102030405060708090a0b0c0d0e0f\n".utf8))
        #expect(try MeterKeyFile.load(path) == Array(0...15))
        _ = chmod(path, 0o644)
        #expect(throws: MeterKeyFile.Problem.permissions(path: path, mode: 0o644)) { _ = try MeterKeyFile.load(path) }
        try Files.writeAtomically(path, Array("not a key".utf8))
        #expect(throws: MeterKeyFile.Problem.format(path: path)) { _ = try MeterKeyFile.load(path) }
    }
}
