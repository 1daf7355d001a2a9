import CSystem
import PGUICore

/// A UART in raw mode for the meters that push or answer on a serial line. Opened lazily and
/// reopened after an error, so an unplugged optical head or P1 cable is a gap, then data again.
public struct SerialPort: ByteLink {
    public let settings: SerialSettings
    private var fd: Int32 = -1

    public init(_ settings: SerialSettings) { self.settings = settings }

    private mutating func ensureOpen() throws(MeterError) {
        if fd >= 0 { return }
        let f = pgui_open(settings.device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0)
        guard f >= 0 else { throw .disconnected("open \(settings.device): \(errnoText(pgui_errno()))") }
        let parity: Int32 = switch settings.parity {
        case .none: 0
        case .even: 1
        case .odd: 2
        }
        guard pgui_serial_configure(f, UInt32(settings.baud), Int32(settings.dataBits), parity, Int32(settings.stopBits)) == 0 else {
            let e = pgui_errno()
            CSystem.close(f)
            throw .disconnected("configure \(settings.description): \(errnoText(e))")
        }
        _ = pgui_serial_flush_input(f)
        fd = f
    }

    public mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        try ensureOpen()
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(max(0, min(timeoutMs, 60_000))))
        if r < 0 {
            if pgui_errno() == EINTR { return 0 }
            throw fail("poll")
        }
        if r == 0 { return 0 }
        let n = CSystem.read(fd, buffer.baseAddress, buffer.count)
        if n < 0 {
            let e = pgui_errno()
            if e == EAGAIN || e == EINTR { return 0 }
            throw fail("read")
        }
        // POLLHUP with no data: the other end of a pty closed, or a USB adapter was pulled.
        if n == 0 { throw fail("read (hang-up)", code: EPIPE) }
        return n
    }

    public mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {
        try ensureOpen()
        var off = 0
        while off < bytes.count {
            let n = CSystem.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                let e = pgui_errno()
                if e == EINTR { continue }
                if e == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&p, 1, 1_000) <= 0 { throw fail("write (timed out)", code: pgui_etimedout()) }
                    continue
                }
                throw fail("write")
            }
            off += n
        }
        _ = pgui_serial_drain(fd)
    }

    public mutating func setSpeed(baud: Int) throws(MeterError) {
        try ensureOpen()
        let parity: Int32 = settings.parity == .none ? 0 : settings.parity == .even ? 1 : 2
        guard pgui_serial_configure(fd, UInt32(baud), Int32(settings.dataBits), parity, Int32(settings.stopBits)) == 0 else {
            throw fail("set speed \(baud) on")
        }
    }

    public mutating func close() {
        if fd >= 0 { CSystem.close(fd) }
        fd = -1
    }

    private mutating func fail(_ what: String, code: Int32 = pgui_errno()) -> MeterError {
        close()
        return .disconnected("\(what) \(settings.device): \(errnoText(code))")
    }
}
