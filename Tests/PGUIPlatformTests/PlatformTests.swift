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
