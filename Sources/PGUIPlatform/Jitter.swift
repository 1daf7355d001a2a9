import CSystem

/// Random delays that spread a fleet's reconnects and drains (docs/fleet.md). From the kernel's
/// entropy: gateways powered up together after a grid outage share their clocks, not their draws.
public enum Jitter {
    /// A uniform draw from 0…`maxMs` (0 when `maxMs` ≤ 0).
    public static func upTo(_ maxMs: Int64) -> Int64 {
        guard maxMs > 0 else { return 0 }
        return Int64(pgui_random_u64() % UInt64(maxMs + 1))
    }
}
