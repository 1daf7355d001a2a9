/// The text data line DSMR P1 and IEC 62056-21 share (IEC 62056-21 §6.5 "data set", DSMR 5.0.2
/// §6.4): `ID(value*unit)`, e.g. `1-0:1.8.1(001234.567*kWh)` or `1.8.0(0012345.6*kWh)`. Some lines
/// carry several groups (`0-1:24.2.1(101209112500W)(12785.123*m3)`); the value is the last one.
///
/// Parsing works on the caller's bytes and allocates nothing: the unit becomes one of the string
/// literals below (stored in the binary), so a steady stream of telegrams costs no heap.
public enum OBISTextLine {
    /// Value digits before the unit (IEC 62056-21 allows 32 characters in a data set value; real
    /// meters send at most 12, e.g. `000123456.789`). More is garbage, not a bigger number.
    public static let valueDigitsMax = 18

    /// The units meters put after `*` that a `Measurement` quantity can take; anything else
    /// (`m3`, `GJ`, a misspelling) is returned as nil and the reading refused for a quantity.
    static let units: [String] = ["kWh", "kW", "Wh", "W", "V", "A", "kvarh", "kvar", "varh", "var", "VA", "kVA",
                                  "Hz", "mA", "mV", "kV", "MWh", "MW", "kVAh", "VAh", "%"]

    /// The interned unit for `bytes`, or nil.
    public static func unit(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        for u in units where u.utf8.elementsEqual(bytes) { return u }
        return nil
    }

    public enum Problem: Error, Equatable {
        /// The value group is not `digits[.digits][*unit]`.
        case value
        /// The unit is not one a quantity can take.
        case unit
    }

    /// Parses `digits[.digits][*unit]` (a leading `-` accepted: a few meters sign powers) into a
    /// reading of `code`. No unit means a ratio (`1`).
    public static func reading(code: OBISCode, value: UnsafeBufferPointer<UInt8>) throws(Problem) -> OBISReading {
        var i = 0
        var negative = false
        if i < value.count && value[i] == ASCII.minus {
            negative = true
            i += 1
        }
        var mantissa: Int64 = 0
        var digits = 0, fraction = 0
        var seenDot = false
        while i < value.count && value[i] != 42 {  // '*'
            let b = value[i]
            if b == ASCII.dot || b == 44 {  // '.' (',' on a few IEC meters)
                guard !seenDot else { throw .value }
                seenDot = true
            } else if ASCII.isDigit(b) {
                digits += 1
                guard digits <= valueDigitsMax else { throw .value }
                mantissa = mantissa * 10 + Int64(b - ASCII.zero)
                if seenDot { fraction += 1 }
            } else {
                throw .value
            }
            i += 1
        }
        guard digits > 0 else { throw .value }
        var unitText = "1"
        if i < value.count {  // at '*'
            let u = UnsafeBufferPointer(rebasing: value[(i + 1)...])
            guard let known = unit(u) else { throw .unit }
            unitText = known
        }
        return OBISReading(code: code, mantissa: negative ? -mantissa : mantissa, exponent: -fraction, unit: unitText)
    }

    /// `OBISCode.parse` without its arrays: the same forms (`1-0:1.8.0*255`, `1-0:1.8.0`, `1.8.0`,
    /// `0-0:96.1.0`), nothing allocated, so a telegram's dozens of lines cost no heap.
    public static func code(_ text: UnsafeBufferPointer<UInt8>) -> OBISCode? {
        var g: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 255)
        var n = 0  // groups completed
        var seps: UInt32 = 0  // separators, 4 bits each
        var current = -1
        func store(_ v: Int) {
            switch n {
            case 0: g.0 = v
            case 1: g.1 = v
            case 2: g.2 = v
            case 3: g.3 = v
            case 4: g.4 = v
            default: g.5 = v
            }
        }
        for ch in text {
            if ASCII.isDigit(ch) {
                current = (current < 0 ? 0 : current) * 10 + Int(ch - ASCII.zero)
                if current > 255 { return nil }
            } else {
                let s: UInt32 = switch ch {
                case 45: 1  // -
                case 58: 2  // :
                case 46: 3  // .
                case 42: 4  // *
                default: 0
                }
                guard s != 0, current >= 0, n < 5 else { return nil }
                store(current)
                seps = seps << 4 | s
                n += 1
                current = -1
            }
        }
        guard current >= 0 else { return nil }
        store(current)
        n += 1
        func u(_ v: Int) -> UInt8 { UInt8(v) }
        switch (n, seps) {
        case (3, 0x33): return .electricity(u(g.0), u(g.1), u(g.2))
        // IEC 62056-21 readouts write billing periods as `1.8.0*12`: historical values.
        case (4, 0x334): return OBISCode(1, 0, u(g.0), u(g.1), u(g.2), u(g.3))
        case (5, 0x1233): return OBISCode(u(g.0), u(g.1), u(g.2), u(g.3), u(g.4))
        case (6, 0x12334): return OBISCode(u(g.0), u(g.1), u(g.2), u(g.3), u(g.4), u(g.5))
        default: return nil
        }
    }

    /// Splits one line (without CR LF) into its code and its last parenthesised group. nil when the
    /// line is not `code(…)…(…)` (headers, blank lines, the end marker).
    public static func split(_ line: UnsafeBufferPointer<UInt8>) -> (code: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)? {
        guard let open = line.firstIndex(of: 40), open > 0 else { return nil }  // '('
        var lastOpen = open
        var lastClose = -1
        var i = open
        var depthOpen = false
        while i < line.count {
            switch line[i] {
            case 40:
                if depthOpen { return nil }
                depthOpen = true
                lastOpen = i
            case 41:
                if !depthOpen { return nil }
                depthOpen = false
                lastClose = i
            default:
                break
            }
            i += 1
        }
        guard !depthOpen, lastClose > lastOpen else { return nil }
        return (UnsafeBufferPointer(rebasing: line[..<open]), UnsafeBufferPointer(rebasing: line[(lastOpen + 1)..<lastClose]))
    }
}
