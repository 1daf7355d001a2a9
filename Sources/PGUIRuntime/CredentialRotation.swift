import PGUICore
import PGUIPlatform

/// The client credentials the BAL link connects with. Empty strings = unset.
public struct BALCredentialSet: Equatable {
    public var certFile = ""
    public var keyFile = ""
    public var username = ""
    public var password = ""
    /// For logs: where these came from (never the secret itself).
    public var source = ""

    /// What a rotation asks the BAL for: a certificate when the link authenticates with one.
    public var kind: String? { !certFile.isEmpty ? "mtls" : (!username.isEmpty ? "password" : nil) }
}

/// Credential rotation over the live BAL link and the periodic key-rotation check (docs/identity.md,
/// "Rotation while running"). Owned by the event loop; driven by the BAL link's 100 ms tick (checked
/// once per second), its CONNACK / connect-failure events and its validated inbound messages.
///
/// Precedence of credentials: pending (being tried) > identity-held (`bal-client.pem`,
/// `bal-password.json`) > configured (`bal.cert_file`/`bal.key_file`, `bal.username`/`bal.password`).
/// The certificate and the password are resolved independently.
public final class CredentialRotation {
    public let store: IdentityStore
    public let config: BALConfig
    public let identityConfig: IdentityConfig
    public let topics: BALTopics
    public let random: RandomSource
    public var schedule: CredentialSchedule
    /// The credentials known to work (or the best known): the fall-back during a trial.
    public private(set) var current: BALCredentialSet
    /// Pending credentials being tried on the link.
    public private(set) var trying: BALCredentialSet? = nil
    public var link: BALLink? = nil
    private var request: [UInt8] = []
    private var lastCheckMs: Int64? = nil
    private var kindWarned = false
    public private(set) var rotations: UInt64 = 0
    public private(set) var fallbacks: UInt64 = 0

    public static let checkIntervalMs: Int64 = 1_000

    public init(store: IdentityStore, config: BALConfig, identity: IdentityConfig, topics: BALTopics, random: RandomSource, wallMs: Int64) {
        self.store = store
        self.config = config
        identityConfig = identity
        self.topics = topics
        self.random = random
        var limits = CredentialScheduleLimits()
        limits.periodMs = identity.credentialRotationDays * identity.rotationDayMs
        limits.resendAfterMs = identity.credentialRetryS * 1_000
        limits.sendsMax = Int(identity.credentialSendsMax)
        var rotated = ClientCredentials.rotatedMs(store)
        if rotated == nil && wallMs >= plausibleWallMsMin {
            // First start with this feature: the period counts from now.
            do throws(IdentityError) { try ClientCredentials.recordRotation(store, wallMs: wallMs) } catch {
                Log.warn("identity", "credential rotation state: \(error.description)")
            }
            rotated = wallMs
        }
        schedule = CredentialSchedule(limits: limits, rotatedMs: rotated ?? 0)
        current = Self.resolve(config, store, pending: false)
        let pending = Self.resolve(config, store, pending: true)
        if pending != current {
            trying = pending
            schedule.resumeTrial()
            Log.info("identity", "pending BAL credentials (\(pending.source)) found: trying them first, \(current.source) as fall-back")
        }
    }

    /// What the link connects with at start.
    public var initial: BALCredentialSet { trying ?? current }

    /// Pending > identity-held > configured, for the certificate and the password separately.
    public static func resolve(_ config: BALConfig, _ store: IdentityStore, pending: Bool) -> BALCredentialSet {
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

    // MARK: - driven by the link

    public func tick(_ wallMs: Int64, _ monoMs: Int64) {
        if let last = lastCheckMs, monoMs - last < Self.checkIntervalMs { return }
        lastCheckMs = monoMs
        checkKeyRotation(wallMs)
        checkCredentials(wallMs, monoMs)
    }

    /// Periodic key rotation (not only at start): the pending key and its announcement are made
    /// here; the link publishes the announcement and its PUBACK promotes the key (BALLink).
    public func checkKeyRotation(_ wallMs: Int64) {
        guard store.pending == nil,
              store.rotationDue(nowMs: wallMs, periodDays: identityConfig.keyRotationDays, dayMs: identityConfig.rotationDayMs) else { return }
        do throws(IdentityError) {
            _ = try store.prepareRotation(nowMs: wallMs)
            Log.info("identity", "key rotation due: announcing \(store.pending?.kid ?? "?") (signed by \(store.current.kid) and the new key)")
            link?.announcePending()
        } catch {
            Log.error("identity", "periodic key rotation: \(error.description); the current key keeps signing")
        }
    }

    public func checkCredentials(_ wallMs: Int64, _ monoMs: Int64) {
        let linkUp = link?.mqtt.isConnected ?? false
        let requested = ClientCredentials.rotationRequested(store)
        switch schedule.poll(wallMs: wallMs, monoMs: monoMs, linkUp: linkUp, requested: requested) {
        case .none:
            return
        case .start:
            startRequest(monoMs)
        case .resend(let id):
            Log.warn("identity", "credential request \(id) unanswered after \(identityConfig.credentialRetryS) s; sending it again")
            send(id, monoMs)
        case .giveUp(let id):
            Log.error("identity", "credential request \(id) unanswered after \(identityConfig.credentialSendsMax) sends; giving up until the next period, current credentials kept")
            ClientCredentials.clearRotationRequest(store)
        }
    }

    private func startRequest(_ monoMs: Int64) {
        guard let kind = current.kind else {
            if !kindWarned {
                Log.warn("identity", "credential rotation due, but the BAL link uses no client credentials; nothing to rotate")
                kindWarned = true
            }
            ClientCredentials.clearRotationRequest(store)
            return
        }
        let id: String
        var csr: String? = nil
        do throws(IdentityError) {
            do throws(CryptoError) { id = Base64.urlEncode(try random.bytes(12)) } catch { throw IdentityError(error.description) }
            if kind == "mtls" { csr = try ClientCredentials.prepareCSR(store, random) }
        } catch {
            Log.error("identity", "credential request not made: \(error.description)")
            ClientCredentials.clearRotationRequest(store)
            return
        }
        request = CredentialRequest.encode(device: store.device, request: id, csrPEM: csr)
        Log.info("identity", "credential rotation: request \(id) (\(kind)) sent on \(topics.credentialsCSR)")
        send(id, monoMs)
    }

    private func send(_ id: String, _ monoMs: Int64) {
        guard let link, link.mqtt.isConnected else { return }
        do throws(MQTTError) {
            _ = try link.mqtt.publish(topics.credentialsCSR, request, qos: 1, retained: false)
        } catch {
            Log.warn("identity", "credential request \(id): \(error.description)")
        }
        schedule.sent(request: id, monoMs: monoMs)  // counted even if the publish failed: bounded either way
    }

    /// A message on the credentials/cert topic. nil = accepted; else why it was refused (nothing changed).
    public func received(_ payload: [UInt8]) -> String? {
        guard let id = schedule.pendingRequest else { return "credential response while no request is pending; ignored" }
        let response: CredentialResponse
        do throws(IdentityError) {
            response = try CredentialResponse.parse(payload, device: store.device, request: id)
            switch response {
            case .certificate(let pem):
                guard current.kind == "mtls" else { throw IdentityError("credential response carries a certificate, but request \(id) asked for a password; ignored") }
                let ca = try ClientCredentials.readPEM(config.caFile)
                try ClientCredentials.acceptCertificate(store, certPEM: Array(pem.utf8), caPEM: ca)
            case .password(let user, let pass):
                guard current.kind == "password" else { throw IdentityError("credential response carries a password, but request \(id) asked for a certificate; ignored") }
                try ClientCredentials.acceptPassword(store, username: user, password: pass)
            }
        } catch {
            return error.description
        }
        schedule.answered()
        let pending = Self.resolve(config, store, pending: true)
        trying = pending
        Log.info("identity", "credential response to \(id) checked; reconnecting with \(pending.source) (\(current.source) kept until it works)")
        use(pending, reconnect: true)
        return nil
    }

    /// CONNACK. With pending credentials on trial, they become current (files renamed) and the
    /// link is pointed at the renamed files for later reconnects.
    public func connected(wallMs: Int64) {
        guard let t = trying else { return }
        trying = nil
        do throws(IdentityError) {
            try ClientCredentials.reconnectSucceeded(store)
            try ClientCredentials.recordRotation(store, wallMs: wallMs)
        } catch {
            Log.error("identity", "new BAL credentials work but could not be made current: \(error.description)")
        }
        ClientCredentials.clearRotationRequest(store)
        schedule.trialSucceeded(wallMs: wallMs)
        rotations += 1
        current = Self.resolve(config, store, pending: false)
        use(current, reconnect: false)
        Log.info("identity", "BAL credentials rotated: connected with \(t.source); now current as \(current.source)")
    }

    public func connectFailed(code: Int32) {
        guard let t = trying else { return }
        guard schedule.trialFailed(monoMs: SystemClock().monotonicMs()) else {
            Log.warn("identity", "connect with the new credentials (\(t.source)) failed (Paho \(code)); trying once more")
            return
        }
        trying = nil
        fallbacks += 1
        do throws(IdentityError) { try ClientCredentials.rejectPending(store) } catch {
            Log.error("identity", "setting the refused credentials aside: \(error.description)")
        }
        ClientCredentials.clearRotationRequest(store)
        Log.error("identity", "the broker refused the new BAL credentials (\(t.source), Paho \(code)); set aside as *.rejected, back to \(current.source)")
        use(current, reconnect: true)
    }

    private func use(_ c: BALCredentialSet, reconnect: Bool) {
        guard let link else { return }
        do throws(MQTTError) {
            try link.mqtt.replaceCredentials(certFile: c.certFile, keyFile: c.keyFile, username: c.username, password: c.password, reconnectNow: reconnect)
        } catch {
            Log.error("identity", error.description)
        }
    }
}

/// The two lines `pgui run` needs (Runtime.swift).
public enum CredentialWiring {
    public static func make(_ config: Config, identity: IdentityStore, wallMs: Int64) throws(MQTTError) -> CredentialRotation {
        let random: RandomSource
        do throws(CryptoError) { random = try RandomSource(personalization: "pgui-credentials") } catch {
            throw MQTTError("bal: credential rotation: \(error.description); link not started")
        }
        let topics = BALTopics(prefix: config.identity.topicPrefix, deviceId: config.device.deviceId)
        return CredentialRotation(store: identity, config: config.bal, identity: config.identity, topics: topics, random: random, wallMs: wallMs)
    }

    public static func attach(_ rotation: CredentialRotation, to link: BALLink) {
        rotation.link = link
        link.rotation = rotation
        Log.info("bal", "client credentials: \(rotation.initial.source)")
    }
}
