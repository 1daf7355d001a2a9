/// A-XDR decoding of DLMS `Data` values (IEC 62056-6-2 §4.1.5, IEC 61334-6): a tag byte, then
/// the value; arrays and structures carry an element count, octet and visible strings a length,
/// both in the BER short/long form (0x81 nn, 0x82 nn nn).
public enum DLMSTag {
    public static let null: UInt8 = 0
    public static let array: UInt8 = 1
    public static let structure: UInt8 = 2
    public static let boolean: UInt8 = 3
    public static let bitString: UInt8 = 4
    public static let int32: UInt8 = 5
    public static let uint32: UInt8 = 6
    public static let octetString: UInt8 = 9
    public static let visibleString: UInt8 = 10
    public static let utf8String: UInt8 = 12
    public static let bcd: UInt8 = 13
    public static let int8: UInt8 = 15
    public static let int16: UInt8 = 16
    public static let uint8: UInt8 = 17
    public static let uint16: UInt8 = 18
    public static let compactArray: UInt8 = 19
    public static let int64: UInt8 = 20
    public static let uint64: UInt8 = 21
    public static let enumeration: UInt8 = 22
    public static let float32: UInt8 = 23
    public static let float64: UInt8 = 24
    public static let dateTime: UInt8 = 25
    public static let date: UInt8 = 26
    public static let time: UInt8 = 27
}

/// Why a DLMS frame or APDU was refused; the text names the offending byte position and value.
public struct DLMSDecodeError: Error, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// A bounds-checked cursor over one APDU. Every read checks the remaining length first.
public struct AXDRReader {
    public let bytes: UnsafeBufferPointer<UInt8>
    public var pos: Int
    public let end: Int

    public init(_ bytes: UnsafeBufferPointer<UInt8>, from: Int = 0, to: Int? = nil) {
        self.bytes = bytes
        self.pos = from
        self.end = to ?? bytes.count
    }

    public var remaining: Int { end - pos }
    public var atEnd: Bool { pos >= end }

    public mutating func byte(_ what: String) throws(DLMSDecodeError) -> UInt8 {
        guard pos < end else { throw DLMSDecodeError("truncated at byte \(pos): \(what) missing") }
        defer { pos += 1 }
        return bytes[pos]
    }

    public mutating func expect(_ value: UInt8, _ what: String) throws(DLMSDecodeError) {
        let b = try byte(what)
        guard b == value else { throw DLMSDecodeError("byte \(pos - 1): \(what) is 0x\(dlmsHex(b)), expected 0x\(dlmsHex(value))") }
    }

    /// `n` bytes as a big-endian unsigned number (n ≤ 8).
    public mutating func unsigned(_ n: Int, _ what: String) throws(DLMSDecodeError) -> UInt64 {
        guard remaining >= n else { throw DLMSDecodeError("truncated at byte \(pos): \(what) needs \(n) bytes, \(remaining) left") }
        var v: UInt64 = 0
        for _ in 0..<n { v = v << 8 | UInt64(bytes[pos]); pos += 1 }
        return v
    }

    /// A BER length (short form, or 0x81/0x82/0x83 long form) that must fit what is left.
    public mutating func length(_ what: String) throws(DLMSDecodeError) -> Int {
        let first = try byte(what)
        var n = Int(first)
        if first & 0x80 != 0 {
            let k = Int(first & 0x7F)
            guard k >= 1 && k <= 3 else { throw DLMSDecodeError("byte \(pos - 1): \(what) length form 0x\(dlmsHex(first)) not supported") }
            n = Int(try unsigned(k, what))
        }
        guard n <= remaining else { throw DLMSDecodeError("byte \(pos): \(what) of \(n) bytes, only \(remaining) left") }
        return n
    }

    /// Skips `n` bytes, returning their range.
    public mutating func take(_ n: Int, _ what: String) throws(DLMSDecodeError) -> Range<Int> {
        guard n >= 0 && n <= remaining else { throw DLMSDecodeError("truncated at byte \(pos): \(what) needs \(n) bytes, \(remaining) left") }
        defer { pos += n }
        return pos..<(pos + n)
    }
}

func dlmsHex(_ b: UInt8) -> String {
    let d: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
    return String(d[Int(b >> 4)]) + String(d[Int(b & 15)])
}

/// What `DLMSData.walk` reports, in document order.
public enum DLMSDataEvent: Equatable {
    /// Any integer type, enum and boolean, widened (uint64 above Int64.max is refused).
    case integer(Int64, tag: UInt8)
    /// An octet string (OBIS codes, date-times, identifiers): its byte range in the APDU.
    case octets(Range<Int>)
    case visible(Range<Int>)
    /// A structure or array opens with this many elements; `close` follows its last element.
    case open(tag: UInt8, count: Int)
    case close
    /// Anything else (floats, bit strings, dates, null): skipped, reported so callers can keep positions.
    case other(tag: UInt8)
}

public enum DLMSData {
    /// Walks one `Data` value, reporting each element. Bounded by `DLMSLimits.dataDepthMax` and
    /// `dataElementsMax`; a truncated or unknown-tag value throws with its position.
    public static func walk(_ r: inout AXDRReader, _ visit: (DLMSDataEvent) -> Void) throws(DLMSDecodeError) {
        var elements = 0
        try value(&r, depth: 0, elements: &elements, visit)
    }

    /// Skips one `Data` value.
    public static func skip(_ r: inout AXDRReader) throws(DLMSDecodeError) {
        try walk(&r) { _ in }
    }

    private static func value(_ r: inout AXDRReader, depth: Int, elements: inout Int, _ visit: (DLMSDataEvent) -> Void) throws(DLMSDecodeError) {
        elements += 1
        guard elements <= DLMSLimits.dataElementsMax else { throw DLMSDecodeError("byte \(r.pos): more than \(DLMSLimits.dataElementsMax) data elements") }
        let at = r.pos
        let tag = try r.byte("data tag")
        switch tag {
        case DLMSTag.array, DLMSTag.structure:
            guard depth < DLMSLimits.dataDepthMax else { throw DLMSDecodeError("byte \(at): data nested deeper than \(DLMSLimits.dataDepthMax)") }
            let n = try r.length("element count")
            visit(.open(tag: tag, count: n))
            for _ in 0..<n { try value(&r, depth: depth + 1, elements: &elements, visit) }
            visit(.close)
        case DLMSTag.boolean, DLMSTag.uint8, DLMSTag.enumeration:
            visit(.integer(Int64(try r.unsigned(1, "value")), tag: tag))
        case DLMSTag.int8:
            visit(.integer(Int64(Int8(truncatingIfNeeded: try r.unsigned(1, "value"))), tag: tag))
        case DLMSTag.uint16:
            visit(.integer(Int64(try r.unsigned(2, "value")), tag: tag))
        case DLMSTag.int16:
            visit(.integer(Int64(Int16(truncatingIfNeeded: try r.unsigned(2, "value"))), tag: tag))
        case DLMSTag.uint32:
            visit(.integer(Int64(try r.unsigned(4, "value")), tag: tag))
        case DLMSTag.int32:
            visit(.integer(Int64(Int32(truncatingIfNeeded: try r.unsigned(4, "value"))), tag: tag))
        case DLMSTag.int64:
            visit(.integer(Int64(bitPattern: try r.unsigned(8, "value")), tag: tag))
        case DLMSTag.uint64:
            let v = try r.unsigned(8, "value")
            guard v <= UInt64(Int64.max) else { throw DLMSDecodeError("byte \(at): uint64 \(v) does not fit a signed 64-bit value") }
            visit(.integer(Int64(v), tag: tag))
        case DLMSTag.octetString:
            visit(.octets(try r.take(try r.length("octet-string length"), "octet-string")))
        case DLMSTag.visibleString, DLMSTag.utf8String:
            visit(.visible(try r.take(try r.length("string length"), "string")))
        case DLMSTag.bitString:
            let bits = try r.length("bit-string length")
            _ = try r.take((bits + 7) / 8, "bit-string")
            visit(.other(tag: tag))
        case DLMSTag.bcd:
            _ = try r.take(1, "bcd")
            visit(.other(tag: tag))
        case DLMSTag.float32:
            _ = try r.take(4, "float32")
            visit(.other(tag: tag))
        case DLMSTag.float64:
            _ = try r.take(8, "float64")
            visit(.other(tag: tag))
        case DLMSTag.dateTime:
            _ = try r.take(12, "date-time")
            visit(.other(tag: tag))
        case DLMSTag.date:
            _ = try r.take(5, "date")
            visit(.other(tag: tag))
        case DLMSTag.time:
            _ = try r.take(4, "time")
            visit(.other(tag: tag))
        case DLMSTag.null:
            visit(.other(tag: tag))
        default:
            throw DLMSDecodeError("byte \(at): data tag \(tag) unknown or not supported (compact-array is not used by meters)")
        }
    }
}

/// The DLMS unit enumeration (IEC 62056-6-2 §4.3.2, table "Enumerated values for physical units")
/// → the unit text `OBISReading` uses. Units a main meter does not report for its quantities map to nil.
public enum DLMSUnit {
    public static func text(_ code: Int64) -> String? {
        switch code {
        case 27: "W"
        case 28: "VA"
        case 29: "var"
        case 30: "Wh"
        case 31: "VAh"
        case 32: "varh"
        case 33: "A"
        case 35: "V"
        case 44: "Hz"
        case 255: "1"  // "count", no unit: power factor
        default: nil
        }
    }
}
