// Byte-level text helpers. Protocol and parser code works on UTF-8 bytes, never on Unicode
// properties: the armv7 Unicode tables of the Embedded stdlib are built for the wrong float ABI
// (docs/building.md), so `Character.isNumber` and friends return garbage there.

public enum ASCII {
    public static let tab: UInt8 = 9
    public static let lf: UInt8 = 10
    public static let cr: UInt8 = 13
    public static let space: UInt8 = 32
    public static let quote: UInt8 = 34
    public static let hash: UInt8 = 35
    public static let plus: UInt8 = 43
    public static let minus: UInt8 = 45
    public static let dot: UInt8 = 46
    public static let zero: UInt8 = 48
    public static let nine: UInt8 = 57
    public static let equals: UInt8 = 61
    public static let backslash: UInt8 = 92

    @inlinable public static func isSpace(_ b: UInt8) -> Bool { b == space || b == tab }
    @inlinable public static func isDigit(_ b: UInt8) -> Bool { b >= zero && b <= nine }
    @inlinable public static func isLowerAlpha(_ b: UInt8) -> Bool { b >= 97 && b <= 122 }
    @inlinable public static func isUpperAlpha(_ b: UInt8) -> Bool { b >= 65 && b <= 90 }
    /// The value of a hex digit (either case), nil for anything else.
    @inlinable public static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: b - 48
        case 65...70: b - 55
        case 97...102: b - 87
        default: nil
        }
    }
}

/// Strips spaces and tabs from both ends of a byte slice.
public func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var lo = s.startIndex
    var hi = s.endIndex
    while lo < hi && ASCII.isSpace(s[lo]) { lo += 1 }
    while hi > lo && ASCII.isSpace(s[hi - 1]) { hi -= 1 }
    return s[lo..<hi]
}

/// Parses a decimal integer ("-12", "+7", "1_000" not accepted) from bytes, with overflow checking.
/// Returns nil for anything else: empty, stray characters, out of range.
public func parseInt64(_ s: ArraySlice<UInt8>) -> Int64? {
    var i = s.startIndex
    guard i < s.endIndex else { return nil }
    var negative = false
    if s[i] == ASCII.minus || s[i] == ASCII.plus {
        negative = s[i] == ASCII.minus
        i += 1
    }
    guard i < s.endIndex else { return nil }
    var value: Int64 = 0
    while i < s.endIndex {
        let b = s[i]
        guard ASCII.isDigit(b) else { return nil }
        let digit = Int64(b - ASCII.zero)
        // Accumulate negatively so Int64.min parses.
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (v, o2) = m.subtractingReportingOverflow(digit)
        if o1 || o2 { return nil }
        value = v
        i += 1
    }
    if negative { return value }
    let (p, o) = Int64(0).subtractingReportingOverflow(value)
    return o ? nil : p
}

public func parseInt64(_ s: String) -> Int64? { parseInt64(Array(s.utf8)[...]) }

public func bytesEqual(_ a: ArraySlice<UInt8>, _ b: String) -> Bool {
    var i = a.startIndex
    for c in b.utf8 {
        guard i < a.endIndex, a[i] == c else { return false }
        i += 1
    }
    return i == a.endIndex
}

public func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

/// Renders bytes for an error message: printable ASCII as is, everything else as \xNN, cut at `max`.
public func printable(_ bytes: ArraySlice<UInt8>, max: Int = 64) -> String {
    var out: [UInt8] = []
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    for b in bytes.prefix(max) {
        if b >= 32 && b < 127 && b != ASCII.backslash {
            out.append(b)
        } else {
            out.append(ASCII.backslash)
            out.append(120)  // x
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
    }
    if bytes.count > max { out.append(contentsOf: "…".utf8) }
    return String(decoding: out, as: UTF8.self)
}
