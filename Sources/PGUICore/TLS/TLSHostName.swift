/// The TLS server identity rule of docs/bal-protocol.md (issue 21, item 9): the broker's host name
/// must be in the certificate's subjectAltName. No fallback to the subject CN (RFC 6125 §6.4.4 allows
/// it only when there is no SAN at all; the BAL profile forbids it, and mbedTLS and OpenSSL both fall
/// back by default). Pure, so either TLS layer (the OpenSSL one under Paho today, mbedTLS next) can
/// call it with the SAN entries it extracted.
public enum TLSHostName {
    /// True when `host` (a DNS name, or an IPv4/IPv6 literal) is named by the SAN entries.
    /// DNS: case-insensitive exact match, or a wildcard `*.rest` as the whole leftmost label matching
    /// exactly one label (RFC 6125 §6.4.3; no partial wildcards like `b*z.example`, none in a public
    /// suffix of fewer than two labels). IP literals match only iPAddress entries, byte for byte.
    public static func matches(host: String, dnsNames: [String], ipAddresses: [[UInt8]]) -> Bool {
        if let ip = parseIPv4(host) ?? parseIPv6(host) {
            return ipAddresses.contains(ip)
        }
        let h = lower(Array(host.utf8))
        guard !h.isEmpty, h.count <= 253 else { return false }
        let hostName = h.last == ASCII.dot ? Array(h.dropLast()) : h
        for name in dnsNames {
            var n = lower(Array(name.utf8))
            if n.last == ASCII.dot { n.removeLast() }
            if n.isEmpty { continue }
            if n == hostName { return true }
            if n.count > 2, n[0] == 42, n[1] == ASCII.dot {
                let rest = Array(n[2...])
                // The wildcard covers one label, and the rest must have at least two labels.
                guard rest.contains(ASCII.dot), !rest.contains(42) else { continue }
                guard let firstDot = hostName.firstIndex(of: ASCII.dot), firstDot > 0 else { continue }
                if Array(hostName[(firstDot + 1)...]) == rest { return true }
            }
        }
        return false
    }

    static func lower(_ b: [UInt8]) -> [UInt8] { b.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 } }

    /// Dotted-quad IPv4 (four decimal octets, no leading zeros) as 4 bytes.
    public static func parseIPv4(_ s: String) -> [UInt8]? {
        let parts = Array(s.utf8).split(separator: ASCII.dot, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(ASCII.isDigit), p.count == 1 || p.first != ASCII.zero else { return nil }
            var v = 0
            for d in p { v = v * 10 + Int(d - ASCII.zero) }
            guard v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    /// IPv6 text (RFC 4291 §2.2 forms 1 and 2, no embedded IPv4, optional brackets) as 16 bytes.
    public static func parseIPv6(_ s: String) -> [UInt8]? {
        var b = Array(s.utf8)
        if b.first == 91, b.last == 93 { b = Array(b.dropFirst().dropLast()) }
        guard b.contains(58), b.count <= 39 else { return nil }
        func groups(_ part: ArraySlice<UInt8>) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: 58, omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4 else { return nil }
                var v: UInt16 = 0
                for c in g {
                    let d: UInt16
                    if ASCII.isDigit(c) { d = UInt16(c - 48) } else if c >= 97 && c <= 102 { d = UInt16(c - 87) } else if c >= 65 && c <= 70 { d = UInt16(c - 55) } else { return nil }
                    v = v << 4 | d
                }
                out.append(v)
            }
            return out
        }
        var words: [UInt16]
        var gap: Int? = nil
        var i = 0
        while i + 1 < b.count {
            if b[i] == 58 && b[i + 1] == 58 {
                guard gap == nil else { return nil }  // "::" at most once
                gap = i
                i += 2
                continue
            }
            i += 1
        }
        if let g = gap {
            guard let head = groups(b[..<g]), let tail = groups(b[(g + 2)...]), head.count + tail.count <= 7 else { return nil }
            words = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = groups(b[...]), all.count == 8 else { return nil }
            words = all
        }
        var out: [UInt8] = []
        for w in words { out.append(UInt8(w >> 8)); out.append(UInt8(w & 0xFF)) }
        return out
    }
}

/// The subjectAltName entries of a DER certificate (RFC 5280 §4.2.1.6), for `TLSHostName.matches`:
/// dNSName ([2] IA5String) and iPAddress ([7] OCTET STRING, 4 or 16 bytes); other kinds are skipped.
/// A strict, bounded DER walk (definite lengths of at most 4 bytes, every length inside its parent):
/// the peer's certificate is hostile input. nil when the bytes are not a certificate.
public struct SubjectAltNames: Equatable {
    public var dnsNames: [String] = []
    public var ipAddresses: [[UInt8]] = []
    public static let certificateBytesMax = 16_384
    static let sanOID: [UInt8] = [0x55, 0x1D, 0x11]  // 2.5.29.17

    /// One TLV: tag, and the value's range in the input.
    struct TLV {
        var tag: UInt8
        var value: Range<Int>
        var end: Int { value.upperBound }
    }

    static func tlv(_ b: [UInt8], _ at: Int, within end: Int) -> TLV? {
        guard at + 2 <= end else { return nil }
        let tag = b[at]
        guard tag & 0x1F != 0x1F else { return nil }  // multi-byte tags do not occur in these fields
        var len = Int(b[at + 1])
        var p = at + 2
        if len & 0x80 != 0 {
            let n = len & 0x7F
            guard n >= 1, n <= 4, p + n <= end else { return nil }
            len = 0
            for i in 0..<n { len = len << 8 | Int(b[p + i]) }
            p += n
        }
        guard len <= end - p else { return nil }
        return TLV(tag: tag, value: p..<(p + len))
    }

    public static func parse(certificateDER b: [UInt8]) -> SubjectAltNames? {
        guard b.count <= certificateBytesMax, let cert = tlv(b, 0, within: b.count), cert.tag == 0x30,
              let tbs = tlv(b, cert.value.lowerBound, within: cert.end), tbs.tag == 0x30 else { return nil }
        var out = SubjectAltNames()
        var p = tbs.value.lowerBound
        while p < tbs.end {
            guard let field = tlv(b, p, within: tbs.end) else { return nil }
            p = field.end
            guard field.tag == 0xA3 else { continue }  // [3] extensions
            guard let exts = tlv(b, field.value.lowerBound, within: field.end), exts.tag == 0x30 else { return nil }
            var q = exts.value.lowerBound
            while q < exts.end {
                guard let ext = tlv(b, q, within: exts.end), ext.tag == 0x30,
                      let oid = tlv(b, ext.value.lowerBound, within: ext.end), oid.tag == 0x06 else { return nil }
                q = ext.end
                guard Array(b[oid.value]) == sanOID else { continue }
                var r = oid.end
                if let crit = tlv(b, r, within: ext.end), crit.tag == 0x01 { r = crit.end }
                guard let value = tlv(b, r, within: ext.end), value.tag == 0x04,
                      let names = tlv(b, value.value.lowerBound, within: value.end), names.tag == 0x30 else { return nil }
                var s = names.value.lowerBound
                while s < names.end {
                    guard let n = tlv(b, s, within: names.end) else { return nil }
                    s = n.end
                    if n.tag == 0x82 {
                        out.dnsNames.append(String(decoding: b[n.value], as: UTF8.self))
                    } else if n.tag == 0x87 {
                        guard n.value.count == 4 || n.value.count == 16 else { return nil }
                        out.ipAddresses.append(Array(b[n.value]))
                    }
                }
            }
        }
        return out
    }
}
