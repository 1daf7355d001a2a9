/// The keys every MQTTS link shares (`bal.*`, `dso.*`): one parser and one set of checks, so both
/// links refuse the same mistakes with the same words.
extension ConfigValues {
    /// A comma-separated list, blanks trimmed, empty items dropped.
    public func list(_ key: String) -> [String] {
        var out: [String] = []
        for part in Array(string(key).utf8).split(separator: 44) {
            let item = trimmed(part)
            if !item.isEmpty { out.append(String(decoding: item, as: UTF8.self)) }
        }
        return out
    }

    /// nil when `uri` is `ssl://host:port` or `mqtts://host:port` (host: DNS name, dotted IPv4 or
    /// [IPv6]; port 1…65535), else why not. The whole URI is checked, not only its prefix
    /// (issue 14: `ssl://h:1ssl://h:1`, `ssl://:0` and `ssl://127` used to pass).
    public static func brokerURIProblem(_ uri: String) -> String? {
        let b = Array(uri.utf8)
        var rest: ArraySlice<UInt8>
        if b.starts(with: "ssl://".utf8) {
            rest = b[6...]
        } else if b.starts(with: "mqtts://".utf8) {
            rest = b[8...]
        } else {
            return "is not ssl:// or mqtts:// (TLS is mandatory, no plaintext fallback)"
        }
        guard let colon = rest.lastIndex(of: 58) else { return "has no port (ssl://host:port)" }
        let host = rest[rest.startIndex..<colon]
        let port = rest[(colon + 1)...]
        guard !port.isEmpty, port.count <= 5, port.allSatisfy(ASCII.isDigit), let p = parseInt64(port), p >= 1, p <= 65_535 else {
            return "has no valid port 1...65535 (ssl://host:port)"
        }
        guard !host.isEmpty else { return "has no host (ssl://host:port)" }
        if host.first == 91 {
            guard host.last == 93, host.count > 2,
                  host.dropFirst().dropLast().allSatisfy({ ASCII.isDigit($0) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) || $0 == 58 || $0 == 46 })
            else { return "has an invalid [IPv6] host" }
            return nil
        }
        let labels = host.split(separator: 46, omittingEmptySubsequences: false)
        for l in labels {
            guard !l.isEmpty, l.count <= 63, l.first != 45, l.last != 45,
                  l.allSatisfy({ ASCII.isDigit($0) || ASCII.isLowerAlpha($0) || ASCII.isUpperAlpha($0) || $0 == 45 }) else {
                return "has an invalid host name"
            }
        }
        // All-numeric names are addresses: they must be a whole dotted IPv4 (`ssl://127` is not).
        if host.allSatisfy({ ASCII.isDigit($0) || $0 == 46 }), !EMSConfig.isIPv4(String(decoding: host, as: UTF8.self)) {
            return "has an invalid IPv4 address"
        }
        return nil
    }

    /// Checks `<prefix>.uris`, `.ca_file`, `.cert_file`, `.key_file` and the reconnect bounds.
    /// TLS is mandatory: a link that is enabled needs ssl:// or mqtts:// URIs and a CA file.
    public func checkMQTTLink(prefix: String, enabled: Bool, uris: [String]) throws(ConfigError) {
        for name in ["ca_file", "cert_file", "key_file"] {
            let key = prefix + "." + name
            let value = string(key)
            if !value.isEmpty, let problem = Config.check(value, against: .path) { throw error(key, problem) }
        }
        guard int(prefix + ".reconnect_min_ms") <= int(prefix + ".reconnect_max_ms") else {
            throw error(prefix + ".reconnect_max_ms", "is below \(prefix).reconnect_min_ms")
        }
        guard enabled else { return }
        guard !uris.isEmpty else { throw error(prefix + ".uris", "is required when \(prefix).enabled = true") }
        for u in uris {
            if let problem = Self.brokerURIProblem(u) {
                throw error(prefix + ".uris", "'\(printable(Array(u.utf8)[...]))' \(problem)")
            }
        }
        guard !string(prefix + ".ca_file").isEmpty else { throw error(prefix + ".ca_file", "is required when \(prefix).enabled = true") }
        guard string(prefix + ".cert_file").isEmpty == string(prefix + ".key_file").isEmpty else {
            throw error(prefix + ".key_file", "\(prefix).cert_file and \(prefix).key_file go together")
        }
    }
}
