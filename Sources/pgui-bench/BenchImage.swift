import PGUICore
import PGUIPlatform
import PGUIRuntime

extension Bench {
    /// Update-manifest verification (what `pgui-update` runs once per bundle) against hashing 1 MiB
    /// of payload (it hashes every MiB of kernel, initramfs and rootfs after writing them): tells
    /// whether the signature check matters next to the payload checks.
    static func benchUpdateVerify() -> Bool {
        let manifest = Array(
            """
            format=pgui-bundle-1
            board=qemu-virt-aarch64
            version=dev-0000000
            kernel.size=32956352
            kernel.sha256=5b0c9d0e5b0c9d0e5b0c9d0e5b0c9d0e5b0c9d0e5b0c9d0e5b0c9d0e5b0c9d0e
            initrd.size=2390118
            initrd.sha256=a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4a1f4
            rootfs.size=3731456
            rootfs.sha256=77d277d277d277d277d277d277d277d277d277d277d277d277d277d277d277d2

            """.utf8)
        let key: P256Key
        let signature: [UInt8]
        do throws(CryptoError) {
            let random = try RandomSource(personalization: "bench-update-verify")
            key = try P256Key.generate(random)
            signature = try key.sign(digest: sha256(manifest), random)
        } catch {
            printErr("bench update-verify: \(error.description)")
            return false
        }
        var ok = true
        let subject = rate { ok = key.verify(digest: sha256(manifest), signature: signature) && ok }
        let payload = [UInt8](repeating: 0x5A, count: 1 << 20)
        let baseline = rate { _ = sha256(payload) }
        report("update-verify", subject: "ECDSA P-256 verify of a \(manifest.count)-byte manifest", subject,
               baseline: "SHA-256 of 1 MiB payload", baseline)
        return ok
    }
}
