// libFuzzer entry point for the EMS HTTP request-head parser (docs/ems.md). Compiled in one module
// with the PGUICore sources (see docs/building.md, "make fuzz"). Beyond "no crash, no hang" it
// checks the property issue 14 asks for: the verdict does not depend on packet boundaries: any
// prefix of the input is either still incomplete or already has the whole input's verdict.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let headBytesMax = 256 + Int(data[0]) * 16  // 256…4336, around the configured range
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = HTTPRequestParser.parse(bytes[...], headBytesMax: headBytesMax)
    if case .request(let r) = whole {
        precondition(r.headBytes >= 4 && r.headBytes <= bytes.count && r.headBytes <= headBytesMax, "head length out of range")
        precondition(r.path.utf8.first == 47 || r.path == "*", "path does not start with '/'")
    }
    // One split point chosen by the input: the prefix is incomplete or decided exactly as the whole.
    if !bytes.isEmpty {
        let k = Int(data[0]) * 131 % bytes.count
        let prefix = HTTPRequestParser.parse(bytes[0..<k], headBytesMax: headBytesMax)
        switch (prefix, whole) {
        case (.incomplete, _):
            break
        case (.error(let a, _), .error(let b, _)):
            precondition(a == b, "status depends on the packet boundary")
        case (.request(let a), .request(let b)):
            precondition(a == b, "request depends on the packet boundary")
        default:
            preconditionFailure("verdict depends on the packet boundary")
        }
    }
    // An answer to whatever was parsed is well formed and bounded.
    var out: [UInt8] = []
    switch whole {
    case .error(let status, let reason):
        HTTPRequestParser.response(status: status, body: Array(reason.utf8), into: &out)
    case .request(let r):
        HTTPRequestParser.response(status: 200, body: Array(r.path.utf8), headMethod: r.method == "HEAD", into: &out)
    case .incomplete:
        break
    }
    precondition(out.count <= 512 + headBytesMax, "answer larger than expected")
    return 0
}
