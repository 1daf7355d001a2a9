// libFuzzer target: the DSO set-point schedule, as received (time checks on) and as restored from
// the data partition (Schedule.restore).
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = ScheduleLimits()
    let now: Int64 = 1_795_800_000_000
    _ = try? SetpointMessage.parse(bytes, limits: limits, nowMs: now)
    _ = try? SetpointMessage.parse(bytes, limits: limits, nowMs: nil, allowEmpty: true)
    _ = SetpointMessage.peekId(bytes, limits: limits)
    if let s = try? Schedule.restore(bytes, limits: limits, nowMs: now) {
        _ = s.current(atMs: now)
        _ = s.encode()
    }
    return 0
}
