import CSystem

/// The one event loop: poll(2) over a fixed set of descriptors registered at start-up. It owns all
/// mutable state; blocking work lives on other threads and wakes the loop through an eventfd.
/// SIGTERM/SIGINT/SIGHUP arrive through a signalfd, so a stop is handled between two events.
public final class EventLoop {
    public static let watchesMax = 64

    private var pollFds: [pollfd] = []
    private var handlers: [() -> Void] = []
    private var ownedFds: [Int32] = []
    private let signalFd: Int32
    private var running = false
    /// The signal that stopped the loop, 0 when stopped by `stop()`.
    public private(set) var stopSignal: Int32 = 0
    /// Completed loop iterations (health check: the loop is alive while this moves).
    public private(set) var iterations: UInt64 = 0

    public init() throws(SystemError) {
        signalFd = pgui_signalfd_for_stop()
        guard signalFd >= 0 else { throw SystemError("signalfd", "SIGTERM/SIGINT/SIGHUP") }
        pollFds.reserveCapacity(Self.watchesMax)
        handlers.reserveCapacity(Self.watchesMax)
        // Slot 0 is the signalfd, handled by the loop itself (a closure would have to capture self).
        try register(fd: signalFd) {}
    }

    deinit {
        for fd in ownedFds { close(fd) }
        close(signalFd)
    }

    /// Calls `handler` on the loop whenever `fd` is readable.
    public func watch(fd: Int32, _ handler: @escaping () -> Void) throws(SystemError) {
        try register(fd: fd, handler)
    }

    /// A monotonic timer: first after `firstMs`, then every `intervalMs` (0 = once). The handler gets
    /// the number of expirations since the last call (> 1 means the loop fell behind).
    @discardableResult
    public func addTimer(firstMs: Int64, intervalMs: Int64, _ handler: @escaping (UInt64) -> Void) throws(SystemError) -> Int32 {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError("timerfd_create", "") }
        ownedFds.append(fd)
        guard pgui_timerfd_arm(fd, firstMs, intervalMs) == 0 else { throw SystemError("timerfd_settime", "") }
        try register(fd: fd) {
            var expirations: UInt64 = 0
            let n = read(fd, &expirations, 8)
            if n == 8 { handler(expirations) }
        }
        return fd
    }

    /// Re-arms a timer made by `addTimer`.
    public func rearm(timer fd: Int32, firstMs: Int64, intervalMs: Int64) {
        _ = pgui_timerfd_arm(fd, firstMs, intervalMs)
    }

    public func stop() { running = false }

    /// Runs until a stop signal or `stop()`. Returns the stop signal (0 for `stop()`).
    public func run() -> Int32 {
        running = true
        while running {
            let n = pollFds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) }
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                Log.error("loop", SystemError("poll", "").description)
                return -1
            }
            var i = 0
            while i < pollFds.count && running {
                if pollFds[i].revents != 0 {
                    pollFds[i].revents = 0
                    if i == 0 { drainSignals() } else { handlers[i]() }
                }
                i += 1
            }
            iterations &+= 1
        }
        return stopSignal
    }

    private func register(fd: Int32, _ handler: @escaping () -> Void) throws(SystemError) {
        guard pollFds.count < Self.watchesMax else { throw SystemError("watch", "fd \(fd)", code: EMFILE) }
        pollFds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        handlers.append(handler)
    }

    private func drainSignals() {
        var info = signalfd_siginfo()
        while read(signalFd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            stopSignal = Int32(info.ssi_signo)
            running = false
        }
    }
}

public func signalName(_ signo: Int32) -> String {
    switch signo {
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    default: "signal \(signo)"
    }
}
