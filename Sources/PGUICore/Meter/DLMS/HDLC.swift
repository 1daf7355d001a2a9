/// HDLC framing of DLMS/COSEM (IEC 62056-46, "frame format type 3"):
///
///     7E | A0+S+len(11 bit) | dest addr | src addr | control | HCS | information | FCS | 7E
///
/// Addresses use the HDLC extension bit (LSB 1 = last byte); HCS and FCS are the CRC-16 of
/// ISO/IEC 13239 (X.25, reflected 0x1021, init and final xor 0xFFFF), least significant byte first.
/// HCS is present only when there is an information field.
public enum HDLC {
    public static let flag: UInt8 = 0x7E
    /// Control field values (IEC 62056-46 §6.4.3), with the poll/final bit set.
    public static let snrm: UInt8 = 0x93
    public static let ua: UInt8 = 0x73
    public static let disc: UInt8 = 0x53
    public static let dm: UInt8 = 0x1F
    public static let frmr: UInt8 = 0x97
    /// Unnumbered information: pushes (data notifications) travel in UI frames.
    public static let ui: UInt8 = 0x13
    /// LLC header in front of every APDU (IEC 62056-46 §8.2): destination LSAP E6, source E6
    /// (command) or E7 (response), quality 00.
    public static let llcRequest: [UInt8] = [0xE6, 0xE6, 0x00]
    public static let llcResponseFirst: UInt8 = 0xE6
    public static let llcResponseSecond: UInt8 = 0xE7

    /// An address as it travels: 1, 2 or 4 bytes (the extension bit ends it).
    public struct Address: Equatable, Sendable {
        public var upper: UInt16
        public var lower: UInt16
        public var bytes: Int

        /// A client address (1 byte: 16 = public client, 1 = management).
        public static func client(_ a: UInt8) -> Address { Address(upper: UInt16(a), lower: 0, bytes: 1) }

        /// A server address: logical device (1 = management logical device) and, when the meter
        /// needs one, the physical device address (RS-485 multidrop). 1 byte without a physical
        /// address, 2 bytes when both fit 7 bits, 4 bytes otherwise (IEC 62056-46 §6.4.2.2).
        public static func server(logical: UInt16, physical: UInt16?) -> Address {
            guard let p = physical else { return Address(upper: logical, lower: 0, bytes: 1) }
            if logical < 0x80 && p < 0x80 { return Address(upper: logical, lower: p, bytes: 2) }
            return Address(upper: logical, lower: p, bytes: 4)
        }

        public init(upper: UInt16, lower: UInt16, bytes: Int) {
            self.upper = upper; self.lower = lower; self.bytes = bytes
        }

        func encode(into out: inout [UInt8]) {
            switch bytes {
            case 1:
                out.append(UInt8(truncatingIfNeeded: upper << 1) | 1)
            case 2:
                out.append(UInt8(truncatingIfNeeded: (upper & 0x7F) << 1))
                out.append(UInt8(truncatingIfNeeded: (lower & 0x7F) << 1) | 1)
            default:
                out.append(UInt8(truncatingIfNeeded: (upper >> 7) << 1))
                out.append(UInt8(truncatingIfNeeded: (upper & 0x7F) << 1))
                out.append(UInt8(truncatingIfNeeded: (lower >> 7) << 1))
                out.append(UInt8(truncatingIfNeeded: (lower & 0x7F) << 1) | 1)
            }
        }

        public var text: String { bytes == 1 ? "\(upper)" : "\(upper)/\(lower)" }
    }

    /// CRC-16/X-25 over `bytes[range]`.
    public static func fcs(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for i in range {
            crc = (crc >> 8) ^ fcsTable[Int((crc ^ UInt16(bytes[i])) & 0xFF)]
        }
        return crc ^ 0xFFFF
    }

    public static func fcs(_ bytes: [UInt8], _ range: Range<Int>) -> UInt16 {
        bytes.withUnsafeBufferPointer { fcs($0, range) }
    }

    static let fcsTable: [UInt16] = (0..<256).map { (n: Int) -> UInt16 in
        var c = UInt16(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x8408 : c >> 1 }
        return c
    }

    /// Appends one frame to `out` (flags included). `segmented` sets the S bit: more segments follow.
    /// `info` must fit one frame (the caller segments).
    public static func encode(destination: Address, source: Address, control: UInt8, info: UnsafeBufferPointer<UInt8>,
                              segmented: Bool = false, into out: inout [UInt8]) {
        let start = out.count
        out.append(flag)
        out.append(0)
        out.append(0)
        destination.encode(into: &out)
        source.encode(into: &out)
        out.append(control)
        let headerEnd = out.count
        let length = headerEnd - start - 1 + (info.isEmpty ? 0 : 2 + info.count) + 2
        precondition(length <= DLMSLimits.hdlcFrameBytesMax, "HDLC frame of \(length) bytes: the caller segments")
        out[start + 1] = 0xA0 | (segmented ? 0x08 : 0) | UInt8(length >> 8)
        out[start + 2] = UInt8(length & 0xFF)
        if !info.isEmpty {
            let hcs = fcs(out, (start + 1)..<headerEnd)
            out.append(UInt8(hcs & 0xFF))
            out.append(UInt8(hcs >> 8))
            out.append(contentsOf: info)
        }
        let f = fcs(out, (start + 1)..<out.count)
        out.append(UInt8(f & 0xFF))
        out.append(UInt8(f >> 8))
        out.append(flag)
    }

    public static func encode(destination: Address, source: Address, control: UInt8, info: [UInt8],
                              segmented: Bool = false, into out: inout [UInt8]) {
        info.withUnsafeBufferPointer { encode(destination: destination, source: source, control: control, info: $0, segmented: segmented, into: &out) }
    }

    /// I-frame control: receive sequence N(R), send sequence N(S), poll bit set.
    public static func iControl(receive: Int, send: Int) -> UInt8 { UInt8((receive & 7) << 5 | 0x10 | (send & 7) << 1) }
    /// Receive-ready control with N(R) (acknowledges a segment, asks for the next).
    public static func rrControl(receive: Int) -> UInt8 { UInt8((receive & 7) << 5 | 0x11) }
}

/// One frame found by `HDLCDeframer`: positions are into the deframer's buffer and stay valid until
/// the next call that changes it.
public struct HDLCFrame: Equatable {
    public var destination: HDLC.Address
    public var source: HDLC.Address
    public var control: UInt8
    /// More segments of the same APDU follow (format byte S bit).
    public var segmented: Bool
    public var info: Range<Int>

    public var isIFrame: Bool { control & 0x01 == 0 }
    /// N(S) of an I-frame.
    public var sendSequence: Int { Int(control >> 1) & 7 }
}

/// Finds frames in a byte stream: skips noise between frames, refuses wrong checksums, lengths past
/// the limit and frames without a closing flag, and resynchronises on the next flag. Its buffer is
/// allocated once.
public struct HDLCDeframer {
    public private(set) var buffer: [UInt8]
    public private(set) var count = 0
    /// Bytes dropped while looking for a valid frame (noise, broken frames), since creation.
    public private(set) var discardedBytes: UInt64 = 0
    /// Frames refused for a checksum (HCS or FCS), since creation.
    public private(set) var checksumErrors: UInt64 = 0

    public init() {
        // Room for one frame at the limit plus its flags, plus as much again of the next.
        buffer = Array(repeating: 0, count: 2 * (DLMSLimits.hdlcFrameBytesMax + 2))
    }

    public var freeSpace: Int { buffer.count - count }

    /// Hands out the free tail of the buffer to a reader; `commit` the bytes written.
    public mutating func withFreeSpace<R>(_ body: (UnsafeMutableBufferPointer<UInt8>) throws(MeterError) -> R) throws(MeterError) -> R {
        if freeSpace == 0 { drop(count / 2) }  // only noise can fill it: frames are consumed as found
        let c = count
        return try buffer.withUnsafeMutableBufferPointer { (all) throws(MeterError) -> R in
            try body(UnsafeMutableBufferPointer(rebasing: all[c...]))
        }
    }

    public mutating func commit(_ n: Int) {
        precondition(n >= 0 && n <= freeSpace, "commit within the free space")
        count += n
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        for b in bytes {
            if count == buffer.count { drop(count / 2) }
            buffer[count] = b
            count += 1
        }
    }

    public mutating func reset() {
        count = 0
        consumed = 0
    }

    /// Drops the bytes of the last frame returned (call before the next `next()`).
    private var consumed = 0

    /// Drops `n` bytes from the front (the TCP wrapper uses this buffer as a plain stream buffer).
    mutating func consumeFront(_ n: Int) { drop(n) }

    private mutating func drop(_ n: Int) {
        precondition(n <= count, "drop within the buffer")
        guard n > 0 else { return }
        buffer.withUnsafeMutableBufferPointer { p in
            for i in 0..<(count - n) { p[i] = p[i + n] }
        }
        count -= n
    }

    private mutating func discard(_ n: Int) {
        discardedBytes += UInt64(n)
        drop(n)
    }

    /// The next complete, valid frame; nil when more bytes are needed. Invalid input in front of it
    /// is discarded (counted). The returned frame's bytes stay in the buffer until the next call.
    public mutating func next() -> HDLCFrame? {
        if consumed > 0 {
            drop(consumed)
            consumed = 0
        }
        while true {
            // Noise before the opening flag.
            var s = 0
            while s < count && buffer[s] != HDLC.flag { s += 1 }
            if s > 0 { discard(s) }
            // Flags shared between frames or repeated as fill (IEC 62056-46 §6.3: 7E 7E allowed).
            while count >= 2 && buffer[0] == HDLC.flag && buffer[1] == HDLC.flag { discard(1) }
            guard count >= 3 else { return nil }
            let format = buffer[1]
            guard format & 0xF0 == 0xA0 else { discard(1); continue }
            let length = Int(format & 0x07) << 8 | Int(buffer[2])
            // The shortest frame: format 2, addresses 2, control 1, FCS 2.
            guard length >= 7 && length <= DLMSLimits.hdlcFrameBytesMax else { discard(1); continue }
            guard count >= length + 2 else { return nil }
            guard buffer[length + 1] == HDLC.flag else { discard(1); continue }
            switch parse(length: length) {
            case .some(let f):
                consumed = length + 1  // keep the closing flag: it may open the next frame
                return f
            case .none:
                discard(1)
            }
        }
    }

    /// Checks and splits the frame at buffer[1...length].
    private mutating func parse(length: Int) -> HDLCFrame? {
        let end = 1 + length  // index of the closing flag
        let fcs = buffer.withUnsafeBufferPointer { HDLC.fcs($0, 1..<(end - 2)) }
        guard UInt16(buffer[end - 2]) | UInt16(buffer[end - 1]) << 8 == fcs else { checksumErrors += 1; return nil }
        var i = 3
        guard let dest = address(&i, end: end - 2), let src = address(&i, end: end - 2), i < end - 2 else { return nil }
        let control = buffer[i]
        i += 1
        var info = i..<i
        if i < end - 2 {
            guard i + 2 <= end - 2 else { return nil }
            let hcs = buffer.withUnsafeBufferPointer { HDLC.fcs($0, 1..<i) }
            guard UInt16(buffer[i]) | UInt16(buffer[i + 1]) << 8 == hcs else { checksumErrors += 1; return nil }
            info = (i + 2)..<(end - 2)
        }
        return HDLCFrame(destination: dest, source: src, control: control, segmented: buffer[1] & 0x08 != 0, info: info)
    }

    private func address(_ i: inout Int, end: Int) -> HDLC.Address? {
        // A tuple, not an array: nothing is allocated per frame.
        var raw: (UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0)
        var n = 0
        while i < end {
            let b = buffer[i]
            i += 1
            guard n < 4 else { return nil }
            let v = UInt16(b >> 1)
            switch n {
            case 0: raw.0 = v
            case 1: raw.1 = v
            case 2: raw.2 = v
            default: raw.3 = v
            }
            n += 1
            if b & 1 == 1 {
                switch n {
                case 1: return HDLC.Address(upper: raw.0, lower: 0, bytes: 1)
                case 2: return HDLC.Address(upper: raw.0, lower: raw.1, bytes: 2)
                case 4: return HDLC.Address(upper: raw.0 << 7 | raw.1, lower: raw.2 << 7 | raw.3, bytes: 4)
                default: return nil  // 3-byte addresses do not exist
                }
            }
        }
        return nil
    }
}
