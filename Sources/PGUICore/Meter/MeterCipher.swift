/// Authenticated decryption for meters that encrypt their frames with AES-128-GCM: DLMS/COSEM
/// security suite 0 (general-glo/ded-ciphering, IEC 62056-5-3 §5.3.4) and the encrypted DSMR P1
/// variant (Luxembourg, Sagemcom T210-D), which uses the same DLMS security header.
///
/// Decoders in the core are generic over this protocol; the firmware passes mbedTLS
/// (`PGUIPlatform.AESGCM`), unit tests and fuzz targets a fake. Buffers are the caller's: nothing is
/// allocated per frame.
public protocol MeterCipher {
    /// Decrypts `ciphertext` into `plaintext` (at least as long) and checks `tag` (DLMS uses a
    /// 12-byte tag). False when authentication fails; `plaintext` is then zeroed, never used.
    func open(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>,
              ciphertext: UnsafeBufferPointer<UInt8>, tag: UnsafeBufferPointer<UInt8>,
              plaintext: UnsafeMutableBufferPointer<UInt8>) -> Bool
    /// The inverse, for test peers and the simulated meters: encrypts and writes `tag.count` bytes of tag.
    func seal(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>,
              plaintext: UnsafeBufferPointer<UInt8>, ciphertext: UnsafeMutableBufferPointer<UInt8>,
              tag: UnsafeMutableBufferPointer<UInt8>) -> Bool
}

/// Meter keys are 16 bytes (AES-128), written in configuration key files as 32 hex digits
/// (the form utilities hand out, e.g. "GUEK"/"GAK" for DLMS, the P1 key for Luxembourg).
public enum MeterKey {
    public static let bytes = 16

    /// Parses 32 hex digits, surrounding white space allowed; nil for anything else. The error text
    /// never contains the key (keys are never logged).
    public static func parseHex<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes)
        var high: UInt8? = nil
        var seenDigits = false, trailing = false
        for ch in text {
            if ch == 32 || ch == 9 || ch == 10 || ch == 13 {
                if seenDigits { trailing = true }
                continue
            }
            guard !trailing, let v = ASCII.hexValue(ch) else { return nil }
            seenDigits = true
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
            if out.count > bytes { return nil }
        }
        guard high == nil, out.count == bytes else { return nil }
        return out
    }
}
