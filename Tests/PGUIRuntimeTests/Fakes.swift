import PGUICore
import PGUIPlatform
@testable import PGUIRuntime

/// In-memory stand-ins for the runtime's ports (PGUIRuntime/Ports.swift). Each records what the
/// runtime asked of it, so the tests assert on state: what was published, which credentials the
/// session holds, which files the rotation made current.

/// A broker session: publishes are recorded with increasing tokens; the test decides when the link
/// is up and when a PUBACK arrives.
final class FakeSession: MQTTSession {
    struct Message {
        let topic: String
        let payload: [UInt8]
        let retained: Bool
        let token: Int32
    }
    var isConnected = false
    private(set) var messages: [Message] = []
    private var byTopic: [String: [Message]] = [:]
    private var nextToken: Int32 = 1
    /// The credentials of the next connection (replaceCredentials), and how often a reconnect was asked for.
    private(set) var credentials = BALCredentialSet()
    private(set) var reconnectsRequested = 0

    func subscribe(_ topic: String, qos: Int32) {}
    func start(on loop: EventLoop, delegate: any MQTTClientDelegate) throws(MQTTError) {}

    func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retained: Bool) throws(MQTTError) -> Int32 {
        guard isConnected else { throw MQTTError("fake session: not connected; \(topic) not queued") }
        let t = nextToken
        nextToken += 1
        let m = Message(topic: topic, payload: payload, retained: retained, token: t)
        messages.append(m)
        byTopic[topic, default: []].append(m)
        return t
    }

    func replaceCredentials(certFile: String, keyFile: String, username: String, password: String, reconnectNow: Bool) throws(MQTTError) {
        credentials = BALCredentialSet(certFile: certFile, keyFile: keyFile, username: username, password: password)
        if reconnectNow { reconnectsRequested += 1 }
    }

    func on(_ topic: String) -> [Message] { byTopic[topic] ?? [] }
}

/// A device key that never changes unless asked; rotation is off.
final class FakeIdentity: DeviceIdentity {
    let device: String
    var currentKid = "kid-current"
    var currentJWKJSON = Array("{\"kty\":\"EC\"}".utf8)
    var pendingKid: String? = nil
    var announcement: [UInt8]? = nil
    init(device: String) { self.device = device }
    func rotationDue(nowMs: Int64, periodDays: Int64, dayMs: Int64) -> Bool { false }
    func prepareRotation(nowMs: Int64) throws(IdentityError) -> [UInt8] { throw IdentityError("fake identity: no key rotation") }
    func announcementAccepted(newKid: String, nowMs: Int64) throws(IdentityError) {}
}

/// The identity folder's credential files as a dictionary of "files". The fake CA "signs" a CSR by
/// returning a certificate PEM that names it; `acceptCertificate` takes only such certificates, as
/// the real check takes only certificates for the pending key.
final class FakeCredentials: CredentialStore {
    var current: BALCredentialSet
    var pending: BALCredentialSet? = nil
    var rejected: [BALCredentialSet] = []
    var rotated: Int64? = nil
    var requested = false
    var csrs = 0
    var pendingCSR: String? = nil

    init(current: BALCredentialSet) { self.current = current }

    static func certificate(for csr: String) -> String {
        "-----BEGIN CERTIFICATE-----\nissued for \(csr.utf8.count) bytes of CSR \(csr.utf8.last ?? 0)\n-----END CERTIFICATE-----\n"
    }

    func resolve(pending p: Bool) -> BALCredentialSet { p ? (pending ?? current) : current }
    func rotatedMs() -> Int64? { rotated }
    func recordRotation(wallMs: Int64) throws(IdentityError) { rotated = wallMs }
    func rotationRequested() -> Bool { requested }
    func clearRotationRequest() { requested = false }
    func newRequestId() throws(IdentityError) -> String { "req-\(csrs + rejected.count + 1)" }

    func prepareCSR() throws(IdentityError) -> String {
        csrs += 1
        let csr = "-----BEGIN CERTIFICATE REQUEST-----\ncsr \(csrs)\n-----END CERTIFICATE REQUEST-----\n"
        pendingCSR = csr
        return csr
    }

    func acceptCertificate(_ certPEM: [UInt8]) throws(IdentityError) {
        guard let csr = pendingCSR, certPEM == Array(Self.certificate(for: csr).utf8) else {
            throw IdentityError("fake CA: certificate is not for the pending key")
        }
        var p = current
        p.certFile = "bal-client-next.pem"
        p.keyFile = "bal-client-next.pem"
        p.source = "bal-client-next.pem #\(csrs)"
        pending = p
    }

    func acceptPassword(username: String, password: String) throws(IdentityError) {
        var p = current
        p.username = username
        p.password = password
        p.source = "bal-password-next.json"
        pending = p
    }

    func reconnectSucceeded() throws(IdentityError) {
        guard var p = pending else { return }
        if p.certFile == "bal-client-next.pem" {
            p.certFile = "bal-client.pem"
            p.keyFile = "bal-client.pem"
        }
        p.source = "current #\(csrs)"
        current = p
        pending = nil
        pendingCSR = nil
    }

    func rejectPending() throws(IdentityError) {
        if let p = pending { rejected.append(p) }
        pending = nil
    }
}

/// The ports the tests build the runtime from.
enum TestPorts: RuntimePorts {
    typealias Session = FakeSession
    typealias Storage = MemoryJournalStorage
    typealias Time = ManualClock
    typealias Identity = FakeIdentity
    typealias Credentials = FakeCredentials
}

/// A configuration as `pgui run` would load it, from `key = value` lines on top of the defaults.
func testConfig(_ extra: String = "") throws(ConfigError) -> Config {
    try Config.load(Array("device.id = gw-test\ndata.dir = /nonexistent\n\(extra)".utf8), file: "runtime-test")
}

/// A 48 h ring in memory (10 s groups), formatted and opened as `pgui run` opens its journal.
func memoryJournal(_ clock: ManualClock, recordBytesMax: Int64 = 256) throws(JournalError) -> Journal<MemoryJournalStorage, ManualClock> {
    let g = JournalGeometry.forRetention(hours: 48, groupWindowS: 10, recordBytesMax: recordBytesMax)
    let s = MemoryJournalStorage(bytes: Int(g.fileBytes))
    try Journal<MemoryJournalStorage, ManualClock>.format(s, geometry: g)
    return try Journal.open(s, clock: clock, expected: g)
}
