/// The checks that keep a validly signed bundle from doing harm (issue 21, items 5 and 6;
/// docs/provisioning.md "Replay, target and confinement"):
/// - `pgui.bundle` names the target device and a serial number; both are covered by the signature
///   (it signs every file) and checked against `<data>/provisioning.state`, so an older bundle cannot
///   roll the configuration back and a bundle for another device cannot rename this one;
/// - every path a bundle sets is confined to what that key may name on an appliance;
/// - every PEM is checked for the type its key needs before anything is installed.

/// `pgui.bundle`: `serial = N` (1 ≤ N ≤ 2^53, rising with every bundle the operator issues for a
/// device; an issue time in seconds works) and `device = ID` (the device.id the bundle is for).
public struct BundleMeta: Equatable {
    public var serial: UInt64
    public var device: String
    public init(serial: UInt64, device: String) {
        self.serial = serial
        self.device = device
    }
}

/// `<data>/provisioning.state`: what the device last accepted.
/// `{"v":1,"serial":N,"device":"ID","config_sha256":"HEX"}`.
public struct ProvisioningState: Equatable {
    public var serial: UInt64
    public var device: String
    /// Digest of the bundle (its signed digest input) last accepted: the same bundle may be applied
    /// again (a crash between recording it and installing the configuration), no other one at that serial.
    public var bundleSHA256: String

    public init(serial: UInt64, device: String, bundleSHA256: String) {
        self.serial = serial
        self.device = device
        self.bundleSHA256 = bundleSHA256
    }

    public static let bytesMax = 1_024

    public func encode() -> [UInt8] {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("serial", serial)
        w.field("device", device)
        w.field("bundle_sha256", bundleSHA256)
        w.endObject()
        w.bytes.append(ASCII.lf)
        return w.bytes
    }

    public static func parse(_ bytes: [UInt8], file: String) throws(ProvisioningError) -> ProvisioningState {
        guard bytes.count <= bytesMax else { throw ProvisioningError(file: file, message: "is \(bytes.count) bytes; the limit is \(bytesMax)") }
        let v: JSONValue
        do throws(JSONError) { v = try JSONParser.parse(Array(trimmed(bytes[...]))) } catch {
            throw ProvisioningError(file: file, message: error.description)
        }
        guard v["v"]?.intValue == 1, let serial = v["serial"]?.intValue, serial >= 0,
              let device = v["device"]?.stringValue, let digest = v["bundle_sha256"]?.stringValue else {
            throw ProvisioningError(file: file, message: "not a provisioning state (v, serial, device, bundle_sha256)")
        }
        return ProvisioningState(serial: UInt64(serial), device: device, bundleSHA256: digest)
    }
}

public enum ProvisioningGuard {
    public static let metaName = "pgui.bundle"
    public static let stateName = "provisioning.state"
    /// 2^53: a serial stays exact in every JSON tool the operator's side may use.
    public static let serialMax: UInt64 = 1 << 53

    public static func parseMeta(_ bytes: [UInt8]) throws(ProvisioningError) -> BundleMeta {
        let entries: [ConfigEntry]
        do throws(ConfigError) { entries = try ConfigFile.parse(bytes, file: metaName) } catch {
            throw ProvisioningError(error)
        }
        var serial: UInt64? = nil
        var device: String? = nil
        for e in entries {
            switch e.key {
            case "serial":
                guard serial == nil else { throw ProvisioningError(file: metaName, line: e.line, message: "serial given twice") }
                guard let v = parseInt64(e.value), v >= 1, UInt64(v) <= serialMax else {
                    throw ProvisioningError(file: metaName, line: e.line, message: "serial: '\(printable(Array(e.value.utf8)[...]))' is not an integer in 1...\(serialMax)")
                }
                serial = UInt64(v)
            case "device":
                guard device == nil else { throw ProvisioningError(file: metaName, line: e.line, message: "device given twice") }
                guard !e.value.isEmpty else { throw ProvisioningError(file: metaName, line: e.line, message: "device: empty") }
                device = e.value
            default:
                throw ProvisioningError(file: metaName, line: e.line, message: "unknown key '\(printable(Array(e.key.utf8)[...]))' (allowed: serial, device)")
            }
        }
        guard let s = serial else { throw ProvisioningError(file: metaName, message: "serial is missing") }
        guard let d = device else { throw ProvisioningError(file: metaName, message: "device is missing") }
        return BundleMeta(serial: s, device: d)
    }

    /// Whether the bundle may be applied on this device.
    /// - `provisioned`: the device has an operator key (every bundle must then carry `pgui.bundle`).
    /// - `installedDevice`: the device id the device runs with now (state file, else the installed
    ///   configuration), nil when it has none.
    /// - `bundleDevice`: device.id of the bundle's configuration.
    public static func checkReplay(meta: BundleMeta?, state: ProvisioningState?, provisioned: Bool, installedDevice: String?,
                                   bundleDevice: String, bundleSHA256: String) throws(ProvisioningError) {
        guard let m = meta else {
            if provisioned {
                throw ProvisioningError(file: "", message: "device is already provisioned: the bundle needs \(metaName) (serial and target device, signed with the bundle)")
            }
            return
        }
        guard m.device == bundleDevice else {
            throw ProvisioningError(file: metaName, message: "device '\(m.device)' differs from the configuration's device.id '\(bundleDevice)'")
        }
        if let installed = installedDevice, provisioned, installed != m.device {
            throw ProvisioningError(file: metaName, message: "bundle is for device '\(m.device)' but this device is '\(installed)': refused (a bundle never renames a provisioned device)")
        }
        if let s = state {
            if m.serial < s.serial || (m.serial == s.serial && bundleSHA256 != s.bundleSHA256) {
                throw ProvisioningError(file: metaName, message: "serial \(m.serial) is not newer than the applied bundle's serial \(s.serial): refused (no rollback to an older bundle)")
            }
        }
    }

    /// The PEM content a path key needs, nil for keys that do not name PEM files.
    public enum PEMKind: Equatable {
        /// One or more `CERTIFICATE` blocks (a CA file may hold a chain).
        case certificates
        /// Exactly one `PRIVATE KEY` or `EC PRIVATE KEY` block.
        case privateKey
        /// Exactly one `PUBLIC KEY` block.
        case publicKey
    }

    public static func pemKind(forKey key: String) -> PEMKind? {
        if key.utf8.reversed().starts(with: "elif_ac".utf8) || key.utf8.reversed().starts(with: "elif_trec".utf8) { return .certificates }
        if key.utf8.reversed().starts(with: "elif_yek".utf8) { return .privateKey }
        return nil
    }

    static let blocksMax = 16

    /// The labels and DER of the PEM blocks in `bytes` (RFC 7468 strict-ish: BEGIN/END lines with
    /// matching labels, base64 lines between), or why they are not well-formed PEM.
    public static func pemBlocks(_ bytes: [UInt8]) -> Result<[(label: String, der: [UInt8])], ProvisioningError> {
        var blocks: [(label: String, der: [UInt8])] = []
        var label: String? = nil
        var body: [UInt8] = []
        let begin = Array("-----BEGIN ".utf8)
        let end = Array("-----END ".utf8)
        let dashes = Array("-----".utf8)
        var lineNo = 0
        for rawLine in bytes.split(separator: ASCII.lf, omittingEmptySubsequences: false) {
            lineNo += 1
            var line = rawLine
            if line.last == ASCII.cr { line = line.dropLast() }
            if label == nil {
                if line.isEmpty { continue }
                guard line.starts(with: begin), line.count > begin.count + dashes.count, line.suffix(dashes.count).elementsEqual(dashes) else {
                    return .failure(ProvisioningError(file: "", line: lineNo, message: "text outside a PEM block"))
                }
                label = String(decoding: line.dropFirst(begin.count).dropLast(dashes.count), as: UTF8.self)
                body = []
            } else if line.starts(with: end) {
                let l = String(decoding: line.dropFirst(end.count).dropLast(dashes.count), as: UTF8.self)
                guard line.suffix(dashes.count).elementsEqual(dashes), l == label! else {
                    return .failure(ProvisioningError(file: "", line: lineNo, message: "END line does not match BEGIN \(label!)"))
                }
                var url: [UInt8] = []
                for b in body where b != 61 { url.append(b == 43 ? ASCII.minus : (b == 47 ? 95 : b)) }  // '+' '/' → '-' '_', no '='
                guard let der = Base64.urlDecode(url[...]), !der.isEmpty else {
                    return .failure(ProvisioningError(file: "", line: lineNo, message: "\(label!) block is not valid base64"))
                }
                blocks.append((label!, der))
                guard blocks.count <= blocksMax else { return .failure(ProvisioningError(file: "", message: "more than \(blocksMax) PEM blocks")) }
                label = nil
            } else {
                for b in line {
                    guard ASCII.isDigit(b) || ASCII.isLowerAlpha(b) || (b >= 65 && b <= 90) || b == 43 || b == 47 || b == 61 else {
                        return .failure(ProvisioningError(file: "", line: lineNo, message: "byte 0x\(String(b, radix: 16)) in the base64 of \(label!)"))
                    }
                    body.append(b)
                }
            }
        }
        if let l = label { return .failure(ProvisioningError(file: "", message: "BEGIN \(l) without END")) }
        guard !blocks.isEmpty else { return .failure(ProvisioningError(file: "", message: "no PEM block")) }
        return .success(blocks)
    }

    /// Why `bytes` are not the PEM `kind` needs (nil when they are, as far as the labels go; the
    /// platform then parses the DER with mbedTLS).
    public static func pemProblem(_ bytes: [UInt8], kind: PEMKind) -> String? {
        let blocks: [(label: String, der: [UInt8])]
        switch pemBlocks(bytes) {
        case .success(let b): blocks = b
        case .failure(let e): return e.line > 0 ? "line \(e.line): \(e.message)" : e.message
        }
        let labels = blocks.map { $0.label }
        switch kind {
        case .certificates:
            if let other = labels.first(where: { $0 != "CERTIFICATE" }) { return "holds a \(other) block where only certificates belong" }
        case .privateKey:
            guard labels.count == 1, labels[0] == "PRIVATE KEY" || labels[0] == "EC PRIVATE KEY" else {
                return "must hold exactly one PRIVATE KEY block, holds \(labels.joined(separator: ", "))"
            }
        case .publicKey:
            guard labels == ["PUBLIC KEY"] else { return "must hold exactly one PUBLIC KEY block, holds \(labels.joined(separator: ", "))" }
        }
        return nil
    }

    /// Names on the data partition that belong to the device itself: no bundle path may name them.
    static let ownNames = ["pgui.conf", "provisioning.pub.pem", stateName, "provisioned", "provisioned.sha256", "identity",
                           "journal", "reserve.bin", "setpoints.json"]

    /// Why a bundle may not set `key` to `value`, nil when it may. Interpretation (the spec is silent;
    /// docs/provisioning.md): PEM keys take bare names of bundle files (handled by the planner);
    /// devices are the kernel's own nodes; the health marker lives on the tmpfs /run (pgui deletes it
    /// at every start); a schedule file is a plain name on the data partition.
    public static func confinementProblem(key: String, value: String, dataDir: String) -> String? {
        if value.isEmpty { return nil }
        switch key {
        case "watchdog.device":
            return matches(value, prefix: "/dev/watchdog", rest: ASCII.isDigit, restMayBeEmpty: true) ? nil
                : "must be /dev/watchdog or /dev/watchdogN in a bundle"
        case "meter.serial.device":
            return matches(value, prefix: "/dev/tty", rest: { ASCII.isDigit($0) || ASCII.isLowerAlpha($0) || ($0 >= 65 && $0 <= 90) }, restMayBeEmpty: false) ? nil
                : "must be a serial device /dev/ttyNAME in a bundle"
        case "appliance.health_file":
            return matches(value, prefix: "/run/", rest: isNameByte, restMayBeEmpty: false) && value.utf8.dropFirst(5).first != ASCII.dot ? nil
                : "must be a file directly in /run/ in a bundle (pgui deletes it at every start)"
        case "dso.schedule_file":
            let prefix = dataDir + "/"
            guard matches(value, prefix: prefix, rest: isNameByte, restMayBeEmpty: false), value.utf8.dropFirst(prefix.utf8.count).first != ASCII.dot else {
                return "must be a plain file name in \(prefix) in a bundle"
            }
            let name = String(decoding: value.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
            return ownNames.contains(name) || name.utf8.reversed().starts(with: "pmt.".utf8) ? "names the device's own file \(name)" : nil
        default:
            return nil
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool { ASCII.isLowerAlpha(b) || ASCII.isDigit(b) || b == ASCII.dot || b == ASCII.minus || b == 95 }

    static func matches(_ value: String, prefix: String, rest: (UInt8) -> Bool, restMayBeEmpty: Bool) -> Bool {
        let v = Array(value.utf8)
        let p = Array(prefix.utf8)
        guard v.starts(with: p) else { return false }
        let tail = v[p.count...]
        if tail.isEmpty { return restMayBeEmpty }
        return tail.count <= 64 && tail.allSatisfy(rest)
    }
}
