import CSystem
import PGUICore

/// What a protocol handler did with the bytes a connection has received so far.
public enum StreamVerdict {
    /// No complete request yet.
    case waiting
    /// One or more requests answered; keep the connection (resets its idle deadline).
    case served
    /// Send what is in the output buffer, then close (lingering: unread input is drained first so
    /// the peer reads the answer instead of a reset).
    case closeAfterWrite
    /// Drop the connection now (malformed framing).
    case close
}

/// Warns at most once per `intervalMs` per kind of problem, and says how many were not logged, so a
/// flood of bad input cannot flood the log (issue 7: "logged once, rate-limited"). The counting is
/// the one `LogThrottle` (PGUICore) with a burst of one; this adds the log line.
public struct RateLimitedLog {
    var throttle: LogThrottle

    public init(intervalMs: Int64 = 10_000) { throttle = LogThrottle(intervalMs: intervalMs, burst: 1) }

    /// For the adapters in this module, which run on the system clock.
    public mutating func warn(_ component: StaticString, _ message: String) {
        warn(component, message, nowMs: SystemClock().monotonicMs())
    }

    /// `nowMs`: monotonic time from the caller's injected clock.
    public mutating func warn(_ component: StaticString, _ message: String, nowMs: Int64) {
        guard let suppressed = throttle.allow(nowMs: nowMs) else { return }
        let extra = suppressed > 0 ? " (\(suppressed) similar not logged)" : ""
        Log.warn(component, message + extra)
    }
}

/// A non-blocking TCP server inside the event loop: the listener and every client socket sit in the
/// server's own epoll set, whose descriptor the loop polls, so connections come and go without
/// touching the loop's fixed watch list. Limits are fixed at start-up: connection slots and their
/// buffers are allocated once. A connection that completes no request within the idle timeout is
/// closed, so a slow sender holds one slot for at most that long and never blocks the loop.
public final class TCPServer {
    public struct Limits {
        public var connectionsMax: Int
        public var inputBytesMax: Int
        public var outputBytesMax: Int
        public var idleTimeoutMs: Int64
        public init(connectionsMax: Int, inputBytesMax: Int, outputBytesMax: Int, idleTimeoutMs: Int64) {
            self.connectionsMax = connectionsMax
            self.inputBytesMax = inputBytesMax
            self.outputBytesMax = outputBytesMax
            self.idleTimeoutMs = idleTimeoutMs
        }
    }

    struct Connection {
        var fd: Int32 = -1
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        var deadlineMs: Int64 = 0
        var lingering = false
    }

    public typealias Handler = (_ fd: Int32, _ input: inout [UInt8], _ output: inout [UInt8]) -> StreamVerdict

    let name: StaticString
    let listenFd: Int32
    let epollFd: Int32
    let limits: Limits
    let handler: Handler
    var connections: [Connection]
    var scratch: [UInt8]
    var readyData = [UInt64](repeating: 0, count: 64)
    var readyEvents = [UInt32](repeating: 0, count: 64)
    public private(set) var open = 0
    public private(set) var accepted: UInt64 = 0
    public private(set) var refused: UInt64 = 0
    public private(set) var timedOut: UInt64 = 0
    var refusedLog = RateLimitedLog()
    var timeoutLog = RateLimitedLog()
    static let lingerMs: Int64 = 2_000

    /// Takes ownership of `listenFd` (a listening socket).
    public init(name: StaticString, listenFd: Int32, limits: Limits, handler: @escaping Handler) throws(SystemError) {
        self.name = name
        self.listenFd = listenFd
        self.limits = limits
        self.handler = handler
        guard pgui_set_nonblocking(listenFd) == 0 else { throw SystemError("fcntl O_NONBLOCK", "\(name) listener") }
        epollFd = pgui_epoll_create()
        guard epollFd >= 0 else { throw SystemError("epoll_create1", "\(name) server") }
        guard pgui_epoll_ctl(epollFd, EPOLL_CTL_ADD, listenFd, UInt32(EPOLLIN.rawValue), 0) == 0 else {
            throw SystemError("epoll_ctl", "\(name) listener")
        }
        var c = Connection()
        c.input.reserveCapacity(limits.inputBytesMax)
        c.output.reserveCapacity(limits.outputBytesMax)
        connections = [Connection](repeating: c, count: limits.connectionsMax)
        for i in connections.indices {
            connections[i].input.reserveCapacity(limits.inputBytesMax)
            connections[i].output.reserveCapacity(limits.outputBytesMax)
        }
        scratch = [UInt8](repeating: 0, count: max(limits.inputBytesMax, 512))
    }

    deinit {
        for c in connections where c.fd >= 0 { close(c.fd) }
        close(epollFd)
        close(listenFd)
    }

    /// Registers the epoll descriptor and the idle sweep with the loop.
    public func attach(to loop: EventLoop) throws(SystemError) {
        try loop.watch(fd: epollFd) { self.processReady() }
        let sweepMs = min(max(limits.idleTimeoutMs / 4, 50), 1_000)
        try loop.addTimer(firstMs: sweepMs, intervalMs: sweepMs) { _ in self.sweep() }
    }

    func processReady() {
        let n = readyData.withUnsafeMutableBufferPointer { d in
            readyEvents.withUnsafeMutableBufferPointer { e in
                pgui_epoll_wait(epollFd, d.baseAddress, e.baseAddress, Int32(d.count), 0)
            }
        }
        guard n > 0 else { return }
        for k in 0..<Int(n) {
            let data = readyData[k]
            let events = readyEvents[k]
            if data == 0 {
                acceptClients()
                continue
            }
            let i = Int(data - 1)
            guard i < connections.count, connections[i].fd >= 0 else { continue }
            if events & UInt32(EPOLLOUT.rawValue) != 0 { flush(i) }
            guard connections[i].fd >= 0 else { continue }
            if events & UInt32(EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { receive(i) }
        }
    }

    func acceptClients() {
        // A bounded number per wake-up, so a connect flood cannot starve the other descriptors.
        for _ in 0..<32 {
            let fd = pgui_accept_nonblocking(listenFd)
            if fd < 0 {
                let e = pgui_errno()
                if e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED {
                    refusedLog.warn(name, SystemError("accept", "\(name) listener", code: e).description)
                }
                return
            }
            guard let i = connections.firstIndex(where: { $0.fd < 0 }) else {
                close(fd)
                refused += 1
                refusedLog.warn(name, "connection refused: all \(limits.connectionsMax) connection slots are busy (ems.*_connections_max)")
                continue
            }
            guard pgui_epoll_ctl(epollFd, EPOLL_CTL_ADD, fd, UInt32(EPOLLIN.rawValue), UInt64(i + 1)) == 0 else {
                close(fd)
                continue
            }
            connections[i].fd = fd
            connections[i].input.removeAll(keepingCapacity: true)
            connections[i].output.removeAll(keepingCapacity: true)
            connections[i].sent = 0
            connections[i].lingering = false
            connections[i].deadlineMs = pgui_monotonic_ms() + limits.idleTimeoutMs
            open += 1
            accepted += 1
        }
    }

    func receive(_ i: Int) {
        let fd = connections[i].fd
        let room = connections[i].lingering ? scratch.count : limits.inputBytesMax - connections[i].input.count
        guard room > 0 else {
            // The handler neither consumed nor rejected a full buffer: a handler bug; do not spin.
            closeConnection(i)
            return
        }
        let n = scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, room) }
        if n < 0 {
            let e = pgui_errno()
            if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return }
            closeConnection(i)
            return
        }
        if n == 0 {
            closeConnection(i)
            return
        }
        if connections[i].lingering { return }  // drained and discarded
        connections[i].input.append(contentsOf: scratch[0..<n])
        // Move the buffers out (no copy) so the handler gets two exclusive inouts.
        var input: [UInt8] = []
        var output: [UInt8] = []
        swap(&input, &connections[i].input)
        swap(&output, &connections[i].output)
        let verdict = handler(fd, &input, &output)
        swap(&input, &connections[i].input)
        swap(&output, &connections[i].output)
        switch verdict {
        case .waiting:
            break
        case .served:
            connections[i].deadlineMs = pgui_monotonic_ms() + limits.idleTimeoutMs
            flush(i)
        case .closeAfterWrite:
            connections[i].lingering = true
            connections[i].deadlineMs = pgui_monotonic_ms() + Self.lingerMs
            flush(i)
        case .close:
            closeConnection(i)
        }
    }

    func flush(_ i: Int) {
        let fd = connections[i].fd
        while connections[i].sent < connections[i].output.count {
            let sent = connections[i].sent
            let n = connections[i].output.withUnsafeBytes { pgui_send_nosignal(fd, $0.baseAddress! + sent, UInt($0.count - sent)) }
            if n < 0 {
                let e = pgui_errno()
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    _ = pgui_epoll_ctl(epollFd, EPOLL_CTL_MOD, fd, UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue), UInt64(i + 1))
                    return
                }
                closeConnection(i)
                return
            }
            connections[i].sent += n
        }
        connections[i].output.removeAll(keepingCapacity: true)
        connections[i].sent = 0
        _ = pgui_epoll_ctl(epollFd, EPOLL_CTL_MOD, fd, UInt32(EPOLLIN.rawValue), UInt64(i + 1))
        if connections[i].lingering { shutdown(fd, Int32(SHUT_WR)) }
    }

    func sweep() {
        let now = pgui_monotonic_ms()
        for i in connections.indices where connections[i].fd >= 0 && now >= connections[i].deadlineMs {
            if !connections[i].lingering {
                timedOut += 1
                timeoutLog.warn(name, "closed a connection that completed no request within \(limits.idleTimeoutMs) ms (ems.idle_timeout_ms)")
            }
            closeConnection(i)
        }
    }

    func closeConnection(_ i: Int) {
        let fd = connections[i].fd
        guard fd >= 0 else { return }
        _ = pgui_epoll_ctl(epollFd, EPOLL_CTL_DEL, fd, 0, 0)
        close(fd)
        connections[i].fd = -1
        connections[i].input.removeAll(keepingCapacity: true)
        connections[i].output.removeAll(keepingCapacity: true)
        connections[i].sent = 0
        connections[i].lingering = false
        open -= 1
    }
}
