/// The bounds of every DLMS/COSEM decoder, named once (docs/meters-dlms.md, "Limits").
public enum DLMSLimits {
    /// HDLC frame format type 3 has an 11-bit length field (IEC 62056-46 §6.4.1): a frame between
    /// its flags is at most 2047 bytes.
    public static let hdlcFrameBytesMax = 2047
    /// The largest APDU the gateway reassembles from HDLC segments, wrapper frames or GET blocks.
    /// 8 KiB holds a ciphered push of every register a main meter has (Austrian and Nordic pushes
    /// are 100–600 bytes) and a profile-generic buffer of a few dozen entries.
    public static let apduBytesMax = 8192
    /// The TCP wrapper header: version, source wPort, destination wPort, length (IEC 62056-47 §5.2).
    public static let wrapperHeaderBytes = 8
    /// Nesting of arrays/structures in a Data value: pushes and profile buffers use 3 levels; a
    /// deeper value is refused instead of recursing on hostile input.
    public static let dataDepthMax = 8
    /// Elements counted over a whole Data value (a bound on work per frame, independent of depth).
    public static let dataElementsMax = 2048
    /// AES-GCM tag of security suite 0 (IEC 62056-5-3 §5.3.4.6: 12 bytes).
    public static let gcmTagBytes = 12
    /// A system title is 8 bytes (IEC 62056-5-3 §5.3.4.3.2).
    public static let systemTitleBytes = 8
    /// GET blocks the client accepts for one attribute before it gives up (a meter that never sets
    /// last-block must not keep the acquisition thread forever).
    public static let getBlocksMax = 64
    /// Registers read per poll (the configured list, one GET each).
    public static let registersMax = 48
    /// LLS passwords are octet strings; meters use 8–16 characters.
    public static let passwordBytesMax = 32
}
