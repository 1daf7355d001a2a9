/// What an installer sees at a glance: `GET /status` (JSON) and `GET /status.html` (one small page,
/// no scripts, refreshes itself). Filled by the runtime from the parts it wires together.

/// A bounded ring of the most recent warnings and errors (capacity fixed at creation).
public struct RecentEvents {
    public let capacity: Int
    private var items: [(timeMs: Int64, text: String)] = []
    private var next = 0

    public init(capacity: Int = 16) {
        precondition(capacity > 0)
        self.capacity = capacity
        items.reserveCapacity(capacity)
    }

    public mutating func add(timeMs: Int64, _ text: String) {
        let bounded = text.utf8.count > 200 ? String(decoding: Array(text.utf8.prefix(200)), as: UTF8.self) : text
        if items.count < capacity {
            items.append((timeMs, bounded))
        } else {
            items[next] = (timeMs, bounded)
        }
        next = (next + 1) % capacity
    }

    /// Oldest first.
    public var all: [(timeMs: Int64, text: String)] {
        items.count < capacity ? items : Array(items[next...] + items[..<next])
    }
}

public struct LinkState: Equatable {
    public var name: String
    public var configured: Bool = false
    public var connected: Bool = false
    public var broker: String = ""
    public var lastError: String = ""
    public init(name: String) { self.name = name }
}

public struct StatusSnapshot {
    public var deviceId: String = ""
    public var firmware: String = pguiVersion
    public var nowMs: Int64 = 0
    public var clockSynced = false
    public var uptimeS: Int64 = 0
    public var lastSample: Measurement? = nil
    /// Age of the last good sample (ms) and whether the EMS is told it is stale (docs/ems.md).
    public var sampleAgeMs: Int64? = nil
    public var sampleStale = false
    /// Seconds since the schedule in force was issued by the DSO; nil = no schedule.
    public var scheduleAgeS: Int64? = nil
    public var bal = LinkState(name: "BAL")
    public var dso = LinkState(name: "DSO")
    public var journalFillPermille: Int64 = 0
    public var backlogGroups: UInt64 = 0
    public var lostGroups: UInt64 = 0
    /// Current and next set-points (W, var); nil when none.
    public var currentP: Int64? = nil
    public var currentQ: Int64? = nil
    public var nextP: Int64? = nil
    public var nextQ: Int64? = nil
    public var health = HealthVerdict.healthy
    public var events = RecentEvents()

    public init() {}

    public func encodeJSON(into w: inout JSONWriter) {
        w.reset()
        w.beginObject()
        w.field("device", deviceId)
        w.field("fw", firmware)
        w.field("time", nowMs)
        w.field("clock_synced", clockSynced)
        w.field("uptime_s", uptimeS)
        switch health {
        case .healthy: w.field("health", "ok")
        case .failing(let why): w.field("health", why)
        }
        w.key("meter")
        w.beginObject()
        w.field("last_sample", lastSample?.timestampMs)
        w.field("age_ms", sampleAgeMs)
        w.field("stale", sampleStale)
        w.field("p_w", lastSample?.activePowerW)
        w.field("q_var", lastSample?.reactivePowerVar)
        w.field("energy_import_wh", lastSample?.energyImportWh)
        w.field("energy_export_wh", lastSample?.energyExportWh)
        w.endObject()
        for l in [bal, dso] {
            w.key(l.name.lowercased())
            w.beginObject()
            w.field("configured", l.configured)
            w.field("connected", l.connected)
            w.field("broker", l.broker)
            w.field("last_error", l.lastError)
            w.endObject()
        }
        w.key("journal")
        w.beginObject()
        w.field("fill_permille", journalFillPermille)
        w.field("backlog_groups", backlogGroups)
        w.field("lost_groups", lostGroups)
        w.endObject()
        w.key("setpoint")
        w.beginObject()
        w.field("current_p_w", currentP)
        w.field("current_q_var", currentQ)
        w.field("next_p_w", nextP)
        w.field("next_q_var", nextQ)
        w.field("schedule_age_s", scheduleAgeS)
        w.endObject()
        w.key("recent_events")
        w.beginArray()
        for e in events.all {
            w.beginObject()
            w.field("time", e.timeMs)
            w.field("text", e.text)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The installer page. Every dynamic text is HTML-escaped.
    public func renderHTML(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        func text(_ s: String) { htmlEscape(s, into: &out) }
        func num(_ v: Int64?, _ unit: String) -> String { v.map { "\($0) \(unit)" } ?? "—" }
        func row(_ k: String, _ v: String, ok: Bool? = nil) {
            put("<tr><th>")
            text(k)
            put(ok == nil ? "</th><td>" : (ok! ? "</th><td class=ok>" : "</th><td class=bad>"))
            text(v)
            put("</td></tr>\n")
        }
        put("<!doctype html>\n<html lang=en><head><meta charset=utf-8><meta http-equiv=refresh content=5>")
        put("<meta name=viewport content=\"width=device-width\"><title>PGUI ")
        text(deviceId)
        put("</title><style>body{font:15px system-ui,sans-serif;margin:1.5em;max-width:46em}")
        put("table{border-collapse:collapse;width:100%;margin-bottom:1.2em}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd}")
        put("th{width:40%;font-weight:600}.ok{color:#176f2c}.bad{color:#b00020;font-weight:600}h2{font-size:1.1em;margin:.4em 0}</style></head><body>\n<h1>PGUI ")
        text(deviceId)
        put("</h1>\n<h2>Device</h2><table>\n")
        row("Firmware", firmware)
        row("Time (UTC)", UTC.format(ms: nowMs) + (clockSynced ? "" : " (clock not synchronised)"), ok: clockSynced)
        row("Uptime", "\(uptimeS) s")
        switch health {
        case .healthy: row("Health", "ok", ok: true)
        case .failing(let why): row("Health", why, ok: false)
        }
        put("</table>\n<h2>Meter</h2><table>\n")
        row("Last reading", lastSample.map { UTC.format(ms: $0.timestampMs) } ?? "none yet", ok: lastSample != nil)
        row("Active power", num(lastSample?.activePowerW, "W"))
        row("Reactive power", num(lastSample?.reactivePowerVar, "var"))
        row("Energy import", num(lastSample?.energyImportWh, "Wh"))
        row("Energy export", num(lastSample?.energyExportWh, "Wh"))
        put("</table>\n<h2>Links</h2><table>\n")
        for l in [bal, dso] {
            let state = !l.configured ? "not configured" : (l.connected ? "connected to \(l.broker)" : "disconnected" + (l.lastError.isEmpty ? "" : ": \(l.lastError)"))
            row(l.name, state, ok: l.configured ? l.connected : nil)
        }
        put("</table>\n<h2>Journal</h2><table>\n")
        row("Fill level", "\(journalFillPermille / 10).\(journalFillPermille % 10) %")
        row("Backlog", "\(backlogGroups) groups")
        row("Lost", "\(lostGroups) groups", ok: lostGroups == 0)
        put("</table>\n<h2>Set-point</h2><table>\n")
        row("Current", currentP == nil ? "none" : "P \(currentP!) W, Q \(currentQ ?? 0) var")
        row("Next", nextP == nil ? "none" : "P \(nextP!) W, Q \(nextQ ?? 0) var")
        put("</table>\n<h2>Recent events</h2><table>\n")
        let all = events.all
        if all.isEmpty { row("—", "none") }
        for e in all.reversed() { row(UTC.format(ms: e.timeMs), e.text) }
        put("</table>\n</body></html>\n")
    }
}

public func htmlEscape(_ s: String, into out: inout [UInt8]) {
    for b in s.utf8 {
        switch b {
        case 38: out.append(contentsOf: "&amp;".utf8)
        case 60: out.append(contentsOf: "&lt;".utf8)
        case 62: out.append(contentsOf: "&gt;".utf8)
        case 34: out.append(contentsOf: "&quot;".utf8)
        case 39: out.append(contentsOf: "&#39;".utf8)
        default: out.append(b)
        }
    }
}
