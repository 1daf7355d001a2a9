import CSystem

/// The one mutex wrapper: storage allocated and sized by C (`pgui_mutex_create` in CSystem/shim.h),
/// so nothing depends on Swift's import of `pthread_mutex_t` on the `*-none-*` targets. Used where a
/// second thread touches shared state (sample mailbox, log ring); the MQTT mailbox still calls the
/// C functions directly.
public final class Mutex {
    private let raw: UnsafeMutableRawPointer

    public init(_ what: String) throws(SystemError) {
        guard let m = pgui_mutex_create() else { throw SystemError("pthread_mutex_init", what) }
        raw = m
    }

    deinit { pgui_mutex_destroy(raw) }

    public func lock() { pgui_mutex_lock(raw) }
    public func unlock() { pgui_mutex_unlock(raw) }

    /// `body` under the lock; keep it short (the other side may be the event loop).
    public func withLock<T>(_ body: () -> T) -> T {
        pgui_mutex_lock(raw)
        defer { pgui_mutex_unlock(raw) }
        return body()
    }
}
