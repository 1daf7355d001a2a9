/// A byte stream to a meter: a serial port (DLMS/HDLC, DSMR P1, SML, IEC 62056-21) or a TCP
/// connection (DLMS TCP wrapper, pushes on a TCP port). The protocol decoders in the core read
/// through it, so unit tests feed them from memory and the firmware from the real device.
public protocol ByteLink {
    /// Reads what has arrived into `buffer`, waiting at most `timeoutMs` for the first byte.
    /// Returns 0 when nothing arrived in time; throws `.disconnected` when the link is gone.
    mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int
    /// Writes all of `bytes` (requests, acknowledgements).
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError)
    /// Changes the line speed (IEC 62056-21's baud-rate switch); links without one ignore it.
    mutating func setSpeed(baud: Int) throws(MeterError)
    /// Drops the connection; the next read or write reopens it.
    mutating func close()
}

extension ByteLink {
    public mutating func setSpeed(baud: Int) throws(MeterError) {}
}

/// The UART frame of a serial meter (`meter.serial.*`). DSMR 4/5: 115200 8N1; DSMR 2.2/3: 9600 7E1;
/// SML: 9600 8N1; IEC 62056-21: 300 7E1 until the baud-rate switch.
public struct SerialSettings: Equatable, Sendable {
    public var device: String
    public var baud: Int
    public var dataBits: Int
    public var parity: SerialParity
    public var stopBits: Int

    public init(device: String, baud: Int, dataBits: Int = 8, parity: SerialParity = .none, stopBits: Int = 1) {
        self.device = device; self.baud = baud; self.dataBits = dataBits; self.parity = parity; self.stopBits = stopBits
    }

    /// `/dev/ttyUSB0 9600 7E1`, for logs.
    public var description: String {
        let p: String = switch parity {
        case .none: "N"
        case .even: "E"
        case .odd: "O"
        }
        return "\(device) \(baud) \(dataBits)\(p)\(stopBits)"
    }
}
