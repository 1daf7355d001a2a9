/// `pgui-receipt.json`, written back to the stick after every provisioning attempt
/// (docs/provisioning.md has the JSON Schema). On success it carries what the operator needs to
/// enrol the device: its id, the signing key's `kid`, the public key as JWK and PEM, and a CSR for
/// the BAL client certificate. Only public material: the private keys never leave the device.
public struct ProvisioningReceipt {
    /// The device's public identity as the operator enrols it.
    public struct Identity {
        /// RFC 7638 thumbprint of `jwk` (the `kid` of every signed group).
        public var kid: String
        public var jwk: ECPublicJWK
        /// SubjectPublicKeyInfo PEM of the same key.
        public var publicKeyPEM: String
        /// PKCS#10 PEM for the BAL client certificate, CN = device id, key = the pending client key.
        public var csrPEM: String

        public init(kid: String, jwk: ECPublicJWK, publicKeyPEM: String, csrPEM: String) {
            self.kid = kid
            self.jwk = jwk
            self.publicKeyPEM = publicKeyPEM
            self.csrPEM = csrPEM
        }
    }

    public static let version: Int64 = 1

    public var device: String = ""
    public var applied = false
    public var timeMs: Int64 = 0
    /// Hex SHA-256 of the installed configuration text (applied only).
    public var configSHA256: String = ""
    /// nil when rejected, or when the identity could not be read (then `identityError` says why).
    public var identity: Identity? = nil
    public var identityError: String = ""
    public var errors: [String] = []

    public init() {}

    public func encode() -> [UInt8] {
        var w = JSONWriter(capacity: 2_048)
        w.beginObject()
        w.field("v", Self.version)
        w.field("device", device)
        w.field("result", applied ? "applied" : "rejected")
        w.field("time", timeMs)
        if applied { w.field("config_sha256", configSHA256) }
        if let identity {
            w.field("kid", identity.kid)
            w.key("jwk")
            w.raw(identity.jwk.json)
            w.field("public_key_pem", identity.publicKeyPEM)
            w.field("csr_pem", identity.csrPEM)
        }
        if !identityError.isEmpty { w.field("identity_error", identityError) }
        w.key("errors")
        w.beginArray()
        for e in errors { w.value(e) }
        w.endArray()
        w.endObject()
        w.bytes.append(ASCII.lf)
        return w.bytes
    }
}
