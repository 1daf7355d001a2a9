import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

private func tempDir() -> String {
    var template = Array("/tmp/pgui-receipt-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

/// The receipt's identity: created on a fresh data partition, reused afterwards, read without repairs.
@Suite struct ProvisioningIdentityTests {
    func config(_ data: String) throws -> Config {
        try Config.load(Array("device.id = gw-receipt\ndata.dir = \(data)\n".utf8), file: "test.conf")
    }

    @Test func createdOnceThenReusedWithTheSamePendingClientKey() throws {
        let data = tempDir()
        let c = try config(data)
        let first = try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 1_795_000_000_000)
        #expect(first.kid == first.jwk.thumbprint(sha256: sha256))
        #expect(first.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(first.csrPEM.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n"))
        let dir = IdentityStore.directory(dataDir: data)
        let clientKey = try Files.read(dir + "/bal-client-next.key", bytesMax: 4_096)
        #expect(pgui_file_mode(dir + "/bal-client-next.key") == 0o600)

        let again = try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 1_795_000_100_000)
        #expect(again.kid == first.kid && again.publicKeyPEM == first.publicKeyPEM)
        #expect(try Files.read(dir + "/bal-client-next.key", bytesMax: 4_096) == clientKey)
        // The same key pair as the device key `pgui run` opens.
        let store = try IdentityStore.open(dataDir: data, device: "gw-receipt", seqBlock: 100, random: RandomSource(personalization: "t"))
        #expect(store.current.kid == first.kid)
    }

    @Test func anExistingIdentityIsReadNotRepaired() throws {
        let data = tempDir()
        let c = try config(data)
        let kid = try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 1).kid
        // A running pgui's atomic write in progress: provisioning must not remove its temp file.
        let tmp = IdentityStore.directory(dataDir: data) + "/state.json.tmp"
        try Files.writeAtomically(tmp, Array("{}".utf8))
        #expect(try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 2).kid == kid)
        #expect(Files.exists(tmp))
    }

    @Test func aBrokenKeyIsReportedWithItsFileAndNotReplaced() throws {
        let data = tempDir()
        let c = try config(data)
        _ = try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 1)
        let keyPath = IdentityStore.directory(dataDir: data) + "/key.pem"
        try Files.writeAtomically(keyPath, Array("garbage".utf8))
        var message = ""
        do throws(IdentityError) {
            _ = try ProvisioningApply.receiptIdentity(dataDir: data, config: c, nowMs: 2)
        } catch {
            message = error.description
        }
        #expect(message.contains(keyPath) && message.contains("refusing"))
        #expect(try Files.read(keyPath, bytesMax: 100) == Array("garbage".utf8))
    }
}
