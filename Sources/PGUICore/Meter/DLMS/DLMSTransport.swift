/// How APDUs travel to and from the meter: HDLC (IEC 62056-46) on a serial line, or the TCP
/// wrapper (IEC 62056-47) on a TCP connection.
public enum DLMSFraming: Equatable, Sendable {
    case hdlc(client: HDLC.Address, server: HDLC.Address)
    /// wPorts: client SAP (16 = public client) and server SAP (1 = management logical device).
    case wrapper(client: UInt16, server: UInt16)

    public var text: String {
        switch self {
        case .hdlc(let c, let s): "HDLC client \(c.text) server \(s.text)"
        case .wrapper(let c, let s): "TCP wrapper client \(c) server \(s)"
        }
    }
}

/// Sends request APDUs and reassembles response and push APDUs over one `ByteLink`. Every buffer is
/// allocated at creation; a response is bounded by `DLMSLimits.apduBytesMax`.
public struct DLMSTransport<L: ByteLink, K: Clock> {
    public var link: L
    public let framing: DLMSFraming
    public let clock: K
    private var deframer = HDLCDeframer()
    /// The reassembled APDU of the last `request` or `receive`.
    public private(set) var apdu: [UInt8]
    public private(set) var apduCount = 0
    private var tx: [UInt8]
    /// HDLC sequence numbers: N(S) of our next I-frame, N(R) we expect from the meter.
    private var sendSeq = 0, recvSeq = 0
    /// The largest information field we send in one frame: the IEC 62056-46 default (128) that every
    /// meter accepts without negotiation. Requests are far smaller (an AARQ with a 32-byte password is 90).
    public static var hdlcInfoTxMax: Int { 128 }
    /// HDLC frames with a valid checksum but not for us (another client on an RS-485 bus) or out of sequence.
    public private(set) var framesIgnored: UInt64 = 0

    public init(link: L, framing: DLMSFraming, clock: K) {
        self.link = link
        self.framing = framing
        self.clock = clock
        apdu = Array(repeating: 0, count: DLMSLimits.apduBytesMax)
        tx = []
        tx.reserveCapacity(DLMSLimits.hdlcFrameBytesMax + DLMSLimits.wrapperHeaderBytes)
    }

    public var checksumErrors: UInt64 { deframer.checksumErrors }
    public var discardedBytes: UInt64 { deframer.discardedBytes }

    /// HDLC: SNRM, expecting UA (IEC 62056-46 §6.4.4.4). The wrapper needs no link set-up.
    public mutating func open(timeoutMs: Int64) throws(MeterError) {
        deframer.reset()
        sendSeq = 0
        recvSeq = 0
        guard case .hdlc(let client, let server) = framing else { return }
        tx.removeAll(keepingCapacity: true)
        HDLC.encode(destination: server, source: client, control: HDLC.snrm, info: [], into: &tx)
        try send()
        let f = try nextFrame(for: client, timeoutMs: timeoutMs, what: "UA to SNRM")
        switch f.control {
        case HDLC.ua: return
        case HDLC.dm: throw .unsupported("meter answered SNRM with DM (disconnected mode): server address \(server.text) refused or busy")
        default: throw .invalidResponse("meter answered SNRM with HDLC control 0x\(dlmsHex(f.control)), expected UA")
        }
    }

    /// HDLC: DISC (best effort, the answer is not awaited beyond a short time); then the link is closed.
    public mutating func close() {
        if case .hdlc(let client, let server) = framing {
            tx.removeAll(keepingCapacity: true)
            HDLC.encode(destination: server, source: client, control: HDLC.disc, info: [], into: &tx)
            do throws(MeterError) {
                try send()
                _ = try nextFrame(for: client, timeoutMs: 200, what: "UA to DISC")
            } catch {}
        }
        link.close()
        deframer.reset()
    }

    /// Sends one request APDU and returns the complete response APDU (`apdu[0..<apduCount]`).
    public mutating func request(_ request: [UInt8], timeoutMs: Int64) throws(MeterError) {
        switch framing {
        case .wrapper(let client, let server):
            tx.removeAll(keepingCapacity: true)
            tx += [0x00, 0x01, UInt8(client >> 8), UInt8(client & 0xFF), UInt8(server >> 8), UInt8(server & 0xFF),
                   UInt8(request.count >> 8), UInt8(request.count & 0xFF)]
            tx += request
            try send()
            try receiveWrapper(from: server, to: client, timeoutMs: timeoutMs, what: "response")
        case .hdlc(let client, let server):
            precondition(request.count + HDLC.llcRequest.count <= Self.hdlcInfoTxMax, "DLMS requests fit one HDLC frame")
            tx.removeAll(keepingCapacity: true)
            var info = HDLC.llcRequest
            info += request
            HDLC.encode(destination: server, source: client, control: HDLC.iControl(receive: recvSeq, send: sendSeq), info: info, into: &tx)
            sendSeq = (sendSeq + 1) & 7
            try send()
            try receiveHDLC(client: client, server: server, timeoutMs: timeoutMs, push: false)
        }
    }

    /// Waits up to `timeoutMs` for one unsolicited APDU (a push); false when none arrived in time.
    public mutating func receivePush(timeoutMs: Int64) throws(MeterError) -> Bool {
        do throws(MeterError) {
            switch framing {
            case .wrapper(_, _):
                try receiveWrapper(from: nil, to: nil, timeoutMs: timeoutMs, what: "push")
            case .hdlc(let client, let server):
                try receiveHDLC(client: client, server: server, timeoutMs: timeoutMs, push: true)
            }
            return true
        } catch {
            if error == .timeout { return false }
            throw error
        }
    }

    private mutating func send() throws(MeterError) {
        try tx.withUnsafeBufferPointer { (p) throws(MeterError) in try link.write(p) }
    }

    /// Reads more bytes into the deframer, at most until `deadline`; false on timeout.
    /// Past the deadline the link is still read without waiting while bytes are there, so what already
    /// arrived is taken (a push read drains with a zero timeout) — but at most one buffer's worth, so
    /// a line streaming noise cannot hold a read forever.
    private mutating func fill(deadline: Int64) throws(MeterError) -> Bool {
        let wait = deadline - clock.monotonicMs()
        if wait <= 0 && overdueBytes >= deframer.buffer.count { return false }
        let n = try deframer.withFreeSpace { (p) throws(MeterError) -> Int in try link.read(into: p, timeoutMs: max(0, wait)) }
        deframer.commit(n)
        if wait <= 0 { overdueBytes += n }
        return n > 0 || wait > 0
    }
    private var overdueBytes = 0

    /// The next valid HDLC frame addressed to `client` (pushes: to any address).
    private mutating func nextFrame(for client: HDLC.Address?, timeoutMs: Int64, what: String) throws(MeterError) -> HDLCFrame {
        let deadline = clock.monotonicMs() + timeoutMs
        overdueBytes = 0
        while true {
            if let f = deframer.next() {
                if let c = client, f.destination != c { framesIgnored += 1; continue }
                return f
            }
            guard try fill(deadline: deadline) else { throw .timeout }
        }
    }

    private mutating func receiveHDLC(client: HDLC.Address, server: HDLC.Address, timeoutMs: Int64, push: Bool) throws(MeterError) {
        apduCount = 0
        var first = true
        while true {
            // Pushes on a customer port are broadcast (UI frames to client address 0x7F/0x10/…): any destination.
            let f = try nextFrame(for: push ? nil : client, timeoutMs: timeoutMs, what: push ? "push frame" : "response frame")
            if push {
                guard f.control & 0xEF == HDLC.ui & 0xEF || f.isIFrame else { framesIgnored += 1; continue }
            } else {
                guard f.isIFrame else {
                    if f.control == HDLC.dm || f.control == HDLC.frmr {
                        throw .invalidResponse("meter answered with HDLC \(f.control == HDLC.dm ? "DM" : "FRMR"): link out of step")
                    }
                    framesIgnored += 1
                    continue
                }
                guard f.sendSequence == recvSeq else { framesIgnored += 1; continue }  // a repeat of a frame already taken
                recvSeq = (recvSeq + 1) & 7
            }
            var start = f.info.lowerBound
            if first {
                // LLC header E6 E7 00 (responses); pushes on customer ports carry E6 E7 00 or E6 E6 00.
                if f.info.count >= 3 && deframer.buffer[start] == HDLC.llcResponseFirst { start += 3 }
                first = false
            }
            let n = f.info.upperBound - start
            guard apduCount + n <= apdu.count else {
                throw .invalidResponse("APDU over \(DLMSLimits.apduBytesMax) bytes (HDLC segments kept coming)")
            }
            for i in 0..<n { apdu[apduCount + i] = deframer.buffer[start + i] }
            apduCount += n
            if !f.segmented { return }
            if !push {
                // Ask for the next segment (IEC 62056-46 §6.4.4.4.3.4: RR with N(R)).
                tx.removeAll(keepingCapacity: true)
                HDLC.encode(destination: server, source: client, control: HDLC.rrControl(receive: recvSeq), info: [], into: &tx)
                try send()
            }
        }
    }

    /// One wrapper frame: version 1, wPorts, length, APDU. A wrong version or an overlong length
    /// leaves the TCP stream out of step: the connection is dropped and reopened.
    private mutating func receiveWrapper(from: UInt16?, to: UInt16?, timeoutMs: Int64, what: String) throws(MeterError) {
        let deadline = clock.monotonicMs() + timeoutMs
        overdueBytes = 0
        while true {
            let have = deframer.count
            if have >= DLMSLimits.wrapperHeaderBytes {
                // Indexing the deframer in place (a local copy of its array would be copied on the next write).
                func b(_ i: Int) -> UInt8 { deframer.buffer[i] }
                let version = Int(b(0)) << 8 | Int(b(1))
                let src = UInt16(b(2)) << 8 | UInt16(b(3)), dst = UInt16(b(4)) << 8 | UInt16(b(5))
                let len = Int(b(6)) << 8 | Int(b(7))
                guard version == 1 else {
                    deframer.reset()
                    throw .invalidResponse("TCP wrapper version \(version) (1 expected): stream out of step")
                }
                guard len >= 1 && len <= DLMSLimits.apduBytesMax && len <= deframer.buffer.count - DLMSLimits.wrapperHeaderBytes else {
                    deframer.reset()
                    throw .invalidResponse("TCP wrapper frame of \(len) bytes (1...\(min(DLMSLimits.apduBytesMax, deframer.buffer.count - DLMSLimits.wrapperHeaderBytes)))")
                }
                if have >= DLMSLimits.wrapperHeaderBytes + len {
                    for i in 0..<len { apdu[i] = deframer.buffer[DLMSLimits.wrapperHeaderBytes + i] }
                    apduCount = len
                    deframer.consumeFront(DLMSLimits.wrapperHeaderBytes + len)
                    if let from, let to, src != from || dst != to {
                        framesIgnored += 1
                        continue
                    }
                    return
                }
            }
            guard try fill(deadline: deadline) else { throw .timeout }
        }
    }
}

