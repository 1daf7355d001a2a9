import PGUICore
import PGUIPlatform

/// The outside world as the runtime sees it. Everything in PGUIRuntime that talks to a broker, the
/// device key or the credential files does it through these protocols, so the unit tests
/// (Tests/PGUIRuntimeTests) drive the same link, rotation and set-point logic on a `ManualClock`
/// with in-memory fakes: a 48 h outage or a credential-rotation period runs in seconds.

/// One MQTT session (Paho's `MQTTClient` in the field, a recording fake in tests).
public protocol MQTTSession: AnyObject {
    var isConnected: Bool { get }
    /// Subscribes before `start` (Paho re-subscribes on every CONNACK).
    func subscribe(_ topic: String, qos: Int32)
    /// Connects on `loop`; events go to `delegate` on the loop.
    func start(on loop: EventLoop, delegate: any MQTTClientDelegate) throws(MQTTError)
    /// The delivery token, or a thrown error when the message was not queued.
    func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retained: Bool) throws(MQTTError) -> Int32
    /// The credentials for the next connection; `reconnectNow` drops the current one at once.
    func replaceCredentials(certFile: String, keyFile: String, username: String, password: String, reconnectNow: Bool) throws(MQTTError)
}

extension MQTTClient: MQTTSession {
    public func start(on loop: EventLoop, delegate: any MQTTClientDelegate) throws(MQTTError) {
        self.delegate = delegate
        try start(on: loop)
    }
}

/// The device key as the BAL link and the periodic key rotation use it (`IdentityStore` in the field).
public protocol DeviceIdentity: AnyObject {
    var device: String { get }
    var currentKid: String { get }
    /// The current public key as a JWK (the birth message carries it).
    var currentJWKJSON: [UInt8] { get }
    var pendingKid: String? { get }
    /// The signed announcement of the pending key, if a rotation is under way.
    var announcement: [UInt8]? { get }
    func rotationDue(nowMs: Int64, periodDays: Int64, dayMs: Int64) -> Bool
    func prepareRotation(nowMs: Int64) throws(IdentityError) -> [UInt8]
    func announcementAccepted(newKid: String, nowMs: Int64) throws(IdentityError)
}

extension IdentityStore: DeviceIdentity {
    public var currentKid: String { current.kid }
    public var currentJWKJSON: [UInt8] { current.publicJWK.json }
    public var pendingKid: String? { pending?.kid }
}

/// The BAL client credentials held beside the device key (docs/identity.md, "Rotation while
/// running"): pending → current, the rotation state and the operator's request marker.
public protocol CredentialStore {
    /// Pending (when `pending`) > identity-held > configured, for the certificate and the password separately.
    func resolve(pending: Bool) -> BALCredentialSet
    func rotatedMs() -> Int64?
    func recordRotation(wallMs: Int64) throws(IdentityError)
    func rotationRequested() -> Bool
    func clearRotationRequest()
    /// A fresh request id (random, URL-safe).
    func newRequestId() throws(IdentityError) -> String
    /// A pending client key (kept until its certificate arrives) and its CSR as PEM.
    func prepareCSR() throws(IdentityError) -> String
    /// Checks a returned certificate against the pending key and the provisioned CA; stores it as pending.
    func acceptCertificate(_ certPEM: [UInt8]) throws(IdentityError)
    func acceptPassword(username: String, password: String) throws(IdentityError)
    /// The link reconnected with the pending credentials: they become current.
    func reconnectSucceeded() throws(IdentityError)
    /// The broker refused the pending credentials: set them aside.
    func rejectPending() throws(IdentityError)
}

/// The credential files in the identity folder (`ClientCredentials`), the field's `CredentialStore`.
public struct IdentityCredentialFiles: CredentialStore {
    public let store: IdentityStore
    public let config: BALConfig
    public let random: RandomSource

    public init(store: IdentityStore, config: BALConfig, random: RandomSource) {
        self.store = store
        self.config = config
        self.random = random
    }

    public func resolve(pending: Bool) -> BALCredentialSet {
        var c = BALCredentialSet(certFile: config.certFile, keyFile: config.keyFile, username: config.username, password: config.password)
        var certSource = c.certFile.isEmpty ? "" : "bal.cert_file"
        if let p = ClientCredentials.currentCertificate(store) {
            c.certFile = p
            c.keyFile = p
            certSource = ClientCredentials.currentCertificateName
        }
        if pending, let p = ClientCredentials.pendingCertificate(store) {
            c.certFile = p
            c.keyFile = p
            certSource = ClientCredentials.pendingCertificateName
        }
        var passwordSource = c.username.isEmpty ? "" : "bal.username/bal.password"
        for (isPending, name) in [(false, ClientCredentials.currentPasswordName), (true, ClientCredentials.pendingPasswordName)]
        where !isPending || pending {
            do throws(IdentityError) {
                if let up = try ClientCredentials.password(store, pending: isPending) {
                    c.username = up.username
                    c.password = up.password
                    passwordSource = name
                }
            } catch {
                Log.warn("identity", "\(error.description); not used")
            }
        }
        c.source = certSource.isEmpty ? passwordSource : (passwordSource.isEmpty ? certSource : certSource + " + " + passwordSource)
        if c.source.isEmpty { c.source = "no client credentials" }
        return c
    }

    public func rotatedMs() -> Int64? { ClientCredentials.rotatedMs(store) }
    public func recordRotation(wallMs: Int64) throws(IdentityError) { try ClientCredentials.recordRotation(store, wallMs: wallMs) }
    public func rotationRequested() -> Bool { ClientCredentials.rotationRequested(store) }
    public func clearRotationRequest() { ClientCredentials.clearRotationRequest(store) }

    public func newRequestId() throws(IdentityError) -> String {
        do throws(CryptoError) { return Base64.urlEncode(try random.bytes(12)) } catch { throw IdentityError(error.description) }
    }

    public func prepareCSR() throws(IdentityError) -> String { try ClientCredentials.prepareCSR(store, random) }

    public func acceptCertificate(_ certPEM: [UInt8]) throws(IdentityError) {
        let ca = try ClientCredentials.readPEM(config.caFile)
        try ClientCredentials.acceptCertificate(store, certPEM: certPEM, caPEM: ca)
    }

    public func acceptPassword(username: String, password: String) throws(IdentityError) {
        try ClientCredentials.acceptPassword(store, username: username, password: password)
    }

    public func reconnectSucceeded() throws(IdentityError) { try ClientCredentials.reconnectSucceeded(store) }
    public func rejectPending() throws(IdentityError) { try ClientCredentials.rejectPending(store) }
}

/// The concrete types one runtime is built from: one generic parameter instead of five.
public protocol RuntimePorts {
    associatedtype Session: MQTTSession
    associatedtype Storage: JournalStorage
    associatedtype Time: Clock
    associatedtype Identity: DeviceIdentity
    associatedtype Credentials: CredentialStore
}

/// What `pgui run` uses on a device.
public enum FieldPorts: RuntimePorts {
    public typealias Session = MQTTClient
    public typealias Storage = FileJournalStorage
    public typealias Time = SystemClock
    public typealias Identity = IdentityStore
    public typealias Credentials = IdentityCredentialFiles
}
