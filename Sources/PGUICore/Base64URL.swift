/// base64url without padding (RFC 4648 §5), as JOSE uses it (RFC 7515 §2), plus standard base64 with
/// padding for PEM bodies.
public enum Base64 {
    static let urlAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let stdAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func urlEncode(_ bytes: [UInt8]) -> String {
        String(decoding: encode(bytes[...], urlAlphabet, pad: false), as: UTF8.self)
    }

    public static func urlEncode(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        out.append(contentsOf: encode(bytes, urlAlphabet, pad: false))
    }

    public static func stdEncode(_ bytes: [UInt8]) -> String {
        String(decoding: encode(bytes[...], stdAlphabet, pad: true), as: UTF8.self)
    }

    static func encode(_ b: ArraySlice<UInt8>, _ alphabet: [UInt8], pad: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = b.startIndex
        while i + 3 <= b.endIndex {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = b.endIndex - i
        if rest == 1 {
            let n = UInt32(b[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if pad { out.append(contentsOf: [61, 61]) }
        } else if rest == 2 {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            if pad { out.append(61) }
        }
        return out
    }

    /// Strict base64url decoding: no padding, no whitespace, and the unused low bits of the last
    /// character must be zero (so every byte string has exactly one encoding). nil on any violation.
    public static func urlDecode(_ s: ArraySlice<UInt8>) -> [UInt8]? {
        if s.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(s.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in s {
            let v: UInt32
            switch c {
            case 65...90: v = UInt32(c - 65)
            case 97...122: v = UInt32(c - 97 + 26)
            case 48...57: v = UInt32(c - 48 + 52)
            case 45: v = 62
            case 95: v = 63
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        if acc != 0 { return nil }  // non-canonical trailing bits
        return out
    }

    public static func urlDecode(_ s: String) -> [UInt8]? { urlDecode(Array(s.utf8)[...]) }
}
