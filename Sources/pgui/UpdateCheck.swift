import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui update-check MANIFEST --installed-serial N`: the anti-rollback decision for an update bundle
/// whose manifest signature `pgui verify-signature` has already accepted (image/rootfs/usr/sbin/pgui-update,
/// docs/image.md). Exit 0 = may be installed, 1 = refused (the reason on stderr), 2 = usage.
enum UpdateCheck {
    static func run(_ args: [String]) -> Int32 {
        guard args.count == 3, args[1] == "--installed-serial", let installed = parseInt64(args[2]), installed >= 0 else {
            printErr("pgui update-check: expected 'MANIFEST --installed-serial N'")
            return Exit.usage
        }
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Files.read(args[0], bytesMax: UpdateManifest.bytesMax) } catch {
            printErr("pgui update-check: \(error.description); refused")
            return Exit.failure
        }
        switch UpdateManifest.parse(bytes) {
        case .failure(let e):
            printErr("pgui update-check: \(args[0]): \(e.message); refused")
            return Exit.failure
        case .success(let m):
            if let why = m.rollbackProblem(installedSerial: UInt64(installed)) {
                printErr("pgui update-check: \(why); refused")
                return Exit.failure
            }
            printOut("\(m.version) serial \(m.serial)\(m.serial < UInt64(installed) ? " (downgrade allowed by the manifest)" : ""): may be installed")
            return Exit.ok
        }
    }
}
