import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

enum Command {
    static let usage = """
        usage: pgui run --config FILE     run the gateway
               pgui check --config FILE   validate a configuration file and exit
               pgui self-test             check crypto, Modbus, MQTT and file system on this target
               pgui provision DIR --data DATADIR
                                          validate and apply a provisioning bundle (USB stick folder)
               pgui identity VERB ...     device key, signed groups, rotation (pgui identity help)
               pgui verify-signature --key PUBLIC.pem FILE SIGNATURE
                                          check an update manifest's ECDSA P-256 signature
               pgui journal VERB DIR ...  journal diagnosis: stats, dump, ack, reset (pgui journal help)
               pgui --version             print the version
        """

    static func dispatch(_ args: [String]) -> Int32 {
        guard let verb = args.first else {
            printErr(usage)
            return Exit.usage
        }
        switch verb {
        case "--version", "version":
            printOut("pgui \(pguiVersion) (\(targetArch))")
            return Exit.ok
        case "--help", "-h", "help":
            printOut(usage)
            return Exit.ok
        case "self-test":
            let tmp = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            return SelfTest.run(tempDir: tmp) ? Exit.ok : Exit.failure
        case "provision":
            guard args.count == 4, args[2] == "--data" else {
                printErr("pgui provision: expected 'DIR --data DATADIR'\n\(usage)")
                return Exit.usage
            }
            let o = ProvisioningApply.run(stickDir: args[1], dataDir: args[3], nowMs: SystemClock().wallMs())
            for e in o.errors { printErr("pgui provision: \(e)") }
            if o.applied { printOut("provisioned \(o.deviceId) (config sha256 \(o.configDigestHex))") }
            if let i = o.identity { printOut("device key kid \(i.kid); public key and CSR in \(ProvisioningApply.receiptName)") }
            return o.applied ? Exit.ok : Exit.failure
        case "verify-signature":
            return VerifySignature.run(Array(args.dropFirst()))
        case "identity":
            return IdentityCommand.run(Array(args.dropFirst()))
        case "journal":
            return JournalCommand.run(Array(args.dropFirst()))
        case "run", "check":
            guard args.count == 3, args[1] == "--config" else {
                printErr("pgui \(verb): expected '--config FILE'\n\(usage)")
                return Exit.usage
            }
            guard let config = loadConfig(args[2]) else { return Exit.usage }
            if verb == "check" {
                printOut("\(args[2]): ok")
                return Exit.ok
            }
            return Runtime.run(config)
        default:
            printErr("pgui: unknown command '\(verb)'\n\(usage)")
            return Exit.usage
        }
    }

    static func loadConfig(_ path: String) -> Config? {
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try Files.read(path, bytesMax: ConfigFile.fileBytesMax)
        } catch {
            printErr("pgui: cannot read configuration: \(error.description)")
            return nil
        }
        do throws(ConfigError) {
            let c = try Config.load(bytes, file: path)
            try c.checkFieldMode()
            try c.checkEnvironment(SystemConfigEnvironment())
            return c
        } catch {
            printErr("pgui: configuration error: \(error.description)")
            return nil
        }
    }

    static var targetArch: String {
        #if arch(x86_64)
            "x86_64"
        #elseif arch(arm64)
            "aarch64"
        #elseif arch(arm)
            "armv7"
        #else
            "unknown"
        #endif
    }
}
