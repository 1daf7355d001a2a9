import CSystem
import PGUICore

public struct SystemClock: Clock {
    public init() {}
    public func wallMs() -> Int64 { pgui_realtime_ms() }
    public func monotonicMs() -> Int64 { pgui_monotonic_ms() }
}
