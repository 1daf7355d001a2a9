import CSystem
import PGUICore

/// The rest of the credential files in the identity folder, used by the running link:
///
/// | file | content |
/// | --- | --- |
/// | `bal-rotation.json` | `{"v":1,"rotated_ms":T}`: when the credentials were last rotated (the period counts from it) |
/// | `bal-rotate.request` | written by `pgui identity rotate-credentials`; the running pgui (or the next start) acts on it |
/// | `*.rejected` | pending credentials the broker refused; kept for diagnosis, never used again |
extension ClientCredentials {
    public static let currentCertificateName = "bal-client.pem"
    public static let pendingCertificateName = "bal-client-next.pem"
    public static let currentPasswordName = "bal-password.json"
    public static let pendingPasswordName = "bal-password-next.json"
    static let rotationStateName = "bal-rotation.json"
    static let rotationRequestName = "bal-rotate.request"

    /// `bal-client.pem` (certificate followed by its key) when the identity layer holds one.
    public static func currentCertificate(_ store: IdentityStore) -> String? {
        Files.exists(path(store, currentCertificateName)) ? path(store, currentCertificateName) : nil
    }

    /// Username and password from `bal-password.json` (or the pending file); nil when absent.
    /// A file that is present but unusable is an error naming it (the caller falls back and logs).
    public static func password(_ store: IdentityStore, pending: Bool) throws(IdentityError) -> (username: String, password: String)? {
        let p = path(store, pending ? pendingPasswordName : currentPasswordName)
        guard Files.exists(p) else { return nil }
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Files.read(p, bytesMax: 1_024) } catch { throw IdentityError(error.description) }
        var limits = JSONLimits()
        limits.bytesMax = 1_024
        limits.depthMax = 1
        let v: JSONValue
        do throws(JSONError) { v = try JSONParser.parse(bytes, limits: limits) } catch {
            throw IdentityError("\(p): \(error.description)")
        }
        guard let u = v["username"]?.stringValue, let w = v["password"]?.stringValue else {
            throw IdentityError("\(p): needs string members 'username' and 'password'")
        }
        for s in [u, w] {
            let b = Array(s.utf8)
            guard !b.isEmpty, b.count <= CredentialResponse.secretBytesMax, b.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw IdentityError("\(p): 'username' and 'password' must be 1...\(CredentialResponse.secretBytesMax) printable ASCII bytes")
            }
        }
        return (u, w)
    }

    public static func hasPendingPassword(_ store: IdentityStore) -> Bool { Files.exists(path(store, pendingPasswordName)) }

    /// The broker refused the pending credentials: they are set aside as `*.rejected` (never tried
    /// again); the current ones stay. The pending client key stays too, so the next CSR reuses it.
    public static func rejectPending(_ store: IdentityStore) throws(IdentityError) {
        for name in [pendingCertificateName, pendingPasswordName] where Files.exists(path(store, name)) {
            guard rename(path(store, name), path(store, name + ".rejected")) == 0 else {
                throw IdentityError(SystemError("rename", path(store, name)).description)
            }
        }
        try store.syncDir(store.dir)
    }

    /// Wall time of the last rotation, nil when never recorded (or unreadable: the period restarts).
    public static func rotatedMs(_ store: IdentityStore) -> Int64? {
        guard let bytes = try? Files.read(path(store, rotationStateName), bytesMax: 256),
              let v = try? JSONParser.parse(bytes), v["v"]?.intValue == 1, let t = v["rotated_ms"]?.intValue, t > 0 else { return nil }
        return t
    }

    public static func recordRotation(_ store: IdentityStore, wallMs: Int64) throws(IdentityError) {
        var w = JSONWriter(capacity: 64)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("rotated_ms", wallMs)
        w.endObject()
        try store.write(path(store, rotationStateName), w.bytes)
    }

    /// `pgui identity rotate-credentials`: asks the running pgui (or the next start) to rotate now.
    public static func requestRotation(_ store: IdentityStore, wallMs: Int64) throws(IdentityError) {
        var w = JSONWriter(capacity: 64)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("requested_ms", wallMs)
        w.endObject()
        try store.write(path(store, rotationRequestName), w.bytes)
    }

    public static func rotationRequested(_ store: IdentityStore) -> Bool { Files.exists(path(store, rotationRequestName)) }

    public static func clearRotationRequest(_ store: IdentityStore) {
        if Files.exists(path(store, rotationRequestName)) { unlink(path(store, rotationRequestName)) }
    }

    /// Reads a PEM file (the provisioned CA) for the certificate check.
    public static func readPEM(_ p: String) throws(IdentityError) -> [UInt8] {
        do throws(SystemError) { return try Files.read(p, bytesMax: fileBytesMax) } catch { throw IdentityError(error.description) }
    }
}
