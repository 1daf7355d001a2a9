// libFuzzer target: the JSON parser every inbound message goes through (JSONParser, default limits).
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let v = try? JSONParser.parse(bytes) {
        _ = v["v"]?.intValue
        _ = v == v
    }
    return 0
}
