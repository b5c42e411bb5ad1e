// The Swift suite of Carnet's bindings: the same scenarios as the Kotlin one
// (android/src/test/kotlin/org/carnet/core/test/CarnetSuite.kt), run by
// scripts/test-swift on Linux (Debian 13 chroot) against a host build of
// libcarnet_ffi with the `test-hooks` feature and a real carnet-server, or on
// a Mac with `swift run CarnetSuite`.
//
// Environment (set by the script):
//   CARNET_TEST_DIR              scratch directory
//   CARNET_TEST_SERVER           http://127.0.0.1:PORT
//   CARNET_TEST_SUPERVISOR_CODE  the team's first (supervisor) code
//   CARNET_TEST_MEDIATOR_CODES   eight mediator codes, comma-separated
// The last line printed is "N passed, M failed"; the exit status is non-zero
// when a test failed.
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func check(_ cond: Bool, _ what: @autoclosure () -> String) throws {
    if !cond { throw Failure(what()) }
}

func checkEq<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw Failure("\(what): expected <\(expected)>, got <\(actual)>") }
}

/// Runs `block`, which must throw an error that `match` accepts; returns what `match` extracted.
@discardableResult
func expectThrows<T>(_ what: String, _ block: () throws -> Void, _ match: (Error) -> T?) throws -> T {
    do {
        try block()
    } catch let f as Failure {
        throw f
    } catch {
        if let m = match(error) { return m }
        throw Failure("\(what): unexpected error \(error)")
    }
    throw Failure("\(what): nothing was thrown")
}

let env = ProcessInfo.processInfo.environment
guard let scratchPath = env["CARNET_TEST_DIR"] else {
    print("CARNET_TEST_DIR is not set")
    exit(2)
}
let scratch = URL(fileURLWithPath: scratchPath)
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
let server: String? = env["CARNET_TEST_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
let supervisorCode: String? = env["CARNET_TEST_SUPERVISOR_CODE"]
var mediatorCodes: [String] = (env["CARNET_TEST_MEDIATOR_CODES"] ?? "").split(separator: ",").map(String.init)

func key(_ seed: Int) -> Data { Data((0..<32).map { UInt8(truncatingIfNeeded: $0 * 7 + seed) }) }

var stores = 0

func freshStore(_ author: String = "mediator-a") throws -> CarnetStore {
    stores += 1
    let s = try CarnetStore.open(path: scratch.appendingPathComponent("store-\(stores).db").path, key: key(stores))
    try s.setAuthor(author: author)
    return s
}

func needServer() throws -> String {
    guard let s = server else { throw Failure("no carnet-server (CARNET_TEST_SERVER is not set)") }
    return s
}

struct Device {
    let store: CarnetStore
    let enrollment: Enrollment
    @discardableResult
    func sync(_ cancel: SyncCancel? = nil) throws -> SyncSummary {
        try store.syncBlocking(serverUrl: try needServer(), token: enrollment.token, cancel: cancel)
    }
}

func enrolledDevice(_ name: String) throws -> Device {
    let url = try needServer()
    guard !mediatorCodes.isEmpty else { throw Failure("no mediator code left") }
    let e = try enroll(serverUrl: url, code: mediatorCodes.removeFirst(), deviceName: name)
    try checkEq(e.role, "mediator", "enrolled role")
    let s = try freshStore(name)
    try s.setConfig(config: e.config)
    return Device(store: s, enrollment: e)
}

func asNote(_ r: Record) throws -> Note {
    guard case let .note(n) = r else { throw Failure("not a note: \(r)") }
    return n
}

func asReport(_ r: Record) throws -> Report {
    guard case let .report(x) = r else { throw Failure("not a report: \(r)") }
    return x
}

func asContact(_ r: Record) throws -> Contact {
    guard case let .contact(x) = r else { throw Failure("not a contact: \(r)") }
    return x
}

func invalidField(_ e: Error) -> String? {
    if case let CarnetError.InvalidInput(field, _) = e { return field }
    return nil
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

var tests: [(String, () throws -> Void)] = []
func test(_ name: String, _ body: @escaping () throws -> Void) { tests.append((name, body)) }

test("open with a key, reopen with the wrong key") {
    let path = scratch.appendingPathComponent("keyed.db").path
    var s: CarnetStore? = try CarnetStore.open(path: path, key: key(100))
    let id = try s!.createNote(note: NewNote(sector: "conte-joliot", text: "Hall B : néon cassé"))
    s = nil
    try expectThrows("wrong key", { _ = try CarnetStore.open(path: path, key: key(101)) }) { e -> Bool? in
        if case CarnetError.WrongKey = e { return true }
        return nil
    }
    let again = try CarnetStore.open(path: path, key: key(100))
    try checkEq(try asNote(try again.get(id: id)).text, "Hall B : néon cassé", "note after reopening")
    let field = try expectThrows("31-byte key", { _ = try CarnetStore.open(path: path, key: Data(count: 31)) }, invalidField)
    try checkEq(field, "key", "field of the short key")
    let dir = scratch.appendingPathComponent("via-carnet")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var k = Carnet.newKey()
    _ = try Carnet.open(directory: dir, key: &k)
    try check(k.allSatisfy { $0 == 0 }, "Carnet.open zeroes the key")
}

test("create each kind of record") {
    let s = try freshStore()
    let contact = try s.createContact(contact: NewContact(
        name: "Mme Exemple", phone: "06 00 00 00 00", languages: ["fr", "ar"], sector: "Ozanam + Albignac",
        topics: ["energy"], consents: ["contact": 1_764_000_000_000]))
    let note = try s.createNote(note: NewNote(
        sector: "conte-joliot", text: "Déambulation : lampadaire éteint rue des Lilas", quartier: "La Conte",
        axes: ["Cadre de vie", "tranquillite"], tags: ["éclairage"], residentsMet: 3, contacts: [contact]))
    let report = try s.createReport(report: NewReport(
        sector: "viguier-saint-jacques", category: "lift", place: "Bât. C", text: "Ascenseur en panne", urgent: true))
    let activity = try s.createActivity(activity: NewActivity(
        activityType: "aller vers", sector: "grazailles-fleming", metKnown: 4, metNew: 2, partners: ["CAF"]))
    let n = try asNote(try s.get(id: note))
    try checkEq(n.sector, "conte-joliot", "note sector")
    try checkEq(n.quartier, "la-conte", "label became a code")
    try checkEq(n.axes, ["cadre-de-vie", "tranquillite"], "note axes")
    try checkEq(n.residentsMet, 3, "residents met")
    try checkEq(n.contacts.map(\.state), ["present"], "contact link")
    try checkEq(n.header.author, "mediator-a", "author")
    try check(n.observedAt != nil, "observed_at defaults to now")
    let r = try asReport(try s.get(id: report))
    try checkEq(r.status, .reported, "new report status")
    try checkEq(r.urgent, true, "urgent")
    let c = try asContact(try s.get(id: contact))
    try checkEq(c.sector, "ozanam-albignac", "contact sector")
    try checkEq(c.consents.map(\.topic), ["contact"], "consents")
    guard case let .activity(a) = try s.get(id: activity) else { throw Failure("not an activity") }
    try checkEq(a.activityType, "aller_vers", "activity type")
    try checkEq(a.metNew, 2, "met new")
    try checkEq(try s.get(id: report).kind, .report, "Record.kind")
    try checkEq(try s.get(id: report).id, report, "Record.id")
    try s.addInteraction(id: contact, text: "Dossier FSL déposé", referral: "CAF")
    try checkEq(try asContact(try s.get(id: contact)).interactions.map(\.referral), ["CAF"], "interaction")
}

test("list and search") {
    let s = try freshStore()
    _ = try s.createNote(note: NewNote(sector: "conte-joliot", text: "Lampadaire éteint devant l'école"))
    _ = try s.createNote(note: NewNote(sector: "ozanam-albignac", text: "Rencontre avec les jeunes du city stade", axes: ["jeunesse"]))
    _ = try s.createReport(report: NewReport(sector: "conte-joliot", category: "graffiti", place: "Mur du gymnase", text: "Tags"))
    try checkEq(try s.list(query: Query()).items.count, 3, "all records")
    try checkEq(try s.list(query: Query(kind: .note)).items.count, 2, "notes")
    let found = try s.list(query: Query(text: "lampadaire"))
    try checkEq(found.items.count, 1, "search hits")
    try check(try asNote(found.items[0]).text.hasPrefix("Lampadaire"), "search found the right note")
    try checkEq(try s.list(query: Query(text: "ascenseur")).items.count, 0, "search miss")
    try checkEq(try s.list(query: Query(sector: "conte-joliot")).items.count, 2, "by sector")
    try checkEq(try s.list(query: Query(axis: "jeunesse")).items.count, 1, "by axis")
    let page = try s.list(query: Query(limit: 2))
    try check(page.hasMore && page.items.count == 2, "paging: \(page.items.count) items, hasMore=\(page.hasMore)")
    let counts = Dictionary(uniqueKeysWithValues: try s.count(query: Query(), by: .kind).map { ($0.key, $0.count) })
    try checkEq(counts, ["note": 2, "report": 1], "count by kind")
    try checkEq(try s.openReports().count, 1, "open reports")
}

test("a report through its lifecycle, and an invalid transition") {
    let s = try freshStore()
    let id = try s.createReport(report: NewReport(sector: "conte-joliot", category: "doors-locks", place: "Entrée 4", text: "Porte forcée"))
    let noBody = try expectThrows("forwarded without a body", {
        try s.changeStatus(id: id, change: StatusChange(status: .forwarded))
    }, invalidField)
    try checkEq(noBody, "to", "field of the missing body")
    try s.changeStatus(id: id, change: StatusChange(status: .forwarded, to: "bailleur", reference: "OS-2291"))
    try s.changeStatus(id: id, change: StatusChange(status: .inProgress))
    try s.changeStatus(id: id, change: StatusChange(status: .resolved, comment: "Serrure changée"))
    try s.changeStatus(id: id, change: StatusChange(status: .closed))
    let r = try asReport(try s.get(id: id))
    try checkEq(r.status, .closed, "final status")
    try checkEq(r.events.map(\.status), [.forwarded, .inProgress, .resolved, .closed], "events")
    try checkEq(r.body, "bailleur", "body")
    try checkEq(r.events[0].reference, "OS-2291", "reference")
    let (from, to) = try expectThrows("closed -> in progress", {
        try s.changeStatus(id: id, change: StatusChange(status: .inProgress))
    }) { e -> (String, String)? in
        if case let CarnetError.InvalidTransition(from, to, _) = e { return (from, to) }
        return nil
    }
    try checkEq(from, "closed", "transition from")
    try checkEq(to, "in_progress", "transition to")
    try checkEq(allowedNext(status: .closed), [.reported], "allowed from closed")
    try s.changeStatus(id: id, change: StatusChange(status: .reported, comment: "Revenu"))
    try checkEq(try asReport(try s.get(id: id)).status, .reported, "reopened")
    try checkEq(try s.list(query: Query(status: .reported)).items.count, 1, "list by status")
    try check(try s.details(id: id).history.contains { $0.op == "status" }, "history has the status changes")
}

test("edit fields, and invalid input as a typed exception") {
    let s = try freshStore()
    let id = try s.createNote(note: NewNote(sector: "conte-joliot", text: "x"))
    try s.setField(id: id, field: "residents_met", value: "12")
    try s.setField(id: id, field: "axes", value: "jeunesse, Cadre de vie")
    try s.setField(id: id, field: "lat", value: "43.2")
    let n = try asNote(try s.get(id: id))
    try checkEq(n.residentsMet, 12, "number from text")
    try checkEq(n.axes, ["cadre-de-vie", "jeunesse"], "list from text")
    try checkEq(n.lat, 43.2, "latitude from text")
    try s.clearField(id: id, field: "lat")
    try checkEq(try asNote(try s.get(id: id)).lat, nil, "cleared")
    try checkEq(try expectThrows("a word for a number", { try s.setField(id: id, field: "residents_met", value: "douze") }, invalidField),
                "residents_met", "field named")
    try checkEq(try expectThrows("unknown sector", { _ = try s.createNote(note: NewNote(sector: "atlantis", text: "x")) }, invalidField),
                "sector", "unknown sector field")
    try checkEq(try expectThrows("empty text", { _ = try s.createNote(note: NewNote(sector: "conte-joliot", text: "  ")) }, invalidField),
                "text", "required field")
    var phoneError: Error?
    let phone = try expectThrows("bad phone", { _ = try s.createContact(contact: NewContact(name: "X", phone: "appelle-moi")) }) { e -> String? in
        phoneError = e
        return invalidField(e)
    }
    try checkEq(phone, "phone", "phone field")
    try check(!"\(phoneError!)".contains("appelle-moi"), "the message does not repeat the value")
    try checkEq(try expectThrows("unknown field", { try s.setField(id: id, field: "colour", value: "red") }, invalidField), "field", "unknown field")
    try checkEq(try expectThrows("malformed id", { _ = try s.get(id: "not-an-id") }, invalidField), "id", "malformed id field")
    try expectThrows("unknown id", { _ = try s.get(id: "0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f") }) { e -> Bool? in
        if case CarnetError.NotFound = e { return true }
        return nil
    }
}

test("erase a resident contact") {
    let s = try freshStore()
    let contact = try s.createContact(contact: NewContact(name: "M. Oubli", phone: "0611223344"))
    let note = try s.createNote(note: NewNote(sector: "conte-joliot", text: "Accompagnement CAF", contacts: [contact]))
    try s.erase(id: contact)
    let gone = try expectThrows("erased contact", { _ = try s.get(id: contact) }) { e -> String? in
        if case let CarnetError.Erased(id) = e { return id }
        return nil
    }
    try checkEq(gone, contact, "erased id")
    try checkEq(try asNote(try s.get(id: note)).contacts.map(\.state), ["erased"], "link now says erased")
    try checkEq(try s.list(query: Query(kind: .contact)).items.count, 0, "no contact left")
    try expectThrows("edit an erased contact", { try s.setField(id: contact, field: "phone", value: "0600000000") }) { e -> Bool? in
        if case CarnetError.Erased = e { return true }
        return nil
    }
    try checkEq(try expectThrows("erase a note", { try s.erase(id: note) }, invalidField), "id", "only contacts are erased")
}

test("a Rust panic becomes an exception and the next call works") {
    let s = try freshStore()
    let id = try s.createNote(note: NewNote(sector: "conte-joliot", text: "avant"))
    let isPanic = { (e: Error) -> Bool? in
        (e is CarnetError) ? nil : ("\(e)".contains("rustPanic") ? true : nil)
    }
    try expectThrows("panic", { try testHookPanic(store: s) }, isPanic)
    try expectThrows("second panic", { try testHookPanic(store: s) }, isPanic)
    try checkEq(try asNote(try s.get(id: id)).text, "avant", "read after the panic")
    _ = try s.createNote(note: NewNote(sector: "conte-joliot", text: "après"))
    try checkEq(try s.list(query: Query()).items.count, 2, "write after the panic")
}

test("sync between two stores through carnet-server") {
    let a = try enrolledDevice("tel-a")
    let b = try enrolledDevice("tel-b")
    let report = try a.store.createReport(report: NewReport(
        sector: "conte-joliot", category: "lighting", place: "Parking nord", text: "Trois lampadaires éteints"))
    let phases = Box<[String]>([])
    let up = try a.store.syncBlocking(serverUrl: try needServer(), token: a.enrollment.token) { phases.value.append($0.phase) }
    try check(up.pushed >= 1, "A pushed \(up.pushed)")
    try checkEq(phases.value.last, "done", "last progress phase")
    let down = try b.sync()
    try check(down.pulled >= 1, "B pulled \(down.pulled)")
    try checkEq(try asReport(try b.store.get(id: report)).place, "Parking nord", "report on B")
    try b.store.changeStatus(id: report, change: StatusChange(status: .forwarded, to: "ville-eclairage"))
    try b.sync()
    try a.sync()
    try checkEq(try asReport(try a.store.get(id: report)).status, .forwarded, "status change reached A")
}

test("a conflict surfaced after concurrent edits") {
    let a = try enrolledDevice("tel-c")
    let b = try enrolledDevice("tel-d")
    let id = try a.store.createReport(report: NewReport(sector: "conte-joliot", category: "lift", place: "Bât. A", text: "Ascenseur bloqué"))
    try a.sync()
    try b.sync()
    try a.store.setField(id: id, field: "place", value: "Bât. A, hall 1")
    try b.store.setField(id: id, field: "place", value: "Bât. A, hall 2")
    try a.store.setField(id: id, field: "text", value: "Ascenseur bloqué au 3e")
    try b.store.setField(id: id, field: "text", value: "Ascenseur bloqué, pompiers appelés")
    try a.sync()
    let bSummary = try b.sync()
    try a.sync()
    try check(bSummary.conflicts.contains { rc in rc.id == id && rc.conflicts.contains { $0.field == "place" } },
              "B's sync summary reports the conflict: \(bSummary.conflicts)")
    for (name, s) in [("A", a.store), ("B", b.store)] {
        let cs = try s.details(id: id).conflicts.filter { $0.field == "place" }
        try checkEq(cs.count, 1, "\(name): one conflict on place")
        try checkEq(cs[0].values.sorted(), ["\"Bât. A, hall 1\"", "\"Bât. A, hall 2\""], "\(name): both values kept")
        let text = try asReport(try s.get(id: id)).text
        try check(text.contains("3e") && text.contains("pompiers"), "\(name): both text edits survive: \(text)")
    }
    try checkEq(try asReport(try a.store.get(id: id)).place, try asReport(try b.store.get(id: id)).place, "both show the same value")
    try a.store.setField(id: id, field: "place", value: "Bât. A, hall 1 et 2")
    try checkEq(try a.store.conflicts(id: id), [], "resolved on A")
    try a.sync()
    try b.sync()
    try checkEq(try b.store.conflicts(id: id), [], "resolution reached B")
}

test("an erasure travels through the server") {
    let a = try enrolledDevice("tel-e")
    let b = try enrolledDevice("tel-f")
    let contact = try a.store.createContact(contact: NewContact(name: "Mme Départ", phone: "0612345678"))
    try a.sync()
    try b.sync()
    try checkEq(try asContact(try b.store.get(id: contact)).name, "Mme Départ", "contact reached B")
    try a.store.erase(id: contact)
    try a.sync()
    let s = try b.sync()
    try checkEq(s.erased, 1, "B erased one record")
    try expectThrows("contact on B", { _ = try b.store.get(id: contact) }) { e -> Bool? in
        if case CarnetError.Erased = e { return true }
        return nil
    }
}

test("sync errors: cancelled, bad token, bad address, unreachable server") {
    let s = try freshStore()
    _ = try s.createNote(note: NewNote(sector: "conte-joliot", text: "hors ligne"))
    let url = try needServer()
    let token = "no-request-is-made-with-this-token"
    let cancel = SyncCancel()
    cancel.cancel()
    try check(cancel.isCancelled(), "isCancelled")
    try expectThrows("cancelled sync", { _ = try s.syncBlocking(serverUrl: url, token: token, cancel: cancel) }) { e -> Bool? in
        if case CarnetError.Cancelled = e { return true }
        return nil
    }
    try expectThrows("unknown token", { _ = try s.syncBlocking(serverUrl: url, token: "not-a-token") }) { e -> Bool? in
        if case CarnetError.NotEnrolled = e { return true }
        return nil
    }
    try checkEq(try expectThrows("ftp address", { _ = try s.syncBlocking(serverUrl: "ftp://example.org", token: token) }, invalidField),
                "server", "bad address field")
    try expectThrows("nothing listening", { _ = try s.syncBlocking(serverUrl: "http://127.0.0.1:9", token: token) }) { e -> Bool? in
        if case CarnetError.Network = e { return true }
        return nil
    }
    try checkEq(try s.list(query: Query()).items.count, 1, "the note is still there")
}

test("the device's wipe order and revocation are honoured") {
    let url = try needServer()
    guard let code = supervisorCode else { throw Failure("no supervisor code") }
    let supervisor = try enroll(serverUrl: url, code: code, deviceName: "bureau")
    try checkEq(supervisor.role, "supervisor", "supervisor role")
    let lost = try enrolledDevice("tel-perdu")
    _ = try lost.store.createContact(contact: NewContact(name: "Personne Sensible"))
    try lost.sync()
    try testHookOrderWipe(serverUrl: url, supervisorToken: supervisor.token, deviceId: lost.enrollment.deviceId)
    try expectThrows("sync after a wipe order", { try lost.sync() }) { e -> Bool? in
        if case CarnetError.Wiped = e { return true }
        return nil
    }
    try checkEq(try lost.store.list(query: Query()).items.count, 0, "nothing left after the wipe")
    try checkEq(try lost.store.setting(key: "token"), nil, "settings wiped")
    let revoked = try enrolledDevice("tel-vole")
    try testHookRevoke(serverUrl: url, supervisorToken: supervisor.token, deviceId: revoked.enrollment.deviceId)
    try expectThrows("sync after revocation", { try revoked.sync() }) { e -> Bool? in
        if case CarnetError.NotEnrolled = e { return true }
        return nil
    }
}

var passed = 0
var failed = 0
for (name, body) in tests {
    do {
        try body()
        passed += 1
        print("ok   - \(name)")
    } catch {
        failed += 1
        print("FAIL - \(name): \(error)")
    }
}
print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
