/// The EMS Modbus register image of the set-points (docs/ems.md, DESIGN.md §4): four signed 32-bit
/// fields, high word first, identical on FC 3 and FC 4; 0x8000_0000 ("not implemented" in SunSpec)
/// when there is no set-point. Pure: the server copies `words` into libmodbus' mapping.
public struct SetpointRegisters: Equatable {
    public static let pCurrent: UInt16 = 1000
    public static let pNext: UInt16 = 1100
    public static let qCurrent: UInt16 = 2000
    public static let qNext: UInt16 = 2100
    public static let fields: [UInt16] = [pCurrent, pNext, qCurrent, qNext]
    /// The mapping covers 1000...2101; only the field registers themselves are readable.
    public static let firstAddress: UInt16 = 1000
    public static let count = 1102
    public static let absent: UInt32 = 0x8000_0000

    /// Registers `firstAddress ..< firstAddress + count`.
    public private(set) var words: [UInt16]

    public init() {
        words = [UInt16](repeating: 0, count: Self.count)
        update(current: nil, next: nil)
    }

    public mutating func update(current: SetpointSlot?, next: SetpointSlot?) {
        put(Self.pCurrent, current?.bspP)
        put(Self.pNext, next?.bspP)
        put(Self.qCurrent, current?.bspQ)
        put(Self.qNext, next?.bspQ)
    }

    mutating func put(_ address: UInt16, _ value: Int64?) {
        let raw: UInt32
        if let value, value > Int64(Int32.min), value <= Int64(Int32.max) {
            raw = UInt32(bitPattern: Int32(value))
        } else {
            raw = Self.absent
        }
        let i = Int(address - Self.firstAddress)
        words[i] = UInt16(raw >> 16)
        words[i + 1] = UInt16(raw & 0xFFFF)
    }

    public func value(at address: UInt16) -> UInt32 {
        let i = Int(address - Self.firstAddress)
        return UInt32(words[i]) << 16 | UInt32(words[i + 1])
    }

    /// True when every register of `address ..< address + count` belongs to a field.
    public static func isReadable(address: Int, count: Int) -> Bool {
        guard count >= 1 else { return false }
        for f in fields where address >= Int(f) && address + count <= Int(f) + 2 { return true }
        return false
    }
}

/// Modbus TCP request framing and the policy of the EMS server, on bytes (the socket side is in
/// PGUIPlatform). MBAP header: transaction id (2), protocol id (2, must be 0), length (2, unit id +
/// PDU), unit id (1).
public enum ModbusTCPFrame {
    public static let headerBytes = 7
    /// Modbus Application Protocol v1.1b3 §4.1: the PDU is at most 253 bytes.
    public static let pduBytesMax = 253
    public static let adusBytesMax = 6 + 1 + pduBytesMax

    public enum Next: Equatable {
        case incomplete
        /// A whole request of `length` bytes sits at the start of the buffer.
        case frame(length: Int)
        case malformed(String)
    }

    public static func next(_ buf: ArraySlice<UInt8>) -> Next {
        guard buf.count >= 6 else { return .incomplete }
        let b = buf.startIndex
        let protocolId = UInt16(buf[b + 2]) << 8 | UInt16(buf[b + 3])
        guard protocolId == 0 else { return .malformed("protocol id \(protocolId), expected 0") }
        let length = Int(UInt16(buf[b + 4]) << 8 | UInt16(buf[b + 5]))
        guard length >= 2, length <= 1 + pduBytesMax else { return .malformed("MBAP length \(length) is outside 2...254") }
        let total = 6 + length
        return buf.count >= total ? .frame(length: total) : .incomplete
    }

    public enum Decision: Equatable {
        /// A read of registers the image holds: let libmodbus answer it from the mapping.
        case read
        /// Answer with this Modbus exception code.
        case exception(UInt8)
    }

    public static let illegalFunction: UInt8 = 1
    public static let illegalDataAddress: UInt8 = 2
    public static let illegalDataValue: UInt8 = 3

    /// What the EMS server does with a complete request (`frame` = whole ADU).
    public static func decide(_ frame: ArraySlice<UInt8>, readable: (Int, Int) -> Bool) -> Decision {
        let b = frame.startIndex
        let function = frame[b + 7]
        guard function == 3 || function == 4 else { return .exception(illegalFunction) }
        guard frame.count == headerBytes + 5 else { return .exception(illegalDataValue) }
        let address = Int(UInt16(frame[b + 8]) << 8 | UInt16(frame[b + 9]))
        let count = Int(UInt16(frame[b + 10]) << 8 | UInt16(frame[b + 11]))
        guard count >= 1, count <= 125 else { return .exception(illegalDataValue) }
        return readable(address, count) ? .read : .exception(illegalDataAddress)
    }
}
