/// COSEM values → `OBISReading`s: a register's value (attribute 2) with its scaler_unit
/// (attribute 3, structure {int8 scaler, enum unit}, IEC 62056-6-2 §4.3.2), and the bodies of push
/// data-notifications, which list logical names, values and scaler_units in one structure.
public enum DLMSReadings {
    /// A register value: one integer Data at `r`; anything else (float, string) is refused.
    public static func integer(_ r: inout AXDRReader) throws(DLMSDecodeError) -> Int64 {
        let at = r.pos
        var v: Int64? = nil, extra = false
        try DLMSData.walk(&r) { e in
            if case .integer(let x, _) = e, v == nil { v = x } else { extra = true }
        }
        guard let v, !extra else { throw DLMSDecodeError("byte \(at): register value is not an integer (tag \(r.bytes[at]))") }
        return v
    }

    /// A scaler_unit structure: (power of ten, DLMS unit code).
    public static func scalerUnit(_ r: inout AXDRReader) throws(DLMSDecodeError) -> (Int, Int64) {
        let at = r.pos
        var ints: (Int64, Int64) = (0, 0)
        var n = 0, shape = true
        try DLMSData.walk(&r) { e in
            switch e {
            case .open(let tag, let count) where n == 0 && tag == DLMSTag.structure && count == 2: break
            case .integer(let x, _) where n < 2:
                if n == 0 { ints.0 = x } else { ints.1 = x }
                n += 1
            case .close: break
            default: shape = false
            }
        }
        guard shape && n == 2 && ints.0 >= -128 && ints.0 <= 127 else { throw DLMSDecodeError("byte \(at): scaler_unit is not a structure {scaler, unit}") }
        return (Int(ints.0), ints.1)
    }

    /// The reading for `code` from a value and its scaler_unit; nil when the unit is not one a
    /// `Measurement` quantity uses (the caller counts and skips it).
    public static func reading(_ code: OBISCode, value: Int64, scaler: Int, unit: Int64) -> OBISReading? {
        guard let u = DLMSUnit.text(unit) else { return nil }
        return OBISReading(code: code, mantissa: value, exponent: scaler, unit: u)
    }

    /// Collects the readings of a push body at `r` into `acc`: every 6-byte octet string is taken as
    /// a logical name, the integer after it as its value, and a {scaler, unit} structure right after
    /// that as its scaler_unit. A value without scaler_unit is taken in the quantity's base unit
    /// (W, var, Wh, V, A, Hz) with scaler 0. Returns how many readings were found (OBIS code plus value).
    public static func collectPush(_ r: inout AXDRReader, into acc: inout OBISAccumulator) throws(DLMSDecodeError) -> Int {
        var code: OBISCode? = nil
        var value: Int64? = nil
        var scalerState = 0  // 1 = inside a {scaler, unit} structure after a value, 2 = scaler read
        var scaler: Int64 = 0
        var found = 0
        var problem: OBISAccumulator.Problem? = nil
        let bytes = r.bytes

        func emit(_ exp: Int, _ unit: String?) {
            guard let c = code, let v = value else { return }
            found += 1
            let u: String
            if let unit { u = unit } else if let i = acc.table.entryIndex(for: c) { u = acc.table.entries[i].quantity.baseUnit } else { u = "1" }
            do throws(OBISAccumulator.Problem) {
                try acc.add(OBISReading(code: c, mantissa: v, exponent: exp, unit: u))
            } catch {
                if problem == nil { problem = error }
            }
            code = nil
            value = nil
        }

        try DLMSData.walk(&r) { e in
            switch e {
            case .octets(let range):
                emit(0, nil)
                scalerState = 0
                if range.count == 6 {
                    code = OBISCode(bytes: UnsafeBufferPointer(rebasing: bytes[range]))
                }
            case .integer(let x, _):
                if scalerState == 1 {
                    scaler = x
                    scalerState = 2
                } else if scalerState == 2 {
                    if scaler >= -128 && scaler <= 127, let u = DLMSUnit.text(x) { emit(Int(scaler), u) } else { code = nil; value = nil }  // a unit no quantity uses: skipped
                    scalerState = 0
                } else if code != nil && value == nil {
                    value = x
                }
            case .open(let tag, let count):
                if code != nil && value != nil && tag == DLMSTag.structure && count == 2 { scalerState = 1 } else { emit(0, nil); scalerState = 0 }
            case .close:
                scalerState = 0
            case .visible, .other:
                break
            }
        }
        emit(0, nil)
        if let p = problem { throw DLMSDecodeError(p.description) }
        return found
    }
}
