import CSystem
import PGUICore

/// Whoever runs a meter source (the acquisition pipeline): the factory hands it the concrete
/// source type it built, through a generic method (no existentials in Embedded Swift).
public protocol MeterStarter {
    associatedtype Started
    func start<M: MeterSource>(_ meter: M) throws(SystemError) -> Started
}

/// Builds the DLMS/COSEM source for `meter.kind` = dlms-hdlc, dlms-tcp or dlms-push from the
/// configuration: link, framing, keys and password (files checked for mode 0600, never logged).
public enum DLMSMeterFactory {
    public static func start<S: MeterStarter>(_ m: MeterConfig, starter: S) throws(SystemError) -> S.Started {
        let d = m.dlms
        let clock = SystemClock()
        let server = HDLC.Address.server(logical: UInt16(d.serverLogical), physical: d.serverPhysical == 0 ? nil : UInt16(d.serverPhysical))
        let hdlc = DLMSFraming.hdlc(client: .client(UInt8(d.clientAddress)), server: server)
        let wrapper = DLMSFraming.wrapper(client: UInt16(d.clientAddress), server: UInt16(d.serverLogical))
        switch m.kind {
        case .dlmsHDLC, .dlmsTCP:
            let auth: DLMSAuthentication
            if d.authentication == "low" {
                auth = .low(password: try loadPassword(d.passwordFile))
            } else {
                auth = .lowest
            }
            if !m.obis.encryptionKeyFile.isEmpty {
                throw SystemError("configure meter", "ciphered association (meter.cipher.*) with a polled DLMS meter is not supported by this build; see docs/meters-dlms.md", code: EINVAL)
            }
            if m.kind == .dlmsTCP {
                let link = TCPClientLink(host: m.modbus.host, port: m.modbus.port, connectTimeoutMs: m.modbus.timeoutMs)
                Log.info("meter", "DLMS/COSEM \(link.description), \(wrapper.text), \(auth == .lowest ? "lowest security" : "low-level security (password)"), \(d.registers.count) registers")
                let session = DLMSSession(transport: DLMSTransport(link: link, framing: wrapper, clock: clock), authentication: auth, timeoutMs: m.modbus.timeoutMs)
                return try starter.start(DLMSPolledMeter(session: session, registers: d.registers, table: m.obis.table, meterId: m.meterId))
            }
            let link = SerialPort(m.obis.serial)
            Log.info("meter", "DLMS/COSEM serial \(m.obis.serial.description), \(hdlc.text), \(auth == .lowest ? "lowest security" : "low-level security (password)"), \(d.registers.count) registers")
            let session = DLMSSession(transport: DLMSTransport(link: link, framing: hdlc, clock: clock), authentication: auth, timeoutMs: m.modbus.timeoutMs)
            return try starter.start(DLMSPolledMeter(session: session, registers: d.registers, table: m.obis.table, meterId: m.meterId))
        default:
            var decryptor: DLMSDecryptor<AESGCM>? = nil
            if !m.obis.encryptionKeyFile.isEmpty {
                let ek = try loadKey(m.obis.encryptionKeyFile)
                let ak: [UInt8]? = m.obis.authenticationKeyFile.isEmpty ? nil : try loadKey(m.obis.authenticationKeyFile)
                let cipher: AESGCM
                do { cipher = try AESGCM(key: ek) } catch { throw SystemError("configure meter", "AES-GCM: \(error.description)", code: EINVAL) }
                decryptor = DLMSDecryptor(cipher: cipher, authenticationKey: ak)
            } else if !m.obis.authenticationKeyFile.isEmpty {
                throw SystemError("configure meter", "meter.cipher.authentication_key_file without meter.cipher.encryption_key_file", code: EINVAL)
            }
            let security = decryptor == nil ? "clear pushes only" : (m.obis.authenticationKeyFile.isEmpty ? "AES-128-GCM, encryption key only" : "AES-128-GCM, encryption and authentication keys")
            if d.pushTransport == "tcp" {
                var link = TCPListenLink(address: d.listenAddress, port: d.listenPort)
                do { try link.listen() } catch { throw SystemError("listen for DLMS pushes on", "\(d.listenAddress):\(d.listenPort)", code: EADDRINUSE) }
                Log.info("meter", "DLMS/COSEM push \(link.description), \(security), period \(m.periodMs) ms")
                let t = DLMSTransport(link: link, framing: wrapper, clock: clock)
                return try starter.start(DLMSPushMeter(transport: t, decryptor: decryptor, table: m.obis.table, periodMs: m.periodMs, meterId: m.meterId))
            }
            let link = SerialPort(m.obis.serial)
            Log.info("meter", "DLMS/COSEM push serial \(m.obis.serial.description), \(security), period \(m.periodMs) ms")
            let t = DLMSTransport(link: link, framing: hdlc, clock: clock)
            return try starter.start(DLMSPushMeter(transport: t, decryptor: decryptor, table: m.obis.table, periodMs: m.periodMs, meterId: m.meterId))
        }
    }

    static func loadKey(_ path: String) throws(SystemError) -> [UInt8] {
        do { return try MeterKeyFile.load(path) } catch { throw SystemError("configure meter", error.description, code: EINVAL) }
    }

    /// The LLS password: the file's bytes up to the first line end, 1...`DLMSLimits.passwordBytesMax`,
    /// in a 0600 file like the keys. Never logged.
    static func loadPassword(_ path: String) throws(SystemError) -> [UInt8] {
        let mode = pgui_file_mode(path)
        if mode >= 0 && mode & 0o077 != 0 {
            throw SystemError("configure meter", "password file \(path) has mode 0\(String(Int(mode & 0o777), radix: 8)); it must be 0600 (chmod 600), password not used", code: EACCES)
        }
        var text: [UInt8]
        do { text = try Files.read(path, bytesMax: 256) } catch { throw SystemError("configure meter", "password file \(path): \(error.description)", code: error.code) }
        if let nl = text.firstIndex(where: { $0 == 10 || $0 == 13 }) { text.removeSubrange(nl...) }
        guard !text.isEmpty && text.count <= DLMSLimits.passwordBytesMax else {
            throw SystemError("configure meter", "password file \(path) must hold 1...\(DLMSLimits.passwordBytesMax) bytes on its first line", code: EINVAL)
        }
        return text
    }
}
