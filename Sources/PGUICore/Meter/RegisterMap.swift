/// A meter described in the configuration, one line per quantity (docs/meters.md):
///
///     meter.map.<quantity> = <address> <holding|input> <type> <big|little> <scale> <unit>
///
/// e.g. `meter.map.active_power = 0x000C input float32 big 1 W`. The value read is multiplied by
/// `scale` and converted from `unit` to the quantity's stored unit.
public struct RegisterMapEntry: Equatable, Sendable {
    public var quantity: MeterQuantity
    public var function: RegisterFunction
    public var address: Int
    public var type: RegisterType
    public var order: WordOrder
    /// Decimal scale `mantissa × 10^exponent`, with the unit conversion folded into the exponent.
    public var mantissa: Int64
    public var exponent: Int
    /// The config line, for error messages.
    public var line: Int

    public var words: Int { type.words }

    /// The value in the quantity's stored unit: nil = not available; throws for values that do not fit.
    public func value(in buffer: [UInt16], at offset: Int) throws(MeterError) -> Int64? {
        let raw = RegisterDecoding.decode(type, order, buffer, at: offset)
        let out: Int64?
        switch raw {
        case .notAvailable: return nil
        case .integer(let i): out = RegisterDecoding.scale(i, mantissa: mantissa, exponent: exponent)
        case .real(let d): out = RegisterDecoding.scale(d, mantissa: mantissa, exponent: exponent)
        }
        guard let v = out else {
            throw .invalidResponse("\(quantity.name) at \(function.name) register \(address) does not fit a 64-bit integer after scaling")
        }
        return v
    }
}

public enum RegisterMap {
    public static let keyPrefix = "meter.map."
    /// Bounds that keep a scale meaningful and every conversion inside Int64.
    public static let scaleDigitsMax = 9
    public static let exponentMax = 12

    /// Parses one `meter.map.*` line. Errors are sentences without the key (the caller adds file:line).
    public static func parseEntry(name: String, value: String, line: Int) -> Result<RegisterMapEntry, MapProblem> {
        guard let q = MeterQuantity(name: name) else {
            var names = ""
            for q in MeterQuantity.all { names += names.isEmpty ? q.name : ", \(q.name)" }
            return .failure(MapProblem("unknown quantity '\(name)'; known: \(names)"))
        }
        let tokens = Array(value.utf8).split(whereSeparator: { ASCII.isSpace($0) }).map { string($0) }
        guard tokens.count == 6 else {
            return .failure(MapProblem("expected 6 fields '<address> <holding|input> <type> <big|little> <scale> <unit>', found \(tokens.count)"))
        }
        guard let address = parseAddress(tokens[0]) else {
            return .failure(MapProblem("address '\(tokens[0])' is not 0...65535 (decimal or 0x hex)"))
        }
        let function: RegisterFunction
        switch tokens[1] {
        case "holding": function = .holding
        case "input": function = .input
        default: return .failure(MapProblem("function '\(tokens[1])' is not 'holding' or 'input'"))
        }
        guard let type = RegisterType(name: tokens[2]) else {
            return .failure(MapProblem("unknown type '\(tokens[2])'; use int16, uint16, int32, uint32 or float32"))
        }
        guard address + type.words <= 65_536 else {
            return .failure(MapProblem("\(tokens[2]) at \(address) runs past register 65535"))
        }
        guard let order = WordOrder(name: tokens[3]) else {
            return .failure(MapProblem("word order '\(tokens[3])' is not 'big' or 'little'"))
        }
        guard let (mantissa, scaleExp) = parseDecimal(tokens[4]), mantissa != 0 else {
            return .failure(MapProblem("scale '\(tokens[4])' is not a non-zero decimal number of at most \(scaleDigitsMax) digits"))
        }
        guard let unitExp = q.unitExponent(tokens[5]) else {
            return .failure(MapProblem("unit '\(tokens[5])' does not fit \(name); use \(q.baseUnit == "1" ? "1 or %" : "\(q.baseUnit), m\(q.baseUnit), k\(q.baseUnit) or M\(q.baseUnit)")"))
        }
        if q == .status && (type == .float32 || mantissa != 1 || scaleExp != 0) {
            return .failure(MapProblem("status must be an integer type with scale 1"))
        }
        let exponent = scaleExp + unitExp - q.storedExponent
        guard exponent >= -exponentMax && exponent <= exponentMax else {
            return .failure(MapProblem("scale \(tokens[4]) \(tokens[5]) is out of range for \(name)"))
        }
        return .success(RegisterMapEntry(quantity: q, function: function, address: address, type: type, order: order,
                                         mantissa: mantissa, exponent: exponent, line: line))
    }

    /// Parses all `meter.map.*` entries of a config, rejecting overlaps and duplicate quantities.
    public static func parse(_ values: ConfigValues) throws(ConfigError) -> [RegisterMapEntry] {
        var out: [RegisterMapEntry] = []
        for e in values.entries(withPrefix: keyPrefix) {
            let name = string(Array(e.key.utf8)[keyPrefix.utf8.count...])
            switch parseEntry(name: name, value: e.value, line: e.line) {
            case .failure(let p): throw values.error(e.key, p.message)
            case .success(let entry):
                if let other = out.first(where: { overlaps($0, entry) }) {
                    throw values.error(e.key, "\(entry.function.name) registers \(entry.address)...\(entry.address + entry.words - 1) overlap \(keyPrefix)\(other.quantity.name) (line \(other.line))")
                }
                out.append(entry)
            }
        }
        return out
    }

    static func overlaps(_ a: RegisterMapEntry, _ b: RegisterMapEntry) -> Bool {
        a.function == b.function && a.address < b.address + b.words && b.address < a.address + a.words
    }

    static func parseAddress(_ s: String) -> Int? {
        let b = Array(s.utf8)
        var v = 0
        if b.count > 2 && b[0] == ASCII.zero && (b[1] == 120 || b[1] == 88) {
            guard b.count <= 6 else { return nil }
            for c in b[2...] {
                let d: Int
                if ASCII.isDigit(c) { d = Int(c - ASCII.zero) } else if c >= 97 && c <= 102 { d = Int(c - 87) } else if c >= 65 && c <= 70 { d = Int(c - 55) } else { return nil }
                v = v * 16 + d
            }
            return v
        }
        guard !b.isEmpty, b.count <= 5 else { return nil }
        for c in b {
            guard ASCII.isDigit(c) else { return nil }
            v = v * 10 + Int(c - ASCII.zero)
        }
        return v <= 65_535 ? v : nil
    }

    /// "-0.01" → (-1, -2); "10" → (10, 0). At most `scaleDigitsMax` digits, no exponent notation.
    static func parseDecimal(_ s: String) -> (Int64, Int)? {
        var b = Array(s.utf8)[...]
        var negative = false
        if b.first == ASCII.minus { negative = true; b = b.dropFirst() }
        var mantissa: Int64 = 0
        var digits = 0
        var exponent = 0
        var seenDot = false
        for c in b {
            if c == ASCII.dot {
                if seenDot { return nil }
                seenDot = true
                continue
            }
            guard ASCII.isDigit(c) else { return nil }
            digits += 1
            if digits > scaleDigitsMax { return nil }
            mantissa = mantissa * 10 + Int64(c - ASCII.zero)
            if seenDot { exponent -= 1 }
        }
        guard digits > 0 else { return nil }
        return (negative ? -mantissa : mantissa, exponent)
    }
}

public struct MapProblem: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// A meter read through a register map: contiguous entries of one function are fetched in one
/// request (≤ 125 registers), so a typical map costs one or two round trips per sample.
public struct RegisterMapMeter<R: RegisterReader>: MeterSource {
    public let meterId: String
    public var reader: R
    public let entries: [RegisterMapEntry]
    /// Read plan: (function, first address, register count, entry indices), built once.
    let blocks: [(function: RegisterFunction, address: Int, count: Int, entries: [Int])]
    private var buffer: [UInt16]

    public init(reader: R, entries: [RegisterMapEntry], meterId: String) {
        precondition(!entries.isEmpty, "a register map needs at least one entry")
        self.reader = reader
        self.entries = entries
        self.meterId = meterId
        self.buffer = [UInt16](repeating: 0, count: registersPerReadMax)
        let order = entries.indices.sorted {
            let a = entries[$0], b = entries[$1]
            return a.function != b.function ? a.function == .holding : a.address < b.address
        }
        var plan: [(function: RegisterFunction, address: Int, count: Int, entries: [Int])] = []
        for i in order {
            let e = entries[i]
            if var last = plan.last, last.function == e.function, last.address + last.count == e.address,
                last.count + e.words <= registersPerReadMax
            {
                last.count += e.words
                last.entries.append(i)
                plan[plan.count - 1] = last
            } else {
                plan.append((e.function, e.address, e.words, [i]))
            }
        }
        blocks = plan
    }

    /// Round trips per sample.
    public var requestsPerSample: Int { blocks.count }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        var m = Measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
        for block in blocks {
            try reader.read(block.function, address: block.address, count: block.count, into: &buffer)
            for i in block.entries {
                let e = entries[i]
                e.quantity.store(try e.value(in: buffer, at: e.address - block.address), in: &m)
            }
        }
        return m
    }

    public mutating func reset() { reader.disconnect() }
}
