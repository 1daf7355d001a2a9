/// The keys every MQTTS link shares (`bal.*`, `dso.*`): one parser and one set of checks, so both
/// links refuse the same mistakes with the same words.
extension ConfigValues {
    /// A comma-separated list, blanks trimmed, empty items dropped.
    public func list(_ key: String) -> [String] {
        var out: [String] = []
        for part in Array(string(key).utf8).split(separator: 44) {
            let item = trimmed(part)
            if !item.isEmpty { out.append(PGUICore.string(item)) }
        }
        return out
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
        for u in uris where !(u.utf8.starts(with: "ssl://".utf8) || u.utf8.starts(with: "mqtts://".utf8)) {
            throw error(prefix + ".uris", "'\(printable(Array(u.utf8)[...]))' is not ssl:// or mqtts:// (TLS is mandatory, no plaintext fallback)")
        }
        guard !string(prefix + ".ca_file").isEmpty else { throw error(prefix + ".ca_file", "is required when \(prefix).enabled = true") }
        guard string(prefix + ".cert_file").isEmpty == string(prefix + ".key_file").isEmpty else {
            throw error(prefix + ".key_file", "\(prefix).cert_file and \(prefix).key_file go together")
        }
    }
}
