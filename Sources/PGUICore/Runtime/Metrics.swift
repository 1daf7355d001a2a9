/// Counters and gauges for `GET /metrics` (Prometheus text exposition format 0.0.4) and the status
/// page. One fixed set, allocated once; the loop updates the fields directly.
public struct Metrics {
    public var groupsSigned: UInt64 = 0
    public var groupsPublished: UInt64 = 0
    public var groupsAcked: UInt64 = 0
    /// Groups lost before delivery: overwritten in a full journal, or never journalled.
    public var groupsLost: UInt64 = 0
    /// Groups never journalled (no key, signing failed, journal refused: a full disk, a bad seq).
    public var groupsDropped: UInt64 = 0
    /// Slots of the journal's live range found damaged or missing when it was opened.
    public var journalDamagedSlots: UInt64 = 0
    /// Damaged records skipped while reading the journal.
    public var journalCorruptSkipped: UInt64 = 0
    public var journalHintWriteFailures: UInt64 = 0
    /// 1 once the data partition ran full and the start-up reserve was given up.
    public var dataReserveReleased: Int64 = 0
    public var journalBytesUsed: Int64 = 0
    public var journalBytesTotal: Int64 = 0
    public var meterReads: UInt64 = 0
    public var meterErrors: UInt64 = 0
    /// Gaps with reason `invalid`: frames that failed authentication or replayed their counter
    /// (DLMS/COSEM), exception answers and unusable values (docs/meters-dlms.md).
    public var meterInvalid: UInt64 = 0
    public var balReconnects: UInt64 = 0
    public var dsoReconnects: UInt64 = 0
    /// Refused TLS handshakes per link, by kind (index: `TLSFailureKind.rawValue`).
    public var balTLSRefusals = [UInt64](repeating: 0, count: TLSFailureKind.count)
    public var dsoTLSRefusals = [UInt64](repeating: 0, count: TLSFailureKind.count)
    /// Modbus TCP frames answered (data or exception).
    public var modbusRequests: UInt64 = 0
    /// Exception answers (writes, unknown addresses) and connections dropped for malformed frames.
    public var modbusErrors: UInt64 = 0
    /// Connections refused because every slot was busy (ems.modbus_connections_max).
    public var modbusRefused: UInt64 = 0
    /// HTTP requests answered, malformed ones included.
    public var httpRequests: UInt64 = 0
    /// HTTP answers with a status of 400 or more.
    public var httpErrors: UInt64 = 0
    public var httpRefused: UInt64 = 0
    public var rssKiB: Int64 = 0
    /// Heap bytes handed out by malloc (glibc mallinfo2); -1 when unknown.
    public var heapInUseBytes: Int64 = -1
    public var loopIterations: UInt64 = 0
    /// Age of the last good meter sample in ms; -1 = none yet (the metric is then left out).
    public var meterSampleAgeMs: Int64 = -1
    /// 1 while the sample is stale (HTTP 503, SunSpec block not implemented).
    public var meterStale: Int64 = 0
    /// Seconds since the schedule in force was issued; -1 = none (left out).
    public var scheduleAgeS: Int64 = -1
    /// 1 while the DSO link is connected.
    public var dsoConnected: Int64 = 0
    /// Connections closed to make room for a new one (eviction, per-client budget).
    public var modbusEvicted: UInt64 = 0
    public var httpEvicted: UInt64 = 0
    /// Atomic writes of the schedule file (one per loop turn that accepted schedules).
    public var scheduleWrites: UInt64 = 0

    public init() {}

    /// Appends the exposition text to `out` (reused buffer).
    public func encodePrometheus(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        counter(&out, "pgui_groups_signed_total", "Measurement groups signed", groupsSigned)
        counter(&out, "pgui_groups_published_total", "Measurement groups handed to the BAL broker", groupsPublished)
        counter(&out, "pgui_groups_acked_total", "Measurement groups acknowledged by the BAL broker (PUBACK)", groupsAcked)
        counter(&out, "pgui_groups_lost_total", "Measurement groups lost before delivery: overwritten in a full journal or never journalled", groupsLost)
        counter(&out, "pgui_groups_dropped_total", "Measurement groups never journalled (no key, signing or journal write failed)", groupsDropped)
        gauge(&out, "pgui_journal_damaged_slots", "Journal slots in the live range found damaged or missing at start", Int64(journalDamagedSlots))
        counter(&out, "pgui_journal_corrupt_skipped_total", "Damaged journal records skipped while reading", journalCorruptSkipped)
        counter(&out, "pgui_journal_hint_write_failures_total", "Journal hint writes that failed (full or read-only disk)", journalHintWriteFailures)
        gauge(&out, "pgui_data_partition_full", "1 once the data partition ran full and the start-up reserve was released", dataReserveReleased)
        gauge(&out, "pgui_journal_bytes_used", "Journal bytes holding undelivered groups", journalBytesUsed)
        gauge(&out, "pgui_journal_bytes_total", "Journal capacity in bytes", journalBytesTotal)
        counter(&out, "pgui_meter_reads_total", "Meter reads", meterReads)
        counter(&out, "pgui_meter_errors_total", "Meter reads that failed (timeouts, exceptions, garbage)", meterErrors)
        counter(&out, "pgui_meter_invalid_total", "Meter gaps with reason invalid: frames failing authentication, replayed counters, exceptions, unusable values", meterInvalid)
        counter(&out, "pgui_bal_reconnects_total", "Reconnects of the BAL link", balReconnects)
        counter(&out, "pgui_dso_reconnects_total", "Reconnects of the DSO link", dsoReconnects)
        labelled(&out, "pgui_bal_tls_refusals_total", "TLS handshakes with the BAL broker refused, by reason", balTLSRefusals)
        labelled(&out, "pgui_dso_tls_refusals_total", "TLS handshakes with the DSO broker refused, by reason", dsoTLSRefusals)
        counter(&out, "pgui_modbus_requests_total", "EMS Modbus TCP requests answered", modbusRequests)
        counter(&out, "pgui_modbus_errors_total", "EMS Modbus TCP exception answers and connections dropped for malformed frames", modbusErrors)
        counter(&out, "pgui_modbus_connections_refused_total", "EMS Modbus TCP connections refused: all slots busy", modbusRefused)
        counter(&out, "pgui_http_requests_total", "EMS HTTP requests answered", httpRequests)
        counter(&out, "pgui_http_errors_total", "EMS HTTP answers with status 400 or more", httpErrors)
        counter(&out, "pgui_http_connections_refused_total", "EMS HTTP connections refused: all slots busy", httpRefused)
        gauge(&out, "pgui_resident_memory_kib", "Resident set size in KiB", rssKiB)
        if heapInUseBytes >= 0 { gauge(&out, "pgui_heap_in_use_bytes", "Heap bytes allocated by malloc (glibc mallinfo2)", heapInUseBytes) }
        counter(&out, "pgui_loop_iterations_total", "Event loop iterations", loopIterations)
        if meterSampleAgeMs >= 0 { gauge(&out, "pgui_meter_sample_age_ms", "Age of the last good meter sample in ms", meterSampleAgeMs) }
        gauge(&out, "pgui_meter_stale", "1 while the last good meter sample is stale (EMS gets 503 / not implemented)", meterStale)
        if scheduleAgeS >= 0 { gauge(&out, "pgui_schedule_age_seconds", "Seconds since the set-point schedule in force was issued", scheduleAgeS) }
        gauge(&out, "pgui_dso_connected", "1 while the DSO link is connected", dsoConnected)
        counter(&out, "pgui_modbus_connections_evicted_total", "EMS Modbus TCP connections closed to make room (idle, slow or over the per-client budget)", modbusEvicted)
        counter(&out, "pgui_schedule_writes_total", "Atomic writes of the set-point schedule (one per loop turn with accepted schedules)", scheduleWrites)
        counter(&out, "pgui_http_connections_evicted_total", "EMS HTTP connections closed to make room (idle, slow or over the per-client budget)", httpEvicted)
    }

    private func counter(_ out: inout [UInt8], _ name: String, _ help: String, _ v: UInt64) {
        sample(&out, name, help, "counter", String(v))
    }

    /// One counter family with a `reason` label per TLS failure kind (zeros included, so a rate()
    /// over a new reason starts from a sample).
    private func labelled(_ out: inout [UInt8], _ name: String, _ help: String, _ values: [UInt64]) {
        out.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) counter\n".utf8)
        for raw in 0..<TLSFailureKind.count {
            let v = raw < values.count ? values[raw] : 0
            out.append(contentsOf: "\(name){reason=\"\(TLSFailureKind(rawValue: raw)!.label)\"} \(v)\n".utf8)
        }
    }

    private func gauge(_ out: inout [UInt8], _ name: String, _ help: String, _ v: Int64) {
        sample(&out, name, help, "gauge", String(v))
    }

    private func sample(_ out: inout [UInt8], _ name: String, _ help: String, _ type: String, _ value: String) {
        out.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
    }
}
