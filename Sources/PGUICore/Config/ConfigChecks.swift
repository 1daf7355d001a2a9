/// Checks across sections and against the device itself (issue 14): a configuration that cannot
/// work is refused by `pgui check`, `pgui provision` and start-up alike, with one error naming the
/// key, instead of running and failing every group or serving nothing.

/// What the checks need to know about the device they run on (files, addresses). PGUIPlatform has
/// the real one; tests use a fake.
public protocol ConfigEnvironment {
    func isDirectory(_ path: String) -> Bool
    func isFile(_ path: String) -> Bool
    /// True when a socket can bind this IPv4 address here (0.0.0.0 always can).
    func isLocalAddress(_ ipv4: String) -> Bool
}

extension Config {
    /// A field device needs a real meter, the BAL link and the DSO link (docs/config.md,
    /// docs/spec-interpretations.md): the spec says the device MUST reach all three. A demo says so
    /// with `device.mode = demo`. Run by `pgui check`, `pgui run` and `pgui provision` (not by
    /// `Config.load` itself, so tools and tests can read any file).
    public func checkFieldMode() throws(ConfigError) {
        guard device.mode == .field, let v = source else { return }
        let hint = "(device.mode = field, the default; a demonstration sets device.mode = demo)"
        if meter.kind == .simulated {
            throw v.error("meter.kind", v.isSet("meter.kind")
                ? "a field device reads a real meter, not the simulated one \(hint)"
                : "not set, so the simulated meter would run; a field device needs a real meter kind (modbus-tcp, modbus-rtu, dsmr-p1, sml, iec62056-21) \(hint)")
        }
        guard bal.enabled else {
            throw v.error("bal.enabled", "a field device forwards signed groups to the BAL: set bal.enabled = true with bal.uris and bal.ca_file \(hint)")
        }
        guard dso.enabled else {
            throw v.error("dso.enabled", "a field device receives set-points from the DSO: set dso.enabled = true with dso.uris and dso.ca_file \(hint)")
        }
    }

    /// Samples in one group window (at least one).
    public var samplesPerGroup: Int64 { max(1, group.windowMs / meter.periodMs) }

    /// The smallest signed group this window can produce: every sample a gap (timestamp and quality
    /// only), a one-digit sequence number, the 43-character kid of an RFC 7638 thumbprint and the
    /// 64-byte ES256 signature. A record smaller than this refuses every group.
    public var minimumSignedGroupBytes: Int64 {
        let start: Int64 = 1_795_804_710_000  // a 13-digit UTC ms time, as every window of this century
        var samples: [Measurement] = []
        for i in 0..<samplesPerGroup { samples.append(Measurement.gap(at: start + i * meter.periodMs, reason: .timeout)) }
        let g = MeasurementGroup(meterId: meter.meterId, windowStartMs: start, windowEndMs: start + group.windowMs, samples: samples)
        var w = JSONWriter(capacity: 4_096)
        GroupPayload.encode(g, device: device.deviceId, seq: 1, into: &w)
        let header = JWS.header(kid: String(repeating: "k", count: 43), typ: GroupPayload.typ)
        func b64(_ n: Int) -> Int64 { Int64((4 * n + 2) / 3) }
        return b64(header.count) + 1 + b64(w.bytes.count) + 1 + b64(64)
    }

    func checkGroupFitsJournal(_ v: ConfigValues) throws(ConfigError) {
        let least = minimumSignedGroupBytes
        guard journal.recordBytesMax >= least else {
            throw v.error("journal.record_bytes_max", "\(journal.recordBytesMax) bytes cannot hold any signed group of \(group.windowMs / 1_000) s at meter.period_ms = \(meter.periodMs) (\(samplesPerGroup) samples): the smallest is \(least) bytes, so every group would be refused and the health check would fail")
        }
    }

    /// Checks against the device: data.dir is a folder, the links' CA files exist,
    /// ems.bind is an address of this device (else the servers would silently not start).
    public func checkEnvironment<E: ConfigEnvironment>(_ env: E) throws(ConfigError) {
        func err(_ key: String, _ message: String) -> ConfigError {
            source?.error(key, message) ?? ConfigError(file: "", line: 0, message: "\(key): \(message)")
        }
        guard env.isDirectory(device.dataDir) else {
            throw err("data.dir", "\(device.dataDir) does not exist or is not a folder")
        }
        // Only the CA files: client certificates and keys may move under credential rotation
        // (docs/identity.md), and the links report a missing one with its own error.
        let files: [(String, Bool, String)] = [("dso.ca_file", dso.enabled, dso.caFile), ("bal.ca_file", bal.enabled, bal.caFile)]
        for (key, enabled, path) in files where enabled && !path.isEmpty && !env.isFile(path) {
            throw err(key, "\(path) does not exist or is not a file")
        }
        if ems.modbusPort != 0 || ems.httpPort != 0, ems.bind != "0.0.0.0", !env.isLocalAddress(ems.bind) {
            throw err("ems.bind", "\(ems.bind) is not an address of this device; the EMS servers could not listen on it")
        }
    }
}
