import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

@Suite struct SampleMailboxTests {
    @Test func deliversInOrderAndCountsOverwrites() throws {
        let box = try SampleMailbox(capacity: 3)
        var out: [Measurement] = []
        #expect(box.drain(into: &out) == 0 && out.isEmpty)
        for t in 1...3 { box.push(Measurement(timestampMs: Int64(t), quality: [])) }
        #expect(box.drain(into: &out) == 0)
        #expect(out.map(\.timestampMs) == [1, 2, 3])
        for t in 4...8 { box.push(Measurement(timestampMs: Int64(t), quality: [])) }  // capacity + 2
        #expect(box.drain(into: &out) == 2)
        #expect(out.map(\.timestampMs) == [6, 7, 8])
    }

    @Test func threadSamplesReachTheEventfd() throws {
        let box = try SampleMailbox(capacity: 16)
        let core = AcquisitionCore(meter: SimulatedMeter(config: SimulatedMeterConfig()), periodMs: 100,
                                   backoffMinMs: 100, backoffMaxMs: 100)
        let thread = try AcquisitionThread(core: core, mailbox: box)
        try thread.start()
        var got: [Measurement] = []
        var out: [Measurement] = []
        var rounds = 0
        while got.count < 3 && rounds < 50 {
            var p = pollfd(fd: box.eventFd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 100)
            box.drain(into: &out)
            got += out
            rounds += 1
        }
        thread.stop()
        #expect(got.count >= 3)
        #expect(got.allSatisfy { $0.timestampMs % 100 == 0 && $0.quality.contains(.simulated) })
        #expect(thread.core.reads >= 3)
    }
}

@Suite struct ModbusMeterClientTests {
    @Test func refusedConnectionIsADisconnectedErrorNamingTheLink() {
        // A port that was free a moment ago: nothing listens there.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        close(fd)
        let client = ModbusMeterClient(link: .tcp(host: "127.0.0.1", port: port), unitId: 1, timeoutMs: 200)
        var buf = [UInt16](repeating: 0, count: 4)
        do throws(MeterError) {
            try client.read(.holding, address: 0, count: 2, into: &buf)
            Issue.record("read succeeded")
        } catch {
            guard case .disconnected(let why) = error else { Issue.record("unexpected \(error)"); return }
            #expect(why.contains("connect to modbus-tcp 127.0.0.1:\(port) failed"))
        }
        #expect(!client.isConnected)
    }

    @Test func missingSerialDeviceFailsClearly() {
        let client = ModbusMeterClient(link: .rtu(device: "/nonexistent/tty", baud: 9600, parity: .even, stopBits: 1, rs485: false),
                                       unitId: 1, timeoutMs: 200)
        var buf = [UInt16](repeating: 0, count: 4)
        #expect(throws: MeterError.self) { try client.read(.input, address: 0, count: 1, into: &buf) }
        #expect(ModbusLink.rtu(device: "/d", baud: 19200, parity: .none, stopBits: 2, rs485: true).description == "modbus-rtu /d 19200 8N2 rs485")
    }
}
