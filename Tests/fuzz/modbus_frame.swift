// libFuzzer entry point for the EMS Modbus TCP server's framing and answers (docs/ems.md),
// compiled in one module with the PGUICore sources ("make fuzz"). The input is a byte stream as a
// client would send it; the first byte picks the encoding and word order and seeds the set-points.
// Checks: every answer's MBAP length matches its size, echoes the transaction id, and an exception
// carries FC | 0x80 (issue 14: FC 0x83 wrapped to 0x03).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let mode = data[0]
    let encodings: [EMSEncoding] = [.int32, .int16, .float32]
    var image = SetpointRegisters(encoding: encodings[Int(mode % 3)], wordOrder: mode & 4 == 0 ? .big : .little)
    let p = Int64(Int8(bitPattern: data[1])) * 100_000
    image.update(SetpointSnapshot(current: mode & 8 == 0 ? nil : SetpointSlot(startS: 1_795_804_200, durationS: 900, bspP: p, bspQ: -p),
                                  next: mode & 16 == 0 ? nil : SetpointSlot(startS: 1_795_805_100, durationS: 900, bspP: -p, bspQ: p),
                                  clockSynced: mode & 32 != 0, dsoConnected: mode & 64 != 0, scheduleAgeS: mode & 128 == 0 ? nil : Int64(p)))
    let meter = SunSpecMeterImage(deviceId: "fuzz", version: "0")
    let stream = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    var at = 0
    var out: [UInt8] = []
    while at < stream.count {
        switch ModbusTCPFrame.next(stream[at...]) {
        case .incomplete, .malformed:
            return 0
        case .frame(let length):
            precondition(length >= 8 && length <= ModbusTCPFrame.adusBytesMax && at + length <= stream.count, "frame length")
            let frame = stream[at..<(at + length)]
            out.removeAll(keepingCapacity: true)
            let exception = ModbusEMSAnswer.answer(frame, setpoints: image, meter: meter, into: &out)
            precondition(out.count >= 9 && out.count <= ModbusTCPFrame.answerBytesMax, "answer size")
            precondition(Int(out[4]) << 8 | Int(out[5]) == out.count - 6, "MBAP length")
            precondition(out[0] == frame[frame.startIndex] && out[1] == frame[frame.startIndex + 1], "transaction id")
            precondition(out[7] == (exception ? frame[frame.startIndex + 7] | 0x80 : frame[frame.startIndex + 7]), "function code")
            if !exception { precondition(Int(out[8]) == out.count - 9, "byte count") }
            at += length
        }
    }
    return 0
}
