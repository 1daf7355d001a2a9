// `MeasurementGroup` itself (the window of samples) lives in Sources/PGUICore/MeasurementGroup.swift.

extension MeasurementGroup {
    /// "synced" only when every sample was taken with a plausible clock.
    public var clockSynced: Bool { !samples.contains { $0.quality.contains(.clockUnsynced) } }
}

/// Payload schema version 1. Absent quantities (nil) are omitted, never written as null or 0.
public enum GroupPayload {
    public static let version: Int64 = 1
    public static let typ = "pgui-group+jws"

    public static func encode(_ g: MeasurementGroup, device: String, seq: UInt64, into w: inout JSONWriter) {
        w.beginObject()
        w.field("v", version)
        w.field("device", device)
        w.field("seq", seq)
        w.field("meter", g.meterId)
        w.field("start", g.windowStartMs)
        w.field("end", g.windowEndMs)
        w.field("clock", g.clockSynced ? "synced" : "unsynced")
        w.key("samples")
        w.beginArray()
        for m in g.samples { sample(m, &w) }
        w.endArray()
        w.endObject()
    }

    static func sample(_ m: Measurement, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("t", m.timestampMs)
        w.field("q", Int64(m.quality.rawValue))
        opt("p", m.activePowerW, &w)
        opt("qr", m.reactivePowerVar, &w)
        opt("s", m.apparentPowerVa, &w)
        opt("pf", m.powerFactorMilli, &w)
        opt("f", m.frequencyMhz, &w)
        phase("l1", m.l1, &w)
        phase("l2", m.l2, &w)
        phase("l3", m.l3, &w)
        opt("ei", m.energyImportWh, &w)
        opt("ee", m.energyExportWh, &w)
        opt("rei", m.reactiveEnergyImportVarh, &w)
        opt("ree", m.reactiveEnergyExportVarh, &w)
        if let st = m.meterStatus { w.field("st", Int64(st)) }
        w.endObject()
    }

    static func opt(_ name: String, _ v: Int64?, _ w: inout JSONWriter) {
        if let v { w.field(name, v) }
    }

    static func phase(_ name: String, _ p: PhaseValues, _ w: inout JSONWriter) {
        guard p != PhaseValues() else { return }
        w.key(name)
        w.beginObject()
        opt("u", p.voltageMv, &w)
        opt("i", p.currentMa, &w)
        opt("p", p.activePowerW, &w)
        opt("qr", p.reactivePowerVar, &w)
        opt("s", p.apparentPowerVa, &w)
        w.endObject()
    }
}

/// Turns groups into compact JWS lines with buffers reused across groups (no steady-state growth once
/// they have reached the largest group). The sequence number comes from the caller's allocator.
public struct GroupSigner {
    var payload = JSONWriter(capacity: 4_096)
    var header: [UInt8] = []
    var headerKid = ""
    public private(set) var jws: [UInt8] = []

    public init(capacity: Int = 8_192) { jws.reserveCapacity(capacity) }

    public mutating func sign<S: Signer>(_ g: MeasurementGroup, device: String, seq: UInt64, signer: S) throws(IdentityError) -> [UInt8] {
        if headerKid != signer.kid {
            headerKid = signer.kid
            header = JWS.header(kid: headerKid, typ: GroupPayload.typ)
        }
        payload.reset()
        GroupPayload.encode(g, device: device, seq: seq, into: &payload)
        jws.removeAll(keepingCapacity: true)
        try JWS.compact(header: header, payload: payload.bytes, signer: signer, into: &jws)
        return jws
    }
}
