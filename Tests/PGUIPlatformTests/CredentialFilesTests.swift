import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

/// The credential files the running link uses (CredentialFiles.swift): identity-held passwords,
/// refused pending credentials, the rotation state and the operator's request marker.
@Suite struct CredentialFilesTests {
    func store() throws -> (IdentityStore, String) {
        var template = Array("/tmp/pgui-cred-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let data = String(cString: p!)
        let random = try RandomSource(personalization: "pgui-cred-tests")
        return (try IdentityStore.create(dataDir: data, device: "gw-1", seqBlock: 3, nowMs: 5, random: random), data + "/identity")
    }

    func put(_ path: String, _ s: String) throws { try Files.writeAtomically(path, Array(s.utf8)) }

    @Test func passwordFilesAreValidatedAndPendingIsSeparate() throws {
        let (s, dir) = try store()
        #expect(try ClientCredentials.password(s, pending: false) == nil)
        try ClientCredentials.acceptPassword(s, username: "gw-1", password: "n3w!")
        #expect(try ClientCredentials.password(s, pending: false) == nil)
        #expect(try ClientCredentials.password(s, pending: true)! == ("gw-1", "n3w!"))
        #expect(ClientCredentials.hasPendingPassword(s))
        try ClientCredentials.reconnectSucceeded(s)
        #expect(try ClientCredentials.password(s, pending: false)! == ("gw-1", "n3w!"))
        #expect(pgui_file_mode(dir + "/bal-password.json") == 0o600)
        for bad in ["", "{", "{\"username\":\"u\"}", "{\"username\":\"u\",\"password\":\"a b\"}", "{\"username\":1,\"password\":\"p\"}",
                    "{\"username\":\"u\",\"password\":\"\(String(repeating: "p", count: CredentialResponse.secretBytesMax + 1))\"}"] {
            try put(dir + "/bal-password.json", bad)
            #expect(throws: IdentityError.self) { try ClientCredentials.password(s, pending: false) }
        }
        try put(dir + "/bal-password.json", "{\"username\":\"u\",\"password\":\"\(String(repeating: "p", count: CredentialResponse.secretBytesMax))\"}")
        #expect(try ClientCredentials.password(s, pending: false)?.password.utf8.count == CredentialResponse.secretBytesMax)
    }

    @Test func refusedPendingCredentialsAreSetAsideAndTheCurrentOnesStay() throws {
        let (s, dir) = try store()
        try put(dir + "/bal-client.pem", "current")
        try put(dir + "/bal-client-next.pem", "pending")
        try ClientCredentials.acceptPassword(s, username: "u", password: "p")
        #expect(ClientCredentials.pendingCertificate(s) == dir + "/bal-client-next.pem")
        try ClientCredentials.rejectPending(s)
        #expect(ClientCredentials.pendingCertificate(s) == nil && !ClientCredentials.hasPendingPassword(s))
        #expect(Files.exists(dir + "/bal-client-next.pem.rejected") && Files.exists(dir + "/bal-password-next.json.rejected"))
        #expect(ClientCredentials.currentCertificate(s) == dir + "/bal-client.pem")
        try ClientCredentials.rejectPending(s)  // nothing pending: no-op
    }

    @Test func rotationStateAndRequestMarker() throws {
        let (s, dir) = try store()
        #expect(ClientCredentials.rotatedMs(s) == nil)
        try ClientCredentials.recordRotation(s, wallMs: 1_795_805_172_000)
        #expect(ClientCredentials.rotatedMs(s) == 1_795_805_172_000)
        for bad in ["", "{\"v\":2,\"rotated_ms\":5}", "{\"v\":1,\"rotated_ms\":-5}", "{\"v\":1}", "garbage"] {
            try put(dir + "/bal-rotation.json", bad)
            #expect(ClientCredentials.rotatedMs(s) == nil)  // unreadable: the period restarts, nothing breaks
        }
        #expect(!ClientCredentials.rotationRequested(s))
        try ClientCredentials.requestRotation(s, wallMs: 7)
        #expect(ClientCredentials.rotationRequested(s))
        ClientCredentials.clearRotationRequest(s)
        ClientCredentials.clearRotationRequest(s)
        #expect(!ClientCredentials.rotationRequested(s))
    }
}
