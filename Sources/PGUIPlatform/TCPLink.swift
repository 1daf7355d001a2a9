import CSystem
import PGUICore

/// A TCP connection to a meter (DLMS/COSEM TCP wrapper, `meter.kind = dlms-tcp`), opened lazily and
/// reopened after an error, so a meter that went away is a gap and then data again.
public struct TCPClientLink: ByteLink {
    public let host: String
    public let port: Int
    public let connectTimeoutMs: Int32
    private var fd: Int32 = -1

    public init(host: String, port: Int, connectTimeoutMs: Int64) {
        self.host = host
        self.port = port
        self.connectTimeoutMs = Int32(max(1, min(connectTimeoutMs, 60_000)))
    }

    public var description: String { "tcp \(host):\(port)" }

    private mutating func ensureOpen() throws(MeterError) {
        if fd >= 0 { return }
        let f = pgui_tcp_connect(host, "\(port)", connectTimeoutMs)
        guard f >= 0 else {
            if f <= -1000 { throw .disconnected("resolve \(host): name not found") }
            throw .disconnected("connect \(host):\(port): \(errnoText(pgui_errno()))")
        }
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
        let n = recv(fd, buffer.baseAddress, buffer.count, 0)
        if n < 0 {
            let e = pgui_errno()
            if e == EAGAIN || e == EINTR { return 0 }
            throw fail("read")
        }
        if n == 0 { throw fail("read (meter closed the connection)", code: EPIPE) }
        return n
    }

    public mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {
        try ensureOpen()
        var off = 0
        while off < bytes.count {
            let n = pgui_send_nosignal(fd, bytes.baseAddress! + off, UInt(bytes.count - off))
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
    }

    public mutating func close() {
        if fd >= 0 { CSystem.close(fd) }
        fd = -1
    }

    private mutating func fail(_ what: String, code: Int32 = pgui_errno()) -> MeterError {
        close()
        return .disconnected("\(what) \(host):\(port): \(errnoText(code))")
    }
}

/// A TCP port a pushing meter connects to (`meter.kind = dlms-push`, `meter.dlms.push_transport =
/// tcp`). One meter connection at a time: a new one replaces the old (meters reconnect per push or
/// after a reboot); a closed connection is not an error, the listener keeps waiting.
public struct TCPListenLink: ByteLink {
    public let address: String
    public let port: Int
    private var listenFd: Int32 = -1
    private var fd: Int32 = -1
    public private(set) var accepted: UInt64 = 0

    public init(address: String, port: Int) {
        self.address = address
        self.port = port
    }

    public var description: String { "tcp listen \(address):\(port)" }

    /// Opens the listening socket now, so a wrong address or a busy port is reported at start-up.
    public mutating func listen() throws(MeterError) {
        if listenFd >= 0 { return }
        let l = pgui_tcp_listen(address, Int32(port), 4)
        guard l >= 0 else { throw .disconnected("listen on \(address):\(port): \(errnoText(pgui_errno()))") }
        listenFd = l
    }

    public mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        try listen()
        var fds = (pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        let r = withUnsafeMutablePointer(to: &fds) { p in
            p.withMemoryRebound(to: pollfd.self, capacity: 2) { poll($0, fd >= 0 ? 2 : 1, Int32(max(0, min(timeoutMs, 60_000)))) }
        }
        if r <= 0 { return 0 }
        if fds.0.revents != 0 {
            let c = pgui_accept_nonblocking(listenFd)
            if c >= 0 {
                if fd >= 0 { CSystem.close(fd) }
                fd = c
                accepted += 1
            }
        }
        guard fd >= 0, fds.1.revents != 0 || fds.0.revents != 0 else { return 0 }
        let n = recv(fd, buffer.baseAddress, buffer.count, 0)
        if n < 0 {
            let e = pgui_errno()
            if e == EAGAIN || e == EINTR { return 0 }
            CSystem.close(fd)
            fd = -1
            return 0
        }
        if n == 0 {
            CSystem.close(fd)
            fd = -1
            return 0
        }
        return n
    }

    /// Pushes are one-way: nothing is written to a pushing meter.
    public mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {}

    /// Drops the meter's connection; the listener stays.
    public mutating func close() {
        if fd >= 0 { CSystem.close(fd) }
        fd = -1
    }
}
