/// SML, the Smart Message Language of German meters' info interface (SML 1.04, BSI TR-03109-1
/// Anlage IV; FNN "Lastenheft EDL"): binary TLV messages in a transport frame
///
///     1B 1B 1B 1B 01 01 01 01   start escape (SML 1.04 §8.1)
///     messages …                (an embedded 1B 1B 1B 1B is sent twice)
///     00 …                      0–3 padding bytes so the frame is a multiple of 4
///     1B 1B 1B 1B 1A nn c1 c2   end escape, nn = padding bytes, CRC16
///
/// pushed every 1–4 s. The CRC is CRC-16/X-25 over every byte of the frame before c1 c2, sent low
/// byte first (as libsml and smllib check it). Readings come from a GetListResponse (tag 0x0701):
/// each list entry is objName (6-byte OBIS), status, valTime, unit (DLMS unit code), scaler, value.
public enum SML {
    /// Largest frame accepted (escaped, start to CRC). Meters with an EDL21/EDL40 interface send
    /// 250–600 bytes (the published smllib frames are ≤ 500); 4 KiB leaves room for long server
    /// ids and lists, and anything longer is noise.
    public static let frameBytesMax = 4_096
    /// Nesting allowed in a message: an SML file is list → message → body → list → entry → value,
    /// six levels; more is garbage (and would let hostile input recurse without bound).
    public static let depthMax = 8
    /// Elements in one list: a GetListResponse of a 3-phase meter has ~20 entries.
    public static let listElementsMax = 64

    static let escape: UInt8 = 0x1B

    /// CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF); "123456789" gives 0x906E.
    public static func crc16(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        crcTable.withUnsafeBufferPointer { t in
            var crc: UInt16 = 0xFFFF
            for b in bytes { crc = (crc >> 8) ^ t[Int(UInt8(truncatingIfNeeded: crc) ^ b)] }
            return ~crc
        }
    }

    static let crcTable: [UInt16] = reflectedCRCTable(0x8408)

    public enum Problem: Error, Equatable {
        /// The TLV structure is broken at `offset` (`why` says how).
        case structure(offset: Int, why: String)
        case reading(OBISAccumulator.Problem)

        public var description: String {
            switch self {
            case .structure(let offset, let why): "SML message malformed at byte \(offset): \(why)"
            case .reading(let p): "SML \(p.description)"
            }
        }
    }

    /// The stored unit text of a DLMS unit code (IEC 62056-62 Table 3 / SML 1.04 §7.3), nil for
    /// units no `Measurement` quantity takes.
    public static func unit(_ code: UInt8) -> String? {
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
        case 255: "1"
        default: nil
        }
    }

    /// Decodes the messages of an unescaped frame payload into `acc`; returns the server id of the
    /// first GetListResponse (hex, for the log) when `wantServerId`.
    public static func decode(_ payload: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator,
                              wantServerId: Bool = false) throws(Problem) -> String? {
        var c = Cursor(bytes: payload)
        var server: String? = nil
        while c.i < payload.count {
            if payload[c.i] == 0 { c.i += 1; continue }  // padding
            // SML_Message: list(6) transactionId, groupNo, abortOnError, body, crc16, endOfSmlMsg.
            let n = try c.listHeader()
            guard n == 6 else { throw c.fail("message is a list of \(n), not 6") }
            try c.skip(depth: 1)
            try c.skip(depth: 1)
            try c.skip(depth: 1)
            let bodyCount = try c.listHeader()
            guard bodyCount == 2 else { throw c.fail("message body is a list of \(bodyCount), not 2") }
            let tag = try c.unsigned()
            if tag == 0x0701 {
                // GetListResponse: clientId, serverId, listName, actSensorTime, valList, listSignature, actGatewayTime.
                let m = try c.listHeader()
                guard m == 7 else { throw c.fail("GetListResponse is a list of \(m), not 7") }
                try c.skip(depth: 2)
                if wantServerId && server == nil {
                    server = try c.octetsHex()
                } else {
                    try c.skip(depth: 2)
                }
                try c.skip(depth: 2)
                try c.skip(depth: 2)
                let entries = try c.listHeader()
                for _ in 0..<entries { try entry(&c, into: &acc) }
                try c.skip(depth: 2)
                try c.skip(depth: 2)
            } else {
                try c.skip(depth: 2)
            }
            try c.skip(depth: 1)  // crc16 of the message: the frame CRC already covers it
            guard c.i < payload.count, payload[c.i] == 0 else { throw c.fail("no endOfSmlMsg") }
            c.i += 1
        }
        return server
    }

    /// One SML_ListEntry: objName, status, valTime, unit, scaler, value, valueSignature.
    static func entry(_ c: inout Cursor, into acc: inout OBISAccumulator) throws(Problem) {
        let n = try c.listHeader()
        guard n == 7 else { throw c.fail("list entry is a list of \(n), not 7") }
        let code = try c.obis()
        try c.skip(depth: 3)  // status
        try c.skip(depth: 3)  // valTime
        let unitCode = try c.optionalUnsigned()
        let scaler = try c.optionalSigned()
        let valueStart = c.i
        let value = try c.optionalInteger()
        try c.skip(depth: 3)  // valueSignature
        guard let code, code.f == 255, acc.table.entryIndex(for: code) != nil, let value else {
            acc.countUnknown()
            return
        }
        guard let unitCode, let unit = unit(UInt8(truncatingIfNeeded: unitCode)) else {
            throw .reading(.unit(code: code, unit: unitCode.map { "DLMS unit \($0)" } ?? "none"))
        }
        guard (-20...20).contains(scaler ?? 0) else { throw .structure(offset: valueStart, why: "scaler \(scaler ?? 0) out of range") }
        do {
            try acc.add(OBISReading(code: code, mantissa: value, exponent: Int(scaler ?? 0), unit: unit))
        } catch {
            throw .reading(error)
        }
    }

    /// A read position in a payload; every read is bounds-checked.
    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        func fail(_ why: String) -> Problem { .structure(offset: i, why: why) }

        /// Type (bits 6…4) and length of the TL field at `i`; advances past it. For lists the
        /// length is the element count, otherwise the data length (TL bytes excluded).
        mutating func tl() throws(Problem) -> (type: UInt8, length: Int) {
            guard i < bytes.count else { throw fail("truncated (type-length field)") }
            var b = bytes[i]
            let type = (b >> 4) & 0x7
            var length = Int(b & 0x0F)
            var tlBytes = 1
            i += 1
            while b & 0x80 != 0 {
                guard i < bytes.count, tlBytes < 4 else { throw fail("truncated or overlong type-length field") }
                b = bytes[i]
                guard (b >> 4) & 0x7 == 0 else { throw fail("continuation of a type-length field has a type") }
                length = length << 4 | Int(b & 0x0F)
                tlBytes += 1
                i += 1
            }
            if type == 7 { return (type, length) }
            guard length >= tlBytes else { throw fail("length \(length) shorter than its own type-length field") }
            let data = length - tlBytes
            guard i + data <= bytes.count else { throw fail("value of \(data) bytes runs past the frame") }
            return (type, data)
        }

        mutating func listHeader() throws(Problem) -> Int {
            let start = i
            let (type, n) = try tl()
            guard type == 7 else { i = start; throw fail("expected a list") }
            guard n <= SML.listElementsMax else { throw fail("list of \(n) elements (limit \(SML.listElementsMax))") }
            return n
        }

        mutating func skip(depth: Int) throws(Problem) {
            guard depth <= SML.depthMax else { throw fail("nested deeper than \(SML.depthMax)") }
            let (type, n) = try tl()
            if type == 7 {
                guard n <= SML.listElementsMax else { throw fail("list of \(n) elements (limit \(SML.listElementsMax))") }
                for _ in 0..<n { try skip(depth: depth + 1) }
            } else {
                i += n
            }
        }

        /// Big-endian integer of `n` bytes; signed sign-extends.
        mutating func integer(_ n: Int, signed: Bool) throws(Problem) -> Int64 {
            guard n >= 1 && n <= 8 else { throw fail("integer of \(n) bytes") }
            var v: UInt64 = 0
            for k in 0..<n { v = v << 8 | UInt64(bytes[i + k]) }
            i += n
            if signed && n < 8 && bytes[i - n] & 0x80 != 0 { v |= ~0 << UInt64(8 * n) }
            if !signed && n == 8 && v > UInt64(Int64.max) { throw fail("unsigned value beyond 2^63") }
            return Int64(bitPattern: v)
        }

        mutating func unsigned() throws(Problem) -> Int64 {
            let (type, n) = try tl()
            guard type == 6 || type == 5 else { throw fail("expected an integer") }
            return try integer(n, signed: type == 5)
        }

        /// An integer, or nil for "not set" (the 0x01 empty octet string).
        mutating func optionalInteger() throws(Problem) -> Int64? {
            let (type, n) = try tl()
            switch type {
            case 5, 6: return try integer(n, signed: type == 5)
            case 7:
                for _ in 0..<n { try skip(depth: 4) }
                return nil
            default:
                i += n
                return nil
            }
        }

        mutating func optionalUnsigned() throws(Problem) -> Int64? { try optionalInteger() }
        mutating func optionalSigned() throws(Problem) -> Int64? { try optionalInteger() }

        mutating func obis() throws(Problem) -> OBISCode? {
            let (type, n) = try tl()
            guard type == 0 else {
                if type == 7 { for _ in 0..<n { try skip(depth: 4) } } else { i += n }
                return nil
            }
            defer { i += n }
            return OBISCode(bytes: UnsafeBufferPointer(rebasing: bytes[i..<(i + n)]))
        }

        mutating func octetsHex() throws(Problem) -> String? {
            let (type, n) = try tl()
            guard type == 0 else {
                if type == 7 { for _ in 0..<n { try skip(depth: 4) } } else { i += n }
                return nil
            }
            let hex = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            for k in 0..<min(n, 16) { out += [hex[Int(bytes[i + k] >> 4)], hex[Int(bytes[i + k] & 15)]] }
            i += n
            return String(decoding: out, as: UTF8.self)
        }
    }
}

/// Finds SML transport frames in the byte stream, in 4-byte steps after the start escape as SML
/// 1.04 §8 aligns them: checks padding and CRC, removes the escaping, and restarts on a start escape
/// inside a frame. The buffer is allocated once.
public struct SMLFramer {
    private var raw: [UInt8]
    public private(set) var count = 0
    /// Unescaped payload length of the completed frame (in `raw`, from offset 0).
    public private(set) var payloadCount = 0
    private var hunt: UInt64 = 0  // the last 8 bytes while hunting
    private var chunk: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var chunkFill = 0
    private var afterEscape = false
    private var inFrame = false

    public private(set) var frames: UInt64 = 0
    public private(set) var crcErrors: UInt64 = 0
    public private(set) var overlong: UInt64 = 0
    public private(set) var truncated: UInt64 = 0
    public private(set) var broken: UInt64 = 0

    public init() { raw = Array(repeating: 0, count: SML.frameBytesMax) }

    public mutating func reset() {
        inFrame = false
        hunt = 0
        count = 0
        chunkFill = 0
        afterEscape = false
    }

    static let startPattern: UInt64 = 0x1B1B_1B1B_0101_0101

    private mutating func start() {
        for k in 0..<4 { raw[k] = SML.escape; raw[4 + k] = 1 }
        count = 8
        chunkFill = 0
        afterEscape = false
        inFrame = true
    }

    private mutating func append(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Bool {
        guard count + 4 <= raw.count else {
            overlong += 1
            reset()
            return false
        }
        raw[count] = a; raw[count + 1] = b; raw[count + 2] = c; raw[count + 3] = d
        count += 4
        return true
    }

    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) {
        var i = 0
        while i < input.count {
            let b = input[i]
            i += 1
            if !inFrame {
                hunt = hunt << 8 | UInt64(b)
                if hunt == Self.startPattern { start() }
                continue
            }
            switch chunkFill {
            case 0: chunk.0 = b
            case 1: chunk.1 = b
            case 2: chunk.2 = b
            default: chunk.3 = b
            }
            chunkFill += 1
            guard chunkFill == 4 else { continue }
            chunkFill = 0
            let (a, b1, c, d) = chunk
            if afterEscape {
                afterEscape = false
                if a == SML.escape && b1 == SML.escape && c == SML.escape && d == SML.escape {
                    // An escaped 1B 1B 1B 1B in the data: both copies are in the CRC.
                    guard append(a, b1, c, d), append(a, b1, c, d) else { continue }
                } else if a == 1 && b1 == 1 && c == 1 && d == 1 {
                    truncated += 1
                    start()
                } else if a == 0x1A {
                    if finish(padding: Int(b1), crcLow: c, crcHigh: d) { return (i, true) }
                } else {
                    broken += 1
                    reset()
                }
            } else if a == SML.escape && b1 == SML.escape && c == SML.escape && d == SML.escape {
                afterEscape = true
            } else {
                _ = append(a, b1, c, d)
            }
        }
        return (i, false)
    }

    private mutating func finish(padding: Int, crcLow: UInt8, crcHigh: UInt8) -> Bool {
        inFrame = false
        hunt = 0
        guard count + 8 <= raw.count else { overlong += 1; return false }
        for k in 0..<4 { raw[count + k] = SML.escape }
        raw[count + 4] = 0x1A
        raw[count + 5] = UInt8(padding)
        let crc = raw.withUnsafeBufferPointer { SML.crc16(UnsafeBufferPointer(rebasing: $0[0..<(count + 6)])) }
        guard crc == UInt16(crcHigh) << 8 | UInt16(crcLow) else {
            crcErrors += 1
            return false
        }
        // SML 1.04 §8.1 allows 0–3; the published DZG DVS74 frame (smllib test data) says 4 and pads
        // with an all-zero word, so 4 is accepted too.
        guard padding <= 4, count - 8 >= padding else {
            broken += 1
            return false
        }
        // Unescape in place: drop the start escape and the second copy of each escaped 1B×4.
        var out = 0
        var k = 8
        let end = count - padding
        while k < end {
            if k + 8 <= count && raw[k] == SML.escape && raw[k + 1] == SML.escape && raw[k + 2] == SML.escape && raw[k + 3] == SML.escape
                && (k - 8) % 4 == 0 {
                for j in 0..<4 { raw[out + j] = SML.escape }
                out += 4
                k += 8
                continue
            }
            raw[out] = raw[k]
            out += 1
            k += 1
        }
        payloadCount = out
        frames += 1
        return true
    }

    /// The unescaped messages of the frame just completed.
    public func withPayload<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try raw.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: p[0..<payloadCount]))
        }
    }
}

/// SML on the push source.
public struct SMLDecoder: PushDecoder {
    public var framer = SMLFramer()
    public var identification: String? = nil
    private var wantIdent = true

    public init() {}

    public var family: String { "SML" }
    /// SML info interfaces push every 1–4 s (FNN Lastenheft EDL §3.2); 5 s with margin.
    public var firstTelegramTimeoutMs: Int64 { 5_000 }

    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) { framer.feed(input) }

    public mutating func decode(into acc: inout OBISAccumulator) throws(MeterError) {
        let want = wantIdent
        do {
            let server = try framer.withPayload { (p: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in
                try SML.decode(p, into: &acc, wantServerId: want)
            }
            if want, let server {
                identification = "server id \(server)"
                wantIdent = false
            }
        } catch {
            throw .invalidResponse(error.description)
        }
    }

    public mutating func reset() {
        framer.reset()
        wantIdent = true
    }
}
