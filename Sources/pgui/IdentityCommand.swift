import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui identity VERB --config FILE …`: the device identity from the command line (docs/identity.md).
enum IdentityCommand {
    static let usage = """
        usage: pgui identity init --config FILE                 create the device key (first start only)
               pgui identity show --config FILE                 device id, kid, JWK and PEM public key
               pgui identity rotate --config FILE               prepare a key rotation; print the announcement
               pgui identity accept --config FILE --kid KID     (service) promote the pending key once accepted
               pgui identity demo-group --config FILE [--count N]  sign N simulated groups, one JWS per line
               pgui identity csr --config FILE                  new BAL client key (pending) and its CSR
               pgui identity check-cert --config FILE --cert F --ca F  check a returned client certificate
               pgui identity rotate-credentials --config FILE   ask the running pgui (or its next start) to rotate the BAL credentials
        """

    static func run(_ args: [String]) -> Int32 {
        guard let verb = args.first else {
            printErr(usage)
            return Exit.usage
        }
        if verb == "help" || verb == "--help" {
            printOut(usage)
            return Exit.ok
        }
        var options: [String: String] = [:]
        var i = 1
        while i < args.count {
            let name = args[i]
            guard ["--config", "--count", "--kid", "--cert", "--ca"].contains(name), i + 1 < args.count, options[name] == nil else {
                printErr("pgui identity \(verb): unexpected argument '\(name)'\n\(usage)")
                return Exit.usage
            }
            options[name] = args[i + 1]
            i += 2
        }
        guard let configPath = options["--config"] else {
            printErr("pgui identity \(verb): expected '--config FILE'\n\(usage)")
            return Exit.usage
        }
        guard let config = Command.loadConfig(configPath) else { return Exit.usage }
        Log.level = config.device.logLevel
        let random: RandomSource
        do throws(CryptoError) { random = try RandomSource(personalization: "pgui-identity") } catch {
            printErr("pgui identity: \(error.description)")
            return Exit.failure
        }
        let now = pgui_realtime_ms()
        let dataDir = config.device.dataDir
        do throws(IdentityError) {
            if verb == "init" {
                let store = try IdentityStore.create(dataDir: dataDir, device: config.device.deviceId, seqBlock: config.identity.seqBlock,
                                                     nowMs: now, random: random)
                printOut("created identity of \(store.device): kid \(store.current.kid)")
                return Exit.ok
            }
            let store = try IdentityStore.open(dataDir: dataDir, device: config.device.deviceId, seqBlock: config.identity.seqBlock, random: random)
            for r in store.repairs { Log.warn("identity", r) }
            switch verb {
            case "show": return show(store)
            case "rotate":
                let a = try store.prepareRotation(nowMs: now)
                printOut(String(decoding: a, as: UTF8.self))
                return Exit.ok
            case "accept":
                guard let kid = options["--kid"] else {
                    printErr("pgui identity accept: expected '--kid KID'")
                    return Exit.usage
                }
                try store.announcementAccepted(newKid: kid, nowMs: now)
                printOut("current key is now \(store.current.kid)")
                return Exit.ok
            case "demo-group":
                var count: Int64 = 1
                if let c = options["--count"] {
                    guard let n = parseInt64(c), n >= 1, n <= 100_000 else {
                        printErr("pgui identity demo-group: --count must be 1...100000, got '\(c)'")
                        return Exit.usage
                    }
                    count = n
                }
                return demoGroups(store, config, count: count, nowMs: now)
            case "rotate-credentials":
                try ClientCredentials.requestRotation(store, wallMs: now)
                printOut("credential rotation requested: the running pgui starts it within a second while the BAL link is up (else at its next connection)")
                return Exit.ok
            case "csr", "check-cert":
                return ClientCredentialCommand.run(verb, store: store, options: options, random: random)
            default:
                printErr("pgui identity: unknown verb '\(verb)'\n\(usage)")
                return Exit.usage
            }
        } catch {
            printErr("pgui identity \(verb): \(error.description)")
            return Exit.failure
        }
    }

    static func show(_ store: IdentityStore) -> Int32 {
        printOut("device: \(store.device)")
        printOut("kid: \(store.current.kid)")
        printOut("jwk: \(String(decoding: store.current.publicJWK.json, as: UTF8.self))")
        if let p = store.pending { printOut("pending kid: \(p.kid)") }
        printOut("seq_next: \(store.state.seqNext)")
        do throws(CryptoError) {
            printOut(try store.current.key.publicPEM())
        } catch {
            printErr("pgui identity show: \(error.description)")
            return Exit.failure
        }
        return Exit.ok
    }

    static func demoGroups(_ store: IdentityStore, _ config: Config, count: Int64, nowMs: Int64) -> Int32 {
        var meter = SimulatedMeter(config: config.meter.simulated)
        var signer = GroupSigner()
        let period = config.meter.periodMs
        var t = nowMs - nowMs % period
        let synced = nowMs >= plausibleWallMsMin
        for _ in 0..<count {
            var samples: [Measurement] = []
            let start = t
            for _ in 0..<10 {
                do throws(MeterError) { samples.append(try meter.read(wallMs: t, clockSynced: synced)) } catch {
                    samples.append(Measurement.gap(at: t, reason: .invalid))
                }
                t += period
            }
            let g = MeasurementGroup(meterId: meter.meterId, windowStartMs: start, windowEndMs: t, samples: samples)
            do throws(IdentityError) {
                printOut(String(decoding: try store.sign(g, with: &signer), as: UTF8.self))
            } catch {
                printErr("pgui identity demo-group: \(error.description)")
                return Exit.failure
            }
        }
        return Exit.ok
    }
}
