/// DSMR P1 (Dutch Smart Meter Requirements, "P1 Companion Standard" 2.2 … 5.0.2; also Fluvius
/// e-MUCS in Belgium, Luxembourg Smarty, Swedish HAN): the meter pushes an ASCII telegram
///
///     /ISK5\2M550T-1012            header: '/' XXX manufacturer, 5 = 115200 (DSMR 5 §6.2)
///                                  empty line
///     1-0:1.8.1(001234.567*kWh)    one OBIS data line per value (DSMR 5 §6.4)
///     …
///     !1E3F                        end: '!' and CRC16 in 4 hex digits (DSMR 4+; 2.2/3 have none)
///
/// every 1 s (DSMR 5) or 10 s (DSMR 2.2–4). CRC16 is CRC-16/ARC (polynomial x¹⁶+x¹⁵+x²+1,
/// reflected, initial 0) over every byte from '/' to '!' inclusive (DSMR 5.0.2 §6.2).
public enum DSMR {
    /// Largest telegram accepted, '/' to the CRC. DSMR 5.0.2 §6.12 lets the text message
    /// 0-0:96.13.0 be 1024 characters (2048 hex digits) and up to 4 M-Bus devices add ~100 bytes
    /// each; real telegrams are 0.5–1.2 kB. 8 KiB holds the worst case with room, and anything longer
    /// is noise or two telegrams run together.
    public static let telegramBytesMax = 8_192
    /// Characters between '!' and CR: none (DSMR 2.2/3) or 4 hex digits (DSMR 4/5).
    static let crcDigits = 4

    /// CRC-16/ARC as DSMR 4+ prescribes (check value of "123456789" is 0xBB3D).
    public static func crc16(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        crcTable.withUnsafeBufferPointer { t in
            var crc: UInt16 = 0
            for b in bytes { crc = (crc >> 8) ^ t[Int(UInt8(truncatingIfNeeded: crc) ^ b)] }
            return crc
        }
    }

    /// Byte-at-a-time table of the reflected polynomial 0xA001 (the bitwise loop cost ~9 % of a
    /// decode-plus-sign profile of `pgui-bench serial-meters`; the table makes it 8× cheaper).
    static let crcTable: [UInt16] = reflectedCRCTable(0xA001)

    public enum Problem: Error, Equatable {
        /// A data line of a known quantity whose value does not parse (`line` is its text, cut).
        case value(line: String)
        /// A reading the OBIS table refused (unit not fitting, overflow).
        case reading(OBISAccumulator.Problem)
        /// No '/' header line: the buffer is not a telegram.
        case notATelegram

        public var description: String {
            switch self {
            case .value(let line): "DSMR data line '\(line)' has no usable value"
            case .reading(let p): "DSMR \(p.description)"
            case .notATelegram: "DSMR telegram does not start with '/'"
            }
        }
    }

    /// Feeds every data line of a complete telegram (as the framer hands it over, '/' … '!') into
    /// `acc`. Lines whose code the table does not know are counted there and skipped unparsed (texts,
    /// timestamps, gas), as are historical values (F ≠ 255). Returns the number of lines read.
    @discardableResult
    public static func decode(_ telegram: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator) throws(Problem) -> Int {
        guard telegram.first == 47 else { throw .notATelegram }
        var lines = 0
        var start = 0
        var i = 0
        while i <= telegram.count {
            if i == telegram.count || telegram[i] == ASCII.lf {
                var end = i
                if end > start && telegram[end - 1] == ASCII.cr { end -= 1 }
                if start > 0 && end > start {  // line 0 is the header
                    try line(UnsafeBufferPointer(rebasing: telegram[start..<end]), into: &acc)
                    lines += 1
                }
                start = i + 1
            }
            i += 1
        }
        return lines
    }

    static func line(_ line: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator) throws(Problem) {
        guard let (codeText, value) = OBISTextLine.split(line), let code = OBISTextLine.code(codeText),
              code.f == 255, acc.table.entryIndex(for: code) != nil else {
            acc.countUnknown()
            return
        }
        let r: OBISReading
        do { r = try OBISTextLine.reading(code: code, value: value) } catch {
            throw .value(line: printable(Array(line)[...], max: 64))
        }
        do { try acc.add(r) } catch { throw .reading(error) }
    }
}

/// Finds telegrams in the byte stream: skips noise until '/', collects to '!', checks the CRC when
/// the meter sends one, and restarts on a '/' in the middle (a telegram cut short by a replugged
/// cable: the next one is complete). The buffer is allocated once.
public struct DSMRFramer {
    public enum State: Equatable { case hunting, body, trailer }
    private var buffer: [UInt8]
    public private(set) var count = 0
    /// Index of '!' in `buffer` while in `.trailer`.
    private var bang = 0
    public private(set) var state = State.hunting
    /// Whether telegrams without a CRC (DSMR 2.2/3) are accepted; DSMR 4/5 meters always send one,
    /// so for them a missing CRC is a damaged telegram.
    public var crcRequired: Bool

    // Counters for /status and tests (monotonic since start).
    public private(set) var telegrams: UInt64 = 0
    public private(set) var crcErrors: UInt64 = 0
    public private(set) var overlong: UInt64 = 0
    public private(set) var truncated: UInt64 = 0
    public private(set) var noiseBytes: UInt64 = 0

    public init(crcRequired: Bool) {
        self.crcRequired = crcRequired
        buffer = Array(repeating: 0, count: DSMR.telegramBytesMax)
    }

    /// Forgets a partial telegram (link reset).
    public mutating func reset() {
        count = 0
        state = .hunting
    }

    /// Consumes bytes of `input` up to and including the end of the next complete, checked
    /// telegram. Returns how many bytes were used and whether a telegram is ready (read it with
    /// `withTelegram` before feeding more).
    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) {
        var i = 0
        while i < input.count {
            let b = input[i]
            i += 1
            switch state {
            case .hunting:
                if b == 47 {
                    buffer[0] = b
                    count = 1
                    state = .body
                } else {
                    noiseBytes += 1
                }
            case .body, .trailer:
                if b == 47 {
                    // A new header inside a telegram: the one collected was cut short.
                    truncated += 1
                    buffer[0] = b
                    count = 1
                    state = .body
                    continue
                }
                guard count < buffer.count else {
                    overlong += 1
                    state = .hunting
                    count = 0
                    continue
                }
                buffer[count] = b
                count += 1
                if state == .body {
                    if b == 33 {  // '!'
                        bang = count - 1
                        state = .trailer
                    }
                } else if b == ASCII.lf {
                    if finish() { return (i, true) }
                } else if count - bang - 1 > DSMR.crcDigits + 1 {
                    // More than "XXXX\r" after '!': not an end line.
                    truncated += 1
                    state = .hunting
                    count = 0
                }
            }
        }
        return (i, false)
    }

    /// Checks the trailer of a collected telegram; false (and counted) when it is damaged.
    private mutating func finish() -> Bool {
        state = .hunting
        var end = count - 1  // the LF
        if end > bang + 1 && buffer[end - 1] == ASCII.cr { end -= 1 }
        let digits = end - bang - 1
        if digits == 0 && !crcRequired {
            count = bang + 1
            telegrams += 1
            return true
        }
        var crc: UInt16 = 0
        var ok = digits == DSMR.crcDigits
        if ok {
            for k in 0..<DSMR.crcDigits {
                guard let v = ASCII.hexValue(buffer[bang + 1 + k]) else { ok = false; break }
                crc = crc << 4 | UInt16(v)
            }
        }
        let computed = buffer.withUnsafeBufferPointer { DSMR.crc16(UnsafeBufferPointer(rebasing: $0[0...bang])) }
        guard ok, computed == crc else {
            crcErrors += 1
            count = 0
            return false
        }
        count = bang + 1
        telegrams += 1
        return true
    }

    /// The telegram just completed, '/' through '!' (the CRC already checked).
    public func withTelegram<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try buffer.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: p[0..<count]))
        }
    }
}

/// The 256-entry table of a reflected CRC-16 with polynomial `poly` (bit-reversed form).
func reflectedCRCTable(_ poly: UInt16) -> [UInt16] {
    (0..<256).map { (i: Int) -> UInt16 in
        var c = UInt16(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ poly : c >> 1 }
        return c
    }
}
