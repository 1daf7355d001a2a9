import PGUICore
import PGUIPlatform

/// The journal as the BAL publisher sees it: records read in batches and cached, so the backlog lane
/// walks a 48-hour ring in order without rereading it; a rewind (after a reconnect) rereads from the
/// tail. Reading never changes the ring; acknowledging retires records.
public struct JournalGroupStore: GroupStore {
    public let journal: FileJournal
    private var cache: [JournalRecord] = []
    private var cacheEnd: UInt64 = 0
    public static let batch = 32

    public init(journal: FileJournal) { self.journal = journal }

    public mutating func next(after seq: UInt64?) -> (seq: UInt64, payload: [UInt8])? {
        let tail = journal.stats.tail
        // The cache answers when it holds the successor of `seq`: it starts at the tail (nothing
        // older is unread) or at/before `seq`.
        if let first = cache.first, first.pos <= tail || (seq != nil && first.seq <= seq!) {
            if let r = cache.first(where: { $0.pos >= tail && (seq == nil || $0.seq > seq!) }) { return (r.seq, r.payload) }
            return load(from: cacheEnd, after: seq)
        }
        return load(from: tail, after: seq)
    }

    private mutating func load(from start: UInt64, after seq: UInt64?) -> (seq: UInt64, payload: [UInt8])? {
        var from = start
        while true {
            let got: (records: [JournalRecord], next: UInt64)
            do throws(JournalError) {
                got = try journal.read(from: from, max: Self.batch)
            } catch {
                Log.error("bal", "journal read failed: \(error.message)")
                return nil
            }
            if got.records.isEmpty { return nil }
            cache = got.records
            cacheEnd = got.next
            if let r = cache.first(where: { seq == nil || $0.seq > seq! }) { return (r.seq, r.payload) }
            from = got.next
        }
    }

    public mutating func acknowledge(upTo seq: UInt64) {
        do throws(JournalError) {
            try journal.ack(upTo: seq)
        } catch {
            Log.warn("bal", "journal: \(error.message)")
        }
    }
}

/// What the publisher asks of the MQTT client.
public struct MQTTTransport: BALTransport {
    public let mqtt: MQTTClient
    public mutating func publish(topic: String, payload: [UInt8], retained: Bool) -> Int32? {
        do throws(MQTTError) {
            return try mqtt.publish(topic, payload, qos: 1, retained: retained)
        } catch {
            return nil
        }
    }
}

/// The BAL link (DESIGN.md §4): MQTT over verified TLS; after CONNACK a retained birth message with
/// the firmware version and the current key (JWK), a Last Will that marks the device offline, then
/// the journal's groups in order with a bounded in-flight window, retired on PUBACK.
public final class BALLink: MQTTClientDelegate {
    public let mqtt: MQTTClient
    public let topics: BALTopics
    public let identity: IdentityStore
    public let deviceId: String
    public var store: JournalGroupStore
    public var transport: MQTTTransport
    public var publisher: BALPublisher
    public let statusIntervalMs: Int64
    private var status = JSONWriter(capacity: 1_024)
    private var announcementToken: Int32? = nil
    private var lastStatusMs: Int64 = 0
    public private(set) var connects: UInt64 = 0
    private var connectedSinceMs: Int64 = 0
    public let limits: BALPublisherLimits
    /// Set once the link first reached the broker (the appliance marks an update good on it).
    public var onFirstConnect: (() -> Void)? = nil
    public var lastMeterReadMs: () -> Int64? = { nil }
    /// Credential rotation and periodic key rotation (CredentialRotation.swift).
    public var rotation: CredentialRotation? = nil
    /// Inbound validation (BALInboundWiring.swift).
    public var inbound = BALInboundCounters()
    public var inboundLog = LogThrottle(intervalMs: 10_000)

    /// `credentials`: what to connect with (identity-held or configured, CredentialRotation.initial).
    public init(config: BALConfig, topicPrefix: String, deviceId: String, identity: IdentityStore, journal: FileJournal,
         credentials: BALCredentialSet? = nil) throws(MQTTError) {
        topics = BALTopics(prefix: topicPrefix, deviceId: deviceId)
        self.identity = identity
        self.deviceId = deviceId
        var o = MQTTOptions()
        o.uris = config.uris
        o.clientId = "pgui-" + deviceId  // stable: a persistent session survives reconnects
        o.caFile = config.caFile
        o.certFile = config.certFile
        o.keyFile = config.keyFile
        o.username = config.username
        o.password = config.password
        if let c = credentials {
            o.certFile = c.certFile
            o.keyFile = c.keyFile
            o.username = c.username
            o.password = c.password
        }
        o.payloadBytesMax = BALInbound.bytesMax  // larger inbound messages are dropped in Paho's callback and counted
        o.cleanSession = false
        o.keepAliveS = Int32(config.keepAliveS)
        o.reconnectMinMs = config.reconnectMinMs
        o.reconnectMaxMs = config.reconnectMaxMs
        o.inflightMax = Int32(config.inFlightMax) + 4  // groups plus status and key messages
        o.willTopic = topics.status
        var w = JSONWriter()
        BALStatus(deviceId: deviceId, online: false).encode(into: &w)
        o.willPayload = w.string
        o.willRetained = true
        mqtt = try MQTTClient(name: "bal", options: o)
        store = JournalGroupStore(journal: journal)
        transport = MQTTTransport(mqtt: mqtt)
        var limits = BALPublisherLimits()
        limits.inFlightMax = Int(config.inFlightMax)
        limits.drainPerSecondMax = Int(config.drainPerSecondMax)
        limits.drainLatencyTargetMs = config.drainLatencyTargetMs
        limits.drainStartJitterMs = config.drainStartJitterMs
        self.limits = limits
        publisher = BALPublisher(measurementsTopic: topics.measurements, limits: limits, watermark: journal.stats.ackedSeq)
        statusIntervalMs = config.statusIntervalS * 1_000
    }

    public func start(on loop: EventLoop, clock: SystemClock) throws(MQTTError) {
        mqtt.delegate = self
        mqtt.subscribe(topics.inbound, qos: 1)
        mqtt.subscribe(topics.credentialsCert, qos: 1)
        try mqtt.start(on: loop)
        do throws(SystemError) {
            try loop.addTimer(firstMs: 100, intervalMs: 100) { _ in self.tick(clock.wallMs(), clock.monotonicMs()) }
        } catch {
            throw MQTTError("bal: \(error.description); link not started")
        }
    }

    public func tick(_ wallMs: Int64, _ monoMs: Int64) {
        rotation?.tick(wallMs, monoMs)
        guard mqtt.isConnected else { return }
        publisher.pump(nowMs: monoMs, store: &store, transport: &transport)
        if monoMs - lastStatusMs >= statusIntervalMs || statusChanged(wallMs) { publishStatus(wallMs, monoMs) }
    }

    /// A group just committed to the journal: published at once when the link is up.
    public func committed(seq: UInt64, payload: [UInt8]) {
        publisher.committed(seq: seq, payload: payload, store: &store, transport: &transport)
    }

    /// What the last status said that a BAL must not wait a whole status interval to learn: the
    /// first meter read (the birth message usually precedes it), the clock state, new losses.
    private var published = (meterRead: false, clockSynced: false, lost: UInt64(0))

    private func statusChanged(_ wallMs: Int64) -> Bool {
        published.meterRead != (lastMeterReadMs() != nil) || published.clockSynced != (wallMs >= plausibleWallMsMin)
            || published.lost != store.journal.stats.lostCount
    }

    public func publishStatus(_ wallMs: Int64, _ monoMs: Int64) {
        var s = BALStatus(deviceId: deviceId, online: true)
        s.firmware = pguiVersion
        s.kid = identity.current.kid
        s.jwkJSON = identity.current.publicJWK.json
        s.timeMs = wallMs
        s.clockSynced = wallMs >= plausibleWallMsMin
        let j = store.journal.stats
        s.journalFillPermille = j.fillPerMille
        s.backlogGroups = j.records
        s.lostGroups = j.lostCount
        s.lostFirstSeq = j.lostFirstSeq
        s.lostLastSeq = j.lostLastSeq
        s.lastMeterReadMs = lastMeterReadMs()
        s.inboundRejected = inbound.rejected
        s.notarizedSeq = inbound.notarizedSeqMax
        s.link.connectedSinceMs = connectedSinceMs
        s.link.reconnects = connects > 0 ? connects - 1 : 0
        s.link.inFlight = Int64(publisher.inFlightCount)
        s.link.inFlightMax = Int64(limits.inFlightMax)
        s.link.drainPerSecondMax = Int64(limits.drainPerSecondMax)
        s.link.drainRate = Int64(publisher.drainRate)
        s.encode(into: &status)
        published = (s.lastMeterReadMs != nil, s.clockSynced, s.lostGroups)
        _ = transport.publish(topic: topics.status, payload: status.bytes, retained: true)
        lastStatusMs = monoMs
    }

    public func mqttConnected() {
        connects += 1
        let clock = SystemClock()
        rotation?.connected(wallMs: clock.wallMs())
        connectedSinceMs = clock.wallMs()
        // Birth first: the BAL learns (or confirms) the key before any group signed with it.
        publishStatus(clock.wallMs(), clock.monotonicMs())
        if let a = identity.announcement {
            announcementToken = transport.publish(topic: topics.keys, payload: a, retained: true)
        }
        // A random start for the backlog lane: a fleet reconnecting together spreads its drains.
        publisher.linkUp(nowMs: clock.monotonicMs(), drainDelayMs: Jitter.upTo(limits.drainStartJitterMs))
        publisher.pump(nowMs: clock.monotonicMs(), store: &store, transport: &transport)
        Log.info("bal", "connected; birth published (kid \(identity.current.kid)), \(store.journal.stats.records) groups waiting")
        if connects == 1 { onFirstConnect?() }
    }

    public func mqttDisconnected(_ reason: String) {
        publisher.linkDown()
        announcementToken = nil
    }

    public func mqttReceived(topic: String, payload: [UInt8]) {
        handleInbound(topic: topic, payload: payload)
    }

    public func mqttDroppedOversized(topic: String) {
        rejectInbound(topic: topic, "larger than \(BALInbound.bytesMax) bytes; dropped unread")
    }

    public func mqttConnectFailed(code: Int32) {
        rotation?.connectFailed(code: code)
    }

    /// A key rotation prepared while connected: its announcement goes out now (after CONNACK it is sent anyway).
    public func announcePending() {
        guard mqtt.isConnected, announcementToken == nil, let a = identity.announcement else { return }
        announcementToken = transport.publish(topic: topics.keys, payload: a, retained: true)
    }

    public func mqttDelivered(token: Int32) {
        if let t = announcementToken, t == token, let next = identity.pending {
            announcementToken = nil
            do throws(IdentityError) {
                try identity.announcementAccepted(newKid: next.kid, nowMs: SystemClock().wallMs())
                Log.info("bal", "key rotation accepted by the broker: now signing with \(identity.current.kid)")
                let clock = SystemClock()
                publishStatus(clock.wallMs(), clock.monotonicMs())
            } catch {
                Log.error("bal", "key rotation: \(error.description)")
            }
            return
        }
        guard publisher.published(token: token, store: &store, nowMs: SystemClock().monotonicMs()) != nil else { return }
        // A slot of the in-flight window is free: refill it now, not at the next 100 ms tick (which
        // capped a drain at inflight_max × 10 groups/s whatever bal.drain_per_s allowed).
        publisher.pump(nowMs: SystemClock().monotonicMs(), store: &store, transport: &transport)
    }

    public func mqttPublishFailed(token: Int32, code: Int32) {
        publisher.failed(token: token)
        Log.warn("bal", "publish \(token) failed (Paho \(code)); it is sent again")
    }
}
