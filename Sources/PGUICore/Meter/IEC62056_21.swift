/// IEC 62056-21 (formerly IEC 61107/IEC 1107) protocol mode C, the data readout of the optical port
/// most meters have (IEC 62056-21:2002 §6.3 and Figure 12):
///
///     PGUI  → meter   /?[address]!CR LF            at 300 baud 7E1
///     meter → PGUI    /XXXZ[\W]ident CR LF         XXX manufacturer, Z proposed baud ('0'…'6')
///     PGUI  → meter   ACK 0 Z 0 CR LF              normal protocol, baud Z, data readout
///     meter → PGUI    STX data block ! CR LF ETX BCC   at the new speed
///
/// The data block holds data sets `address(value*unit)` (the same text as DSMR lines). BCC is the
/// XOR of every byte after STX up to and including ETX (§6.3.14). After the readout the meter falls
/// back to 300 baud by itself.
public enum IEC62056_21 {
    /// Identification message: '/' + 3 + 1 + optional "\W" + at most 16 identification characters
    /// + CR LF (§6.3.2) = 27 bytes; 64 leaves room for meters that overrun, more is noise.
    public static let identificationBytesMax = 64
    /// Readout from STX to BCC. Household meters send 0.3–2 kB (a few dozen data sets); load
    /// profiles are not requested. 16 KiB is the bound; a longer answer is garbage.
    public static let readoutBytesMax = 16_384
    /// The meter answers a request within 1500 ms and keeps characters within 1500 ms of each
    /// other (§6.3.14: t_r ≤ 1500 ms, t_a ≤ 1500 ms); PGUI waits 2000 ms for either.
    public static let responseTimeoutMs: Int64 = 2_000

    static let stx: UInt8 = 0x02, etx: UInt8 = 0x03, ack: UInt8 = 0x06

    /// Baud rate of the mode C identification character (§6.3.14 Table 2).
    public static func baud(for char: UInt8) -> Int? {
        switch char {
        case 48: 300
        case 49: 600
        case 50: 1_200
        case 51: 2_400
        case 52: 4_800
        case 53: 9_600
        case 54: 19_200
        default: nil
        }
    }

    public static func baudChar(for baud: Int) -> UInt8 {
        switch baud {
        case ..<600: 48
        case ..<1_200: 49
        case ..<2_400: 50
        case ..<4_800: 51
        case ..<9_600: 52
        case ..<19_200: 53
        default: 54
        }
    }

    public struct Identification: Equatable {
        public var manufacturer: String
        /// The speed the meter offers ('Z').
        public var baudChar: UInt8
        public var text: String
    }

    /// Parses an identification line (without CR LF).
    public static func identification(_ line: UnsafeBufferPointer<UInt8>) -> Identification? {
        guard line.count >= 5, line.count <= identificationBytesMax, line[0] == 47 else { return nil }
        for k in 1...3 where !(ASCII.isUpperAlpha(line[k]) || ASCII.isLowerAlpha(line[k])) { return nil }
        guard baud(for: line[4]) != nil else { return nil }
        for b in line where b < 32 || b > 126 { return nil }
        return Identification(manufacturer: String(decoding: line[1...3], as: UTF8.self), baudChar: line[4],
                              text: String(decoding: line, as: UTF8.self))
    }

    public enum Problem: Error, Equatable {
        case bcc(expected: UInt8, got: UInt8)
        case value(dataSet: String)
        case reading(OBISAccumulator.Problem)

        public var description: String {
            switch self {
            case .bcc(let e, let g): "IEC 62056-21 readout BCC is \(g), computed \(e)"
            case .value(let s): "IEC 62056-21 data set '\(s)' has no usable value"
            case .reading(let p): "IEC 62056-21 \(p.description)"
            }
        }
    }

    /// Checks the BCC of a readout `STX … ETX BCC` and decodes its data sets into `acc`.
    /// Returns the number of data sets seen.
    @discardableResult
    public static func decode(readout: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator) throws(Problem) -> Int {
        guard readout.count >= 3, readout[0] == stx, readout[readout.count - 2] == etx else { throw .value(dataSet: "frame") }
        var bcc: UInt8 = 0
        for k in 1..<(readout.count - 1) { bcc ^= readout[k] }
        guard bcc == readout[readout.count - 1] else { throw .bcc(expected: bcc, got: readout[readout.count - 1]) }
        return try dataSets(UnsafeBufferPointer(rebasing: readout[1..<(readout.count - 2)]), into: &acc)
    }

    /// Walks `address(value)(value)…` data sets, across and within lines, stopping at '!'.
    /// A data set with several values (e.g. a maximum demand and its time) gives its last.
    static func dataSets(_ block: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator) throws(Problem) -> Int {
        var sets = 0
        var i = 0
        var addressStart = 0
        while i < block.count {
            let b = block[i]
            if b == 33 { break }  // '!' ends the block
            if b == ASCII.cr || b == ASCII.lf {
                i += 1
                addressStart = i
                continue
            }
            guard b == 40 else { i += 1; continue }  // '('
            let address = UnsafeBufferPointer(rebasing: block[addressStart..<i])
            var valueStart = i + 1
            var valueEnd = -1
            var j = i
            // One or more (…) groups follow the address.
            while j < block.count && block[j] == 40 {
                guard let close = block[(j + 1)...].firstIndex(where: { $0 == 41 || $0 == 40 || $0 == ASCII.cr || $0 == ASCII.lf }),
                      block[close] == 41 else {
                    throw .value(dataSet: printable(Array(block[addressStart..<min(block.count, j + 24)])[...]))
                }
                valueStart = j + 1
                valueEnd = close
                j = close + 1
            }
            sets += 1
            try dataSet(address: address, value: UnsafeBufferPointer(rebasing: block[valueStart..<valueEnd]), into: &acc)
            i = j
            addressStart = j
        }
        return sets
    }

    static func dataSet(address: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, into acc: inout OBISAccumulator) throws(Problem) {
        guard let code = OBISTextLine.code(address), code.f == 255, acc.table.entryIndex(for: code) != nil else {
            acc.countUnknown()
            return
        }
        let r: OBISReading
        do { r = try OBISTextLine.reading(code: code, value: value) } catch {
            throw .value(dataSet: printable(Array(address)[...], max: 24) + "(" + printable(Array(value)[...], max: 32) + ")")
        }
        do { try acc.add(r) } catch { throw .reading(error) }
    }
}

/// Collects a readout from STX to the byte after ETX, bounded; the buffer is allocated once.
public struct IECReadoutFramer {
    private var buffer: [UInt8]
    public private(set) var count = 0
    private var started = false
    private var sawETX = false
    public private(set) var overlong: UInt64 = 0

    public init() { buffer = Array(repeating: 0, count: IEC62056_21.readoutBytesMax) }

    public mutating func reset() {
        count = 0
        started = false
        sawETX = false
    }

    /// Consumes bytes; true when STX … ETX BCC is complete (bytes before STX are skipped).
    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) {
        var i = 0
        while i < input.count {
            let b = input[i]
            i += 1
            if !started {
                if b == IEC62056_21.stx {
                    started = true
                    buffer[0] = b
                    count = 1
                }
                continue
            }
            guard count < buffer.count else {
                overlong += 1
                reset()
                continue
            }
            buffer[count] = b
            count += 1
            if sawETX { return (i, true) }
            if b == IEC62056_21.etx { sawETX = true }
        }
        return (i, false)
    }

    public func withReadout<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try buffer.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: p[0..<count]))
        }
    }
}

/// A meter read by IEC 62056-21 mode C data readout at every period: request at 300 baud, switch
/// to the lower of the meter's offer and `baudMax`, read and check the block. Each period is one
/// readout; `meter.period_ms` is never below the meter's minimum (config check).
public struct IECReadoutMeter<L: ByteLink>: MeterSource {
    public let meterId: String
    private var link: L
    /// `/?address!CR LF`, built once.
    private let request: [UInt8]
    private let baudMax: Int
    private var acc: OBISAccumulator
    private var framer = IECReadoutFramer()
    private let rx = ReceiveBuffer(capacity: 256)
    private var ident: IEC62056_21.Identification? = nil
    /// The speed the link is at (300 after every readout: the meter falls back by itself).
    private var speed = 300
    public private(set) var readouts: UInt64 = 0

    public init(link: L, address: String, baudMax: Int, table: OBISTable, meterId: String) {
        self.link = link
        request = [47, 63] + Array(address.utf8) + [33, ASCII.cr, ASCII.lf]
        self.baudMax = baudMax
        self.meterId = meterId
        acc = OBISAccumulator(table: table)
    }

    public var discoveredLayout: String? {
        ident.map { "IEC 62056-21 mode C, meter \($0.text), readout at \(min(IEC62056_21.baud(for: $0.baudChar) ?? 300, baudMax)) baud" }
    }

    private mutating func send(_ bytes: [UInt8]) throws(MeterError) {
        try bytes.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(MeterError) in try link.write(p) }
    }

    /// Reads the identification line (bytes before '/' are echo or noise and skipped).
    private mutating func readIdentification() throws(MeterError) -> IEC62056_21.Identification {
        var line = [UInt8]()
        line.reserveCapacity(IEC62056_21.identificationBytesMax)
        while true {
            let n = try link.read(into: rx.bytes, timeoutMs: IEC62056_21.responseTimeoutMs)
            if n == 0 { throw .timeout }
            for k in 0..<n {
                let b = rx.bytes[k]
                if line.isEmpty && b != 47 { continue }
                if b == ASCII.lf {
                    if line.last == ASCII.cr { line.removeLast() }
                    guard let id = line.withUnsafeBufferPointer({ IEC62056_21.identification($0) }) else {
                        throw .invalidResponse("IEC 62056-21 identification '\(printable(line[...]))' is not /XXXZ…")
                    }
                    // Bytes after the identification before our ACK would be a protocol error; dropped.
                    return id
                }
                line.append(b)
                if line.count > IEC62056_21.identificationBytesMax {
                    throw .invalidResponse("IEC 62056-21 identification longer than \(IEC62056_21.identificationBytesMax) bytes")
                }
            }
        }
    }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        if speed != 300 {
            try link.setSpeed(baud: 300)
            speed = 300
        }
        try send(request)
        let id = try readIdentification()
        ident = id
        let offered = IEC62056_21.baud(for: id.baudChar) ?? 300
        let target = min(offered, baudMax)
        let z = IEC62056_21.baudChar(for: target)
        try send([IEC62056_21.ack, 48, z, 48, ASCII.cr, ASCII.lf])  // ACK 0 Z 0: data readout
        if target != 300 {
            try link.setSpeed(baud: target)
            speed = target
        }
        framer.reset()
        let overlongBefore = framer.overlong
        while true {
            let n = try link.read(into: rx.bytes, timeoutMs: IEC62056_21.responseTimeoutMs)
            if n == 0 { throw .timeout }
            let (_, complete) = framer.feed(UnsafeBufferPointer(rebasing: rx.bytes[0..<n]))
            if complete { break }
            if framer.overlong != overlongBefore { throw .invalidResponse("IEC 62056-21 readout longer than \(IEC62056_21.readoutBytesMax) bytes") }
        }
        acc.reset()
        do {
            try framer.withReadout { (p: UnsafeBufferPointer<UInt8>) throws(IEC62056_21.Problem) in
                try IEC62056_21.decode(readout: p, into: &acc)
            }
        } catch {
            throw .invalidResponse(error.description)
        }
        readouts += 1
        return acc.measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
    }

    public mutating func reset() {
        link.close()
        framer.reset()
        speed = 300
        ident = nil
    }
}
