/// JOSE pieces PGUI needs for ES256 (RFC 7515 JWS, RFC 7517 JWK, RFC 7518 §3.4, RFC 7638 thumbprint),
/// on bytes and through the `Signer` protocol, so the core never touches a C crypto library and tests
/// sign with a fake.

/// What the identity layer refused, with the file or message it concerns and what it did about it.
public struct IdentityError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A P-256 public key as a JWK. `json` is the RFC 7638 canonical form (required members only, sorted,
/// no whitespace), which is both what PGUI publishes and the thumbprint input.
public struct ECPublicJWK: Equatable, Sendable {
    /// 32-byte big-endian affine coordinates.
    public let x: [UInt8]
    public let y: [UInt8]

    public init(x: [UInt8], y: [UInt8]) throws(IdentityError) {
        guard x.count == 32, y.count == 32 else {
            throw IdentityError("JWK: P-256 coordinates must be 32 bytes (got \(x.count) and \(y.count))")
        }
        self.x = x
        self.y = y
    }

    public var json: [UInt8] {
        JWKThumbprint.canonical([("crv", "P-256"), ("kty", "EC"), ("x", Base64.urlEncode(x)), ("y", Base64.urlEncode(y))])
    }

    /// Reads `{"kty":"EC","crv":"P-256","x":…,"y":…}` (extra members such as `kid` are ignored).
    public init(_ v: JSONValue) throws(IdentityError) {
        guard v["kty"]?.stringValue == "EC", v["crv"]?.stringValue == "P-256" else {
            throw IdentityError("JWK: not an EC P-256 key (kty/crv)")
        }
        guard let xs = v["x"]?.stringValue, let ys = v["y"]?.stringValue,
              let x = Base64.urlDecode(xs), let y = Base64.urlDecode(ys) else {
            throw IdentityError("JWK: x/y missing or not base64url")
        }
        try self.init(x: x, y: y)
    }

    /// RFC 7638 thumbprint, base64url of SHA-256 of the canonical JSON; PGUI's `kid`.
    public func thumbprint(sha256: ([UInt8]) -> [UInt8]) -> String {
        Base64.urlEncode(sha256(json))
    }
}

public enum JWKThumbprint {
    /// The RFC 7638 §3 input for a key's required members: names sorted by code point, string values,
    /// no whitespace. Works for any key type (the RFC's own example is RSA).
    public static func canonical(_ members: [(String, String)]) -> [UInt8] {
        let sorted = members.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        for (k, v) in sorted { w.field(k, v) }
        w.endObject()
        return w.bytes
    }
}

/// The device key as the core sees it: ES256 over a message (SHA-256 inside), 64-byte r‖s.
/// Used through generics (no existentials in Embedded Swift).
public protocol Signer {
    var publicJWK: ECPublicJWK { get }
    /// RFC 7638 thumbprint of `publicJWK`.
    var kid: String { get }
    func signES256(_ message: [UInt8]) throws(IdentityError) -> [UInt8]
}

/// Checks ES256 signatures against a JWK (the platform implements it with mbedTLS; tests with a fake).
public protocol SignatureVerifier {
    func verifyES256(_ message: [UInt8], signature: [UInt8], key: ECPublicJWK) -> Bool
}

public enum JWS {
    /// The protected header PGUI writes: `{"alg":"ES256","kid":…,"typ":…}` (typ omitted when empty).
    public static func header(kid: String, typ: String) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.field("alg", "ES256")
        w.field("kid", kid)
        if !typ.isEmpty { w.field("typ", typ) }
        w.endObject()
        return w.bytes
    }

    /// Appends `b64(header).b64(payload).b64(sig)` (RFC 7515 §7.1) to `out`.
    public static func compact<S: Signer>(header: [UInt8], payload: [UInt8], signer: S, into out: inout [UInt8]) throws(IdentityError) {
        let start = out.count
        Base64.urlEncode(header[...], into: &out)
        out.append(ASCII.dot)
        Base64.urlEncode(payload[...], into: &out)
        let sig = try signer.signES256(Array(out[start...]))
        guard sig.count == 64 else { throw IdentityError("ES256 signer returned \(sig.count) bytes, want 64; nothing signed") }
        out.append(ASCII.dot)
        Base64.urlEncode(sig[...], into: &out)
    }

    public struct Compact {
        public let header: JSONValue
        public let payload: [UInt8]
        public let signingInput: [UInt8]
        public let signature: [UInt8]
        public var kid: String? { header["kid"]?.stringValue }
    }

    public static let compactBytesMax = 262_144

    /// Splits and decodes a compact JWS; checks `alg` is ES256 and the signature is 64 bytes. It does
    /// not verify: call `verify` with the key the `kid` names.
    public static func parseCompact(_ bytes: [UInt8]) throws(IdentityError) -> Compact {
        guard bytes.count <= compactBytesMax else { throw IdentityError("JWS: \(bytes.count) bytes; the limit is \(compactBytesMax)") }
        var dots: [Int] = []
        for (i, b) in bytes.enumerated() where b == ASCII.dot { dots.append(i) }
        guard dots.count == 2 else { throw IdentityError("JWS: expected 3 dot-separated parts, found \(dots.count + 1)") }
        guard let h = Base64.urlDecode(bytes[..<dots[0]]),
              let p = Base64.urlDecode(bytes[(dots[0] + 1)..<dots[1]]),
              let s = Base64.urlDecode(bytes[(dots[1] + 1)...]) else {
            throw IdentityError("JWS: a part is not strict base64url")
        }
        let header: JSONValue
        do throws(JSONError) { header = try JSONParser.parse(h) } catch { throw IdentityError("JWS header: \(error.description)") }
        guard header["alg"]?.stringValue == "ES256" else { throw IdentityError("JWS: alg is not ES256") }
        guard s.count == 64 else { throw IdentityError("JWS: ES256 signature is \(s.count) bytes, want 64") }
        return Compact(header: header, payload: p, signingInput: Array(bytes[..<dots[1]]), signature: s)
    }

    public static func verify<V: SignatureVerifier>(_ jws: Compact, key: ECPublicJWK, kid: String, _ verifier: V) -> Bool {
        jws.kid == kid && verifier.verifyES256(jws.signingInput, signature: jws.signature, key: key)
    }
}
