/// The manifest of an update bundle (docs/image.md): `key=value` lines, signed as a whole
/// (`manifest.sig`). `pgui update-check` reads it after the signature was verified and decides the
/// anti-rollback rule (issue 21, item 8): a bundle whose `serial` is below the running image's is
/// refused unless the signed manifest says `allow_downgrade=1`.
public struct UpdateManifest: Equatable {
    public var format: String
    public var board: String
    public var version: String
    /// Monotonic release number (the bundle's build time in seconds unless the release process sets
    /// one); equal serials are a re-install and allowed.
    public var serial: UInt64
    public var allowDowngrade: Bool

    public static let bytesMax = 4_096
    public static let valueBytesMax = 64
    public static let formatName = "pgui-bundle-1"
    /// 2^53: exact in every tool that may produce or read it.
    public static let serialMax: UInt64 = 1 << 53
    static let known = ["format", "board", "version", "serial", "allow_downgrade", "kernel.size", "kernel.sha256",
                        "initrd.size", "initrd.sha256", "rootfs.size", "rootfs.sha256"]

    public init(format: String, board: String, version: String, serial: UInt64, allowDowngrade: Bool) {
        self.format = format
        self.board = board
        self.version = version
        self.serial = serial
        self.allowDowngrade = allowDowngrade
    }

    /// Strict parse: every line `key=value` with a known key (once), values of `[A-Za-z0-9._+-]`
    /// up to 64 bytes (what pgui-update's `field` accepts), `format`, `board`, `version` and `serial`
    /// required. Returns the manifest or says which line is wrong.
    public static func parse(_ bytes: [UInt8]) -> Result<UpdateManifest, UpdateError> {
        guard bytes.count <= bytesMax else { return .failure(UpdateError("manifest is \(bytes.count) bytes; the limit is \(bytesMax)")) }
        var seen: [String] = []
        var values: [String: String] = [:]
        var lineNo = 0
        for line in bytes.split(separator: ASCII.lf, omittingEmptySubsequences: false) {
            lineNo += 1
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: ASCII.equals) else {
                return .failure(UpdateError("manifest line \(lineNo): no '='"))
            }
            let key = String(decoding: line[line.startIndex..<eq], as: UTF8.self)
            let value = line[(eq + 1)...]
            guard known.contains(key) else {
                return .failure(UpdateError("manifest line \(lineNo): unknown key '\(printable(line[line.startIndex..<eq]))'"))
            }
            guard !seen.contains(key) else { return .failure(UpdateError("manifest line \(lineNo): '\(key)' given twice")) }
            guard !value.isEmpty, value.count <= valueBytesMax, value.allSatisfy(isValueByte) else {
                return .failure(UpdateError("manifest line \(lineNo): value of '\(key)' is empty, longer than \(valueBytesMax) bytes or has a byte outside [A-Za-z0-9._+-]"))
            }
            seen.append(key)
            values[key] = String(decoding: value, as: UTF8.self)
        }
        for k in ["format", "board", "version", "serial"] where values[k] == nil {
            return .failure(UpdateError("manifest has no '\(k)'"))
        }
        guard values["format"] == formatName else { return .failure(UpdateError("manifest format '\(values["format"]!)' is not \(formatName)")) }
        guard let s = parseInt64(values["serial"]!), s >= 0, UInt64(s) <= serialMax else {
            return .failure(UpdateError("manifest serial '\(values["serial"]!)' is not an integer in 0...\(serialMax)"))
        }
        var allow = false
        if let a = values["allow_downgrade"] {
            guard a == "0" || a == "1" else { return .failure(UpdateError("manifest allow_downgrade must be 0 or 1")) }
            allow = a == "1"
        }
        return .success(UpdateManifest(format: values["format"]!, board: values["board"]!, version: values["version"]!,
                                       serial: UInt64(s), allowDowngrade: allow))
    }

    static func isValueByte(_ b: UInt8) -> Bool {
        ASCII.isDigit(b) || ASCII.isLowerAlpha(b) || (b >= 65 && b <= 90) || b == ASCII.dot || b == ASCII.minus || b == ASCII.plus || b == 95
    }

    /// nil when the bundle may replace an image of `installedSerial`, else why not.
    public func rollbackProblem(installedSerial: UInt64) -> String? {
        if serial >= installedSerial { return nil }
        if allowDowngrade { return nil }
        return "bundle serial \(serial) (\(version)) is below the running image's \(installedSerial): a downgrade needs allow_downgrade=1 in the signed manifest"
    }
}

public struct UpdateError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// ECDSA signature malleability (issue 21, item 8): (r, s) and (r, n − s) both verify. The update
/// path accepts only the low-S form, s ≤ n/2 (as Bitcoin's BIP 62/146 rule), so one manifest has one
/// accepted signature; `image/sign.py` produces it.
public enum ECDSALowS {
    /// ⌊n/2⌋ of P-256, big-endian (n from SEC 2 v2 §2.4.2).
    static let halfOrder: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
    ]

    /// True when the 64-byte r‖s signature has s ≤ n/2.
    public static func isLowS(_ signature: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        for i in 0..<32 {
            let s = signature[32 + i]
            if s != halfOrder[i] { return s < halfOrder[i] }
        }
        return true
    }
}
