/// `GET /measurements` body (docs/ems.md): the latest meter sample in the fixed integer units of
/// `Measurement`; absent quantities are null. `stale` is always false here (a stale sample is
/// answered with 503) and `ageMs` says how long ago it reached the gateway.
public enum MeasurementJSON {
    public static func encode(_ m: Measurement, meterId: String, ageMs: Int64 = 0, into w: inout JSONWriter) {
        w.reset()
        w.beginObject()
        w.field("version", Int64(1))
        w.field("meterId", meterId)
        w.field("timestampMs", m.timestampMs)
        w.field("time", UTC.format(ms: m.timestampMs))
        w.field("quality", Int64(m.quality.rawValue))
        w.field("stale", false)
        w.field("ageMs", ageMs)
        w.field("activePowerW", m.activePowerW)
        w.field("reactivePowerVar", m.reactivePowerVar)
        w.field("apparentPowerVa", m.apparentPowerVa)
        w.field("powerFactorMilli", m.powerFactorMilli)
        w.field("frequencyMhz", m.frequencyMhz)
        w.field("energyImportWh", m.energyImportWh)
        w.field("energyExportWh", m.energyExportWh)
        w.field("reactiveEnergyImportVarh", m.reactiveEnergyImportVarh)
        w.field("reactiveEnergyExportVarh", m.reactiveEnergyExportVarh)
        w.key("phases")
        w.beginArray()
        for p in [m.l1, m.l2, m.l3] {
            w.beginObject()
            w.field("voltageMv", p.voltageMv)
            w.field("currentMa", p.currentMa)
            w.field("activePowerW", p.activePowerW)
            w.field("reactivePowerVar", p.reactivePowerVar)
            w.field("apparentPowerVa", p.apparentPowerVa)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }
}
