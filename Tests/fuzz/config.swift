// libFuzzer target: the configuration file (ConfigFile.parse, then Config.load with every check).
// Built with the core's sources in one module (docs/building.md, "Fuzzing"); `make fuzz` runs it.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? Config.load(bytes, file: "fuzz.conf")
    return 0
}
