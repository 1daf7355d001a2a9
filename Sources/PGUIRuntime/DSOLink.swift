import PGUICore
import PGUIPlatform

/// The DSO link: subscribes to `<prefix>/<deviceId>/setpoints` on the DSO broker, hands each
/// message to the schedule and publishes the ack (accepted / rejected + reason) on `…/ack`, QoS 1.
public final class DSOLink<C: Clock>: MQTTClientDelegate {
    public let mqtt: MQTTClient
    public let setpoints: SetpointService<C>
    public let topic: String
    public let ackTopic: String
    public var oversizedLog = RateLimitedLog()

    public init(config: DSOConfig, deviceId: String, setpoints: SetpointService<C>) throws(MQTTError) {
        var o = MQTTOptions()
        o.uris = config.uris
        o.clientId = config.clientId.isEmpty ? deviceId : config.clientId
        o.caFile = config.caFile
        o.certFile = config.certFile
        o.keyFile = config.keyFile
        o.username = config.username
        o.password = config.password
        o.cleanSession = config.cleanSession
        o.keepAliveS = Int32(config.keepAliveS)
        o.reconnectMinMs = config.reconnectMinMs
        o.reconnectMaxMs = config.reconnectMaxMs
        o.payloadBytesMax = config.limits.messageBytesMax
        mqtt = try MQTTClient(name: "dso", options: o)
        self.setpoints = setpoints
        topic = config.setpointsTopic(deviceId: deviceId)
        ackTopic = config.ackTopic(deviceId: deviceId)
    }

    public func start(on loop: EventLoop) throws(MQTTError) {
        mqtt.delegate = self
        mqtt.subscribe(topic, qos: 1)
        try mqtt.start(on: loop)
    }

    public func mqttConnected() {}
    public func mqttDisconnected(_ reason: String) {}

    public func mqttReceived(topic t: String, payload: [UInt8]) {
        guard t == topic else { return }
        setpoints.stage(payload, source: "the DSO")
    }

    /// One write for the turn's schedules, then their acks in arrival order.
    public func mqttBatchEnd() {
        for ack in setpoints.commit() { sendAck(ack) }
    }

    public func mqttDroppedOversized(topic t: String) {
        let e = ScheduleError("too_large", "the message exceeds \(setpoints.book.limits.messageBytesMax) bytes")
        oversizedLog.warn("dso", "rejected a message on \(t): \(e.message); previous schedule kept")
        sendAck(SetpointMessage.ack(id: nil, result: .failure(e), nowMs: setpoints.clock.wallMs()))
    }

    public func sendAck(_ ack: [UInt8]) {
        do throws(MQTTError) {
            _ = try mqtt.publish(ackTopic, ack, qos: 1)
        } catch {
            Log.warn("dso", "ack not sent: \(error.description)")
        }
    }

    public func mqttDelivered(token: Int32) {}
    public func mqttPublishFailed(token: Int32, code: Int32) {
        Log.warn("dso", "ack publish \(token) failed (Paho \(code))")
    }
}
