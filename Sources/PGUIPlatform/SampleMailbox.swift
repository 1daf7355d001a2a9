import CSystem
import PGUICore

/// The hand-over from the acquisition thread to the event loop: a ring of `Measurement`s allocated
/// once, a `Mutex`, and an eventfd the loop watches. Measurements are plain values (no
/// references), so copying them under the lock is all the sharing there is. When the loop falls
/// behind by a whole ring, the oldest sample is overwritten and counted, never blocking the reader.
public final class SampleMailbox {
    public let capacity: Int
    public let eventFd: Int32
    private let slots: UnsafeMutablePointer<Measurement>
    private let mutex: Mutex
    private var head = 0
    private var count = 0
    private var overwritten: UInt64 = 0

    public init(capacity: Int) throws(SystemError) {
        precondition(capacity > 0, "mailbox capacity")
        mutex = try Mutex("sample mailbox")
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError("eventfd", "sample mailbox") }
        self.capacity = capacity
        self.eventFd = fd
        slots = UnsafeMutablePointer<Measurement>.allocate(capacity: capacity)
        slots.initialize(repeating: Measurement(timestampMs: 0, quality: []), count: capacity)
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
        close(eventFd)
    }

    /// Producer side (acquisition thread): never blocks beyond the short lock.
    public func push(_ m: Measurement) {
        mutex.lock()
        if count == capacity {
            head = (head + 1) % capacity
            count -= 1
            overwritten &+= 1
        }
        slots[(head + count) % capacity] = m
        count += 1
        mutex.unlock()
        var one: UInt64 = 1
        _ = write(eventFd, &one, 8)
    }

    /// Consumer side (event loop): moves every waiting sample into `out` (cleared first, capacity
    /// kept) and returns how many were overwritten since the last call.
    @discardableResult
    public func drain(into out: inout [Measurement]) -> UInt64 {
        var counter: UInt64 = 0
        _ = read(eventFd, &counter, 8)
        out.removeAll(keepingCapacity: true)
        mutex.lock()
        while count > 0 {
            out.append(slots[head])
            head = (head + 1) % capacity
            count -= 1
        }
        let lost = overwritten
        overwritten = 0
        mutex.unlock()
        return lost
    }
}

/// A POSIX thread running a closure. The closure may capture generic state (a C start routine
/// cannot), so the start routine only unwraps this object.
public final class PosixThread {
    private let body: () -> Void
    private var tid: pthread_t = pthread_t()
    private var started = false

    public init(_ body: @escaping () -> Void) { self.body = body }

    public func start(name: String) throws(SystemError) {
        precondition(!started, "thread started twice")
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<PosixThread>.fromOpaque(arg!).takeUnretainedValue().body()
            return nil
        }, me)
        guard rc == 0 else { throw SystemError("pthread_create", name, code: rc) }
        started = true
    }

    /// Waits for the body to return. The owner keeps this object alive until then.
    public func join() {
        guard started else { return }
        pthread_join(tid, nil)
        started = false
    }
}
