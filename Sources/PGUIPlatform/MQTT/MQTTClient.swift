import CPaho
import CSystem
import PGUICore

/// A failed MQTT operation: what, on which broker/topic, Paho's code, and what the device does.
public struct MQTTError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Everything a link needs to reach one broker. TLS only: server certificate verified against
/// `caFile` and the host name checked; no plaintext fallback.
public struct MQTTOptions {
    /// `ssl://host:port` or `mqtts://host:port`, tried in order.
    public var uris: [String] = []
    public var clientId: String = ""
    public var caFile: String = ""
    /// Optional strings are "" when unset.
    public var certFile: String = ""
    public var keyFile: String = ""
    public var username: String = ""
    /// Never logged.
    public var password: String = ""
    public var cleanSession = true
    public var keepAliveS: Int32 = 30
    public var connectTimeoutS: Int32 = 10
    /// "" = no will.
    public var willTopic: String = ""
    public var willPayload: String = ""
    public var willRetained = true
    public var reconnectMinMs: Int64 = 1_000
    public var reconnectMaxMs: Int64 = 60_000
    public var topicBytesMax = 256
    public var payloadBytesMax = 65_536
    /// Inbound messages buffered between Paho's thread and the loop.
    public var inboundDepth = 4
    public var inflightMax: Int32 = 16
    public init() {}

    /// nil when usable, else why not.
    public func problem() -> String? {
        guard !uris.isEmpty else { return "no broker URI" }
        for u in uris where !(u.utf8.starts(with: "ssl://".utf8) || u.utf8.starts(with: "mqtts://".utf8)) {
            return "broker URI '\(printable(Array(u.utf8)[...]))' is not ssl:// or mqtts:// (TLS is mandatory)"
        }
        guard !caFile.isEmpty else { return "no CA file" }
        guard certFile.isEmpty == keyFile.isEmpty else { return "a client certificate needs its key and vice versa" }
        guard !clientId.isEmpty else { return "no client id" }
        return nil
    }
}

/// What a link does with the client's events; called on the event loop only.
public protocol MQTTClientDelegate: AnyObject {
    func mqttConnected()
    func mqttDisconnected(_ reason: String)
    func mqttReceived(topic: String, payload: [UInt8])
    /// A message longer than `payloadBytesMax` arrived and was dropped.
    func mqttDroppedOversized(topic: String)
    /// QoS 1: the broker acknowledged the publish with this token (PUBACK).
    func mqttDelivered(token: Int32)
    func mqttPublishFailed(token: Int32, code: Int32)
    /// A connection attempt failed (TLS, credentials, broker unreachable); a retry is scheduled.
    func mqttConnectFailed(code: Int32)
    /// The messages of one loop turn have all been handed over (a link may batch work, e.g. one
    /// fsync for several schedules).
    func mqttBatchEnd()
}

extension MQTTClientDelegate {
    public func mqttConnectFailed(code: Int32) {}
    public func mqttBatchEnd() {}
}

/// A generic Paho MQTTAsync client driven by the event loop: connect with bounded, jittered
/// back-off, subscribe, publish QoS 0/1 with completion. Paho's threads only fill the mailbox.
public final class MQTTClient {
    public let name: StaticString
    public private(set) var options: MQTTOptions
    var client: MQTTAsync? = nil
    let mailbox: MQTTMailbox
    public var delegate: (any MQTTClientDelegate)? = nil
    public private(set) var isConnected = false
    var connecting = false
    var attempt = 0
    var timerFd: Int32 = -1
    var loop: EventLoop? = nil
    var jitterState: UInt64
    var subscriptions: [(String, Int32)] = []
    var topicBuf: [UInt8] = []
    var payloadBuf: [UInt8] = []
    // C strings and option structs Paho reads during connect: owned for the client's lifetime.
    var cStrings: [UnsafeMutablePointer<CChar>] = []
    let uriArray: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let ssl: UnsafeMutablePointer<MQTTAsync_SSLOptions>
    let will: UnsafeMutablePointer<MQTTAsync_willOptions>
    var lastError = ""
    /// TLS diagnosis (CPaho shim): watching while a connect attempt runs; notes newer than `tlsNoteSince` are ours.
    var tlsWatching = false
    var tlsNoteSince: UInt = 0
    var tlsNote = [UInt8](repeating: 0, count: 160)
    /// [username, password] C strings (or nil).
    let credentials: UnsafeMutablePointer<UnsafePointer<CChar>?>

    public init(name: StaticString, options: MQTTOptions) throws(MQTTError) {
        if let p = options.problem() { throw MQTTError("mqtt \(name): \(p); link not started") }
        self.name = name
        self.options = options
        do throws(SystemError) {
            mailbox = try MQTTMailbox(controlDepth: Int(options.inflightMax) * 2 + 16, messageDepth: options.inboundDepth,
                                      topicBytesMax: options.topicBytesMax, payloadBytesMax: options.payloadBytesMax)
        } catch {
            throw MQTTError("mqtt \(name): \(error.description); link not started")
        }
        // Seeded from the kernel's entropy, not the clock: gateways that power up together after a grid
        // outage have nearly the same monotonic time and would otherwise draw the same delays.
        jitterState = pgui_random_u64() | 1
        topicBuf.reserveCapacity(options.topicBytesMax)
        payloadBuf.reserveCapacity(options.payloadBytesMax)
        uriArray = .allocate(capacity: options.uris.count)
        ssl = .allocate(capacity: 1)
        ssl.initialize(to: pgui_mqtt_ssl_options())
        will = .allocate(capacity: 1)
        will.initialize(to: pgui_mqtt_will_options())
        credentials = .allocate(capacity: 2)
        credentials.initialize(repeating: nil, count: 2)
    }

    /// Paho handle, owned C strings and callbacks; done at `start`.
    private func setUp() throws(MQTTError) {
        cStrings.reserveCapacity(options.uris.count + 8)
        for (i, u) in options.uris.enumerated() { uriArray[i] = own(u) }
        let clientIdC = own(options.clientId)
        // Plain create: the create options' defaults are what PGUI wants (no sending while
        // disconnected; the MQTT version is chosen at connect).
        var handle: MQTTAsync? = nil
        let rc = MQTTAsync_create(&handle, uriArray[0], clientIdC, MQTTCLIENT_PERSISTENCE_NONE, nil)
        guard rc == MQTTASYNC_SUCCESS, handle != nil else {
            throw MQTTError("mqtt \(name): MQTTAsync_create for \(options.uris[0]) returned \(rc); link not started")
        }
        client = handle
        ssl.pointee.trustStore = UnsafePointer(own(options.caFile))
        ssl.pointee.enableServerCertAuth = 1
        ssl.pointee.verify = 1
        ssl.pointee.sslVersion = MQTT_SSL_VERSION_TLS_1_2
        applyCredentials()
        if !options.willTopic.isEmpty {
            will.pointee.topicName = UnsafePointer(own(options.willTopic))
            will.pointee.message = UnsafePointer(own(options.willPayload))
            will.pointee.retained = options.willRetained ? 1 : 0
            will.pointee.qos = 1
        }
        let ctx = Unmanaged.passUnretained(mailbox).toOpaque()
        let src = MQTTAsync_setCallbacks(client, ctx, { ctx, cause in
            Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.lost)
            if let cause { MQTTAsync_free(cause) }
        }, { ctx, topic, topicLen, message in
            let box = Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue()
            guard let topic, let message else { return 1 }
            let tl = topicLen > 0 ? Int(topicLen) : strlen(topic)
            let pl = Int(message.pointee.payloadlen)
            if pl > box.payloadBytesMax || tl > box.topicBytesMax {
                // Oversized: reported (without its payload) so the link can answer; never queued.
                if !box.pushMessage(topic: topic, topicLen: min(tl, box.topicBytesMax), payload: nil, payloadLen: 0, oversized: true) { return 0 }
            } else if !box.pushMessage(topic: topic, topicLen: tl, payload: message.pointee.payload, payloadLen: pl) {
                return 0  // mailbox full: Paho keeps the message and offers it again
            }
            var m: UnsafeMutablePointer<MQTTAsync_message>? = message
            MQTTAsync_freeMessage(&m)
            MQTTAsync_free(topic)
            return 1
        }, { ctx, token in
            Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.delivered, code: token)
        })
        guard src == MQTTASYNC_SUCCESS else { throw MQTTError("mqtt \(name): MQTTAsync_setCallbacks returned \(src); link not started") }
        }

    /// Connects again with other client credentials (a credential rotation or its fall-back): the
    /// Paho handle is destroyed (a clean DISCONNECT, so no Last Will; its TLS context and session go
    /// with it, so the new certificate is presented on a fresh handshake) and created anew. Events
    /// of the old handle still in the mailbox are dropped; the delegate hears `mqttDisconnected`.
    /// `reconnectNow: false` only changes what later reconnects use (the same credentials moved to
    /// another file); the connection stays up.
    public func replaceCredentials(certFile: String, keyFile: String, username: String, password: String, reconnectNow: Bool = true) throws(MQTTError) {
        var o = options
        o.certFile = certFile
        o.keyFile = keyFile
        o.username = username
        o.password = password
        if let p = o.problem() { throw MQTTError("mqtt \(name): \(p); credentials not replaced") }
        guard reconnectNow, client != nil else {
            options = o
            if client != nil { applyCredentials() }
            return
        }
        let wasConnected = isConnected
        watchTLS(false)
        if client != nil { MQTTAsync_destroy(&client) }
        client = nil
        mailbox.discardAll()
        isConnected = false
        connecting = false
        attempt = 0
        lastError = ""
        for p in cStrings { free(p) }
        cStrings.removeAll(keepingCapacity: true)
        ssl.pointee = pgui_mqtt_ssl_options()
        will.pointee = pgui_mqtt_will_options()
        credentials[0] = nil
        credentials[1] = nil
        options = o
        if wasConnected { delegate?.mqttDisconnected("reconnecting with other credentials") }
        try setUp()
        if let loop { loop.rearm(timer: timerFd, firstMs: 86_400_000, intervalMs: 0) }
        connect()
    }

    /// Client certificate/key and username/password for the next MQTTAsync_connect (which copies them).
    private func applyCredentials() {
        ssl.pointee.keyStore = options.certFile.isEmpty ? nil : UnsafePointer(own(options.certFile))
        ssl.pointee.privateKey = options.keyFile.isEmpty ? nil : UnsafePointer(own(options.keyFile))
        credentials[0] = options.username.isEmpty ? nil : UnsafePointer(own(options.username))
        credentials[1] = options.password.isEmpty ? nil : UnsafePointer(own(options.password))
    }

    deinit {
        watchTLS(false)
        if client != nil { MQTTAsync_destroy(&client) }
        for p in cStrings { free(p) }
        uriArray.deallocate()
        ssl.deallocate()
        will.deallocate()
        credentials.deallocate()
    }

    /// A C copy of `s` owned by the client (see `cString`).
    private func own(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = cString(s)
        cStrings.append(p)
        return p
    }

    /// Registers the mailbox and the reconnect timer with the loop and starts connecting.
    public func start(on loop: EventLoop) throws(MQTTError) {
        try setUp()
        self.loop = loop
        do throws(SystemError) {
            try loop.watch(fd: mailbox.eventFd) { self.drain() }
            timerFd = try loop.addTimer(firstMs: 86_400_000, intervalMs: 0) { _ in self.connect() }
        } catch {
            throw MQTTError("mqtt \(name): \(error.description); link not started")
        }
        connect()
    }

    /// Subscribed now when connected, and again after every reconnect.
    public func subscribe(_ topic: String, qos: Int32 = 1) {
        subscriptions.append((topic, qos))
        if isConnected { sendSubscribe(topic, qos) }
    }

    /// Publishes; returns Paho's token (completion arrives as `mqttDelivered(token:)` for QoS 1).
    public func publish(_ topic: String, _ payload: [UInt8], qos: Int32 = 1, retained: Bool = false) throws(MQTTError) -> Int32 {
        guard isConnected, let client else { throw MQTTError("mqtt \(name): not connected; publish to \(topic) not sent") }
        var msg = pgui_mqtt_message()
        msg.qos = qos
        msg.retained = retained ? 1 : 0
        var ro = pgui_mqtt_response_options()
        ro.context = Unmanaged.passUnretained(mailbox).toOpaque()
        ro.onFailure = { ctx, resp in
            Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.publishFailed, code: resp?.pointee.token ?? 0)
        }
        var payload = payload
        let rc = payload.withUnsafeMutableBytes { p in
            msg.payload = p.baseAddress
            msg.payloadlen = Int32(p.count)
            let t = cString(topic)
            defer { free(t) }
            return MQTTAsync_sendMessage(client, t, &msg, &ro)  // Paho copies topic and payload
        }
        guard rc == MQTTASYNC_SUCCESS else { throw MQTTError("mqtt \(name): publish to \(topic) failed (Paho \(rc)); not sent") }
        return ro.token
    }

    func sendSubscribe(_ topic: String, _ qos: Int32) {
        var ro = pgui_mqtt_response_options()
        ro.context = Unmanaged.passUnretained(mailbox).toOpaque()
        ro.onSuccess = { ctx, _ in Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.subscribed) }
        ro.onFailure = { ctx, resp in
            Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.subscribeFailed, code: resp?.pointee.code ?? 0)
        }
        let t = cString(topic)
        defer { free(t) }
        let rc = MQTTAsync_subscribe(client, t, qos, &ro)
        if rc != MQTTASYNC_SUCCESS { Log.warn(name, "subscribe \(topic) failed (Paho \(rc)); retried after the next reconnect") }
    }

    func connect() {
        guard !isConnected, !connecting, let client else { return }
        var o = pgui_mqtt_connect_options()
        o.keepAliveInterval = options.keepAliveS
        o.cleansession = options.cleanSession ? 1 : 0
        o.connectTimeout = options.connectTimeoutS
        o.maxInflight = options.inflightMax
        o.MQTTVersion = MQTTVERSION_3_1_1
        o.automaticReconnect = 0  // reconnects are ours: bounded back-off with jitter
        o.serverURIcount = Int32(options.uris.count)
        o.serverURIs = UnsafePointer(uriArray)
        o.ssl = ssl
        o.username = credentials[0]
        o.password = credentials[1]
        if !options.willTopic.isEmpty { o.will = will }
        o.context = Unmanaged.passUnretained(mailbox).toOpaque()
        o.onSuccess = { ctx, _ in Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.connected) }
        o.onFailure = { ctx, resp in
            Unmanaged<MQTTMailbox>.fromOpaque(ctx!).takeUnretainedValue().push(.connectFailed, code: resp?.pointee.code ?? -1)
        }
        watchTLS(true)
        let rc = MQTTAsync_connect(client, &o)
        if rc == MQTTASYNC_SUCCESS {
            connecting = true
        } else {
            watchTLS(false)
            scheduleReconnect("MQTTAsync_connect returned \(rc)")
        }
    }

    /// Paho traces TLS details only while some client is connecting (see the CPaho shim).
    func watchTLS(_ on: Bool) {
        guard on != tlsWatching else { return }
        if tlsNotes == nil {
            guard let n = pgui_tls_notes_create() else { return }  // no diagnosis, the link still works
            tlsNotes = n
            MQTTAsync_setTraceCallback { _, message in pgui_tls_notes_record(tlsNotes, message) }
        }
        guard let notes = tlsNotes else { return }
        tlsWatching = on
        var g: UInt = 0
        let anyConnecting = pgui_tls_notes_watch(notes, on ? 1 : 0, &g) != 0
        MQTTAsync_setTraceLevel(anyConnecting ? MQTTASYNC_TRACE_PROTOCOL : MQTTASYNC_TRACE_FATAL)
        if on { tlsNoteSince = g }
    }

    /// The handshake's failure reason from this attempt's TLS note, if there is one.
    func tlsReason() -> String? {
        guard let notes = tlsNotes else { return nil }
        let n = tlsNote.withUnsafeMutableBytes { p in
            pgui_tls_notes_take(notes, tlsNoteSince, p.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(p.count))
        }
        guard n > 0 else { return nil }
        return TLSFailure.reason(note: Array(tlsNote[0..<Int(n)]), link: "\(name)")
    }

    func scheduleReconnect(_ why: String) {
        attempt += 1
        let shift = min(attempt - 1, 16)
        let ceiling = min(options.reconnectMaxMs, options.reconnectMinMs << Int64(shift))
        // "Equal jitter" (docs/fleet.md): a delay drawn from [ceiling/2, ceiling], so a fleet that lost
        // its broker together does not come back in lock-step — also once every device has reached
        // the maximum back-off, where a jitter added on top (and then capped) would vanish.
        jitterState ^= jitterState << 13
        jitterState ^= jitterState >> 7
        jitterState ^= jitterState << 17
        let delay = ceiling - Int64(jitterState % UInt64(ceiling / 2 + 1))
        if why != lastError || attempt <= 1 {
            Log.warn(name, "\(why); reconnecting in \(delay) ms (attempt \(attempt))")
            lastError = why
        }
        if let loop { loop.rearm(timer: timerFd, firstMs: delay, intervalMs: 0) }
    }

    func drain() {
        mailbox.acknowledgeSignal()
        while let c = mailbox.popControl() {
            switch c.kind {
            case .connected:
                connecting = false
                watchTLS(false)
                isConnected = true
                attempt = 0
                lastError = ""
                Log.info(name, "connected to \(options.uris.count == 1 ? options.uris[0] : "one of \(options.uris.count) brokers") as \(options.clientId)")
                for (t, q) in subscriptions { sendSubscribe(t, q) }
                delegate?.mqttConnected()
            case .connectFailed:
                connecting = false
                let tls = c.code == -1 ? tlsReason() : nil
                watchTLS(false)
                if let tls {
                    // Refused, never downgraded: there is no plaintext path to fall back to.
                    scheduleReconnect("connect failed on \(tls); nothing sent, no plaintext fallback")
                } else {
                    scheduleReconnect("connect failed (Paho \(c.code): TLS, credentials or broker unreachable)")
                }
                delegate?.mqttConnectFailed(code: c.code)
            case .lost:
                isConnected = false
                connecting = false
                delegate?.mqttDisconnected("connection lost")
                scheduleReconnect("connection lost")
            case .delivered:
                delegate?.mqttDelivered(token: c.code)
            case .publishFailed:
                delegate?.mqttPublishFailed(token: c.code, code: c.code)
            case .subscribed:
                Log.debug(name, "subscription confirmed")
            case .subscribeFailed:
                Log.warn(name, "subscription refused by the broker (code \(c.code))")
            }
        }
        if mailbox.controlOverflow > 0 {
            Log.warn(name, "\(mailbox.controlOverflow) MQTT delivery events lost: mailbox full")
            mailbox.controlOverflow = 0
        }
        if mailbox.linkOverflow > 0 {
            Log.error(name, "\(mailbox.linkOverflow) MQTT link events lost (link ring of \(MQTTMailbox.linkDepth) full)")
            mailbox.linkOverflow = 0
        }
        // At most one ring's worth of messages per loop turn: Paho refills the ring while it is being
        // drained, and a DSO burst drained whole stalled the EMS servers for seconds (issue 14).
        var handled = 0
        while handled < options.inboundDepth, let whole = mailbox.popMessage(topic: &topicBuf, payload: &payloadBuf) {
            handled += 1
            let topic = String(decoding: topicBuf, as: UTF8.self)
            if whole {
                delegate?.mqttReceived(topic: topic, payload: payloadBuf)
            } else {
                delegate?.mqttDroppedOversized(topic: topic)
            }
        }
        if handled > 0 { delegate?.mqttBatchEnd() }
        if mailbox.pendingMessages > 0 { mailbox.resignal() }
    }
}

/// The TLS notes Paho's trace callback fills (CPaho shim); created by the first client that connects,
/// on the event loop, before the callback is installed, and never freed.
nonisolated(unsafe) var tlsNotes: UnsafeMutablePointer<pgui_tls_notes>? = nil

/// A malloc'd NUL-terminated copy of `s`, built from its UTF-8 bytes.
func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
    var n = 0
    for _ in s.utf8 { n += 1 }
    let p = malloc(n + 1)!.assumingMemoryBound(to: CChar.self)
    var i = 0
    for b in s.utf8 {
        p[i] = CChar(bitPattern: b)
        i += 1
    }
    p[n] = 0
    return p
}
