import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

/// `pgui run`: wires the adapters around the one event loop and runs it until SIGTERM/SIGINT.
enum Runtime {
    static func run(_ config: Config) -> Int32 {
        Log.level = config.device.logLevel
        guard Files.isDirectory(config.device.dataDir) else {
            Log.error("main", "data directory \(config.device.dataDir) does not exist or is not a directory")
            return Exit.failure
        }
        guard let journal = JournalRuntime.open(config) else { return Exit.failure }
        if config.journal.recordBytesMax < config.journal.estimatedGroupBytes {
            Log.warn("journal", "journal.record_bytes_max = \(config.journal.recordBytesMax) may be too small for a signed group of this window and period (about \(config.journal.estimatedGroupBytes) bytes); larger groups are refused and counted")
        }
        defer { JournalRuntime.close(journal) }
        // After the ring (which is preallocated first): headroom for the atomically replaced files.
        if let problem = DiskReserve.arm(dataDir: config.device.dataDir) { Log.error("storage", problem) }
        let loop: EventLoop
        do throws(SystemError) {
            loop = try EventLoop()
        } catch {
            Log.error("main", "cannot start the event loop: \(error.description)")
            return Exit.failure
        }
        let clock = SystemClock()
        let identity = IdentityRuntime.start(config, nowMs: clock.wallMs(), journalFloor: journal.stats.highestSeq)
        let meter: MeterPipeline
        do throws(SystemError) {
            meter = try MeterPipeline.start(config, loop: loop)
        } catch {
            Log.error("main", "cannot start meter acquisition: \(error.description)")
            return Exit.failure
        }
        let groups = GroupPipeline(identity: identity, journal: journal)
        meter.onGroup = { groups.handle($0) }
        let period = config.meter.periodMs
        let appliance = Appliance(config.appliance, clock: clock)
        appliance.balRequired = config.bal.enabled
        var policy = HealthPolicy()
        policy.meterPeriodMs = config.meter.periodMs
        let startedMs = clock.monotonicMs()
        appliance.health = {
            var inputs = HealthInputs(lastSampleMs: meter.latestMonoMs, startedMs: startedMs,
                                      journalWritable: groups.journalWritable, rssKiB: Int64(pgui_rss_kib()))
            inputs.groupsFailing = groups.failing
            return policy.evaluate(nowMs: clock.monotonicMs(), inputs)
        }
        do throws(SystemError) {
            try appliance.start(loop: loop) { meter.samples }
        } catch {
            Log.error("main", "cannot start the appliance hooks: \(error.description)")
            return Exit.failure
        }
        let setpoints = SetpointService(config: config.dso, dataDir: config.device.dataDir, clock: clock)
        let ems = EMSServices<SystemClock>()
        let freshness = SampleFreshness(periodMs: config.meter.periodMs, staleAfterPeriods: config.ems.staleAfterPeriods)
        let emsView = {
            let age = freshness.ageMs(lastGoodMonoMs: meter.latestGoodMonoMs, nowMonoMs: clock.monotonicMs())
            return EMSView(setpoints: setpoints.snapshot(), dsoLink: !config.dso.enabled ? .off : ems.dsoConnected ? .up : .down,
                           sample: meter.latest, meterId: meter.meterId, sampleAgeMs: age, sampleStale: freshness.isStale(ageMs: age))
        }
        var bal: BALLink<FieldPorts>? = nil
        let installer = InstallerPages(
            snapshot: {
                var s = StatusSnapshot()
                s.deviceId = config.device.deviceId
                s.nowMs = clock.wallMs()
                s.clockSynced = s.nowMs >= plausibleWallMsMin
                s.uptimeS = (clock.monotonicMs() - startedMs) / 1_000
                s.lastSample = meter.latest
                let v = emsView()
                s.sampleAgeMs = v.sampleAgeMs
                s.sampleStale = v.sampleStale
                s.scheduleAgeS = v.setpoints.scheduleAgeS
                s.health = appliance.health()
                s.bal.configured = config.bal.enabled
                bal?.mqtt.fill(&s.bal)
                s.bal.broker = config.bal.uris.first ?? ""
                s.dso.configured = config.dso.enabled
                ems.fillDSO(&s.dso)
                s.dso.broker = config.dso.uris.first ?? ""
                let j = journal.stats
                s.journalFillPermille = j.fillPerMille
                s.backlogGroups = j.records
                s.lostGroups = j.lostCount + groups.dropped
                s.droppedGroups = groups.dropped
                s.journalDamagedSlots = j.holes
                if let c = v.setpoints.current { s.currentP = c.bspP; s.currentQ = c.bspQ }
                if let n = v.setpoints.next { s.nextP = n.bspP; s.nextQ = n.bspQ }
                s.events = Log.recent
                return s
            },
            metrics: {
                var m = Metrics()
                m.groupsSigned = groups.signed
                m.groupsPublished = bal?.publisher.publishedCount ?? 0
                m.groupsAcked = bal?.publisher.ackedCount ?? 0
                let j = journal.stats
                m.groupsLost = j.lostCount + groups.dropped
                m.groupsDropped = groups.dropped
                m.journalDamagedSlots = j.holes
                m.journalCorruptSkipped = j.corruptSkipped
                m.journalHintWriteFailures = j.hintWriteFailures
                m.dataReserveReleased = DiskReserve.released ? 1 : 0
                m.journalBytesTotal = Int64(j.geometry.slotCount) * Int64(j.geometry.slotBytes)
                m.journalBytesUsed = Int64(j.records) * Int64(j.geometry.slotBytes)
                m.meterReads = meter.samples
                m.meterErrors = meter.gaps
                m.meterInvalid = meter.invalidGaps
                m.balReconnects = bal.map { $0.connects > 0 ? $0.connects - 1 : 0 } ?? 0
                if let b = bal { m.balTLSRefusals = b.mqtt.tlsRefusals }
                m.dsoTLSRefusals = ems.dsoTLSRefusals
                m.loopIterations = loop.iterations
                let v = emsView()
                m.meterSampleAgeMs = v.sampleAgeMs ?? -1
                m.meterStale = v.sampleStale ? 1 : 0
                m.scheduleAgeS = v.setpoints.scheduleAgeS ?? -1
                m.dsoConnected = v.dsoLink == .up ? 1 : 0
                m.scheduleWrites = setpoints.writes
                ems.fill(&m)
                MetricsWiring.fill(&m)
                return m
            })
        guard ems.startDSO(config.dso, deviceId: config.device.deviceId, loop: loop, setpoints: setpoints),
              ems.start(config.ems, deviceId: config.device.deviceId, loop: loop, setpoints: setpoints,
                              view: emsView, installer: installer) else {
            return Exit.failure
        }
        if config.bal.enabled {
            guard let identity else {
                Log.error("bal", "BAL link not started: no usable device key")
                return Exit.failure
            }
            do throws(MQTTError) {
                let rotation = try CredentialRotation<FieldPorts>.field(config, identity: identity, clock: clock)
                let options = BALLink<FieldPorts>.options(config: config.bal, topicPrefix: config.identity.topicPrefix,
                                                          deviceId: config.device.deviceId, credentials: rotation.initial)
                let link = BALLink<FieldPorts>(config: config.bal, topicPrefix: config.identity.topicPrefix, deviceId: config.device.deviceId,
                                               session: try MQTTClient(name: "bal", options: options), identity: identity,
                                               journal: journal, clock: clock)
                rotation.attach(to: link)
                link.lastMeterReadMs = { meter.latest?.timestampMs }
                try link.start(on: loop)
                groups.onCommitted = { link.committed(seq: $0, payload: $1) }
                link.onFirstConnect = { appliance.balReached() }
                Log.info("bal", "BAL link: \(config.bal.uris.count) broker(s), topics \(link.topics.base)/…")
                bal = link
            } catch {
                Log.error("bal", error.description)
                return Exit.failure
            }
        } else {
            Log.info("bal", "BAL link disabled (bal.enabled = false): groups are signed and kept in the journal")
        }
        Log.info("main", "pgui \(pguiVersion) device \(config.device.deviceId) started; meter \(config.meter.kind.rawValue), period \(period) ms")
        // The loop holds only file descriptors and callbacks: the links and servers that own them
        // must outlive it explicitly (ARC may end a local's lifetime at its last use).
        let signo = withExtendedLifetime((ems, bal)) { loop.run() }
        appliance.stop()
        meter.stop()
        Log.info("main", "stopping (\(signalName(signo))) after \(meter.samples) samples, \(groups.journalled) groups signed and journalled")
        return signo < 0 ? Exit.failure : Exit.ok
    }
}
