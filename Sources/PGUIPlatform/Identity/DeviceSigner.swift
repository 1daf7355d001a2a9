import CMbedTLS
import PGUICore

/// The device key behind the core's `Signer` protocol: ES256 with mbedTLS, JWK and kid cached.
public final class DeviceSigner: Signer {
    public let key: P256Key
    let random: RandomSource
    public let publicJWK: ECPublicJWK
    public let kid: String

    public init(key: P256Key, random: RandomSource) throws(CryptoError) {
        self.key = key
        self.random = random
        let xy = try key.publicXY()
        do throws(IdentityError) { publicJWK = try ECPublicJWK(x: xy.x, y: xy.y) } catch {
            preconditionFailure("publicXY returns 32-byte coordinates")
        }
        kid = publicJWK.thumbprint(sha256: sha256)
    }

    public func signES256(_ message: [UInt8]) throws(IdentityError) -> [UInt8] {
        do throws(CryptoError) {
            return try key.sign(digest: sha256(message), random)
        } catch {
            throw IdentityError("signing with key \(kid): \(error.description); nothing was signed")
        }
    }
}

/// ES256 verification with mbedTLS, for announcements and self-checks.
public struct MbedVerifier: SignatureVerifier {
    public init() {}

    public func verifyES256(_ message: [UInt8], signature: [UInt8], key: ECPublicJWK) -> Bool {
        guard let k = try? P256Key.fromJWK(key) else { return false }
        return k.verify(digest: sha256(message), signature: signature)
    }
}

extension P256Key {
    /// A verifying key from JWK coordinates, through the fixed DER SubjectPublicKeyInfo of P-256
    /// (id-ecPublicKey + prime256v1, uncompressed point); mbedTLS checks the point is on the curve.
    public static func fromJWK(_ jwk: ECPublicJWK) throws(CryptoError) -> P256Key {
        var der: [UInt8] = [0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                            0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04]
        der += jwk.x
        der += jwk.y
        return try parsePublic(der)
    }
}
