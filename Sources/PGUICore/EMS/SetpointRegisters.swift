/// How the set-points are laid out in Modbus registers (`ems.modbus_encoding`,
/// `ems.modbus_word_order`; docs/ems.md has the register values of the spec's example for each).
public enum EMSEncoding: String, Equatable, Sendable {
    /// Signed 32-bit integer in two registers (the default, DESIGN.md §4).
    case int32
    /// Signed 16-bit integer in one register, saturating at ±32767; 0x8000 = no set-point.
    case int16
    /// IEEE 754 single precision in two registers; NaN = no set-point.
    case float32

    /// Registers per value.
    public var width: Int { self == .int16 ? 1 : 2 }
}

/// Order of the two registers of a 32-bit value. Bytes inside a register are always big-endian
/// (Modbus Application Protocol v1.1b3 §4.2); only the register order varies between products.
public enum EMSWordOrder: String, Equatable, Sendable {
    /// High word first (Modbus convention, the default).
    case big
    /// Low word first ("word swapped", what some EMS products call CDAB).
    case little
}

/// Bits of the snapshot block's validity register (docs/ems.md).
public struct SnapshotValidity: OptionSet, Equatable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// P current and Q current hold a set-point (else the "no set-point" marker).
    public static let current = SnapshotValidity(rawValue: 1)
    /// P next and Q next hold a set-point.
    public static let next = SnapshotValidity(rawValue: 2)
    /// The device clock is plausible (set by NTP or RTC); slot boundaries follow it.
    public static let clockSynced = SnapshotValidity(rawValue: 4)
    /// The DSO link is configured and connected right now.
    public static let dsoConnected = SnapshotValidity(rawValue: 8)
    /// int16 only: at least one value was outside ±32767 and is shown saturated.
    public static let saturated = SnapshotValidity(rawValue: 16)
    /// A schedule has been received (the age register holds its age).
    public static let haveSchedule = SnapshotValidity(rawValue: 32)
}

/// What the EMS register image is computed from, taken at one instant so one read is consistent.
public struct SetpointSnapshot: Equatable, Sendable {
    public var current: SetpointSlot?
    public var next: SetpointSlot?
    public var clockSynced: Bool
    public var dsoConnected: Bool
    /// Seconds since the schedule in force was accepted; nil = no schedule.
    public var scheduleAgeS: Int64?

    public init(current: SetpointSlot? = nil, next: SetpointSlot? = nil, clockSynced: Bool = true,
                dsoConnected: Bool = false, scheduleAgeS: Int64? = nil) {
        self.current = current
        self.next = next
        self.clockSynced = clockSynced
        self.dsoConnected = dsoConnected
        self.scheduleAgeS = scheduleAgeS
    }
}

/// The EMS Modbus register image of the set-points (docs/ems.md): the spec's four fields at 1000,
/// 1100, 2000, 2100 and PGUI's snapshot block at 3000, in the configured encoding. FC 3 and FC 4
/// read the same values. A read must start and end on value boundaries and cover no gap: half a
/// 32-bit value is never served (issue 14: a 16-bit read of 1000 used to return the high word, 0 for
/// a set-point of 100).
public struct SetpointRegisters: Equatable {
    public static let pCurrent: UInt16 = 1000
    public static let pNext: UInt16 = 1100
    public static let qCurrent: UInt16 = 2000
    public static let qNext: UInt16 = 2100
    public static let fields: [UInt16] = [pCurrent, pNext, qCurrent, qNext]
    /// PGUI's contiguous block (beyond the spec): P current, P next, Q current, Q next, current slot
    /// start and end (UTC s, uint32), validity bits (uint16), schedule age (s, uint32).
    public static let snapshot: UInt16 = 3000
    public static let int32Absent: UInt32 = 0x8000_0000
    public static let int16Absent: UInt16 = 0x8000
    /// Quiet NaN: a float32 reader sees "not a number" rather than a plausible 0.
    public static let float32Absent: UInt32 = 0x7FC0_0000
    /// Schedule age when there is none (uint32 all ones, SunSpec's uint32 "not implemented").
    public static let ageAbsent: UInt32 = 0xFFFF_FFFF

    public let encoding: EMSEncoding
    public let wordOrder: EMSWordOrder
    /// Every value of the image: first address and width, sorted by address.
    public let values: [(address: UInt16, width: Int)]
    /// One register per address of `values` in order (4 fields, then the snapshot block).
    public private(set) var words: [UInt16]
    public private(set) var validity = SnapshotValidity()

    public static func == (a: SetpointRegisters, b: SetpointRegisters) -> Bool {
        a.encoding == b.encoding && a.wordOrder == b.wordOrder && a.words == b.words
    }

    public init(encoding: EMSEncoding = .int32, wordOrder: EMSWordOrder = .big) {
        self.encoding = encoding
        self.wordOrder = wordOrder
        let w = encoding.width
        var v: [(address: UInt16, width: Int)] = Self.fields.map { ($0, w) }
        var a = Self.snapshot
        for width in [w, w, w, w, 2, 2, 1, 2] {
            v.append((a, width))
            a += UInt16(width)
        }
        values = v
        words = [UInt16](repeating: 0, count: v.reduce(0) { $0 + $1.width })
        update(SetpointSnapshot(clockSynced: false))
    }

    /// Registers in the snapshot block for this encoding.
    public var snapshotCount: Int { 4 * encoding.width + 7 }

    /// Index into `words` of the first register of value `k`.
    func index(_ k: Int) -> Int {
        var i = 0
        for j in 0..<k { i += values[j].width }
        return i
    }

    public mutating func update(_ s: SetpointSnapshot) {
        var flags = SnapshotValidity()
        if s.current != nil { flags.insert(.current) }
        if s.next != nil { flags.insert(.next) }
        if s.clockSynced { flags.insert(.clockSynced) }
        if s.dsoConnected { flags.insert(.dsoConnected) }
        if s.scheduleAgeS != nil { flags.insert(.haveSchedule) }
        let setpoints = [s.current?.bspP, s.next?.bspP, s.current?.bspQ, s.next?.bspQ]
        for (k, v) in setpoints.enumerated() {
            if putSetpoint(k, v) { flags.insert(.saturated) }
            if putSetpoint(4 + k, v) { flags.insert(.saturated) }
        }
        putUInt32(8, UInt32(clamping: s.current?.startS ?? 0))
        putUInt32(9, UInt32(clamping: s.current?.endS ?? 0))
        words[index(10)] = flags.rawValue
        putUInt32(11, s.scheduleAgeS.map { UInt32(clamping: max($0, 0)) } ?? Self.ageAbsent)
        validity = flags
    }

    /// Writes set-point value `k`; true when it had to be saturated.
    mutating func putSetpoint(_ k: Int, _ value: Int64?) -> Bool {
        switch encoding {
        case .int16:
            guard let value else {
                words[index(k)] = Self.int16Absent
                return false
            }
            // ±32767, not −32768: that one is the "no set-point" marker (SunSpec int16 not implemented).
            let clamped = min(max(value, -32_767), 32_767)
            words[index(k)] = UInt16(bitPattern: Int16(clamped))
            return clamped != value
        case .int32:
            // Config limits keep set-points inside ±2147483647, so −2^31 stays the marker alone.
            let raw = value.flatMap { $0 > Int64(Int32.min) && $0 <= Int64(Int32.max) ? UInt32(bitPattern: Int32($0)) : nil }
            putUInt32(k, raw ?? Self.int32Absent)
            return false
        case .float32:
            putUInt32(k, value.map { Float($0).bitPattern } ?? Self.float32Absent)
            return false
        }
    }

    mutating func putUInt32(_ k: Int, _ raw: UInt32) {
        let i = index(k)
        let hi = UInt16(raw >> 16), lo = UInt16(raw & 0xFFFF)
        words[i] = wordOrder == .big ? hi : lo
        words[i + 1] = wordOrder == .big ? lo : hi
    }

    /// The registers of a read, or nil when it starts or ends inside a value or covers a gap.
    public func read(address: Int, count: Int) -> ArraySlice<UInt16>? {
        guard count >= 1 else { return nil }
        var i = 0
        for (k, v) in values.enumerated() {
            if Int(v.address) == address {
                // Walk contiguous values until the read's end lands exactly on a value's end.
                var end = address
                var j = k
                while j < values.count, Int(values[j].address) == end, end < address + count {
                    end += values[j].width
                    j += 1
                }
                return end == address + count ? words[i..<(i + count)] : nil
            }
            i += v.width
        }
        return nil
    }

    public func isReadable(address: Int, count: Int) -> Bool { read(address: address, count: count) != nil }

    /// The 32-bit raw value of a two-register value at `address` in the configured word order.
    public func value(at address: UInt16) -> UInt32 {
        guard let r = read(address: Int(address), count: 2) else { return 0 }
        let a = UInt32(r[r.startIndex]), b = UInt32(r[r.startIndex + 1])
        return wordOrder == .big ? a << 16 | b : b << 16 | a
    }
}

/// Modbus TCP request framing and the whole answer of the EMS server, on bytes (the socket side is
/// in PGUIPlatform). MBAP header: transaction id (2), protocol id (2, must be 0), length (2, unit id +
/// PDU), unit id (1).
public enum ModbusTCPFrame {
    public static let headerBytes = 7
    /// Modbus Application Protocol v1.1b3 §4.1: the PDU is at most 253 bytes.
    public static let pduBytesMax = 253
    public static let adusBytesMax = 6 + 1 + pduBytesMax
    /// FC 3/4 answer a count of at most 125 registers (MAP v1.1b3 §6.3, §6.4).
    public static let readCountMax = 125

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
        /// Answer with the registers `address ..< address + count`.
        case read(address: Int, count: Int)
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
        guard count >= 1, count <= readCountMax else { return .exception(illegalDataValue) }
        return readable(address, count) ? .read(address: address, count: count) : .exception(illegalDataAddress)
    }

    /// Appends the exception answer to `frame`. The function code of an exception is the request's
    /// with bit 7 set (MAP v1.1b3 §7): `| 0x80`, not `+ 0x80`, so a request with FC ≥ 0x80 (0x83)
    /// gets 0x83 back, never a wrapped 0x03 that reads as a normal FC 3 answer (issue 14).
    public static func appendException(_ frame: ArraySlice<UInt8>, code: UInt8, into out: inout [UInt8]) {
        let b = frame.startIndex
        out.append(contentsOf: [frame[b], frame[b + 1], 0, 0, 0, 3, frame[b + 6], frame[b + 7] | 0x80, code])
    }

    /// Appends an FC 3/4 answer holding `registers` (big-endian bytes per register).
    public static func appendRead(_ frame: ArraySlice<UInt8>, registers: ArraySlice<UInt16>, into out: inout [UInt8]) {
        let b = frame.startIndex
        let n = registers.count * 2
        let length = 3 + n
        out.append(contentsOf: [frame[b], frame[b + 1], 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), frame[b + 6], frame[b + 7], UInt8(n)])
        for r in registers { out.append(contentsOf: [UInt8(r >> 8), UInt8(r & 0xFF)]) }
    }

    /// Largest answer to one request: MBAP (7) + FC + byte count + 125 registers.
    public static let answerBytesMax = headerBytes + 2 + 2 * readCountMax
}

/// The EMS Modbus server's answer to one complete request, from the two register images (the
/// set-points and the SunSpec meter block). Pure, so the fuzz target and the unit tests run the
/// exact code the server runs.
public enum ModbusEMSAnswer {
    public enum Region: Equatable {
        case setpoints, meter
    }

    /// The image a read of `address` needs refreshed before answering (nil: no read, no refresh).
    public static func region(of frame: ArraySlice<UInt8>) -> Region? {
        let b = frame.startIndex
        guard frame.count >= ModbusTCPFrame.headerBytes + 5, frame[b + 7] == 3 || frame[b + 7] == 4 else { return nil }
        let address = Int(frame[b + 8]) << 8 | Int(frame[b + 9])
        return address >= Int(SunSpecMeterImage.base) ? .meter : .setpoints
    }

    /// Appends the answer to `out`; true when it is an exception.
    @discardableResult
    public static func answer(_ frame: ArraySlice<UInt8>, setpoints: SetpointRegisters, meter: SunSpecMeterImage, into out: inout [UInt8]) -> Bool {
        let decision = ModbusTCPFrame.decide(frame) { a, n in
            setpoints.isReadable(address: a, count: n) || SunSpecMeterImage.isReadable(address: a, count: n)
        }
        switch decision {
        case .exception(let code):
            ModbusTCPFrame.appendException(frame, code: code, into: &out)
            return true
        case .read(let address, let count):
            if let r = setpoints.read(address: address, count: count) {
                ModbusTCPFrame.appendRead(frame, registers: r, into: &out)
            } else {
                let i = address - Int(SunSpecMeterImage.base)
                ModbusTCPFrame.appendRead(frame, registers: meter.words[i..<(i + count)], into: &out)
            }
            return false
        }
    }
}
