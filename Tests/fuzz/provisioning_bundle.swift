// libFuzzer target: a provisioning bundle. The input is split into files at "\0\0<name>\0" markers
// (the first part is pgui.conf), then planned (names, sizes, configuration, path confinement, PEM
// labels), and each part is also offered to the pgui.bundle, state and PEM decoders.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var files: [ProvisioningFile] = []
    var name = "pgui.conf"
    var start = 0
    var i = 0
    while i + 2 < bytes.count {
        if bytes[i] == 0, bytes[i + 1] == 0, let end = bytes[(i + 2)...].firstIndex(of: 0) {
            files.append(ProvisioningFile(name: name, bytes: Array(bytes[start..<i])))
            name = String(decoding: bytes[(i + 2)..<end], as: UTF8.self)
            start = end + 1
            i = start
            continue
        }
        i += 1
    }
    files.append(ProvisioningFile(name: name, bytes: Array(bytes[start...])))
    _ = try? Provisioning.plan(files: files, dataDir: "/data") { "t\($0.count)" }
    for f in files {
        _ = try? ProvisioningGuard.parseMeta(f.bytes)
        _ = try? ProvisioningState.parse(f.bytes, file: f.name)
        _ = ProvisioningGuard.pemProblem(f.bytes, kind: .certificates)
        _ = ProvisioningGuard.confinementProblem(key: "dso.schedule_file", value: f.name, dataDir: "/data")
    }
    return 0
}
