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
/// flood of bad input cannot flood the log (issue 7: "logged once, rate-limited").
public struct RateLimitedLog {
    var lastMs: Int64 = Int64.min / 2
    var suppressed: Int = 0
    let intervalMs: Int64

    public init(intervalMs: Int64 = 10_000) { self.intervalMs = intervalMs }

    public mutating func warn(_ component: StaticString, _ message: String) {
        let now = pgui_monotonic_ms()
        guard now - lastMs >= intervalMs else {
            suppressed += 1
            return
        }
        let extra = suppressed > 0 ? " (\(suppressed) similar not logged)" : ""
        Log.warn(component, message + extra)
        lastMs = now
        suppressed = 0
    }
}

/// A non-blocking TCP server inside the event loop: the listener and every client socket sit in the
/// server's own epoll set, whose descriptor the loop polls, so connections come and go without
/// touching the loop's fixed watch list. Limits are fixed at start-up: connection slots and their
/// buffers are allocated once. A connection that completes no request within the idle timeout is
/// closed, so a slow sender holds one slot for at most that long and never blocks the loop.
///
/// A new connection is never refused for want of a slot: one client address holds at most
/// `perClientMax` connections, and with every slot taken the least useful one is closed
/// (`ConnectionEviction`: lingering, then the busiest peer's, then half-open requests, then the
/// longest idle). Accepted sockets have TCP_NODELAY. While an answer waits for the socket to drain,
/// the connection is not read, so a client that does not read cannot grow the output buffer.
public final class TCPServer {
    public struct Limits {
        public var connectionsMax: Int
        public var inputBytesMax: Int
        public var outputBytesMax: Int
        public var idleTimeoutMs: Int64
        /// Connections one peer address may hold (`ems.client_connections_max`).
        public var perClientMax: Int
        public init(connectionsMax: Int, inputBytesMax: Int, outputBytesMax: Int, idleTimeoutMs: Int64, perClientMax: Int = 0) {
            self.connectionsMax = connectionsMax
            self.inputBytesMax = inputBytesMax
            self.outputBytesMax = outputBytesMax
            self.idleTimeoutMs = idleTimeoutMs
            self.perClientMax = perClientMax > 0 ? perClientMax : connectionsMax
        }
    }

    struct Connection {
        var fd: Int32 = -1
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        var deadlineMs: Int64 = 0
        var lingering = false
        var peer: UInt32 = 0
        var acceptedMs: Int64 = 0
        var lastActiveMs: Int64 = 0
        var served = false
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
    /// Connections closed to make room for a new one.
    public private(set) var evicted: UInt64 = 0
    var slotInfo: [ConnectionInfo?]
    var refusedLog = RateLimitedLog()
    var evictLog = RateLimitedLog()
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
        slotInfo = [ConnectionInfo?](repeating: nil, count: limits.connectionsMax)
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
            if events & UInt32(EPOLLOUT.rawValue) != 0 { flush(i, resume: true) }
            guard connections[i].fd >= 0 else { continue }
            if events & UInt32(EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { receive(i) }
        }
    }

    func acceptClients() {
        // A bounded number per wake-up, so a connect flood cannot starve the other descriptors.
        for _ in 0..<32 {
            var peer: UInt32 = 0
            let fd = pgui_accept_client(listenFd, &peer)
            if fd < 0 {
                let e = pgui_errno()
                if e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED {
                    refusedLog.warn(name, SystemError("accept", "\(name) listener", code: e).description)
                }
                return
            }
            for k in connections.indices {
                let c = connections[k]
                slotInfo[k] = c.fd < 0 ? nil : ConnectionInfo(peer: c.peer, acceptedMs: c.acceptedMs, lastActiveMs: c.lastActiveMs,
                                                              served: c.served, lingering: c.lingering)
            }
            if let victim = ConnectionEviction.victim(slotInfo, newPeer: peer, perClientMax: limits.perClientMax) {
                let lingering = connections[victim].lingering
                closeConnection(victim)
                if !lingering {
                    evicted += 1
                    evictLog.warn(name, "closed an \(connections[victim].served ? "idle" : "incomplete") connection to make room for a new one (\(limits.connectionsMax) slots, \(limits.perClientMax) per client address)")
                }
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
            let now = pgui_monotonic_ms()
            connections[i].fd = fd
            connections[i].input.removeAll(keepingCapacity: true)
            connections[i].output.removeAll(keepingCapacity: true)
            connections[i].sent = 0
            connections[i].lingering = false
            connections[i].deadlineMs = now + limits.idleTimeoutMs
            connections[i].peer = peer
            connections[i].acceptedMs = now
            connections[i].lastActiveMs = now
            connections[i].served = false
            open += 1
            accepted += 1
        }
    }

    func receive(_ i: Int) {
        let fd = connections[i].fd
        // An answer still waiting for the socket: read nothing more until it is out (EPOLLOUT).
        guard connections[i].lingering || connections[i].sent >= connections[i].output.count else { return }
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
        process(i)
    }

    /// Runs the handler on the buffered input while it makes progress and its answers leave at once
    /// (the handler answers a bounded number of requests per call; the input buffer is bounded too).
    func process(_ i: Int) {
        while connections[i].fd >= 0 {
            let before = connections[i].input.count
            // Move the buffers out (no copy) so the handler gets two exclusive inouts.
            var input: [UInt8] = []
            var output: [UInt8] = []
            swap(&input, &connections[i].input)
            swap(&output, &connections[i].output)
            let verdict = handler(connections[i].fd, &input, &output)
            swap(&input, &connections[i].input)
            swap(&output, &connections[i].output)
            switch verdict {
            case .waiting:
                return
            case .served:
                let now = pgui_monotonic_ms()
                connections[i].deadlineMs = now + limits.idleTimeoutMs
                connections[i].lastActiveMs = now
                connections[i].served = true
                flush(i)
            case .closeAfterWrite:
                connections[i].lingering = true
                connections[i].served = true
                connections[i].deadlineMs = pgui_monotonic_ms() + Self.lingerMs
                flush(i)
                return
            case .close:
                closeConnection(i)
                return
            }
            guard connections[i].fd >= 0, connections[i].output.isEmpty, !connections[i].input.isEmpty,
                  connections[i].input.count < before else { return }
        }
    }

    /// `resume`: called for EPOLLOUT; once the answer is out, requests already buffered are handled.
    func flush(_ i: Int, resume: Bool = false) {
        let fd = connections[i].fd
        while connections[i].sent < connections[i].output.count {
            let sent = connections[i].sent
            let n = connections[i].output.withUnsafeBytes { pgui_send_nosignal(fd, $0.baseAddress! + sent, UInt($0.count - sent)) }
            if n < 0 {
                let e = pgui_errno()
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    // Wait for room only; reading resumes when the answer is out.
                    _ = pgui_epoll_ctl(epollFd, EPOLL_CTL_MOD, fd, UInt32(EPOLLOUT.rawValue), UInt64(i + 1))
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
        if connections[i].lingering {
            shutdown(fd, Int32(SHUT_WR))
        } else if resume && !connections[i].input.isEmpty {
            process(i)
        }
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
        open -= 1
    }
}
