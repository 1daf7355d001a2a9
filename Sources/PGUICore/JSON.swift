/// The one JSON writer and the one JSON reader of PGUI (RFC 8259), both on UTF-8 bytes.
/// The writer appends to a caller-owned buffer (reused across messages: no steady-state allocation
/// once the buffer has grown to the largest message). The reader is bounded (bytes, depth, members)
/// because every inbound message is hostile until validated.

public struct JSONWriter {
    public var bytes: [UInt8]
    private var needsComma: [Bool] = []

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        needsComma.reserveCapacity(8)
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma.removeAll(keepingCapacity: true)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func beginObject() { separate(); bytes.append(123); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(125) }
    public mutating func beginArray() { separate(); bytes.append(91); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(93) }

    /// Writes `"name":`; the next value call writes the value.
    public mutating func key(_ name: String) {
        separate()
        writeString(name)
        bytes.append(58)
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    public mutating func value(_ s: String) { separate(); writeString(s) }
    public mutating func value(_ v: Int64) { separate(); appendDecimal(v) }
    public mutating func value(_ v: Int) { value(Int64(v)) }
    public mutating func value(_ v: UInt64) {
        separate()
        if v > UInt64(Int64.max) {
            bytes.append(contentsOf: String(v).utf8)
        } else {
            appendDecimal(Int64(v))
        }
    }
    public mutating func value(_ v: Bool) { separate(); bytes.append(contentsOf: v ? Array("true".utf8) : Array("false".utf8)) }
    public mutating func null() { separate(); bytes.append(contentsOf: [110, 117, 108, 108]) }
    /// An optional integer: the number, or null when absent.
    public mutating func value(_ v: Int64?) { if let v { value(v) } else { null() } }
    /// Pre-encoded JSON (e.g. a nested object built elsewhere); the caller vouches for its validity.
    public mutating func raw(_ json: [UInt8]) { separate(); bytes.append(contentsOf: json) }

    public mutating func field(_ name: String, _ v: String) { key(name); value(v) }
    public mutating func field(_ name: String, _ v: Int64) { key(name); value(v) }
    public mutating func field(_ name: String, _ v: Int) { key(name); value(v) }
    public mutating func field(_ name: String, _ v: UInt64) { key(name); value(v) }
    public mutating func field(_ name: String, _ v: Bool) { key(name); value(v) }
    public mutating func field(_ name: String, _ v: Int64?) { key(name); value(v) }

    private mutating func separate() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { bytes.append(44) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendDecimal(_ v: Int64) {
        if v == 0 { bytes.append(48); return }
        if v == Int64.min { bytes.append(contentsOf: "-9223372036854775808".utf8); return }
        var n = v < 0 ? -v : v
        if v < 0 { bytes.append(45) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 {
                d[count] = UInt8(48 + n % 10)
                n /= 10
                count += 1
            }
            while count > 0 {
                count -= 1
                bytes.append(d[count])
            }
        }
    }

    private mutating func writeString(_ s: String) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(34)
        for b in s.utf8 {
            switch b {
            case 34: bytes.append(contentsOf: [92, 34])
            case 92: bytes.append(contentsOf: [92, 92])
            case 10: bytes.append(contentsOf: [92, 110])
            case 13: bytes.append(contentsOf: [92, 114])
            case 9: bytes.append(contentsOf: [92, 116])
            case 0..<32, 127:
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(34)
    }
}

/// A parsed JSON value. Numbers are kept as integers when they are integers (PGUI's wire formats
/// use integers only); any other number is `.number` with its text, for the caller to refuse.
public indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicate names are rejected by the parser.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for i in x.indices where x[i].0 != y[i].0 || x[i].1 != y[i].1 { return false }
            return true
        default: return false
        }
    }

    public subscript(_ name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for (k, v) in members where k == name { return v }
        return nil
    }

    public var intValue: Int64? { if case .int(let v) = self { return v } else { return nil } }
    public var stringValue: String? { if case .string(let v) = self { return v } else { return nil } }
    public var boolValue: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let v) = self { return v } else { return nil } }
    public var objectMembers: [(String, JSONValue)]? { if case .object(let v) = self { return v } else { return nil } }
}

public struct JSONError: Error, Equatable {
    /// Byte offset of the problem in the input.
    public let offset: Int
    public let message: String
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

public struct JSONLimits {
    public var bytesMax: Int = 65_536
    public var depthMax: Int = 16
    /// Per array or object.
    public var membersMax: Int = 1_024
    public var stringBytesMax: Int = 8_192
    public init() {}
}

public struct JSONParser {
    let input: [UInt8]
    let limits: JSONLimits
    var pos = 0

    public static func parse(_ input: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        guard input.count <= limits.bytesMax else {
            throw JSONError(offset: 0, message: "document is \(input.count) bytes; the limit is \(limits.bytesMax)")
        }
        var p = JSONParser(input: input, limits: limits)
        p.skipSpace()
        let v = try p.parseValue(depth: 0)
        p.skipSpace()
        guard p.pos == input.count else { throw JSONError(offset: p.pos, message: "trailing characters after the value") }
        return v
    }

    mutating func skipSpace() {
        while pos < input.count, input[pos] == 32 || input[pos] == 9 || input[pos] == 10 || input[pos] == 13 { pos += 1 }
    }

    func fail(_ message: String) -> JSONError { JSONError(offset: pos, message: message) }

    mutating func expectLiteral(_ word: String) throws(JSONError) {
        for c in word.utf8 {
            guard pos < input.count, input[pos] == c else { throw fail("expected '\(word)'") }
            pos += 1
        }
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard pos < input.count else { throw fail("unexpected end of input") }
        switch input[pos] {
        case 123: return try parseObject(depth: depth + 1)
        case 91: return try parseArray(depth: depth + 1)
        case 34: return .string(try parseString())
        case 116: try expectLiteral("true"); return .bool(true)
        case 102: try expectLiteral("false"); return .bool(false)
        case 110: try expectLiteral("null"); return .null
        case 45, 48...57: return try parseNumber()
        default: throw fail("unexpected character '\(printable(input[pos..<pos + 1]))'")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.depthMax else { throw fail("nesting deeper than \(limits.depthMax)") }
        pos += 1
        var members: [(String, JSONValue)] = []
        skipSpace()
        if pos < input.count, input[pos] == 125 { pos += 1; return .object(members) }
        while true {
            skipSpace()
            guard pos < input.count, input[pos] == 34 else { throw fail("expected a member name") }
            let name = try parseString()
            for (k, _) in members where k == name { throw fail("duplicate member '\(name)'") }
            skipSpace()
            guard pos < input.count, input[pos] == 58 else { throw fail("expected ':'") }
            pos += 1
            skipSpace()
            members.append((name, try parseValue(depth: depth)))
            guard members.count <= limits.membersMax else { throw fail("more than \(limits.membersMax) members") }
            skipSpace()
            guard pos < input.count else { throw fail("unterminated object") }
            if input[pos] == 44 { pos += 1; continue }
            if input[pos] == 125 { pos += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.depthMax else { throw fail("nesting deeper than \(limits.depthMax)") }
        pos += 1
        var items: [JSONValue] = []
        skipSpace()
        if pos < input.count, input[pos] == 93 { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try parseValue(depth: depth))
            guard items.count <= limits.membersMax else { throw fail("more than \(limits.membersMax) items") }
            skipSpace()
            guard pos < input.count else { throw fail("unterminated array") }
            if input[pos] == 44 { pos += 1; continue }
            if input[pos] == 93 { pos += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = pos
        if input[pos] == 45 { pos += 1 }
        guard pos < input.count, ASCII.isDigit(input[pos]) else { throw fail("expected a digit") }
        if input[pos] == 48 {
            pos += 1
            if pos < input.count, ASCII.isDigit(input[pos]) { throw fail("leading zero") }
        } else {
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }
        var integer = true
        if pos < input.count, input[pos] == 46 {
            integer = false
            pos += 1
            guard pos < input.count, ASCII.isDigit(input[pos]) else { throw fail("expected a digit after '.'") }
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }
        if pos < input.count, input[pos] == 101 || input[pos] == 69 {
            integer = false
            pos += 1
            if pos < input.count, input[pos] == 43 || input[pos] == 45 { pos += 1 }
            guard pos < input.count, ASCII.isDigit(input[pos]) else { throw fail("expected an exponent") }
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }
        let text = input[start..<pos]
        if integer, let v = parseInt64(text) { return .int(v) }
        return .number(string(text))
    }

    mutating func parseString() throws(JSONError) -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard pos < input.count else { throw fail("unterminated string") }
            let b = input[pos]
            if b == 34 { pos += 1; break }
            if b < 32 { throw fail("control character in string") }
            if b == 92 {
                pos += 1
                guard pos < input.count else { throw fail("unterminated escape") }
                switch input[pos] {
                case 34: out.append(34)
                case 92: out.append(92)
                case 47: out.append(47)
                case 98: out.append(8)
                case 102: out.append(12)
                case 110: out.append(10)
                case 114: out.append(13)
                case 116: out.append(9)
                case 117:
                    var cp = try parseHex4()
                    if cp >= 0xD800 && cp < 0xDC00 {
                        guard pos + 2 < input.count, input[pos + 1] == 92, input[pos + 2] == 117 else { throw fail("lone surrogate") }
                        pos += 2
                        let lo = try parseHex4()
                        guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("invalid surrogate pair") }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else if cp >= 0xDC00 && cp < 0xE000 {
                        throw fail("lone surrogate")
                    }
                    appendUTF8(cp, &out)
                default: throw fail("invalid escape")
                }
                pos += 1
            } else {
                out.append(b)
                pos += 1
            }
            guard out.count <= limits.stringBytesMax else { throw fail("string longer than \(limits.stringBytesMax) bytes") }
        }
        let s = String(decoding: out, as: UTF8.self)
        guard s.utf8.count == out.count else { throw fail("string is not valid UTF-8") }
        return s
    }

    /// Reads the 4 hex digits after `\u`; leaves `pos` on the last one.
    mutating func parseHex4() throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            pos += 1
            guard pos < input.count else { throw fail("short \\u escape") }
            let c = input[pos]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 97...102: d = UInt32(c - 87)
            case 65...70: d = UInt32(c - 55)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
        }
        return v
    }

    func appendUTF8(_ cp: UInt32, _ out: inout [UInt8]) {
        if cp < 0x80 {
            out.append(UInt8(cp))
        } else if cp < 0x800 {
            out.append(UInt8(0xC0 | cp >> 6))
            out.append(UInt8(0x80 | cp & 0x3F))
        } else if cp < 0x10000 {
            out.append(UInt8(0xE0 | cp >> 12))
            out.append(UInt8(0x80 | cp >> 6 & 0x3F))
            out.append(UInt8(0x80 | cp & 0x3F))
        } else {
            out.append(UInt8(0xF0 | cp >> 18))
            out.append(UInt8(0x80 | cp >> 12 & 0x3F))
            out.append(UInt8(0x80 | cp >> 6 & 0x3F))
            out.append(UInt8(0x80 | cp & 0x3F))
        }
    }
}
