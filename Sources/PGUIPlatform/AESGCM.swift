import CMbedTLS
import CSystem
import PGUICore

/// AES-128-GCM on mbedTLS (the firmware's one crypto library) for encrypted meter frames; the
/// core's decoders use it through `MeterCipher`. The context lives at a stable heap address for
/// the object's life (mbedTLS keeps internal pointers), and is set up once per key.
public final class AESGCM: MeterCipher {
    private let ctx: UnsafeMutablePointer<mbedtls_gcm_context>

    /// `key` must be `MeterKey.bytes` long (AES-128, IEC 62056-5-3 security suite 0).
    public init(key: [UInt8]) throws(CryptoError) {
        // Checked before `ctx` exists: a class init that throws once every stored property is set
        // runs `deinit`, which frees the context — freeing it here too was a double free (ASan).
        guard key.count == MeterKey.bytes else {
            throw CryptoError("AES-GCM key of \(key.count) bytes (expected \(MeterKey.bytes))", code: MBEDTLS_ERR_GCM_BAD_INPUT)
        }
        ctx = .allocate(capacity: 1)
        mbedtls_gcm_init(ctx)
        let rc = key.withUnsafeBufferPointer { mbedtls_gcm_setkey(ctx, MBEDTLS_CIPHER_ID_AES, $0.baseAddress, 128) }
        guard rc == 0 else { throw CryptoError("AES-GCM set key", code: rc) }  // deinit frees ctx
    }

    deinit {
        mbedtls_gcm_free(ctx)
        ctx.deallocate()
    }

    public func open(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>,
                     ciphertext: UnsafeBufferPointer<UInt8>, tag: UnsafeBufferPointer<UInt8>,
                     plaintext: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard plaintext.count >= ciphertext.count, tag.count >= 4, tag.count <= 16, !iv.isEmpty else { return false }
        let rc = mbedtls_gcm_auth_decrypt(ctx, ciphertext.count, iv.baseAddress, iv.count, aad.baseAddress, aad.count,
                                          tag.baseAddress, tag.count, ciphertext.baseAddress, plaintext.baseAddress)
        if rc != 0 {
            // mbedTLS zeroes the output on a tag mismatch; do the same for any other failure.
            for i in 0..<min(plaintext.count, ciphertext.count) { plaintext[i] = 0 }
            return false
        }
        return true
    }

    public func seal(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>,
                     plaintext: UnsafeBufferPointer<UInt8>, ciphertext: UnsafeMutableBufferPointer<UInt8>,
                     tag: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard ciphertext.count >= plaintext.count, tag.count >= 4, tag.count <= 16, !iv.isEmpty else { return false }
        return mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_ENCRYPT, plaintext.count, iv.baseAddress, iv.count,
                                         aad.baseAddress, aad.count, plaintext.baseAddress, ciphertext.baseAddress,
                                         tag.count, tag.baseAddress) == 0
    }
}

/// Meter key files (`meter.cipher.*_file`): 32 hex digits, owned by the device and mode 0600 like
/// every other secret (docs/meters.md). The key itself never appears in an error or a log line.
public enum MeterKeyFile {
    public enum Problem: Error, Equatable {
        case unreadable(path: String, SystemError)
        case permissions(path: String, mode: Int)
        case format(path: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let e): "meter key file \(path): \(e.description)"
            case .permissions(let path, let mode): "meter key file \(path) has mode 0\(String(mode, radix: 8)); it must be 0600 (chmod 600), key not used"
            case .format(let path): "meter key file \(path) does not hold exactly 32 hex digits (a 16-byte AES-128 key)"
            }
        }
    }

    /// Reads and checks a key file; a file readable by group or others is refused, not repaired:
    /// the key may already have leaked, and the installer should know.
    public static func load(_ path: String) throws(Problem) -> [UInt8] {
        let mode = pgui_file_mode(path)
        if mode >= 0 && mode & 0o077 != 0 { throw .permissions(path: path, mode: Int(mode & 0o777)) }
        let text: [UInt8]
        do { text = try Files.read(path, bytesMax: 256) } catch { throw .unreadable(path: path, error) }
        guard let key = MeterKey.parseHex(text) else { throw .format(path: path) }
        return key
    }
}
