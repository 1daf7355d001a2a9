import CSystem

/// The only thing Paho's threads touch: a mailbox allocated once (mutex + preallocated rings +
/// eventfd). Callbacks lock, copy plain values in, signal and unlock; the event loop drains it.
/// Control events (connected, lost, delivered…) and inbound messages have separate rings so a
/// burst of messages can never push out a PUBACK or a connection-state change. Link-state events
/// (connected, connect failed, lost, subscription results) have a ring of their own that delivery
/// events cannot fill: a burst of acks (300 schedules acknowledged back to back overflowed the
/// shared ring, "251 MQTT events lost") must never hide a lost connection (issue 14). Both rings
/// are popped in arrival order.
final class MQTTMailbox {
    enum Kind: UInt8 {
        case connected = 1, connectFailed, lost, delivered, publishFailed, subscribed, subscribeFailed
    }

    struct Control {
        var kind: Kind = .connected
        var code: Int32 = 0
        var seq: UInt64 = 0
    }

    static func isLinkEvent(_ k: Kind) -> Bool { k != .delivered && k != .publishFailed }
    /// Link events between two drains: one connect result per attempt (attempts start on the loop),
    /// one loss, one result per subscription; this depth leaves room for 8 subscriptions and more.
    static let linkDepth = 16
    var links = [Control](repeating: Control(), count: linkDepth)
    var linkHead = 0
    var linkCount = 0
    var nextSeq: UInt64 = 0
    /// Link events that did not fit: impossible by the sizing above; counted and logged as an error.
    var linkOverflow: UInt64 = 0

    let mutex: UnsafeMutableRawPointer
    let eventFd: Int32
    let topicBytesMax: Int
    let payloadBytesMax: Int
    // Control ring.
    var controls: [Control]
    var controlHead = 0
    var controlCount = 0
    // Message ring: fixed-size slots for topic and payload bytes.
    let messageDepth: Int
    var topics: [UInt8]
    var topicLens: [Int]
    var payloads: [UInt8]
    var payloadLens: [Int]
    var messageHead = 0
    var messageCount = 0
    /// Events that did not fit (control ring full): counted, reported by the loop.
    var controlOverflow: UInt64 = 0

    init(controlDepth: Int, messageDepth: Int, topicBytesMax: Int, payloadBytesMax: Int) throws(SystemError) {
        eventFd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard eventFd >= 0 else { throw SystemError("eventfd", "MQTT mailbox") }
        guard let m = pgui_mutex_create() else {
            close(eventFd)
            throw SystemError("pthread_mutex_init", "MQTT mailbox")
        }
        mutex = m
        self.topicBytesMax = topicBytesMax
        self.payloadBytesMax = payloadBytesMax
        self.messageDepth = messageDepth
        controls = [Control](repeating: Control(), count: controlDepth)
        topics = [UInt8](repeating: 0, count: messageDepth * topicBytesMax)
        topicLens = [Int](repeating: 0, count: messageDepth)
        payloads = [UInt8](repeating: 0, count: messageDepth * payloadBytesMax)
        payloadLens = [Int](repeating: 0, count: messageDepth)
    }

    deinit {
        pgui_mutex_destroy(mutex)
        close(eventFd)
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(eventFd, &one, 8)
    }

    /// Any thread.
    func push(_ kind: Kind, code: Int32 = 0) {
        pgui_mutex_lock(mutex)
        nextSeq &+= 1
        if Self.isLinkEvent(kind) {
            if linkCount < links.count {
                links[(linkHead + linkCount) % links.count] = Control(kind: kind, code: code, seq: nextSeq)
                linkCount += 1
            } else {
                linkOverflow += 1
            }
        } else if controlCount < controls.count {
            controls[(controlHead + controlCount) % controls.count] = Control(kind: kind, code: code, seq: nextSeq)
            controlCount += 1
        } else {
            controlOverflow += 1
        }
        pgui_mutex_unlock(mutex)
        signal()
    }

    /// Any thread. False when the ring is full (Paho then keeps the message and offers it again).
    /// `oversized`: only the topic is kept; the loop reports the drop.
    func pushMessage(topic: UnsafePointer<CChar>, topicLen: Int, payload: UnsafeRawPointer?, payloadLen: Int, oversized: Bool = false) -> Bool {
        pgui_mutex_lock(mutex)
        guard messageCount < messageDepth else {
            pgui_mutex_unlock(mutex)
            signal()
            return false
        }
        let slot = (messageHead + messageCount) % messageDepth
        let tl = min(topicLen, topicBytesMax)
        topics.withUnsafeMutableBytes { t in
            _ = memcpy(t.baseAddress! + slot * topicBytesMax, topic, tl)
        }
        topicLens[slot] = tl
        let pl = min(payloadLen, payloadBytesMax)
        if pl > 0, let payload {
            payloads.withUnsafeMutableBytes { p in
                _ = memcpy(p.baseAddress! + slot * payloadBytesMax, payload, pl)
            }
        }
        payloadLens[slot] = oversized ? -1 : pl
        messageCount += 1
        pgui_mutex_unlock(mutex)
        signal()
        return true
    }

    /// Loop thread: drops every queued event and message (those of a Paho handle just destroyed).
    func discardAll() {
        pgui_mutex_lock(mutex)
        controlHead = 0
        controlCount = 0
        linkHead = 0
        linkCount = 0
        messageHead = 0
        messageCount = 0
        pgui_mutex_unlock(mutex)
    }

    /// Loop thread: clears the eventfd.
    func acknowledgeSignal() {
        var v: UInt64 = 0
        _ = read(eventFd, &v, 8)
    }

    /// Loop thread: the oldest event of either ring.
    func popControl() -> Control? {
        pgui_mutex_lock(mutex)
        defer { pgui_mutex_unlock(mutex) }
        let link = linkCount > 0 ? links[linkHead] : nil
        let other = controlCount > 0 ? controls[controlHead] : nil
        if let link, other == nil || link.seq < other!.seq {
            linkHead = (linkHead + 1) % links.count
            linkCount -= 1
            return link
        }
        guard let other else { return nil }
        controlHead = (controlHead + 1) % controls.count
        controlCount -= 1
        return other
    }

    /// Loop thread: messages waiting now.
    var pendingMessages: Int {
        pgui_mutex_lock(mutex)
        defer { pgui_mutex_unlock(mutex) }
        return messageCount
    }

    /// Loop thread: wake the loop again (more messages than one turn handles).
    func resignal() { signal() }

    /// Loop thread: copies the oldest message into the caller's buffers (capacity reserved once).
    /// nil = empty; true = a message; false = an oversized message was dropped (topic only).
    func popMessage(topic: inout [UInt8], payload: inout [UInt8]) -> Bool? {
        pgui_mutex_lock(mutex)
        defer { pgui_mutex_unlock(mutex) }
        guard messageCount > 0 else { return nil }
        let slot = messageHead
        topic.removeAll(keepingCapacity: true)
        topic.append(contentsOf: topics[slot * topicBytesMax ..< slot * topicBytesMax + topicLens[slot]])
        payload.removeAll(keepingCapacity: true)
        let oversized = payloadLens[slot] < 0
        if !oversized {
            payload.append(contentsOf: payloads[slot * payloadBytesMax ..< slot * payloadBytesMax + payloadLens[slot]])
        }
        messageHead = (messageHead + 1) % messageDepth
        messageCount -= 1
        return !oversized
    }
}
