import PGUICore
import PGUIPlatform
import Testing

@testable import PGUIRuntime

/// Credential rotation over the live BAL link (docs/identity.md, "Rotation while running"), a whole
/// period on a manual clock: CSR out → certificate back → reconnect with it → made current; and a
/// certificate the broker refuses → set aside, back to the credentials that work.
@Suite struct CredentialRotationTests {
    static let dayMs: Int64 = 86_400_000

    final class Rig {
        let clock = ManualClock(wallMs: 1_795_000_000_000, monotonicMs: 0)
        let session = FakeSession()
        let credentials = FakeCredentials(current: BALCredentialSet(certFile: "bal-client.pem", keyFile: "bal-client.pem", source: "bal-client.pem"))
        let link: BALLink<TestPorts>
        let rotation: CredentialRotation<TestPorts>

        init() throws {
            let config = try testConfig("identity.credential_rotation_days = 30\n")
            let journal = try memoryJournal(clock)
            link = BALLink<TestPorts>(config: config.bal, topicPrefix: config.identity.topicPrefix, deviceId: "gw-test", session: session,
                                      identity: FakeIdentity(device: "gw-test"), journal: journal, clock: clock)
            rotation = CredentialRotation<TestPorts>(identity: link.identity, credentials: credentials, identityConfig: config.identity,
                                                     topics: link.topics, clock: clock)
            rotation.attach(to: link)
        }

        func tick() { link.tick(clock.wallMs(), clock.monotonicMs()) }

        /// Advances in steps of `stepMs` with a link tick after each, `count` times.
        func run(_ count: Int, stepMs: Int64) {
            for _ in 0..<count {
                clock.advance(ms: stepMs)
                tick()
            }
        }

        func connect() {
            session.isConnected = true
            link.mqttConnected()
        }

        func disconnect() {
            session.isConnected = false
            link.mqttDisconnected("reconnecting")
        }

        /// The last credential request: its id and CSR.
        func lastRequest() throws -> (id: String, csr: String)? {
            guard let m = session.on(link.topics.credentialsCSR).last else { return nil }
            let v = try JSONParser.parse(m.payload)
            guard let id = v["request"]?.stringValue, let csr = v["csr"]?.stringValue else { return nil }
            return (id, csr)
        }

        func respond(id: String, cert: String) {
            var w = JSONWriter()
            w.beginObject()
            w.field("v", Int64(1))
            w.field("device", "gw-test")
            w.field("request", id)
            w.field("cert", cert)
            w.endObject()
            link.mqttReceived(topic: link.topics.credentialsCert, payload: w.bytes)
        }
    }

    @Test func aFullPeriodRotatesTheCertificate() throws {
        let r = try Rig()
        #expect(r.rotation.initial.certFile == "bal-client.pem")
        r.connect()
        // 29 days: nothing is asked for.
        r.run(29 * 4, stepMs: Self.dayMs / 4)
        #expect(r.session.on(r.link.topics.credentialsCSR).isEmpty)
        // Day 30: a request with a CSR goes out at the first tick after the period's end.
        var steps = 0
        while r.session.on(r.link.topics.credentialsCSR).isEmpty && steps < 8 {
            r.run(1, stepMs: Self.dayMs / 4)
            steps += 1
        }
        #expect(steps == 4, "due after exactly 30 days")
        let req = try #require(try r.lastRequest())
        #expect(r.credentials.csrs == 1)
        // The BAL answers; the link reconnects with the pending certificate, the old one kept as fall-back.
        r.respond(id: req.id, cert: FakeCredentials.certificate(for: req.csr))
        #expect(r.link.inbound.accepted == 1)
        #expect(r.session.credentials.certFile == "bal-client-next.pem")
        #expect(r.session.reconnectsRequested == 1)
        #expect(r.credentials.current.certFile == "bal-client.pem", "current credentials stay until the new ones worked")
        // CONNACK with the new certificate: it becomes current, and the link keeps using it.
        r.disconnect()
        r.connect()
        #expect(r.rotation.rotations == 1)
        #expect(r.credentials.pending == nil)
        #expect(r.credentials.current.source == "current #1")
        #expect(r.session.credentials.certFile == "bal-client.pem")
        #expect(r.credentials.rotated == r.clock.wallMs(), "the next period counts from this rotation")
        // No further request in the new period's first days.
        r.run(10, stepMs: Self.dayMs)
        #expect(r.session.on(r.link.topics.credentialsCSR).count == 1)
        #expect(r.credentials.csrs == 1)
    }

    @Test func aRefusedCertificateFallsBackToTheWorkingOne() throws {
        let r = try Rig()
        r.connect()
        r.credentials.requested = true  // `pgui identity rotate-credentials`
        r.run(2, stepMs: 1_000)
        let req = try #require(try r.lastRequest())
        r.respond(id: req.id, cert: FakeCredentials.certificate(for: req.csr))
        #expect(r.session.credentials.certFile == "bal-client-next.pem")
        // The broker refuses the new certificate twice (trial connects, CredentialScheduleLimits).
        r.disconnect()
        r.link.mqttConnectFailed(code: 5)
        #expect(r.rotation.fallbacks == 0, "one refusal is retried")
        r.run(1, stepMs: 1_000)
        r.link.mqttConnectFailed(code: 5)
        #expect(r.rotation.fallbacks == 1)
        #expect(r.credentials.rejected.count == 1, "the refused certificate is set aside")
        #expect(r.credentials.pending == nil)
        #expect(r.session.credentials.certFile == "bal-client.pem", "back to the credentials that work")
        #expect(r.credentials.requested == false)
        r.connect()
        #expect(r.rotation.rotations == 0)
        #expect(r.credentials.current.certFile == "bal-client.pem")
    }

    @Test func aCertificateForAnotherKeyChangesNothing() throws {
        let r = try Rig()
        r.connect()
        r.credentials.requested = true
        r.run(2, stepMs: 1_000)
        let req = try #require(try r.lastRequest())
        r.respond(id: req.id, cert: "-----BEGIN CERTIFICATE-----\nsomeone else's\n-----END CERTIFICATE-----\n")
        #expect(r.link.inbound.rejected == 1)
        #expect(r.session.reconnectsRequested == 0)
        #expect(r.credentials.pending == nil)
        // Unanswered, the request is sent again after identity.credential_retry_s (60 s).
        r.run(61, stepMs: 1_000)
        #expect(r.session.on(r.link.topics.credentialsCSR).count == 2)
    }
}
