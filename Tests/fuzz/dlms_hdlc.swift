// libFuzzer entry point: the DLMS HDLC deframer and the push/response reassembly behind it
// (PGUICore/Meter/DLMS/HDLC.swift, DLMSTransport.swift). Input is a byte stream from a serial
// line; the deframer must never trap, never hand out a frame that fails its checksums, and
// stay within its fixed buffer.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var d = HDLCDeframer()
    // Feed in uneven chunks, as a UART delivers them.
    var i = 0
    var step = 1
    while i < bytes.count {
        let n = min(step, bytes.count - i)
        d.append(UnsafeBufferPointer(rebasing: bytes[i..<(i + n)]))
        while let f = d.next() {
            precondition(f.info.upperBound <= d.count, "frame inside the buffer")
            precondition(f.info.count <= DLMSLimits.hdlcFrameBytesMax, "frame within the limit")
        }
        i += n
        step = step % 61 + 7
    }
    return 0
}
