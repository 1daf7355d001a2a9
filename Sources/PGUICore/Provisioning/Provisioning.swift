/// USB-stick provisioning (docs/provisioning.md): a folder `pgui/` on the stick holding `pgui.conf`
/// (the configuration format of docs/config.md), PEM files it names, and — once the device has been
/// provisioned — `pgui.sig`, a detached ES256 signature by the operator's provisioning key over the
/// bundle digest. Everything is validated before anything is applied; the device keeps its previous
/// configuration on any error.

public struct ProvisioningError: Error, Equatable {
    /// The file on the stick the problem is in ("" for the bundle as a whole).
    public let file: String
    public let line: Int
    public let message: String

    public init(file: String, line: Int = 0, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public init(_ e: ConfigError) {
        self.init(file: e.file, line: e.line, message: e.message)
    }

    public var description: String {
        if file.isEmpty { return message }
        return line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

public struct ProvisioningFile: Equatable {
    public let name: String
    public let bytes: [UInt8]
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// What applying a valid bundle does: the config text to install and the files to copy.
public struct ProvisioningPlan {
    /// The configuration as it will be installed (file references rewritten to the data partition).
    public let configText: [UInt8]
    public let config: Config
    /// PEM files to install under `<data.dir>/provisioned/` (name → bytes).
    public let files: [ProvisioningFile]
    /// The operator's provisioning public key (PEM) to install, when the bundle carries one.
    public let provisioningKey: [UInt8]?
}

public enum Provisioning {
    public static let configName = "pgui.conf"
    public static let signatureName = "pgui.sig"
    public static let provisioningKeyName = "provisioning.pub.pem"
    public static let filesMax = 16
    public static let fileBytesMax = 65_536
    public static let installFolder = "provisioned"

    /// A name the bundle may contain: `pgui.conf`, `pgui.sig`, or `[a-z0-9._-]+.pem`, no paths.
    public static func isAllowedName(_ name: String) -> Bool {
        if name == configName || name == signatureName { return true }
        let b = Array(name.utf8)
        guard b.count > 4, b.count <= 64, b.first != ASCII.dot else { return false }
        guard b.suffix(4).elementsEqual(".pem".utf8) else { return false }
        return b.allSatisfy { ASCII.isLowerAlpha($0) || ASCII.isDigit($0) || $0 == ASCII.dot || $0 == ASCII.minus || $0 == 95 }
    }

    /// The bytes the operator signs: every file of the bundle except the signature, in name order,
    /// each as `name NUL length NUL bytes`. Covering the PEM files too means a signed configuration
    /// cannot be combined with a swapped CA certificate.
    public static func digestInput(_ files: [ProvisioningFile]) -> [UInt8] {
        var out: [UInt8] = Array("pgui-provisioning-v1\n".utf8)
        for f in files.sorted(by: { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }) where f.name != signatureName {
            out.append(contentsOf: f.name.utf8)
            out.append(0)
            out.append(contentsOf: String(f.bytes.count).utf8)
            out.append(0)
            out.append(contentsOf: f.bytes)
        }
        return out
    }

    /// Checks the whole bundle and returns what applying it would do.
    /// - `dataDir`: the device's data partition (the bundle may not move it).
    /// - `tag`: a content tag for a file (the caller's hash). A bare file name in a path-valued key
    ///   becomes `<dataDir>/provisioned/<tag>-<name>`: new files never overwrite the ones the running
    ///   configuration uses, so installing the new configuration file is the single commit point.
    public static func plan(files: [ProvisioningFile], dataDir: String, tag: ([UInt8]) -> String) throws(ProvisioningError) -> ProvisioningPlan {
        guard files.count <= filesMax else {
            throw ProvisioningError(file: "", message: "the bundle holds \(files.count) files; the limit is \(filesMax)")
        }
        for f in files {
            guard isAllowedName(f.name) else {
                throw ProvisioningError(file: f.name, message: "unexpected file (allowed: pgui.conf, pgui.sig, *.pem)")
            }
            guard f.bytes.count <= fileBytesMax else {
                throw ProvisioningError(file: f.name, message: "file is \(f.bytes.count) bytes; the limit is \(fileBytesMax)")
            }
        }
        guard let conf = files.first(where: { $0.name == configName }) else {
            throw ProvisioningError(file: "", message: "no \(configName) in the bundle")
        }
        var entries: [ConfigEntry]
        do throws(ConfigError) {
            entries = try ConfigFile.parse(conf.bytes, file: configName)
        } catch {
            throw ProvisioningError(error)
        }
        if let d = entries.first(where: { $0.key == "data.dir" }), d.value != dataDir {
            throw ProvisioningError(file: configName, line: d.line, message: "data.dir: the bundle may not move the data partition (device uses \(dataDir))")
        }
        let pathKeys = Config.schema.filter { $0.kind == .path || $0.key.utf8.reversed().starts(with: "elif_".utf8) }.map { $0.key }
        var used: [String] = []
        for i in entries.indices where pathKeys.contains(entries[i].key) && !entries[i].value.utf8.contains(47) {
            let name = entries[i].value
            guard files.contains(where: { $0.name == name }) else {
                throw ProvisioningError(file: configName, line: entries[i].line, message: "\(entries[i].key): '\(name)' is not in the bundle")
            }
            used.append(name)
            let bytes = files.first(where: { $0.name == name })!.bytes
            entries[i] = ConfigEntry(key: entries[i].key, value: dataDir + "/" + installFolder + "/" + tag(bytes) + "-" + name, line: entries[i].line)
        }
        if !entries.contains(where: { $0.key == "data.dir" }) {
            entries.append(ConfigEntry(key: "data.dir", value: dataDir, line: 0))
        }
        let config: Config
        do throws(ConfigError) {
            config = try Config.load(entries, file: configName)
            try config.checkFieldMode()
        } catch {
            throw ProvisioningError(error)
        }
        for f in files where f.name.utf8.count > 4 && f.name != provisioningKeyName && !used.contains(f.name) && f.name != configName && f.name != signatureName {
            throw ProvisioningError(file: f.name, message: "file is not referenced by \(configName)")
        }
        // The installed text is regenerated from the validated entries: what is on the device is
        // exactly what was checked, with no comments or stray bytes carried over.
        let text = Array("# installed by pgui provisioning\n".utf8) + ConfigFile.render(entries)
        let pems = files.filter { used.contains($0.name) }.map { ProvisioningFile(name: tag($0.bytes) + "-" + $0.name, bytes: $0.bytes) }
        let key = files.first(where: { $0.name == provisioningKeyName })?.bytes
        return ProvisioningPlan(configText: text, config: config, files: pems, provisioningKey: key)
    }
}
