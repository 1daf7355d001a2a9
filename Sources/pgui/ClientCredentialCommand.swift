import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui identity csr|check-cert`: the mTLS half of credential rotation by hand (the BAL link does the
/// same over `credentials/csr` and `credentials/cert`).
enum ClientCredentialCommand {
    static func run(_ verb: String, store: IdentityStore, options: [String: String], random: RandomSource) -> Int32 {
        do throws(IdentityError) {
            if verb == "csr" {
                printOut(try ClientCredentials.prepareCSR(store, random))
                return Exit.ok
            }
            guard let certPath = options["--cert"], let caPath = options["--ca"] else {
                printErr("pgui identity check-cert: expected '--cert FILE --ca FILE'")
                return Exit.usage
            }
            var files: [[UInt8]] = []
            for p in [certPath, caPath] {
                do throws(SystemError) { files.append(try Files.read(p, bytesMax: ClientCredentials.fileBytesMax)) } catch {
                    printErr("pgui identity check-cert: \(error.description)")
                    return Exit.failure
                }
            }
            try ClientCredentials.acceptCertificate(store, certPEM: files[0], caPEM: files[1])
            printOut("certificate ok: pending until the next successful reconnect")
            return Exit.ok
        } catch {
            printErr("pgui identity \(verb): \(error.description)")
            return Exit.failure
        }
    }
}
