import CMbedTLS
import CSystem
import CTLSCompat

/// See `RandomSource.shared()`.
nonisolated(unsafe) private var sharedRandom: RandomSource? = nil

/// A failed mbedTLS call, with mbedTLS's own text for the code.
public struct CryptoError: Error, Equatable {
    public let operation: String
    public let code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String {
        var buf = [CChar](repeating: 0, count: 160)
        mbedtls_strerror(code, &buf, buf.count)
        let text = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return "\(operation) failed: \(text) (-0x\(String(-code, radix: 16)))"
    }
}

/// CTR-DRBG (NIST SP 800-90A, AES-256) seeded from the kernel through getrandom(2)
/// (`pgui_entropy_getrandom`, CTLSCompat): no mbedTLS entropy pool (~37 KB per instance) and no
/// /dev/urandom file descriptor. The context lives at a stable heap address because TLS contexts
/// keep a pointer to it.
public final class RandomSource {
    let drbg: UnsafeMutablePointer<mbedtls_ctr_drbg_context>

    public init(personalization: String) throws(CryptoError) {
        drbg = .allocate(capacity: 1)
        mbedtls_ctr_drbg_init(drbg)
        let rc = personalization.withCString { p in
            p.withMemoryRebound(to: UInt8.self, capacity: personalization.utf8.count) {
                mbedtls_ctr_drbg_seed(drbg, pgui_entropy_getrandom, nil, $0, personalization.utf8.count)
            }
        }
        // deinit frees the context: a class init that throws after its stored properties are set runs it.
        guard rc == 0 else { throw CryptoError("ctr_drbg_seed", code: rc) }
    }

    /// The daemon's one DRBG: identity signing, credential requests and every TLS handshake (the
    /// TLS layer is given it here) draw from it. Created on first use, on the event loop, never
    /// freed. Thread-safe for the TLS threads: mbedTLS is built with MBEDTLS_THREADING_C, so
    /// `mbedtls_ctr_drbg_random` locks the context's own mutex.
    public static func shared() throws(CryptoError) -> RandomSource {
        if let r = sharedRandom { return r }
        let r = try RandomSource(personalization: "pgui")
        sharedRandom = r
        pgui_tls_use_random(mbedtls_ctr_drbg_random, r.drbg)
        return r
    }

    deinit {
        mbedtls_ctr_drbg_free(drbg)
        drbg.deallocate()
    }

    public func bytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let rc = mbedtls_ctr_drbg_random(drbg, &out, count)
        guard rc == 0 else { throw CryptoError("ctr_drbg_random", code: rc) }
        return out
    }
}

public func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    _ = mbedtls_sha256_ret(bytes, bytes.count, &out, 0)
    return out
}

/// An ECDSA P-256 key pair (private part optional: a verifying key holds only Q).
public final class P256Key {
    let pk: UnsafeMutablePointer<mbedtls_pk_context>

    private init() {
        pk = .allocate(capacity: 1)
        mbedtls_pk_init(pk)
    }

    deinit {
        mbedtls_pk_free(pk)
        pk.deallocate()
    }

    var keypair: UnsafeMutablePointer<mbedtls_ecp_keypair> { mbedtls_pk_ec(pk.pointee)! }

    public static func generate(_ random: RandomSource) throws(CryptoError) -> P256Key {
        let key = P256Key()
        var rc = mbedtls_pk_setup(key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))
        guard rc == 0 else { throw CryptoError("pk_setup", code: rc) }
        rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, key.keypair, mbedtls_ctr_drbg_random, random.drbg)
        guard rc == 0 else { throw CryptoError("ecp_gen_key", code: rc) }
        return key
    }

    /// Parses a PEM or DER private key and checks that it is a P-256 key.
    public static func parsePrivate(_ bytes: [UInt8]) throws(CryptoError) -> P256Key {
        let key = P256Key()
        var input = bytes
        if input.first == 45 { input.append(0) }  // PEM must be NUL-terminated for mbedTLS
        let rc = mbedtls_pk_parse_key(key.pk, input, input.count, nil, 0)
        guard rc == 0 else { throw CryptoError("pk_parse_key", code: rc) }
        try key.requireP256()
        return key
    }

    /// Parses a public key (SubjectPublicKeyInfo, PEM or DER).
    public static func parsePublic(_ bytes: [UInt8]) throws(CryptoError) -> P256Key {
        let key = P256Key()
        var input = bytes
        if input.first == 45 { input.append(0) }
        let rc = mbedtls_pk_parse_public_key(key.pk, input, input.count)
        guard rc == 0 else { throw CryptoError("pk_parse_public_key", code: rc) }
        try key.requireP256()
        return key
    }

    private func requireP256() throws(CryptoError) {
        guard mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY, keypair.pointee.grp.id == MBEDTLS_ECP_DP_SECP256R1 else {
            throw CryptoError("key type check (want EC P-256)", code: MBEDTLS_ERR_PK_KEY_INVALID_FORMAT)
        }
    }

    public func privatePEM() throws(CryptoError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 512)
        let rc = mbedtls_pk_write_key_pem(pk, &buf, buf.count)
        guard rc == 0 else { throw CryptoError("pk_write_key_pem", code: rc) }
        let n = buf.firstIndex(of: 0) ?? buf.count
        let out = Array(buf[..<n])
        for i in buf.indices { buf[i] = 0 }  // do not leave the private key in freed memory
        return out
    }

    public func publicPEM() throws(CryptoError) -> String {
        var buf = [UInt8](repeating: 0, count: 512)
        let rc = mbedtls_pk_write_pubkey_pem(pk, &buf, buf.count)
        guard rc == 0 else { throw CryptoError("pk_write_pubkey_pem", code: rc) }
        let n = buf.firstIndex(of: 0) ?? buf.count
        return String(decoding: buf[..<n], as: UTF8.self)
    }

    /// The public point as two 32-byte big-endian coordinates (for a JWK).
    public func publicXY() throws(CryptoError) -> (x: [UInt8], y: [UInt8]) {
        var x = [UInt8](repeating: 0, count: 32)
        var y = [UInt8](repeating: 0, count: 32)
        var rc = mbedtls_mpi_write_binary(&keypair.pointee.Q.X, &x, 32)
        guard rc == 0 else { throw CryptoError("mpi_write_binary", code: rc) }
        rc = mbedtls_mpi_write_binary(&keypair.pointee.Q.Y, &y, 32)
        guard rc == 0 else { throw CryptoError("mpi_write_binary", code: rc) }
        return (x, y)
    }

    /// ECDSA over a 32-byte digest; the JWS form r‖s, 64 bytes (RFC 7518 §3.4).
    public func sign(digest: [UInt8], _ random: RandomSource) throws(CryptoError) -> [UInt8] {
        precondition(digest.count == 32, "P-256 signs SHA-256 digests")
        var r = mbedtls_mpi()
        var s = mbedtls_mpi()
        mbedtls_mpi_init(&r)
        mbedtls_mpi_init(&s)
        defer {
            mbedtls_mpi_free(&r)
            mbedtls_mpi_free(&s)
        }
        let kp = keypair
        var rc = mbedtls_ecdsa_sign(&kp.pointee.grp, &r, &s, &kp.pointee.d, digest, 32, mbedtls_ctr_drbg_random, random.drbg)
        guard rc == 0 else { throw CryptoError("ecdsa_sign", code: rc) }
        var out = [UInt8](repeating: 0, count: 64)
        rc = out.withUnsafeMutableBufferPointer { b in
            let r1 = mbedtls_mpi_write_binary(&r, b.baseAddress!, 32)
            return r1 != 0 ? r1 : mbedtls_mpi_write_binary(&s, b.baseAddress! + 32, 32)
        }
        guard rc == 0 else { throw CryptoError("mpi_write_binary", code: rc) }
        return out
    }

    public func verify(digest: [UInt8], signature: [UInt8]) -> Bool {
        guard digest.count == 32, signature.count == 64 else { return false }
        var r = mbedtls_mpi()
        var s = mbedtls_mpi()
        mbedtls_mpi_init(&r)
        mbedtls_mpi_init(&s)
        defer {
            mbedtls_mpi_free(&r)
            mbedtls_mpi_free(&s)
        }
        guard mbedtls_mpi_read_binary(&r, signature, 32) == 0 else { return false }
        let ok = signature.withUnsafeBufferPointer { mbedtls_mpi_read_binary(&s, $0.baseAddress! + 32, 32) } == 0
        guard ok else { return false }
        let kp = keypair
        return mbedtls_ecdsa_verify(&kp.pointee.grp, digest, 32, &kp.pointee.Q, &r, &s) == 0
    }
}
