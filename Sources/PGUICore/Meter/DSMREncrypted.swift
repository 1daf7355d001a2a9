/// Encrypted DSMR P1 as Luxembourg's Smarty meters (Sagemcom T210-D, "P1 Companion Standard
/// Luxembourg" v1.x) send it: each DSMR 5 telegram wrapped in a DLMS general-glo-ciphering APDU
/// (IEC 62056-5-3 §9.2.7.2.4, security suite 0 = AES-128-GCM, 12-byte tag):
///
///     DB 08 <system title, 8>  82 <length, 2 bytes>  30 <frame counter, 4>  <ciphertext>  <tag, 12>
///
/// length counts security control + frame counter + ciphertext + tag. IV = system title ‖ frame
/// counter; AAD = security control (0x30: authenticated and encrypted) ‖ authentication key. The
/// frame counter must increase from frame to frame (a replayed or reordered frame is refused).
public enum DSMREncrypted {
    static let tag: UInt8 = 0xDB
    static let systemTitleBytes = 8
    static let authTagBytes = 12
    /// 0x30: security suite 0, authenticated and encrypted (IEC 62056-5-3 Table 38).
    static let securityControl: UInt8 = 0x30
    /// DB, title length, title, 82, 2 length bytes.
    static let headerBytes = 2 + systemTitleBytes + 3
    /// Largest APDU: a telegram of `DSMR.telegramBytesMax` plus SC, counter and tag.
    public static let frameBytesMax = headerBytes + 1 + 4 + DSMR.telegramBytesMax + authTagBytes
    /// The authentication key published in the Luxembourg P1 specification, used when
    /// `meter.cipher.authentication_key_file` is not set (dsmr-parser uses the same for these meters).
    public static let publishedAuthenticationKey: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                                            0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF]
}

/// Finds general-glo-ciphering APDUs in the byte stream (resynchronising on the next 0xDB when a
/// header does not fit), bounded by `DSMREncrypted.frameBytesMax`.
public struct DSMREncryptedFramer {
    private var buffer: [UInt8]
    public private(set) var count = 0
    private var expected = 0  // total frame length once the header is read; 0 = unknown
    public private(set) var frames: UInt64 = 0
    public private(set) var badHeaders: UInt64 = 0
    public private(set) var noiseBytes: UInt64 = 0

    public init() { buffer = Array(repeating: 0, count: DSMREncrypted.frameBytesMax) }

    public mutating func reset() {
        count = 0
        expected = 0
    }

    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) {
        if expected > 0 && count == expected { reset() }  // the previous frame was handed over
        var i = 0
        while i < input.count {
            let b = input[i]
            i += 1
            if count == 0 && b != DSMREncrypted.tag {
                noiseBytes += 1
                continue
            }
            buffer[count] = b
            count += 1
            if count == 2 && b != UInt8(DSMREncrypted.systemTitleBytes) { badHeaders += 1; reset(); continue }
            if count == DSMREncrypted.headerBytes - 2 && b != 0x82 { badHeaders += 1; reset(); continue }
            if count == DSMREncrypted.headerBytes {
                let length = Int(buffer[count - 2]) << 8 | Int(buffer[count - 1])
                let total = DSMREncrypted.headerBytes + length
                guard length >= 1 + 4 + DSMREncrypted.authTagBytes + 1, total <= buffer.count else {
                    badHeaders += 1
                    reset()
                    continue
                }
                expected = total
            }
            if expected > 0 && count == expected {
                frames += 1
                return (i, true)
            }
        }
        return (i, false)
    }

    public func withFrame<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try buffer.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: p[0..<count]))
        }
    }
}

/// Encrypted P1 on the push source: unwraps, authenticates and decrypts each APDU with `cipher`,
/// then reads the DSMR telegram inside (its CRC checked too).
public struct DSMREncryptedDecoder<Cipher: MeterCipher>: PushDecoder {
    public var framer = DSMREncryptedFramer()
    private let cipher: Cipher
    private let authenticationKey: [UInt8]
    private let plain = ReceiveBuffer(capacity: DSMR.telegramBytesMax)
    private let aad: [UInt8]
    private let iv = ReceiveBuffer(capacity: DSMREncrypted.systemTitleBytes + 4)
    private var inner = DSMRFramer(crcRequired: true)
    /// The last accepted frame counter; kept across reconnects (a replay after a replug is still refused).
    public private(set) var lastCounter: UInt32? = nil
    public private(set) var authFailures: UInt64 = 0
    public private(set) var replays: UInt64 = 0
    public var identification: String? = nil

    public init(cipher: Cipher, authenticationKey: [UInt8]) {
        precondition(authenticationKey.count == MeterKey.bytes, "AES-128 authentication key")
        self.cipher = cipher
        self.authenticationKey = authenticationKey
        aad = [DSMREncrypted.securityControl] + authenticationKey
    }

    public var family: String { "encrypted DSMR P1" }
    /// DSMR 5 based (Luxembourg: every 10 s on early firmware, 1 s later), plus margin.
    public var firstTelegramTimeoutMs: Int64 { 11_000 }

    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) { framer.feed(input) }

    public mutating func reset() {
        framer.reset()
        inner.reset()
    }

    public mutating func decode(into acc: inout OBISAccumulator) throws(MeterError) {
        let h = DSMREncrypted.headerBytes
        let (c, aad, iv, plain) = (cipher, self.aad, self.iv.bytes, self.plain.bytes)
        let (ok, counter, plainCount, title) = framer.withFrame { (f: UnsafeBufferPointer<UInt8>) -> (Bool?, UInt32, Int, UInt64) in
            guard f[h] == DSMREncrypted.securityControl else { return (nil, 0, 0, 0) }
            var counter: UInt32 = 0
            for k in 0..<4 { counter = counter << 8 | UInt32(f[h + 1 + k]) }
            var title: UInt64 = 0
            for k in 0..<DSMREncrypted.systemTitleBytes {
                iv[k] = f[2 + k]
                title = title << 8 | UInt64(f[2 + k])
            }
            for k in 0..<4 { iv[DSMREncrypted.systemTitleBytes + k] = f[h + 1 + k] }
            let ctStart = h + 5
            let ctEnd = f.count - DSMREncrypted.authTagBytes
            let n = ctEnd - ctStart
            guard n > 0, n <= plain.count else { return (false, counter, 0, title) }
            let opened = aad.withUnsafeBufferPointer { aadp in
                c.open(iv: UnsafeBufferPointer(iv), aad: aadp, ciphertext: UnsafeBufferPointer(rebasing: f[ctStart..<ctEnd]),
                       tag: UnsafeBufferPointer(rebasing: f[ctEnd...]), plaintext: UnsafeMutableBufferPointer(rebasing: plain[0..<n]))
            }
            return (opened, counter, n, title)
        }
        guard let ok else {
            throw .invalidResponse("encrypted P1 frame with security control other than 0x30 (suite 0, authenticated and encrypted)")
        }
        guard ok else {
            authFailures += 1
            throw .invalidResponse("encrypted P1 frame failed authentication (frame counter \(counter)): wrong meter key or damaged frame")
        }
        if let last = lastCounter, counter <= last {
            replays += 1
            throw .invalidResponse("encrypted P1 frame counter \(counter) does not increase (last \(last)): replayed or reordered frame refused")
        }
        lastCounter = counter
        if identification == nil {
            let hex = Array("0123456789abcdef".utf8)
            var t: [UInt8] = []
            for k in stride(from: 56, through: 0, by: -8) {
                let b = UInt8(truncatingIfNeeded: title >> UInt64(k))
                t += [hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
            identification = "system title \(String(decoding: t, as: UTF8.self))"
        }
        // The plaintext is a whole DSMR telegram with its CRC.
        inner.reset()
        let complete = inner.feed(UnsafeBufferPointer(rebasing: plain[0..<plainCount])).complete
        guard complete else {
            throw .invalidResponse("encrypted P1 frame \(counter) decrypted, but holds no complete DSMR telegram with a valid CRC")
        }
        do {
            try inner.withTelegram { (t: UnsafeBufferPointer<UInt8>) throws(DSMR.Problem) in try DSMR.decode(t, into: &acc) }
        } catch {
            throw .invalidResponse(error.description)
        }
    }
}
