/// Modbus register access for meter sources: the transport sits behind `RegisterReader`, so the
/// SunSpec and register-map logic is tested with an in-memory fake and ships unchanged over libmodbus.

/// Which register table a read addresses: FC 3 (holding) or FC 4 (input).
public enum RegisterFunction: Equatable, Sendable {
    case holding
    case input

    public var name: String { self == .holding ? "holding" : "input" }
}

/// Modbus protocol limit: one read request returns at most 125 registers (MODBUS Application
/// Protocol v1.1b3, 6.3).
public let registersPerReadMax = 125

/// A Modbus client as the meter sources need it. Implementations connect on demand and map every
/// failure to a `MeterError` (timeout, exception code, garbage, lost connection).
public protocol RegisterReader {
    /// Reads `count` (1...125) registers starting at `address` into `buffer[0..<count]`.
    mutating func read(_ function: RegisterFunction, address: Int, count: Int, into buffer: inout [UInt16]) throws(MeterError)
    /// Closes the link; the next read reconnects.
    mutating func disconnect()
}

public enum RegisterType: Equatable, Sendable {
    case int16, uint16, int32, uint32, float32

    public var words: Int {
        switch self {
        case .int16, .uint16: 1
        case .int32, .uint32, .float32: 2
        }
    }

    public init?(name: String) {
        switch name {
        case "int16": self = .int16
        case "uint16": self = .uint16
        case "int32": self = .int32
        case "uint32": self = .uint32
        case "float32": self = .float32
        default: return nil
        }
    }
}

/// Order of the two 16-bit words of a 32-bit value. Bytes inside a word are always big-endian (the
/// Modbus wire order); `big` = high word first (SunSpec, most meters), `little` = low word first.
public enum WordOrder: Equatable, Sendable {
    case big, little

    public init?(name: String) {
        switch name {
        case "big": self = .big
        case "little": self = .little
        default: return nil
        }
    }
}

/// A raw register value: integers exactly, float32 as a Double (nil = NaN or infinite: the meter's
/// "not available").
public enum RegisterValue: Equatable {
    case integer(Int64)
    case real(Double)
    case notAvailable
}

public enum RegisterDecoding {
    /// Decodes one value from `words` registers at `buffer[offset]`.
    public static func decode(_ type: RegisterType, _ order: WordOrder, _ buffer: [UInt16], at offset: Int) -> RegisterValue {
        precondition(offset >= 0 && offset + type.words <= buffer.count, "register value outside the buffer")
        let w0 = buffer[offset]
        switch type {
        case .int16: return .integer(Int64(Int16(bitPattern: w0)))
        case .uint16: return .integer(Int64(w0))
        case .int32, .uint32, .float32:
            let w1 = buffer[offset + 1]
            let bits = order == .big ? (UInt32(w0) << 16 | UInt32(w1)) : (UInt32(w1) << 16 | UInt32(w0))
            switch type {
            case .int32: return .integer(Int64(Int32(bitPattern: bits)))
            case .uint32: return .integer(Int64(bits))
            default:
                // Decoded from the bit pattern here, not with libmodbus' float helpers (they
                // misbehaved on armv7 in the self-test).
                let f = Float(bitPattern: bits)
                return f.isFinite ? .real(Double(f)) : .notAvailable
            }
        }
    }

    /// `raw × mantissa × 10^exponent`, rounded half away from zero; nil when it does not fit Int64.
    public static func scale(_ raw: Int64, mantissa: Int64, exponent: Int) -> Int64? {
        var (v, o) = raw.multipliedReportingOverflow(by: mantissa)
        if o { return nil }
        if exponent >= 0 {
            for _ in 0..<exponent {
                (v, o) = v.multipliedReportingOverflow(by: 10)
                if o { return nil }
            }
            return v
        }
        if exponent < -18 { return 0 }
        var d: Int64 = 1
        for _ in 0..<(-exponent) { d *= 10 }
        let q = v / d
        let r = v % d
        if r != 0 && (r < 0 ? -r : r) * 2 >= d { return v < 0 ? q - 1 : q + 1 }
        return q
    }

    /// The float variant of `scale`; nil when the result is not finite or does not fit Int64.
    public static func scale(_ raw: Double, mantissa: Int64, exponent: Int) -> Int64? {
        var x = raw * Double(mantissa)
        if exponent >= 0 {
            for _ in 0..<exponent { x *= 10 }
        } else {
            for _ in 0..<(-exponent) { x /= 10 }
        }
        // 2^63 is exactly representable; anything at or beyond it (after rounding) does not fit.
        guard x.isFinite, x > -9_223_372_036_854_775_807.0, x < 9_223_372_036_854_775_807.0 else { return nil }
        // Round half away from zero by hand: Double.rounded() needs libm, which the host build lacks.
        let t = Int64(x)  // truncates toward zero
        let frac = x - Double(t)
        if frac >= 0.5 { return t == Int64.max ? nil : t + 1 }
        if frac <= -0.5 { return t == Int64.min ? nil : t - 1 }
        return t
    }
}
