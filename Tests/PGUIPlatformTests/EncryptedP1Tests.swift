import PGUICore
import PGUIPlatform
import Testing

/// Encrypted P1 through the firmware's mbedTLS AES-GCM. The frames were sealed by dlms-cosem 21.3.2
/// (`dlms_cosem.security.encrypt`, the library dsmr-parser decrypts Luxembourg/Sagemcom T210-D
/// telegrams with) around a DSMR 5 telegram of Tests/peers/serial_meters.py, with the dummy keys of
/// dsmr_parser's test_parse_sagemcom_t210_d_r.py (encryption AA…, authentication BB…, system title
/// "SYSTEMID", counters 0x10000001 and 0x10000002); dsmr-parser's SAGEMCOM_T210_D_R parser reads them.
@Suite struct EncryptedP1Tests {
    static let frame1 = hex("db0853595354454d49448202b63010000001c21a2aac0854ed03828ad0f0161f3f5fe43f1930fed594a51c02488190776282393b826eb0f9cf1b47d89a029207849eff748c3e9cfc9c467b98ca10153d418fb797c95b242b2a301afca8d26d59ac9b61add8c9fdf14cf484f374403144c5ba30deb1469c7248d6d72ee6f37085d98cccc80b171312da4ee872f9b6dc1f63eff87050ff0641ff9eb27aa69d75250d7cb9eb39df3668a1b3ee9d0bec1c5c5d8f85452f2d1958a19ee625288ad8d8f14c7245f2d7b122f0373fe00028e9573f0153bac3e6ef43be259449b54bdab4bb4dfec4c879dfc826142976ac8e2efe44b144a91473a2ee936a63f09ef46fc617716b010a2ad59add5352c83a33ced6b603874808c89320777de351fd44767d3eb1a731f632c06fad3a35fba288c3e977881d918a24a905c19c025189e12df30dd87efdf45b5096e9f4175f3fd2f593d366d409a6412413d42b00dcb088e53544a1477292d2b6bc2aee09b40378dbcb317cb8dc422adadcf3366c3010810c9e6b52bb98cd61620e6902b6f1575fbe3095fcbaf58ec3e66d4a73fd534afc8740ab7379aa6dc3fb9ce4c787564b3b3a5be12cac4e2498e945e0157082696d08d4d4c7b9655de22b72ecc926604844ab977e53359344625946e2f0f2ab0d63aa92a85408746d2005feb6213bb3c1d42c485621c26ca39b0ab6fe6d9f2c266f20cd4bde84b64fa77a5fb7150926fe45a7addea6b93b413f738e094f5a9e32dead7854a9b668e6eea30547ae412f2a3e31bd3b4f48dc3f30f33402873028c2bf74c5f66502a4382875db34caf395bacf9e2d628c21b68480183d5a0881fd20f06a5dbc267f91f2618c43c624b0f50419e229dd936f1b69d7cb2824be3bb5ef8773bfa16962ffd4441d4f4de1ea14166d8caeb578dd287980bb366043aea7efa561142acaf438d31beba4144f771e806ba572b26766cf2502367a2ab3307326a0229264ebc4")
    static let frame2 = hex("db0853595354454d49448202b63010000002336a5cda76fecb9fede83df5721135712f376342d41ed69b1d8b1c95da63c7eb7fb736978eeca48269e8f8f2c014f41e86e87a0611894079f88363f107c021868828f4d27b2bf0e245c29d3342422bf75f6c6850d55e90e5beb1cfc78d76a7a5e715084c4f435bbf93e09313bc460213025323225177bb0ec9bff680f2a3718f7130fe8df7655c4c628dfe91aecfdd9f7147c2c35595400f5806a5adb4d325c9c9a62e009c14e002cea09f5559bdd2b760329ec41061872a46f659a36824185bc1dfe645a9cdc2e94d5539c68f8e9bed347fda37a22822262b1175feafab43373bb0d0e7de7ff0d761f5f88320a3879a944ce3ea55aa822e807ed59145e41a35ec81214b1578aa7cc102de34f7418ff6ac4c1853881674b4760c6fee0ed3a924f993cb63803748de5602dba9c2ace5c227a2176bb03541a00fac6eb12c3435d8e6665e47bf33b1e68f0f4a32970b0d8daccb8cce39e16df17949fcb1bd144026a345ac044cce166bd12cbaf5f6af6e627f9ff66f70bb62dc8ca8985d0b8340bdf7f1935579a94841a8d32edd84edc8de7845f27cc83743d50e49f5542b7785133e88ad4b9de3eb54f255599237ccb011d1c6ac797a4911183060fef013b360cfa0b6759d348a002e4daa7a6d88d018281cf2b1a1b2dc4dd494e7c3d0cd27906b835ecaebff50b38994894c406bcc13e301501b0851de758e870b91c50ef029a42eebf9e4e31729ee7c299ab227f72971b38421a8d9cba95f2c4006c8b410f06959a24bff3e0f2cb6d6b979a4f03611fb0018d5698f2e13949d0acd4cca1fd22e9a6358692222b6cbe8edc1f475875e70fa816adfe80a9bf3c45c5fa195faaaded4b4b5c1bd405995d72f23616f973b81613aa5d7351fe7f3d045686de51c823ef22f49471af9c7d19e33bd6198f9ca235e340010bd75fab2f23ca9548bb24934448d399214c5beb4d5581f34d192af22ae")

    static func hex(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return stride(from: 0, to: b.count, by: 2).map { ASCII.hexValue(b[$0])! << 4 | ASCII.hexValue(b[$0 + 1])! }
    }

    func decoder(key: UInt8 = 0xAA) throws -> DSMREncryptedDecoder<AESGCM> {
        DSMREncryptedDecoder(cipher: try AESGCM(key: Array(repeating: key, count: 16)), authenticationKey: Array(repeating: 0xBB, count: 16))
    }

    func decode(_ d: inout DSMREncryptedDecoder<AESGCM>, _ frame: [UInt8]) throws(MeterError) -> Measurement {
        let complete = frame.withUnsafeBufferPointer { d.feed($0).complete }
        guard complete else { throw .timeout }
        var acc = OBISAccumulator(table: .standard)
        try d.decode(into: &acc)
        return acc.measurement(timestampMs: 0, quality: [])
    }

    @Test func decryptsAndDecodes() throws {
        var d = try decoder()
        let m = try decode(&d, Self.frame1)
        #expect(m.activePowerW == 1_193 && m.energyImportWh == 3_234_568 && m.l1.voltageMv == 230_100)
        #expect(d.identification == "system title 53595354454d4944")
        _ = try decode(&d, Self.frame2)
        #expect(d.lastCounter == 0x1000_0002)
    }

    @Test func replayedFrameIsRefused() throws {
        var d = try decoder()
        _ = try decode(&d, Self.frame2)
        #expect(throws: MeterError.self) { _ = try decode(&d, Self.frame1) }  // older counter
        #expect(throws: MeterError.self) { _ = try decode(&d, Self.frame2) }  // same counter
        #expect(d.replays == 2)
    }

    @Test func wrongKeyOrDamagedFrameFailsAuthentication() throws {
        var wrong = try decoder(key: 0xAB)
        #expect(throws: MeterError.self) { _ = try decode(&wrong, Self.frame1) }
        #expect(wrong.authFailures == 1)
        var d = try decoder()
        var bad = Self.frame1
        bad[150] ^= 0x01
        #expect(throws: MeterError.self) { _ = try decode(&d, bad) }
        #expect(d.authFailures == 1)
        _ = try decode(&d, Self.frame1)  // the link goes on with the next good frame
    }
}
