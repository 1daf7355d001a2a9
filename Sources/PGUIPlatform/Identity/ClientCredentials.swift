import CSystem
import CMbedTLS
import PGUICore

/// BAL client credentials in the identity folder, each rotated as pending → current:
///
/// | file | content |
/// | --- | --- |
/// | `bal-client.pem` | current client certificate followed by its private key (0600) |
/// | `bal-client-next.key` | pending client key, waiting for its certificate |
/// | `bal-client-next.pem` | checked certificate + pending key, waiting for a successful reconnect |
/// | `bal-password.json` / `bal-password-next.json` | `{"username":…,"password":…}` (0600) |
///
/// Certificate and key live in ONE file so a single rename swaps both: a crash can never pair a new
/// certificate with an old key. The current file is replaced only after the link has reconnected
/// with the pending one (`reconnectSucceeded`); until then the previous credentials keep working.
public enum ClientCredentials {
    public static let fileBytesMax = 20_480

    static func path(_ store: IdentityStore, _ name: String) -> String { store.dir + "/" + name }

    /// A pending client key (created once, reused until its certificate arrives) and its CSR, CN = device id.
    public static func prepareCSR(_ store: IdentityStore, _ random: RandomSource) throws(IdentityError) -> String {
        let keyPath = path(store, "bal-client-next.key")
        let key: P256Key
        var fresh: [UInt8]? = nil
        do throws(CryptoError) {
            if Files.exists(keyPath) {
                key = try P256Key.parsePrivate(try read(keyPath))
            } else {
                key = try P256Key.generate(random)
                fresh = try key.privatePEM()
            }
        } catch {
            throw IdentityError("client key \(keyPath): \(error.description); current credentials kept")
        }
        if let fresh { try store.write(keyPath, fresh) }
        do throws(CryptoError) {
            return try key.csrPEM(commonName: store.device, random)
        } catch {
            throw IdentityError("CSR for \(keyPath): \(error.description); current credentials kept")
        }
    }

    /// Checks a certificate the BAL returned against the pending key, the provisioned CA, the dates and
    /// the device id; stores certificate + key as `bal-client-next.pem` only if all hold.
    public static func acceptCertificate(_ store: IdentityStore, certPEM: [UInt8], caPEM: [UInt8]) throws(IdentityError) {
        let keyPath = path(store, "bal-client-next.key")
        guard Files.exists(keyPath) else { throw IdentityError("no CSR is pending (\(keyPath) missing); certificate ignored") }
        var combined = certPEM
        do throws(CryptoError) {
            let keyPEM = try read(keyPath)
            let key = try P256Key.parsePrivate(keyPEM)
            try CertificateCheck.check(certPEM: certPEM, caPEM: caPEM, key: key, commonName: store.device)
            if combined.last != ASCII.lf { combined.append(ASCII.lf) }
            combined += keyPEM
        } catch {
            throw IdentityError("returned certificate rejected: \(error.description); current credentials kept")
        }
        try store.write(path(store, "bal-client-next.pem"), combined)
    }

    /// A username/password answer, checked by `CredentialResponse.parse`, stored as pending.
    public static func acceptPassword(_ store: IdentityStore, username: String, password: String) throws(IdentityError) {
        var w = JSONWriter(capacity: 600)
        w.beginObject()
        w.field("username", username)
        w.field("password", password)
        w.endObject()
        try store.write(path(store, "bal-password-next.json"), w.bytes)
    }

    /// The link reconnected with the pending credentials: they become current; the previous ones go.
    public static func reconnectSucceeded(_ store: IdentityStore) throws(IdentityError) {
        for (next, current) in [("bal-client-next.pem", "bal-client.pem"), ("bal-password-next.json", "bal-password.json")]
        where Files.exists(path(store, next)) {
            guard rename(path(store, next), path(store, current)) == 0 else {
                throw IdentityError(SystemError("rename", path(store, next)).description + "; previous credentials kept")
            }
            if next == "bal-client-next.pem" { unlink(path(store, "bal-client-next.key")) }
        }
        try store.syncDir(store.dir)
    }

    /// Pending credentials to try on the next reconnect, else the current ones (file paths).
    public static func pendingCertificate(_ store: IdentityStore) -> String? {
        Files.exists(path(store, "bal-client-next.pem")) ? path(store, "bal-client-next.pem") : nil
    }

    static func read(_ p: String) throws(CryptoError) -> [UInt8] {
        do throws(SystemError) { return try Files.read(p, bytesMax: fileBytesMax) } catch {
            throw CryptoError("read \(error.description)", code: MBEDTLS_ERR_PK_FILE_IO_ERROR)
        }
    }
}
