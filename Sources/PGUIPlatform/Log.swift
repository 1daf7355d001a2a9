import CSystem
import PGUICore

/// One logger: levelled lines on stderr, `2026-11-27T18:11:57.123Z info  meter: text`.
/// Secrets (keys, passwords) are never passed to it.
public enum Log {
    nonisolated(unsafe) public static var level: LogLevel = .info
    /// The latest warnings and errors, for the installer page (bounded, fixed at start). The
    /// acquisition thread logs too, so the ring sits behind a mutex.
    nonisolated(unsafe) static var recentEvents = RecentEvents(capacity: 16)
    nonisolated(unsafe) static let recentLock = pgui_mutex_create()

    public static var recent: RecentEvents {
        pgui_mutex_lock(recentLock)
        defer { pgui_mutex_unlock(recentLock) }
        return recentEvents
    }

    public static func error(_ component: StaticString, _ message: String) { write(.error, component, message) }
    public static func warn(_ component: StaticString, _ message: String) { write(.warn, component, message) }
    public static func info(_ component: StaticString, _ message: String) { write(.info, component, message) }
    public static func debug(_ component: StaticString, _ message: String) { write(.debug, component, message) }

    public static func write(_ l: LogLevel, _ component: StaticString, _ message: String) {
        guard l <= level else { return }
        let now = pgui_realtime_ms()
        if l <= .warn {
            pgui_mutex_lock(recentLock)
            recentEvents.add(timeMs: now, component.description + ": " + message)
            pgui_mutex_unlock(recentLock)
        }
        var line = UTC.format(ms: now)
        line += l == .info || l == .warn ? " \(l.name)  " : " \(l.name) "
        line += component.description
        line += ": "
        line += message
        line += "\n"
        writeAll(fd: 2, line)
    }
}

/// Writes a whole string to a file descriptor, retrying on short writes and EINTR.
public func writeAll(fd: Int32, _ s: String) {
    var s = s
    s.withUTF8 { buf in
        var off = 0
        while off < buf.count {
            let n = write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                return
            }
            off += n
        }
    }
}

/// Standard output for command results (`--version`, `identity show`…).
public func printOut(_ s: String) { writeAll(fd: 1, s + "\n") }
public func printErr(_ s: String) { writeAll(fd: 2, s + "\n") }
