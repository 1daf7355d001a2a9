import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui verify-signature --key PUBLIC.pem FILE SIGNATURE`: checks an ECDSA P-256 signature
/// (64 bytes r‖s over SHA-256 of FILE, as in JWS ES256). The image's update installer uses it on the
/// bundle manifest, so updates are verified by the same mbedTLS code as everything else (docs/image.md).
/// Exit 0 = valid, 1 = invalid or unreadable, 2 = usage.
enum VerifySignature {
    /// Manifests are a few lines; anything bigger is not one.
    static let fileBytesMax = 64 * 1024
    static let keyBytesMax = 4096

    static func run(_ args: [String]) -> Int32 {
        guard args.count == 4, args[0] == "--key" else {
            printErr("pgui verify-signature: expected '--key PUBLIC.pem FILE SIGNATURE'")
            return Exit.usage
        }
        let (keyPath, filePath, sigPath) = (args[1], args[2], args[3])
        let key: P256Key
        let file: [UInt8]
        let signature: [UInt8]
        do throws(SystemError) {
            let pem = try Files.read(keyPath, bytesMax: keyBytesMax)
            file = try Files.read(filePath, bytesMax: fileBytesMax)
            signature = try Files.read(sigPath, bytesMax: 1024)
            do throws(CryptoError) {
                key = try P256Key.parsePublic(pem)
            } catch {
                printErr("pgui verify-signature: key \(keyPath): \(error.description); nothing verified")
                return Exit.failure
            }
        } catch {
            printErr("pgui verify-signature: \(error.description); nothing verified")
            return Exit.failure
        }
        guard signature.count == 64 else {
            printErr("pgui verify-signature: \(sigPath) holds \(signature.count) bytes, not a 64-byte P-256 signature: rejected")
            return Exit.failure
        }
        guard key.verify(digest: sha256(file), signature: signature) else {
            printErr("pgui verify-signature: \(filePath): signature does not match key \(keyPath): rejected")
            return Exit.failure
        }
        printOut("\(filePath): signature ok (\(keyPath))")
        return Exit.ok
    }
}
