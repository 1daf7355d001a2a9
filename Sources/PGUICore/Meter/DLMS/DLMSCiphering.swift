/// DLMS security suite 0 (IEC 62056-5-3 §5.3.4): AES-128-GCM with
///   IV  = system title (8 bytes) ‖ invocation counter (4 bytes),
///   AAD = security control ‖ authentication key [‖ plaintext when only authenticated],
///   tag = 12 bytes.
/// The security control byte: bit 4 authentication, bit 5 encryption, bit 6 broadcast key,
/// bit 7 compression, bits 0–3 the suite (0).
public enum DLMSSecurityControl {
    public static let authenticated: UInt8 = 0x10
    public static let encrypted: UInt8 = 0x20
    public static let broadcastKey: UInt8 = 0x40
    public static let compressed: UInt8 = 0x80
}

/// Why a ciphered APDU was refused. `authentication` and `replay` are the frames `/metrics` counts.
public enum DLMSCipherError: Error, Equatable {
    case decode(DLMSDecodeError)
    /// The GCM tag did not match: wrong key, or the frame was altered.
    case authentication(systemTitle: UInt64, counter: UInt32)
    /// The invocation counter did not increase over the last accepted frame of this system title.
    case replay(systemTitle: UInt64, counter: UInt32, last: UInt32)
    /// The frame is ciphered in a way this configuration refuses (no key, not authenticated while an
    /// authentication key is configured, compression, another suite).
    case refused(String)

    public var description: String {
        switch self {
        case .decode(let e): "ciphered APDU malformed: \(e.message)"
        case .authentication(let t, let c): "ciphered APDU from system title \(titleText(t)) counter \(c) failed authentication (wrong key or altered frame); dropped"
        case .replay(let t, let c, let last): "ciphered APDU from system title \(titleText(t)) replays invocation counter \(c) (last accepted \(last)); dropped"
        case .refused(let why): "ciphered APDU refused: \(why)"
        }
    }
}

/// A system title for logs, in hex (the first 3 bytes are the manufacturer's FLAG id).
public func titleText(_ t: UInt64) -> String {
    var s = ""
    for i in (0..<8).reversed() { s += dlmsHex(UInt8((t >> (UInt64(i) * 8)) & 0xFF)) }
    return s
}

/// Opens ciphered APDUs (general-glo-ciphering from pushes, glo/ded service APDUs from a polled
/// meter) into its own preallocated buffer, and keeps the last invocation counter per system title
/// so a replayed or stale frame is refused. Generic over the cipher: mbedTLS in the firmware, a
/// fake in tests and fuzz targets. A class: its buffers are lent to the cipher together.
public final class DLMSDecryptor<C: MeterCipher> {
    public let cipher: C
    /// The authentication key (GAK), when configured; nil accepts encryption-only frames.
    private let authenticationKey: [UInt8]?
    public private(set) var plaintext: [UInt8]
    private var iv: [UInt8]
    private var aad: [UInt8]
    private var tagScratch: [UInt8]
    /// Last accepted invocation counter per system title (a main meter has one; the table bounds a
    /// hostile stream of made-up titles: the oldest entry is replaced).
    private var counters: [(title: UInt64, counter: UInt32)] = []
    private static var titlesMax: Int { 4 }

    public init(cipher: C, authenticationKey: [UInt8]?) {
        self.cipher = cipher
        self.authenticationKey = authenticationKey
        plaintext = Array(repeating: 0, count: DLMSLimits.apduBytesMax)
        iv = Array(repeating: 0, count: 12)
        aad = []
        aad.reserveCapacity(1 + MeterKey.bytes + DLMSLimits.apduBytesMax)
        tagScratch = Array(repeating: 0, count: DLMSLimits.gcmTagBytes)
        counters.reserveCapacity(Self.titlesMax)
    }

    /// The last counter accepted from `title`.
    public func lastCounter(_ title: UInt64) -> UInt32? {
        for c in counters where c.title == title { return c.counter }
        return nil
    }

    /// Opens the ciphered APDU at `apdu[range]` (its first byte is the ciphered tag). `knownTitle`
    /// is the server's system title for service-specific APDUs (they do not carry it). Returns the
    /// plaintext APDU as a range of `plaintext`.
    public func open(_ apdu: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, knownTitle: UInt64?) throws(DLMSCipherError) -> Range<Int> {
        var r = AXDRReader(apdu, from: range.lowerBound, to: range.upperBound)
        let title: UInt64
        let sc: UInt8
        let counter: UInt32
        let body: Range<Int>
        do throws(DLMSDecodeError) {
            let tag = try r.byte("ciphered APDU tag")
            if tag == DLMSAPDUTag.generalGloCiphering || tag == DLMSAPDUTag.generalDedCiphering {
                let tl = try r.length("system title length")
                guard tl == DLMSLimits.systemTitleBytes else { throw DLMSDecodeError("byte \(r.pos - 1): system title of \(tl) bytes (8 expected)") }
                title = try r.unsigned(8, "system title")
            } else {
                guard let k = knownTitle else { throw DLMSDecodeError("ciphered APDU 0x\(dlmsHex(tag)) without a known server system title") }
                title = k
            }
            let n = try r.length("ciphered content length")
            guard n >= 5 else { throw DLMSDecodeError("ciphered content of \(n) bytes (security header is 5)") }
            sc = try r.byte("security control")
            counter = UInt32(try r.unsigned(4, "invocation counter"))
            body = try r.take(n - 5, "ciphered content")
            guard r.atEnd else { throw DLMSDecodeError("\(r.remaining) bytes after the ciphered content") }
        } catch {
            throw .decode(error)
        }
        guard sc & 0x0F == 0 else { throw .refused("security suite \(sc & 0x0F) (only suite 0, AES-128-GCM)") }
        guard sc & DLMSSecurityControl.compressed == 0 else { throw .refused("compressed APDU") }
        let auth = sc & DLMSSecurityControl.authenticated != 0, enc = sc & DLMSSecurityControl.encrypted != 0
        guard auth || enc else { throw .refused("security control 0x\(dlmsHex(sc)): neither authenticated nor encrypted") }
        if !auth && authenticationKey != nil {
            throw .refused("security control 0x\(dlmsHex(sc)) is not authenticated but an authentication key is configured")
        }
        if auth && authenticationKey == nil { throw .refused("the frame is authenticated but no authentication key is configured (meter.cipher.authentication_key_file)") }
        if let last = lastCounter(title), counter <= last { throw .replay(systemTitle: title, counter: counter, last: last) }
        let tagBytes = auth ? DLMSLimits.gcmTagBytes : 0
        guard body.count >= tagBytes else { throw .decode(DLMSDecodeError("ciphered content shorter than its tag")) }
        let payload = body.lowerBound..<(body.upperBound - tagBytes)
        guard payload.count <= plaintext.count else { throw .decode(DLMSDecodeError("ciphered APDU of \(payload.count) bytes over \(DLMSLimits.apduBytesMax)")) }
        for i in 0..<8 { iv[i] = UInt8((title >> (UInt64(7 - i) * 8)) & 0xFF) }
        for i in 0..<4 { iv[8 + i] = UInt8((counter >> (UInt32(3 - i) * 8)) & 0xFF) }
        aad.removeAll(keepingCapacity: true)
        aad.append(sc)
        if let ak = authenticationKey { aad += ak }
        let ok: Bool
        if !enc {
            // Authenticated only: the "ciphertext" is the plaintext, appended to the AAD; GCM over nothing.
            for i in payload { aad.append(apdu[i]) }
            for (k, i) in payload.enumerated() { plaintext[k] = apdu[i] }
            ok = iv.withUnsafeBufferPointer { ivp in aad.withUnsafeBufferPointer { ap in tagScratch.withUnsafeMutableBufferPointer { _ in
                plaintext.withUnsafeMutableBufferPointer { pp in
                    cipher.open(iv: ivp, aad: ap, ciphertext: UnsafeBufferPointer(rebasing: apdu[payload.upperBound..<payload.upperBound]),
                                tag: UnsafeBufferPointer(rebasing: apdu[payload.upperBound..<body.upperBound]),
                                plaintext: UnsafeMutableBufferPointer(rebasing: pp[0..<0]))
                } } } }
        } else if !auth {
            // Encrypted only: GCM without its tag is AES-CTR, so sealing the ciphertext yields the plaintext.
            ok = iv.withUnsafeBufferPointer { ivp in aad.withUnsafeBufferPointer { ap in tagScratch.withUnsafeMutableBufferPointer { tp in
                plaintext.withUnsafeMutableBufferPointer { pp in
                    cipher.seal(iv: ivp, aad: UnsafeBufferPointer(rebasing: ap[0..<0]), plaintext: UnsafeBufferPointer(rebasing: apdu[payload]),
                                ciphertext: UnsafeMutableBufferPointer(rebasing: pp[0..<payload.count]), tag: tp)
                } } } }
        } else {
            ok = iv.withUnsafeBufferPointer { ivp in aad.withUnsafeBufferPointer { ap in
                plaintext.withUnsafeMutableBufferPointer { pp in
                    cipher.open(iv: ivp, aad: ap, ciphertext: UnsafeBufferPointer(rebasing: apdu[payload]),
                                tag: UnsafeBufferPointer(rebasing: apdu[payload.upperBound..<body.upperBound]),
                                plaintext: UnsafeMutableBufferPointer(rebasing: pp[0..<payload.count]))
                } } }
        }
        guard ok else { throw .authentication(systemTitle: title, counter: counter) }
        remember(title, counter)
        return 0..<payload.count
    }

    private func remember(_ title: UInt64, _ counter: UInt32) {
        for i in counters.indices where counters[i].title == title {
            counters[i].counter = counter
            return
        }
        if counters.count == Self.titlesMax { counters.removeFirst() }
        counters.append((title, counter))
    }

    /// Forgets the counters (tests; a configuration change). Never called on reconnect: the meter's
    /// counter keeps increasing across associations, and a replay after a reconnect is still a replay.
    public func forgetCounters() { counters.removeAll(keepingCapacity: true) }
}

/// Builds ciphered APDUs: the test peers and the simulated DLMS meter use it, and the unit tests
/// check `DLMSDecryptor` against it (and both against frames from other implementations).
public enum DLMSCipherWriter {
    /// general-glo-ciphering of `apdu` with security control `sc` (0x30 = authenticated and encrypted).
    public static func generalGlo<C: MeterCipher>(_ cipher: C, authenticationKey: [UInt8], systemTitle: UInt64, counter: UInt32,
                                                  sc: UInt8 = 0x30, apdu: [UInt8]) -> [UInt8] {
        var iv = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { iv[i] = UInt8((systemTitle >> (UInt64(7 - i) * 8)) & 0xFF) }
        for i in 0..<4 { iv[8 + i] = UInt8((counter >> (UInt32(3 - i) * 8)) & 0xFF) }
        let auth = sc & DLMSSecurityControl.authenticated != 0, enc = sc & DLMSSecurityControl.encrypted != 0
        var aad: [UInt8] = [sc] + (auth ? authenticationKey : [])
        if !enc { aad += apdu }
        var ct = [UInt8](repeating: 0, count: apdu.count)
        var tag = [UInt8](repeating: 0, count: DLMSLimits.gcmTagBytes)
        if enc {
            _ = iv.withUnsafeBufferPointer { ivp in aad.withUnsafeBufferPointer { ap in apdu.withUnsafeBufferPointer { pp in
                ct.withUnsafeMutableBufferPointer { cp in tag.withUnsafeMutableBufferPointer { tp in
                    cipher.seal(iv: ivp, aad: auth ? ap : UnsafeBufferPointer(rebasing: ap[0..<0]), plaintext: pp, ciphertext: cp, tag: tp)
                } } } } }
        } else {
            ct = apdu
            var none: [UInt8] = []
            _ = iv.withUnsafeBufferPointer { ivp in aad.withUnsafeBufferPointer { ap in
                none.withUnsafeMutableBufferPointer { np in tag.withUnsafeMutableBufferPointer { tp in
                    cipher.seal(iv: ivp, aad: ap, plaintext: UnsafeBufferPointer(rebasing: ap[0..<0]), ciphertext: np, tag: tp)
                } } } }
        }
        var content: [UInt8] = [sc, UInt8(counter >> 24), UInt8((counter >> 16) & 0xFF), UInt8((counter >> 8) & 0xFF), UInt8(counter & 0xFF)]
        content += ct
        if auth { content += tag }
        var out: [UInt8] = [DLMSAPDUTag.generalGloCiphering, 0x08]
        for i in 0..<8 { out.append(UInt8((systemTitle >> (UInt64(7 - i) * 8)) & 0xFF)) }
        appendBERLength(content.count, &out)
        return out + content
    }

    public static func appendBERLength(_ n: Int, _ out: inout [UInt8]) {
        if n < 0x80 { out.append(UInt8(n)) } else if n < 0x100 { out += [0x81, UInt8(n)] } else { out += [0x82, UInt8(n >> 8), UInt8(n & 0xFF)] }
    }
}
