/// BAL credential rotation messages (docs/identity.md). The device publishes a request on
/// `pgui/v1/<device>/credentials/csr`; the BAL answers on `pgui/v1/<device>/credentials/cert`.
/// Every answer is hostile until it names this device and the request id still pending.
public enum CredentialTopics {
    public static func keys(prefix: String, device: String) -> String { "\(prefix)/\(device)/keys" }
    public static func csr(prefix: String, device: String) -> String { "\(prefix)/\(device)/credentials/csr" }
    public static func cert(prefix: String, device: String) -> String { "\(prefix)/\(device)/credentials/cert" }
}

public enum CredentialRequest {
    /// `{"v":1,"device":…,"request":…,"kind":"mtls","csr":PEM}` or kind "password" without a CSR.
    public static func encode(device: String, request: String, csrPEM: String?) -> [UInt8] {
        var w = JSONWriter(capacity: 1_024)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("device", device)
        w.field("request", request)
        if let csrPEM {
            w.field("kind", "mtls")
            w.field("csr", csrPEM)
        } else {
            w.field("kind", "password")
        }
        w.endObject()
        return w.bytes
    }
}

public enum CredentialResponse: Equatable {
    case certificate(pem: String)
    case password(username: String, password: String)

    public static let bytesMax = 16_384
    public static let secretBytesMax = 256

    /// Validates an answer for `device` and the pending `request`; the error names what is wrong.
    public static func parse(_ bytes: [UInt8], device: String, request: String) throws(IdentityError) -> CredentialResponse {
        guard !bytes.isEmpty else { throw IdentityError("credential response: empty message; pending request kept") }
        var limits = JSONLimits()
        limits.bytesMax = bytesMax
        limits.depthMax = 2
        let v: JSONValue
        do throws(JSONError) { v = try JSONParser.parse(bytes, limits: limits) } catch {
            throw IdentityError("credential response: \(error.description); pending request kept")
        }
        guard v["v"]?.intValue == 1 else { throw IdentityError("credential response: missing or unknown version 'v'") }
        guard let d = v["device"]?.stringValue, d == device else {
            throw IdentityError("credential response is for device '\(printable(Array((v["device"]?.stringValue ?? "").utf8)[...]))', not '\(device)'; ignored")
        }
        guard let r = v["request"]?.stringValue, r == request else {
            throw IdentityError("credential response answers request '\(printable(Array((v["request"]?.stringValue ?? "").utf8)[...]))', not the pending '\(request)'; ignored")
        }
        if let cert = v["cert"]?.stringValue {
            guard Array(cert.utf8).starts(with: Array("-----BEGIN CERTIFICATE-----".utf8)) else {
                throw IdentityError("credential response: 'cert' is not a PEM certificate")
            }
            return .certificate(pem: cert)
        }
        guard let user = v["username"]?.stringValue, let pass = v["password"]?.stringValue else {
            throw IdentityError("credential response: needs 'cert' or 'username' and 'password'")
        }
        for (name, s) in [("username", user), ("password", pass)] {
            let b = Array(s.utf8)
            guard !b.isEmpty, b.count <= secretBytesMax, b.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw IdentityError("credential response: '\(name)' must be 1...\(secretBytesMax) printable ASCII bytes without spaces")
            }
        }
        return .password(username: user, password: pass)
    }
}
