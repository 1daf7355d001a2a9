/// Which connection an EMS server closes to make room for a new one (issue 14, item 7: slow or
/// idle neighbours held every slot, so a real EMS got 0 of 25 reads). Pure: the server passes what
/// it knows of each slot.
public struct ConnectionInfo: Equatable, Sendable {
    /// Peer IPv4 address (host byte order); 0 when unknown.
    public var peer: UInt32
    public var acceptedMs: Int64
    /// Last completed request (== acceptedMs before the first).
    public var lastActiveMs: Int64
    /// At least one request completed on this connection.
    public var served: Bool
    /// Answered and closing; only draining what the client still sends.
    public var lingering: Bool

    public init(peer: UInt32, acceptedMs: Int64, lastActiveMs: Int64, served: Bool, lingering: Bool) {
        self.peer = peer
        self.acceptedMs = acceptedMs
        self.lastActiveMs = lastActiveMs
        self.served = served
        self.lingering = lingering
    }
}

public enum ConnectionEviction {
    /// The slot to free for a new connection from `newPeer`, or nil to use a free slot.
    ///
    /// 1. A peer already holding `perClientMax` connections loses one of its own, so one host (a
    ///    slowloris, a misconfigured poller) never holds more than its budget and never pushes out
    ///    other clients.
    /// 2. With every slot taken, the victim is, in order: a lingering connection (already
    ///    answered); one of the peer holding the most slots; a connection that has not completed a
    ///    request (half-open frames, slow headers) before one that has; the oldest activity first.
    ///    A new connection therefore always gets a slot and is answered at once.
    public static func victim(_ slots: [ConnectionInfo?], newPeer: UInt32, perClientMax: Int) -> Int? {
        var own = 0
        var free = false
        var counts: [UInt32: Int] = [:]
        for s in slots {
            guard let s else {
                free = true
                continue
            }
            counts[s.peer, default: 0] += 1
            if s.peer == newPeer { own += 1 }
        }
        if own >= perClientMax { return worst(slots) { $0.peer == newPeer } }
        if free { return nil }
        return worst(slots, counts: counts) { _ in true }
    }

    static func worst(_ slots: [ConnectionInfo?], counts: [UInt32: Int] = [:], _ eligible: (ConnectionInfo) -> Bool) -> Int? {
        var best: Int? = nil
        var bestKey = (0, 0, 0, Int64.max)
        for (i, s) in slots.enumerated() {
            guard let s, eligible(s) else { continue }
            // Smaller key = evicted first.
            let key = (s.lingering ? 0 : 1, -(counts[s.peer] ?? 0), s.served ? 1 : 0, s.served ? s.lastActiveMs : s.acceptedMs)
            if best == nil || key < bestKey {
                best = i
                bestKey = key
            }
        }
        return best
    }
}
